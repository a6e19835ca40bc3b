//! One module per operation id, implementing [`crate::changes::operation::Operation`]. The SQL
//! itself lives in `targets/`; the shared lock–compare–backup–apply–check sequence lives here.

pub mod mutex_release;
pub mod plan_cancel;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::Connection;
use sqlx::mysql::MySqlConnection;

use crate::changes::operation::{
    Backup, OpError, Operation, Outcome, Preview, PreviewTable, Reconciliation,
};
use crate::targets::lhcconsole::Rows;
use crate::targets::{TargetPools, Targets, connection_lost, rows};

/// A change to a MySQL target described by what it reads and what it applies.
#[async_trait]
pub trait SqlChange: Send + Sync {
    /// Reads the rows the change touches (under `FOR UPDATE` when `lock`).
    async fn read(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        lock: bool,
    ) -> sqlx::Result<Vec<Rows>>;
    /// Applies the change; returns the affected row count.
    async fn apply(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        snapshot: &[Rows],
    ) -> sqlx::Result<u64>;
    /// The SQL that restores `snapshot` exactly.
    fn undo(&self, snapshot: &[Rows]) -> String;
}

/// The preview of a snapshot: every row of every table, with a digest over table and row.
pub fn preview_of(snapshot: &[Rows]) -> Preview {
    let mut items = Vec::new();
    let mut tagged = Vec::new();
    let mut tables = Vec::new();
    for t in snapshot {
        let json = t.json();
        tagged.extend(
            json.iter()
                .map(|r| serde_json::json!({"table": t.table, "row": r})),
        );
        tables.push(PreviewTable {
            name: t.table.to_string(),
            columns: t.column_names(),
            count: json.len(),
        });
        items.extend(json);
    }
    Preview {
        digest: rows::digest(&tagged),
        count: items.len(),
        items,
        tables,
    }
}

fn read_error(e: sqlx::Error) -> OpError {
    OpError::target(e, false)
}

/// Read only.
pub async fn preview_sql(
    change: &dyn SqlChange,
    pools: &TargetPools,
    params: &Value,
) -> Result<Preview, OpError> {
    let mut conn = pools.read.acquire().await.map_err(read_error)?;
    let snapshot = change
        .read(&mut conn, params, false)
        .await
        .map_err(read_error)?;
    Ok(preview_of(&snapshot))
}

/// DESIGN §6 steps 2–4 on one target transaction.
pub async fn execute_sql(
    change: &dyn SqlChange,
    pools: &TargetPools,
    params: &Value,
    approved: &Preview,
    backup: &dyn Backup,
) -> Result<Outcome, OpError> {
    let mut conn = pools.write.acquire().await.map_err(read_error)?;
    let mut tx = conn.begin().await.map_err(read_error)?;
    let snapshot = change
        .read(&mut tx, params, true)
        .await
        .map_err(read_error)?;
    let now = preview_of(&snapshot);
    if now.digest != approved.digest {
        let _ = tx.rollback().await;
        return Err(OpError::PreviewChanged(Box::new(now)));
    }
    let before_image = Value::Array(now.items.clone());
    let undo = change.undo(&snapshot);
    if let Err(e) = backup.save(&before_image, &undo).await {
        let _ = tx.rollback().await;
        return Err(OpError::Backup(e));
    }
    let affected = match change.apply(&mut tx, params, &snapshot).await {
        Ok(n) => n,
        Err(e) => {
            let lost = connection_lost(&e);
            let _ = tx.rollback().await;
            return Err(OpError::target(e, lost));
        }
    };
    if affected != approved.count as u64 {
        tx.rollback().await.map_err(|e| OpError::target(e, true))?;
        return Err(OpError::CountMismatch {
            expected: approved.count,
            got: affected,
        });
    }
    tx.commit().await.map_err(|e| OpError::target(e, true))?;
    Ok(Outcome {
        affected,
        before_image,
        undo,
    })
}

/// Re-reads: unchanged → not applied; none of the approved rows left → applied.
pub async fn reconcile_sql(
    change: &dyn SqlChange,
    pools: &TargetPools,
    params: &Value,
    approved: &Preview,
) -> Result<Reconciliation, OpError> {
    let now = preview_sql(change, pools, params).await?;
    if now.digest == approved.digest {
        return Ok(Reconciliation::NotApplied);
    }
    let remaining = approved
        .items
        .iter()
        .filter(|i| now.items.contains(i))
        .count();
    if remaining == 0 {
        Ok(Reconciliation::Applied)
    } else {
        Ok(Reconciliation::Unclear(format!(
            "{remaining} of the {} approved rows are still unchanged while others changed",
            approved.count
        )))
    }
}

/// Reads a required string parameter; names are matched literally, so nothing is trimmed.
pub fn string_param(params: &Value, key: &str, allowed: &[&str]) -> Result<String, String> {
    let obj = params
        .as_object()
        .ok_or_else(|| format!("params must be a JSON object with `{key}`"))?;
    if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown parameter `{extra}`; expected only `{}`",
            allowed.join("`, `")
        ));
    }
    let v = obj
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{key}` is required and must be a string"))?;
    if v.is_empty() || v.trim().is_empty() {
        return Err(format!("`{key}` must not be empty"));
    }
    if v.chars().count() > 255 {
        return Err(format!("`{key}` is longer than 255 characters"));
    }
    Ok(v.to_string())
}

/// An operation on the lhcconsole database with one string parameter: everything but its SQL
/// is the same, so [`Operation`] is implemented once for all of them.
pub trait LhcConsoleOperation: SqlChange {
    /// The PINNED operation id.
    const ID: &'static str;
    /// The one parameter, e.g. `service`.
    const PARAM: &'static str;
    /// Why a preview found nothing to change for `value`.
    fn nothing_to_change(value: &str) -> String;
}

/// The value of an operation's single string parameter.
pub fn param(params: &Value, key: &str) -> String {
    params[key].as_str().unwrap_or_default().to_string()
}

#[async_trait]
impl<T: LhcConsoleOperation> Operation for T {
    fn id(&self) -> &'static str {
        T::ID
    }

    fn validate(&self, params: &Value) -> Result<Value, String> {
        Ok(serde_json::json!({ T::PARAM: string_param(params, T::PARAM, &[T::PARAM])? }))
    }

    fn subject(&self, params: &Value) -> String {
        param(params, T::PARAM)
    }

    async fn preview(&self, targets: &Targets, params: &Value) -> Result<Preview, OpError> {
        let p = preview_sql(self, targets.lhcconsole()?, params).await?;
        if p.count == 0 {
            return Err(OpError::NothingToChange(T::nothing_to_change(&param(
                params,
                T::PARAM,
            ))));
        }
        Ok(p)
    }

    async fn execute(
        &self,
        targets: &Targets,
        params: &Value,
        approved: &Preview,
        backup: &dyn Backup,
    ) -> Result<Outcome, OpError> {
        execute_sql(self, targets.lhcconsole()?, params, approved, backup).await
    }

    async fn reconcile(
        &self,
        targets: &Targets,
        params: &Value,
        approved: &Preview,
    ) -> Result<Reconciliation, OpError> {
        reconcile_sql(self, targets.lhcconsole()?, params, approved).await
    }
}
