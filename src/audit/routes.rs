//! The `/audit` page and the audit JSON API (`/api/v1/audit`, `/api/v1/audit/verify`).

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Entry, Filter, Verdict};
use crate::auth::extract::Authenticated;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::parse_rfc3339_ms;
use crate::web::extract::Query;
use crate::web::page::{Moment, PageCtx, render};

/// Entries per page of `/audit`.
const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub actor: String,
    #[serde(default)]
    pub action: String,
    /// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` (UTC) or RFC 3339.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    pub before: Option<i64>,
    #[serde(default)]
    pub verify: Option<String>,
}

/// Parses a filter time; date-only and minute forms are UTC.
pub fn parse_filter_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    parse_rfc3339_ms(s)
        .or_else(|| parse_rfc3339_ms(&format!("{s}:00Z")))
        .or_else(|| parse_rfc3339_ms(&format!("{s}T00:00:00Z")))
}

fn time_param(name: &'static str, value: &str) -> AppResult<Option<i64>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    parse_filter_time(value).map(Some).ok_or_else(|| {
        AppError::bad_request("bad_time", format!("{name}: `{value}` is not a date (YYYY-MM-DD), a UTC time (YYYY-MM-DDTHH:MM) or RFC 3339"))
    })
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// One row of the audit table.
pub struct EntryView {
    pub seq: i64,
    pub at: Moment,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: String,
    pub hash: String,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        EntryView {
            seq: e.seq,
            at: Moment::from_ms(e.at),
            actor: e.actor,
            action: e.action,
            subject: e.subject,
            details: if e.details == json!({}) {
                String::new()
            } else {
                e.details.to_string()
            },
            hash: e.hash,
        }
    }
}

#[derive(Template)]
#[template(path = "audit/index.html")]
pub struct AuditPage {
    pub ctx: PageCtx,
    pub entries: Vec<EntryView>,
    pub head_seq: i64,
    pub head_hash: String,
    pub q: AuditQuery,
    /// Query string for the next (older) page, if there is one.
    pub older_href: Option<String>,
    pub verdict: Option<Value>,
}

/// `GET /audit`.
pub async fn show_audit(
    State(app): State<AppState>,
    _: Authenticated,
    ctx: PageCtx,
    Query(q): Query<AuditQuery>,
) -> AppResult<Response> {
    let filter = Filter {
        actor: non_empty(&q.actor),
        action: non_empty(&q.action),
        from_ms: time_param("from", &q.from)?,
        to_ms: time_param("to", &q.to)?,
        before_seq: q.before,
        limit: PAGE_SIZE,
        ..Default::default()
    };
    let entries: Vec<EntryView> = super::list(&app.store, &filter)
        .await?
        .into_iter()
        .map(EntryView::from)
        .collect();
    let (head_seq, head_hash) = super::head(&app.store).await?;
    let older_href = (entries.len() as i64 == PAGE_SIZE).then(|| {
        let last = entries.last().map(|e| e.seq).unwrap_or(0);
        let pairs = [
            ("actor", q.actor.as_str()),
            ("action", q.action.as_str()),
            ("from", q.from.as_str()),
            ("to", q.to.as_str()),
        ];
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            ser.append_pair(k, v);
        }
        ser.append_pair("before", &last.to_string());
        format!("/audit?{}", ser.finish())
    });
    let verdict = match q.verify {
        Some(_) => Some(super::verdict_json(&super::verify(&app.store).await?)),
        None => None,
    };
    Ok(render(&AuditPage {
        ctx,
        entries,
        head_seq,
        head_hash,
        q,
        older_href,
        verdict,
    }))
}

#[derive(Debug, Deserialize)]
pub struct ApiAuditQuery {
    #[serde(default)]
    pub after_seq: i64,
    pub limit: Option<i64>,
    pub actor: Option<String>,
    pub action: Option<String>,
}

/// `GET /api/v1/audit?after_seq=N&limit=M` → entries in ascending seq order.
pub async fn list_audit(
    State(app): State<AppState>,
    _: Authenticated,
    Query(q): Query<ApiAuditQuery>,
) -> AppResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::bad_request(
            "bad_limit",
            "limit must be between 1 and 1000",
        ));
    }
    if q.after_seq < 0 {
        return Err(AppError::bad_request(
            "bad_after_seq",
            "after_seq must be ≥ 0",
        ));
    }
    let filter = Filter {
        after_seq: Some(q.after_seq),
        limit,
        actor: q.actor,
        action: q.action,
        ..Default::default()
    };
    let items = super::list(&app.store, &filter).await?;
    Ok(Json(json!({"items": items})))
}

/// `GET /api/v1/audit/verify`.
pub async fn verify_audit(State(app): State<AppState>, _: Authenticated) -> AppResult<Json<Value>> {
    let verdict: Verdict = super::verify(&app.store).await?;
    Ok(Json(super::verdict_json(&verdict)))
}

#[cfg(test)]
mod tests {
    use super::parse_filter_time;

    #[test]
    fn filter_times_accept_dates_minutes_and_rfc3339() {
        assert_eq!(parse_filter_time("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_filter_time("1970-01-01T00:01"), Some(60_000));
        assert_eq!(parse_filter_time("1970-01-01T08:00:00+08:00"), Some(0));
        assert_eq!(parse_filter_time("yesterday"), None);
        assert_eq!(parse_filter_time(""), None);
    }
}
