//! `lhc.mutex.release` (G2, guide §6.4.1 step 1): when 开始发布 reports a conflicting 发布单 that
//! cannot be cancelled, delete the application service's rows of `lks_res_deploy_mutex`.

use async_trait::async_trait;
use serde_json::{Value, json};
use sqlx::mysql::MySqlConnection;

use super::SqlChange;
use crate::changes::operation::{Backup, OpError, Operation, Outcome, Preview, Reconciliation};
use crate::targets::lhcconsole::{self, Rows};
use crate::targets::{Targets, rows};

pub struct MutexRelease;

fn service(params: &Value) -> String {
    params["service"].as_str().unwrap_or_default().to_string()
}

#[async_trait]
impl SqlChange for MutexRelease {
    async fn read(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        lock: bool,
    ) -> sqlx::Result<Vec<Rows>> {
        Ok(vec![
            lhcconsole::read_mutex(conn, &service(params), lock).await?,
        ])
    }

    async fn apply(
        &self,
        conn: &mut MySqlConnection,
        params: &Value,
        snapshot: &[Rows],
    ) -> sqlx::Result<u64> {
        lhcconsole::delete_mutex(conn, &service(params), &snapshot[0]).await
    }

    fn undo(&self, snapshot: &[Rows]) -> String {
        let t = &snapshot[0];
        let mut sql = format!(
            "-- Undo of lhc.mutex.release: re-inserts the {} deleted row(s) of {} exactly.\nSTART TRANSACTION;\n",
            t.cells.len(),
            t.table
        );
        for cells in &t.cells {
            sql.push_str(&rows::insert_statement(t.table, &t.columns, cells));
            sql.push('\n');
        }
        sql.push_str("COMMIT;\n");
        sql
    }
}

#[async_trait]
impl Operation for MutexRelease {
    fn id(&self) -> &'static str {
        "lhc.mutex.release"
    }

    fn validate(&self, params: &Value) -> Result<Value, String> {
        Ok(json!({"service": super::string_param(params, "service", &["service"])?}))
    }

    fn subject(&self, params: &Value) -> String {
        service(params)
    }

    async fn preview(&self, targets: &Targets, params: &Value) -> Result<Preview, OpError> {
        let p = super::preview_sql(self, targets.lhcconsole()?, params).await?;
        if p.count == 0 {
            return Err(OpError::NothingToChange(format!(
                "no rows in lks_res_deploy_mutex for application service `{}` (ref_res_type MULTI_CONTAINER_SERVICE)",
                service(params)
            )));
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
        super::execute_sql(self, targets.lhcconsole()?, params, approved, backup).await
    }

    async fn reconcile(
        &self,
        targets: &Targets,
        params: &Value,
        approved: &Preview,
    ) -> Result<Reconciliation, OpError> {
        super::reconcile_sql(self, targets.lhcconsole()?, params, approved).await
    }
}
