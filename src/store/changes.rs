//! The `changes`, `change_approvals` and `change_backups` tables.

use serde_json::Value;
use sqlx::{Any, AnyConnection, Executor, Row};

use crate::auth::Org;
use crate::changes::model::{Approval, Decision, Review, State};
use crate::changes::operation::{Outcome, Preview};
use crate::changes::policy::Level;

/// A change request as stored, with its approvals.
#[derive(Clone, Debug)]
pub struct ChangeRow {
    pub id: i64,
    pub operation: String,
    pub params: Value,
    pub level: Level,
    pub state: State,
    pub reason: String,
    pub requester: String,
    pub requester_org: Org,
    pub preview: Preview,
    pub emergency: bool,
    pub incident: String,
    pub review: Option<Review>,
    pub review_due_at: Option<i64>,
    pub note: String,
    pub outcome: Option<Outcome>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub approvals: Vec<Approval>,
}

/// Fields of a new change.
#[derive(Clone, Debug)]
pub struct NewChange<'a> {
    pub operation: &'a str,
    pub params: &'a Value,
    pub level: Level,
    pub state: State,
    pub reason: &'a str,
    pub requester: &'a str,
    pub requester_org: Org,
    pub preview: &'a Preview,
    pub emergency: bool,
    pub incident: &'a str,
    pub review_due_at: Option<i64>,
    pub now: i64,
    pub expires_at: i64,
}

fn corrupt(col: &str, v: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.into(),
        source: format!("unexpected value `{v}`").into(),
    }
}

fn json<T: serde::de::DeserializeOwned>(col: &str, text: &str) -> sqlx::Result<T> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::ColumnDecode {
        index: col.into(),
        source: e.into(),
    })
}

const COLUMNS: &str = "id, operation, params, level, state, reason, requester, requester_org, preview, \
     emergency, incident, review, review_due_at, note, outcome, created_at, updated_at, expires_at";

fn from_row(r: &sqlx::any::AnyRow) -> sqlx::Result<ChangeRow> {
    let level: String = r.try_get("level")?;
    let state: String = r.try_get("state")?;
    let org: String = r.try_get("requester_org")?;
    let review: Option<String> = r.try_get("review")?;
    let outcome: Option<String> = r.try_get("outcome")?;
    Ok(ChangeRow {
        id: r.try_get("id")?,
        operation: r.try_get("operation")?,
        params: json("params", &r.try_get::<String, _>("params")?)?,
        level: Level::parse(&level).ok_or_else(|| corrupt("level", &level))?,
        state: State::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        reason: r.try_get("reason")?,
        requester: r.try_get("requester")?,
        requester_org: Org::parse(&org).ok_or_else(|| corrupt("requester_org", &org))?,
        preview: json("preview", &r.try_get::<String, _>("preview")?)?,
        emergency: r.try_get::<i64, _>("emergency")? != 0,
        incident: r.try_get("incident")?,
        review: review
            .as_deref()
            .map(|s| Review::parse(s).ok_or_else(|| corrupt("review", s)))
            .transpose()?,
        review_due_at: r.try_get("review_due_at")?,
        note: r.try_get("note")?,
        outcome: outcome.as_deref().map(|s| json("outcome", s)).transpose()?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        expires_at: r.try_get("expires_at")?,
        approvals: Vec::new(),
    })
}

pub async fn insert(conn: &mut AnyConnection, c: &NewChange<'_>) -> sqlx::Result<i64> {
    let done = sqlx::query(
        "INSERT INTO changes (operation, params, level, state, reason, requester, requester_org, preview, digest, \
         emergency, incident, review, review_due_at, note, created_at, updated_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?)",
    )
    .bind(c.operation)
    .bind(c.params.to_string())
    .bind(c.level.as_str())
    .bind(c.state.as_str())
    .bind(c.reason)
    .bind(c.requester)
    .bind(c.requester_org.as_str())
    .bind(serde_json::to_string(c.preview).expect("previews serialise"))
    .bind(&c.preview.digest)
    .bind(i64::from(c.emergency))
    .bind(c.incident)
    .bind(c.emergency.then_some(Review::Pending.as_str()))
    .bind(c.review_due_at)
    .bind(c.now)
    .bind(c.now)
    .bind(c.expires_at)
    .execute(conn)
    .await?;
    done.last_insert_id()
        .ok_or_else(|| sqlx::Error::Protocol("no id for the new change".into()))
}

/// One change with its approvals.
pub async fn get(conn: &mut AnyConnection, id: i64) -> sqlx::Result<Option<ChangeRow>> {
    let sql = format!("SELECT {COLUMNS} FROM changes WHERE id = ?");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let mut change = from_row(&row)?;
    change.approvals = approvals(&mut *conn, id).await?;
    Ok(Some(change))
}

pub async fn approvals<'c, E: Executor<'c, Database = Any>>(
    e: E,
    change_id: i64,
) -> sqlx::Result<Vec<Approval>> {
    let rows = sqlx::query(
        "SELECT approver, org, decision, comment, digest, at FROM change_approvals WHERE change_id = ? ORDER BY id",
    )
    .bind(change_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            let org: String = r.try_get("org")?;
            let decision: String = r.try_get("decision")?;
            let at: i64 = r.try_get("at")?;
            Ok(Approval {
                by: r.try_get("approver")?,
                org: Org::parse(&org).ok_or_else(|| corrupt("org", &org))?,
                decision: Decision::parse(&decision)
                    .ok_or_else(|| corrupt("decision", &decision))?,
                comment: r.try_get("comment")?,
                at_ms: at,
                at: crate::store::format_ms(at),
                digest: r.try_get("digest")?,
            })
        })
        .collect()
}

/// Filters for [`list`].
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub state: Option<State>,
    pub operation: Option<String>,
    pub requester: Option<String>,
    pub limit: i64,
}

/// Newest first, without approvals.
pub async fn list<'c, E: Executor<'c, Database = Any>>(
    e: E,
    f: &ListFilter,
) -> sqlx::Result<Vec<ChangeRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM changes WHERE 1=1");
    if f.state.is_some() {
        sql.push_str(" AND state = ?");
    }
    if f.operation.is_some() {
        sql.push_str(" AND operation = ?");
    }
    if f.requester.is_some() {
        sql.push_str(" AND requester = ?");
    }
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(s) = f.state {
        q = q.bind(s.as_str());
    }
    if let Some(o) = &f.operation {
        q = q.bind(o.clone());
    }
    if let Some(r) = &f.requester {
        q = q.bind(r.clone());
    }
    q.bind(f.limit.clamp(1, 500))
        .fetch_all(e)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Compare-and-swap of the state; returns whether this call made the transition.
pub async fn transition(
    conn: &mut AnyConnection,
    id: i64,
    from: State,
    to: State,
    note: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE changes SET state = ?, note = ?, updated_at = ? WHERE id = ? AND state = ?",
    )
    .bind(to.as_str())
    .bind(note)
    .bind(now)
    .bind(id)
    .bind(from.as_str())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Takes the change's row lock for the rest of the transaction (MySQL row lock; SQLite already
/// holds the write lock from `BEGIN IMMEDIATE`).
pub async fn lock(conn: &mut AnyConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE changes SET updated_at = updated_at WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_expires_at(
    conn: &mut AnyConnection,
    id: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE changes SET expires_at = ? WHERE id = ?")
        .bind(expires_at)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_outcome(conn: &mut AnyConnection, id: i64, outcome: &Outcome) -> sqlx::Result<()> {
    sqlx::query("UPDATE changes SET outcome = ? WHERE id = ?")
        .bind(serde_json::to_string(outcome).expect("outcomes serialise"))
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_review(
    conn: &mut AnyConnection,
    id: i64,
    review: Review,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE changes SET review = ?, updated_at = ? WHERE id = ?")
        .bind(review.as_str())
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a decision; `Ok(false)` when this person already decided (one decision per person).
pub async fn insert_approval(
    conn: &mut AnyConnection,
    change_id: i64,
    a: &Approval,
) -> sqlx::Result<bool> {
    let exists =
        sqlx::query("SELECT id FROM change_approvals WHERE change_id = ? AND approver = ?")
            .bind(change_id)
            .bind(&a.by)
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_some() {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO change_approvals (change_id, approver, org, decision, comment, digest, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(change_id)
    .bind(&a.by)
    .bind(a.org.as_str())
    .bind(a.decision.as_str())
    .bind(&a.comment)
    .bind(&a.digest)
    .bind(a.at_ms)
    .execute(conn)
    .await?;
    Ok(true)
}

pub async fn save_backup(
    conn: &mut AnyConnection,
    change_id: i64,
    before: &Value,
    undo: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO change_backups (change_id, before_image, undo_sql, written_at) VALUES (?, ?, ?, ?)")
        .bind(change_id)
        .bind(before.to_string())
        .bind(undo)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// The stored before-image and undo of a change.
pub async fn backup<'c, E: Executor<'c, Database = Any>>(
    e: E,
    change_id: i64,
) -> sqlx::Result<Option<(Value, String)>> {
    let row = sqlx::query("SELECT before_image, undo_sql FROM change_backups WHERE change_id = ?")
        .bind(change_id)
        .fetch_optional(e)
        .await?;
    row.map(|r| {
        Ok((
            json("before_image", &r.try_get::<String, _>("before_image")?)?,
            r.try_get("undo_sql")?,
        ))
    })
    .transpose()
}

/// Ids of changes in a state.
pub async fn ids_in_state<'c, E: Executor<'c, Database = Any>>(
    e: E,
    state: State,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM changes WHERE state = ? ORDER BY id")
        .bind(state.as_str())
        .fetch_all(e)
        .await
}

/// Ids of pending or approved changes whose time ran out.
pub async fn ids_due_to_expire<'c, E: Executor<'c, Database = Any>>(
    e: E,
    now: i64,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM changes WHERE state IN ('pending', 'approved') AND emergency = 0 AND expires_at <= ? ORDER BY id",
    )
    .bind(now)
    .fetch_all(e)
    .await
}

/// Emergency changes of `requester` whose review is overdue.
pub async fn overdue_reviews<'c, E: Executor<'c, Database = Any>>(
    e: E,
    requester: Option<&str>,
    now: i64,
) -> sqlx::Result<Vec<ChangeRow>> {
    let mut sql = format!(
        "SELECT {COLUMNS} FROM changes WHERE emergency = 1 AND review = 'pending' AND review_due_at <= ?"
    );
    if requester.is_some() {
        sql.push_str(" AND requester = ?");
    }
    sql.push_str(" ORDER BY id");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now);
    if let Some(r) = requester {
        q = q.bind(r.to_string());
    }
    q.fetch_all(e).await?.iter().map(from_row).collect()
}

/// Changes awaiting a decision (pending, or emergency with review pending).
pub async fn awaiting_decision<'c, E: Executor<'c, Database = Any>>(
    e: E,
    limit: i64,
) -> sqlx::Result<Vec<ChangeRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM changes WHERE state = 'pending' OR (emergency = 1 AND review = 'pending') ORDER BY id DESC LIMIT ?"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .fetch_all(e)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// How many changes are in each state (for `/metrics`).
pub async fn count_by_state<'c, E: Executor<'c, Database = Any>>(
    e: E,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as("SELECT state, COUNT(*) FROM changes GROUP BY state ORDER BY state")
        .fetch_all(e)
        .await
}

/// Loads the approvals of listed changes (lists are read without them).
pub async fn with_approvals(
    pool: &sqlx::AnyPool,
    mut changes: Vec<ChangeRow>,
) -> sqlx::Result<Vec<ChangeRow>> {
    for c in &mut changes {
        c.approvals = approvals(pool, c.id).await?;
    }
    Ok(changes)
}
