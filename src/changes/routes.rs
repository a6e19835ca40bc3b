//! The change-request JSON API (PINNED paths, DESIGN §5). Pages live in `changes::pages`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::engine;
use super::model::{Decision, State as ChangeState};
use crate::auth::extract::Authenticated;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::changes::{ChangeRow, ListFilter};
use crate::store::format_ms;
use crate::web::extract::{Json, Path, Query};

/// The JSON shape of a change.
pub fn change_json(c: &ChangeRow) -> Value {
    json!({
        "id": c.id,
        "operation": c.operation,
        "params": c.params,
        "level": c.level,
        "state": c.state,
        "reason": c.reason,
        "requester": c.requester,
        "requester_org": c.requester_org,
        "preview": c.preview,
        "approvals": c.approvals,
        "outcome": c.outcome,
        "emergency": c.emergency,
        "incident": c.incident,
        "review": c.review,
        "review_due_at": c.review_due_at.map(format_ms),
        "note": c.note,
        "created_at": format_ms(c.created_at),
        "updated_at": format_ms(c.updated_at),
        "expires_at": format_ms(c.expires_at),
    })
}

fn created(c: &ChangeRow) -> Response {
    (StatusCode::CREATED, axum::Json(change_json(c))).into_response()
}

fn ok(c: &ChangeRow) -> Response {
    axum::Json(change_json(c)).into_response()
}

#[derive(Debug, Deserialize)]
pub struct SubmitBody {
    pub operation: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub reason: String,
}

/// `POST /api/v1/changes`.
pub async fn submit_change(
    State(app): State<AppState>,
    Authenticated(id): Authenticated,
    Json(b): Json<SubmitBody>,
) -> AppResult<Response> {
    Ok(created(
        &engine::submit(&app, &id.user, &b.operation, &b.params, &b.reason).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct EmergencyBody {
    pub operation: String,
    #[serde(default)]
    pub params: Value,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub incident: String,
}

/// `POST /api/v1/changes/emergency`.
pub async fn submit_emergency(
    State(app): State<AppState>,
    Authenticated(id): Authenticated,
    Json(b): Json<EmergencyBody>,
) -> AppResult<Response> {
    Ok(created(
        &engine::emergency(
            &app,
            &id.user,
            &b.operation,
            &b.params,
            &b.reason,
            &b.incident,
        )
        .await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub state: Option<String>,
    pub operation: Option<String>,
    pub requester: Option<String>,
    pub limit: Option<i64>,
}

impl ListQuery {
    /// The store filter; an unknown state is a 400 naming the valid ones.
    pub fn filter(&self) -> AppResult<ListFilter> {
        let non_empty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        let state = match non_empty(&self.state) {
            None => None,
            Some(s) => Some(ChangeState::parse(&s).ok_or_else(|| {
                let names: Vec<&str> = ChangeState::ALL.iter().map(|s| s.as_str()).collect();
                AppError::bad_request(
                    "bad_state",
                    format!("state `{s}` is not one of {}", names.join(", ")),
                )
            })?),
        };
        Ok(ListFilter {
            state,
            operation: non_empty(&self.operation),
            requester: non_empty(&self.requester),
            limit: self.limit.unwrap_or(100),
        })
    }
}

/// `GET /api/v1/changes?state=…&operation=…&requester=…`.
pub async fn list_changes_json(
    State(app): State<AppState>,
    _: Authenticated,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let listed = crate::store::changes::list(app.store.pool(), &q.filter()?).await?;
    let changes = crate::store::changes::with_approvals(app.store.pool(), listed).await?;
    let items: Vec<Value> = changes.iter().map(change_json).collect();
    Ok(axum::Json(json!({"items": items})).into_response())
}

/// `GET /api/v1/changes/{id}`.
pub async fn show_change_json(
    State(app): State<AppState>,
    _: Authenticated,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(ok(&engine::get(&app, id).await?))
}

#[derive(Debug, Deserialize)]
pub struct DecisionBody {
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

/// Parses `approve` / `reject`.
pub fn parse_decision(s: &str) -> AppResult<Decision> {
    Decision::parse(s).ok_or_else(|| {
        AppError::bad_request(
            "bad_decision",
            format!("decision `{s}` must be \"approve\" or \"reject\""),
        )
    })
}

/// `POST /api/v1/changes/{id}/approvals`.
pub async fn decide_change(
    State(app): State<AppState>,
    Authenticated(who): Authenticated,
    Path(id): Path<i64>,
    Json(b): Json<DecisionBody>,
) -> AppResult<Response> {
    let decision = parse_decision(&b.decision)?;
    Ok(ok(&engine::decide(
        &app, &who.user, id, decision, &b.comment,
    )
    .await?))
}

/// `POST /api/v1/changes/{id}/execute`.
pub async fn execute_change(
    State(app): State<AppState>,
    Authenticated(who): Authenticated,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(ok(&engine::execute(&app, &who.user, id).await?))
}

/// `POST /api/v1/changes/{id}/withdraw`.
pub async fn withdraw_change(
    State(app): State<AppState>,
    Authenticated(who): Authenticated,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(ok(&engine::withdraw(&app, &who.user, id).await?))
}

/// `POST /api/v1/changes/{id}/reconcile`.
pub async fn reconcile_change(
    State(app): State<AppState>,
    Authenticated(who): Authenticated,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    Ok(ok(&engine::reconcile(&app, &who.user, id).await?))
}
