//! The `incidents` and `incident_events` tables. An incident is one episode of one alert: it
//! is found by its fingerprint while open (`open_fingerprint` is unique, NULL once resolved), so
//! a later firing of the same alert opens a new incident and the old one keeps its history.
//! Every notification received for an alert is kept in `incident_events`.

use std::collections::BTreeMap;

use sqlx::{Any, AnyConnection, Executor, Row};

use super::webhook::Alert;

/// `open` or `resolved`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentState {
    Open,
    Resolved,
}

impl IncidentState {
    pub const ALL: [IncidentState; 2] = [IncidentState::Open, IncidentState::Resolved];

    pub fn parse(s: &str) -> Option<IncidentState> {
        match s {
            "open" => Some(IncidentState::Open),
            "resolved" => Some(IncidentState::Resolved),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for IncidentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incident as stored.
#[derive(Clone, Debug)]
pub struct IncidentRow {
    pub id: i64,
    pub fingerprint: String,
    pub alertname: String,
    pub component: String,
    pub runbook: Option<String>,
    pub state: IncidentState,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub generator_url: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

impl IncidentRow {
    /// The `summary` annotation, else `description`, else empty.
    pub fn summary(&self) -> &str {
        ["summary", "description"]
            .iter()
            .find_map(|k| self.annotations.get(*k).filter(|v| !v.is_empty()))
            .map_or("", String::as_str)
    }
}

/// What one received alert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new open incident (or a resolved one, for a resolution whose firing never arrived).
    Opened,
    /// An open incident seen firing again.
    Updated,
    Resolved,
    /// A late or repeated notification about an episode already resolved: recorded, no change.
    Stale,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Opened => "opened",
            Outcome::Updated => "updated",
            Outcome::Resolved => "resolved",
            Outcome::Stale => "stale",
        }
    }
}

fn corrupt(col: &str, v: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: col.into(),
        source: format!("unexpected value `{v}`").into(),
    }
}

fn map(col: &str, text: &str) -> sqlx::Result<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|e| sqlx::Error::ColumnDecode {
        index: col.into(),
        source: e.into(),
    })
}

fn to_json(m: &BTreeMap<String, String>) -> String {
    serde_json::to_string(m).expect("string maps serialise")
}

const COLUMNS: &str = "id, fingerprint, alertname, component, runbook, state, labels, annotations, \
     generator_url, started_at, ended_at, first_seen_at, last_seen_at";

fn from_row(r: &sqlx::any::AnyRow) -> sqlx::Result<IncidentRow> {
    let state: String = r.try_get("state")?;
    Ok(IncidentRow {
        id: r.try_get("id")?,
        fingerprint: r.try_get("fingerprint")?,
        alertname: r.try_get("alertname")?,
        component: r.try_get("component")?,
        runbook: r.try_get("runbook")?,
        state: IncidentState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        labels: map("labels", &r.try_get::<String, _>("labels")?)?,
        annotations: map("annotations", &r.try_get::<String, _>("annotations")?)?,
        generator_url: r.try_get("generator_url")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        first_seen_at: r.try_get("first_seen_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
    })
}

/// The newest incident of a fingerprint (the open one, if any: only the newest can be open).
pub async fn latest(
    conn: &mut AnyConnection,
    fingerprint: &str,
) -> sqlx::Result<Option<IncidentRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM incidents WHERE fingerprint = ? ORDER BY id DESC LIMIT 1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(fingerprint)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A new incident from `a`, open or (for a resolution whose firing never arrived) resolved.
pub async fn insert(
    conn: &mut AnyConnection,
    a: &Alert,
    state: IncidentState,
    now: i64,
) -> sqlx::Result<i64> {
    let resolved = state == IncidentState::Resolved;
    let done = sqlx::query(
        "INSERT INTO incidents (fingerprint, open_fingerprint, alertname, component, runbook, state, labels, \
         annotations, generator_url, started_at, ended_at, first_seen_at, last_seen_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&a.fingerprint)
    .bind((!resolved).then_some(a.fingerprint.as_str()))
    .bind(&a.alertname)
    .bind(&a.component)
    .bind(a.runbook.as_deref())
    .bind(state.as_str())
    .bind(to_json(&a.labels))
    .bind(to_json(&a.annotations))
    .bind(&a.generator_url)
    .bind(a.starts_at)
    .bind(resolved.then(|| a.ends_at.unwrap_or(now)))
    .bind(now)
    .bind(now)
    .execute(conn)
    .await?;
    done.last_insert_id()
        .ok_or_else(|| sqlx::Error::Protocol("no id for the new incident".into()))
}

/// Refreshes an open incident from a firing (or resolving, with `ended_at`) notification.
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    a: &Alert,
    ended_at: Option<i64>,
    now: i64,
) -> sqlx::Result<()> {
    let state = if ended_at.is_some() {
        IncidentState::Resolved
    } else {
        IncidentState::Open
    };
    sqlx::query(
        "UPDATE incidents SET state = ?, open_fingerprint = ?, alertname = ?, component = ?, runbook = ?, \
         labels = ?, annotations = ?, generator_url = ?, ended_at = ?, last_seen_at = ? WHERE id = ?",
    )
    .bind(state.as_str())
    .bind(ended_at.is_none().then_some(a.fingerprint.as_str()))
    .bind(&a.alertname)
    .bind(&a.component)
    .bind(a.runbook.as_deref())
    .bind(to_json(&a.labels))
    .bind(to_json(&a.annotations))
    .bind(&a.generator_url)
    .bind(ended_at)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Context of one notification, stored with each of its events.
#[derive(Clone, Copy, Debug)]
pub struct Received<'a> {
    pub receiver: &'a str,
    pub group_key: &'a str,
    pub at: i64,
}

/// Records one received alert against its incident.
pub async fn insert_event(
    conn: &mut AnyConnection,
    incident_id: i64,
    a: &Alert,
    outcome: Outcome,
    r: Received<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO incident_events (incident_id, fingerprint, status, outcome, receiver, group_key, labels, \
         annotations, starts_at, ends_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(incident_id)
    .bind(&a.fingerprint)
    .bind(a.status.as_str())
    .bind(outcome.as_str())
    .bind(r.receiver)
    .bind(r.group_key)
    .bind(to_json(&a.labels))
    .bind(to_json(&a.annotations))
    .bind(a.starts_at)
    .bind(a.ends_at)
    .bind(r.at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Filters for [`list`].
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub state: Option<IncidentState>,
    pub limit: i64,
}

/// Open incidents first (newest start first), then resolved ones (most recently ended first).
pub async fn list<'c, E: Executor<'c, Database = Any>>(
    e: E,
    f: &ListFilter,
) -> sqlx::Result<Vec<IncidentRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM incidents WHERE 1=1");
    if f.state.is_some() {
        sql.push_str(" AND state = ?");
    }
    sql.push_str(
        " ORDER BY CASE WHEN state = 'open' THEN 0 ELSE 1 END, COALESCE(ended_at, started_at) DESC, id DESC LIMIT ?",
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    if let Some(s) = f.state {
        q = q.bind(s.as_str());
    }
    q.bind(f.limit.clamp(1, 500))
        .fetch_all(e)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// One received event, for an incident's history.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub status: String,
    pub outcome: String,
    pub receiver: String,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub received_at: i64,
}

/// The events of one incident, oldest first.
pub async fn events<'c, E: Executor<'c, Database = Any>>(
    e: E,
    incident_id: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query(
        "SELECT status, outcome, receiver, starts_at, ends_at, received_at FROM incident_events \
         WHERE incident_id = ? ORDER BY id",
    )
    .bind(incident_id)
    .fetch_all(e)
    .await?
    .iter()
    .map(|r| {
        Ok(EventRow {
            status: r.try_get("status")?,
            outcome: r.try_get("outcome")?,
            receiver: r.try_get("receiver")?,
            starts_at: r.try_get("starts_at")?,
            ends_at: r.try_get("ends_at")?,
            received_at: r.try_get("received_at")?,
        })
    })
    .collect()
}
