//! The audit log: append inside the caller's store transaction, read with filters, verify the
//! hash chain, export. The pure chain logic lives in [`chain`].

pub mod chain;
pub mod routes;

use serde_json::Value;
use sqlx::{AnyConnection, Row};

use crate::store::{Store, now_ms};
pub use chain::{Entry, Fault, Verdict};

/// Who did something: a user name, or `system` for the console itself.
pub const SYSTEM: &str = "system";

/// An event to record.
#[derive(Clone, Debug)]
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub details: Value,
}

/// Keys whose values are always masked in details.
const SECRET_KEYS: &[&str] = &["password", "token", "secret", "csrf_token", "webhook_token"];

/// Replaces secret-looking values (and passwords inside URLs) with `***`.
pub fn mask_secrets(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_KEYS.iter().any(|s| lower.contains(s)) && !v.is_null() {
                        (k, Value::String("***".into()))
                    } else {
                        (k, mask_secrets(v))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(mask_secrets).collect()),
        Value::String(s) if s.contains("://") => Value::String(crate::config::mask_dsn(&s)),
        other => other,
    }
}

/// Appends one entry inside `conn`'s transaction; returns its seq. The head row is locked
/// first, so concurrent appends queue and `seq` stays gapless.
pub async fn append(conn: &mut AnyConnection, event: Event<'_>) -> sqlx::Result<i64> {
    sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let at = now_ms();
    let details = mask_secrets(event.details);
    let hash = chain::compute_hash(
        seq,
        at,
        event.actor,
        event.action,
        event.subject,
        &details,
        &prev_hash,
    );
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(at)
    .bind(event.actor)
    .bind(event.action)
    .bind(event.subject)
    .bind(details.to_string())
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = ? WHERE id = 1")
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(seq)
}

/// Appends one entry in a transaction of its own (events with no other write).
pub async fn record(store: &Store, event: Event<'_>) -> sqlx::Result<i64> {
    let mut tx = store.begin().await?;
    let seq = append(&mut tx, event).await?;
    tx.commit().await?;
    Ok(seq)
}

/// Filters for [`list`]. All optional; results are newest first unless `after_seq` is given.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Ascending from here (API paging); otherwise descending before `before_seq`.
    pub after_seq: Option<i64>,
    pub before_seq: Option<i64>,
    pub limit: i64,
}

fn entry_from_row(r: &sqlx::any::AnyRow) -> sqlx::Result<Entry> {
    let details: String = r.try_get("details")?;
    Ok(Entry {
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        subject: r.try_get("subject")?,
        // A row whose details were edited into invalid JSON still shows (verify flags it).
        details: serde_json::from_str(&details).unwrap_or(Value::String(details)),
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// Reads entries matching `f` (parameterised; the filter only picks which `?` clauses apply).
pub async fn list(store: &Store, f: &Filter) -> sqlx::Result<Vec<Entry>> {
    let mut sql = String::from(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log WHERE 1=1",
    );
    if f.actor.is_some() {
        sql.push_str(" AND actor = ?");
    }
    if f.action.is_some() {
        sql.push_str(" AND (action = ? OR action LIKE ? ESCAPE '!')");
    }
    if f.from_ms.is_some() {
        sql.push_str(" AND at >= ?");
    }
    if f.to_ms.is_some() {
        sql.push_str(" AND at < ?");
    }
    let ascending = f.after_seq.is_some();
    if ascending {
        sql.push_str(" AND seq > ? ORDER BY seq ASC LIMIT ?");
    } else if f.before_seq.is_some() {
        sql.push_str(" AND seq < ? ORDER BY seq DESC LIMIT ?");
    } else {
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(a) = &f.actor {
        q = q.bind(a.clone());
    }
    if let Some(a) = &f.action {
        // `auth` matches `auth.login`, `auth.logout`, … ; LIKE wildcards in input are escaped.
        let escaped = a.replace('!', "!!").replace('%', "!%").replace('_', "!_");
        q = q.bind(a.clone()).bind(format!("{escaped}.%"));
    }
    if let Some(v) = f.from_ms {
        q = q.bind(v);
    }
    if let Some(v) = f.to_ms {
        q = q.bind(v);
    }
    if let Some(v) = f.after_seq.or(f.before_seq) {
        q = q.bind(v);
    }
    q = q.bind(f.limit.clamp(1, 1000));
    q.fetch_all(store.pool())
        .await?
        .iter()
        .map(entry_from_row)
        .collect()
}

/// The head row: newest seq and hash.
pub async fn head(store: &Store) -> sqlx::Result<(i64, String)> {
    let r = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    Ok((r.try_get("seq")?, r.try_get("hash")?))
}

/// Recomputes the whole chain in seq order.
pub async fn verify(store: &Store) -> anyhow::Result<Verdict> {
    let (head_seq, head_hash) = head(store).await?;
    let mut v = chain::Verifier::default();
    for_each(store, |e| Ok(v.push(e))).await?;
    Ok(v.finish(head_seq, &head_hash))
}

/// Calls `each` for every entry in seq order, a page at a time, until it returns `false`.
pub async fn for_each(
    store: &Store,
    mut each: impl FnMut(&Entry) -> std::io::Result<bool>,
) -> anyhow::Result<()> {
    let mut after = 0;
    loop {
        let filter = Filter {
            after_seq: Some(after),
            limit: 1000,
            ..Default::default()
        };
        let page = list(store, &filter).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = last.seq;
        for e in &page {
            if !each(e)? {
                return Ok(());
            }
        }
    }
}

/// The JSON body of `GET /api/v1/audit/verify` and the `audit verify` line.
pub fn verdict_json(v: &Verdict) -> Value {
    match v {
        Verdict::Ok { entries, head } => {
            serde_json::json!({"ok": true, "entries": entries, "head": head})
        }
        Verdict::Bad {
            first_bad_seq,
            fault,
            checked,
        } => serde_json::json!({
            "ok": false, "first_bad_seq": first_bad_seq, "fault": fault, "entries_verified": checked,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_in_details() {
        let v = mask_secrets(json!({
            "password": "hunter2", "new_token": "lhc_abc", "nested": {"url": "mysql://u:pw@h/db"}, "name": "ok"
        }));
        let s = v.to_string();
        assert!(
            !s.contains("hunter2") && !s.contains("lhc_abc") && !s.contains(":pw@"),
            "{s}"
        );
        assert!(s.contains("\"name\":\"ok\""));
    }
}
