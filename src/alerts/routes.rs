//! `POST /api/v1/alerts/alertmanager` (the webhook, authenticated by `alerts.webhook_token`,
//! not by a user) and `GET /api/v1/incidents` (PINNED shapes, DESIGN §5).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::incidents::{self, IncidentRow, IncidentState, ListFilter};
use super::webhook::{self, MAX_BODY_BYTES};
use crate::auth::extract::Authenticated;
use crate::error::{AppError, AppResult, ErrorReport};
use crate::state::AppState;
use crate::store::format_ms;
use crate::web::context::RequestCtx;
use crate::web::extract::Query;

/// How to turn the intake on, for the 503 and the page.
pub const HOW_TO_ENABLE: &str = "alert intake is disabled: set [alerts] webhook_token = \"<a long random secret>\" in the configuration (or LHC_OPS_ALERTS__WEBHOOK_TOKEN), then give Alertmanager's webhook receiver the same value as http_config.authorization.credentials";

/// The PINNED JSON shape of an incident (plus summary, labels, annotations and times).
pub fn incident_json(i: &IncidentRow) -> Value {
    json!({
        "id": i.id,
        "fingerprint": i.fingerprint,
        "alertname": i.alertname,
        "component": i.component,
        "state": i.state.as_str(),
        "runbook": i.runbook,
        "started_at": format_ms(i.started_at),
        "ended_at": i.ended_at.map(format_ms),
        "summary": i.summary(),
        "labels": i.labels,
        "annotations": i.annotations,
        "generator_url": i.generator_url,
        "last_seen_at": format_ms(i.last_seen_at),
    })
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Constant-time comparison of digests, so neither the content nor the length of the
/// configured token leaks through timing.
fn token_matches(given: &str, expected: &str) -> bool {
    let (g, e) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    bool::from(g.as_slice().ct_eq(e.as_slice()))
}

/// 401 `invalid_token` with a message that says which token is meant.
fn bad_webhook_token(message: &str) -> Response {
    let mut resp = AppError::InvalidToken.into_response();
    if let Some(report) = resp.extensions_mut().get_mut::<ErrorReport>() {
        report.message = Some(message.to_string());
    }
    resp
}

/// `POST /api/v1/alerts/alertmanager`: Alertmanager webhook v4. The whole body is validated
/// before anything is written; then every incident, event and the audit entry commit together.
pub async fn receive_alertmanager(
    State(app): State<AppState>,
    axum::Extension(req): axum::Extension<RequestCtx>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    let expected = app.config.alerts.webhook_token.expose();
    if expected.is_empty() {
        return Err(AppError::Unavailable(HOW_TO_ENABLE.into()));
    }
    match bearer(&headers) {
        Some(given) if token_matches(given, expected) => {}
        given => {
            tracing::warn!(
                http.peer = %req.address,
                auth.token_sent = given.is_some(),
                "alert webhook refused: wrong or missing bearer token"
            );
            return Ok(bad_webhook_token(if given.is_some() {
                "the bearer token does not match alerts.webhook_token"
            } else {
                "send Authorization: Bearer <alerts.webhook_token> (Alertmanager: http_config.authorization.credentials)"
            }));
        }
    }
    let too_large = || {
        AppError::bad_request(
            "body_too_large",
            format!(
                "the webhook body is larger than {MAX_BODY_BYTES} bytes (1 MiB); nothing was stored"
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())?;
    let notification = webhook::parse(&bytes)
        .map_err(|r| AppError::bad_request(r.code, format!("{}; nothing was stored", r.message)))?;
    let counts = super::intake(&app.store, &notification, &req.address).await?;
    tracing::info!(
        alerts.receiver = %notification.receiver,
        alerts.received = counts.received,
        alerts.opened = counts.opened,
        alerts.updated = counts.updated,
        alerts.resolved = counts.resolved,
        alerts.stale = counts.stale,
        "alertmanager notification stored"
    );
    Ok(axum::Json(counts).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub state: Option<String>,
    pub limit: Option<i64>,
}

impl ListQuery {
    /// The store filter; an unknown state is a 400 naming the valid ones.
    pub fn filter(&self) -> AppResult<ListFilter> {
        let state = match self
            .state
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(s) => Some(IncidentState::parse(s).ok_or_else(|| {
                AppError::bad_request(
                    "bad_state",
                    format!("state `{s}` is not one of open, resolved"),
                )
            })?),
        };
        let limit = self.limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(AppError::bad_request(
                "bad_limit",
                format!("limit {limit} is not between 1 and 500"),
            ));
        }
        Ok(ListFilter { state, limit })
    }
}

/// `GET /api/v1/incidents?state=open|resolved&limit=N`: open first, then most recently resolved.
pub async fn list_incidents_json(
    State(app): State<AppState>,
    _: Authenticated,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let rows = incidents::list(app.store.pool(), &q.filter()?).await?;
    let items: Vec<Value> = rows.iter().map(incident_json).collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_by_value_only() {
        assert!(token_matches("s3cret-token", "s3cret-token"));
        assert!(!token_matches("s3cret-tokeN", "s3cret-token"));
        assert!(!token_matches("s3cret", "s3cret-token"));
        assert!(!token_matches("", "s3cret-token"));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn unknown_states_and_limits_are_refused() {
        let q = |s: &str, l: Option<i64>| ListQuery {
            state: Some(s.into()),
            limit: l,
        };
        assert_eq!(
            q("open", None).filter().unwrap().state,
            Some(IncidentState::Open)
        );
        assert_eq!(q("", None).filter().unwrap().state, None);
        assert!(q("closed", None).filter().is_err());
        assert!(q("open", Some(0)).filter().is_err());
        assert!(q("open", Some(501)).filter().is_err());
    }
}
