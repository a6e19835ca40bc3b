//! Pages of the change workflow: `/mutex` and `/plans` (look up, then request a change or use
//! break-glass), `/changes` (list with filters) and `/changes/{id}` (preview, approvals,
//! decisions, execute, outcome, undo download, reconcile). Every form works without JavaScript;
//! htmx only enhances.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::engine;
use super::model::{self, State as ChangeState};
use super::operation::Preview;
use super::routes::{ListQuery, parse_decision};
use crate::auth::extract::Authenticated;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::changes::{self as repo, ChangeRow};
use crate::web::extract::{Form, Path, Query};
use crate::web::page::{Moment, PageCtx, render};

/// One cell of a preview table.
pub struct CellView {
    pub text: String,
    pub null: bool,
}

/// One table of a preview, in column order.
pub struct TableView {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<CellView>>,
}

/// A preview as tables for the templates.
pub fn preview_tables(p: &Preview) -> Vec<TableView> {
    let mut items = p.items.iter();
    p.tables
        .iter()
        .map(|t| TableView {
            name: t.name.clone(),
            columns: t.columns.clone(),
            rows: items
                .by_ref()
                .take(t.count)
                .map(|row| {
                    t.columns
                        .iter()
                        .map(|c| match row.get(c) {
                            None | Some(Value::Null) => CellView {
                                text: "NULL".into(),
                                null: true,
                            },
                            Some(Value::String(s)) => CellView {
                                text: s.clone(),
                                null: false,
                            },
                            Some(other) => CellView {
                                text: other.to_string(),
                                null: false,
                            },
                        })
                        .collect()
                })
                .collect(),
        })
        .collect()
}

/// Whether the lhcconsole target is configured, for the lookup pages.
fn lhcconsole_configured(app: &AppState) -> bool {
    app.targets.lhcconsole.is_some()
}

#[derive(Debug, Default, Deserialize)]
pub struct LookupQuery {
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub time_series_id: String,
}

#[derive(Template)]
#[template(path = "changes/lookup.html")]
pub struct LookupPage {
    pub ctx: PageCtx,
    /// `mutex` or `plans`.
    pub kind: &'static str,
    pub title_key: &'static str,
    pub lead_key: &'static str,
    /// The lookup field name (`service` or `time_series_id`).
    pub field: &'static str,
    pub field_label_key: &'static str,
    pub action_key: &'static str,
    pub operation: &'static str,
    pub level: String,
    pub configured: bool,
    /// The value looked up (service name or time_series_id).
    pub query: String,
    pub tables: Vec<TableView>,
    pub count: usize,
    /// A lookup problem to show (nothing found, target unreachable).
    pub problem: Option<String>,
    /// Why the demo sandbox database is unavailable, if it is.
    pub sandbox_note: Option<String>,
    pub may_request: bool,
    pub may_break_glass: bool,
}

async fn lookup(
    app: &AppState,
    ctx: PageCtx,
    kind: &'static str,
    query: String,
) -> AppResult<Response> {
    let (operation, key, title_key, lead_key, field_label_key, action_key) = match kind {
        "mutex" => (
            "lhc.mutex.release",
            "service",
            "page.mutex.title",
            "mutex.lead",
            "mutex.field",
            "mutex.action",
        ),
        _ => (
            "lhc.plan.cancel",
            "time_series_id",
            "page.plans.title",
            "plans.lead",
            "plans.field",
            "plans.action",
        ),
    };
    let user = ctx.user.clone().ok_or(AppError::Unauthenticated)?;
    let mut page = LookupPage {
        level: app
            .config
            .level_of(operation)
            .map(|l| l.to_string())
            .unwrap_or_default(),
        configured: lhcconsole_configured(app),
        may_request: user.role.may_operate(),
        may_break_glass: user.role.may_operate() && user.emergency,
        ctx,
        kind,
        title_key,
        lead_key,
        field: key,
        field_label_key,
        action_key,
        operation,
        query: query.clone(),
        tables: Vec::new(),
        count: 0,
        problem: None,
        sandbox_note: app.sandbox_note.clone(),
    };
    if page.configured && !query.is_empty() {
        let op = app.operations.get(operation).ok_or(AppError::NotFound)?;
        match op.validate(&json!({ key: query })) {
            Err(m) => page.problem = Some(m),
            Ok(params) => match op.preview(&app.targets, &params).await {
                Ok(p) => {
                    page.count = p.count;
                    page.tables = preview_tables(&p);
                }
                Err(e) => page.problem = Some(e.to_string()),
            },
        }
    }
    Ok(render(&page))
}

/// `GET /mutex?service=…`.
pub async fn show_mutex(
    State(app): State<AppState>,
    _: Authenticated,
    ctx: PageCtx,
    Query(q): Query<LookupQuery>,
) -> AppResult<Response> {
    lookup(&app, ctx, "mutex", q.service).await
}

/// `GET /plans?time_series_id=…`.
pub async fn show_plans(
    State(app): State<AppState>,
    _: Authenticated,
    ctx: PageCtx,
    Query(q): Query<LookupQuery>,
) -> AppResult<Response> {
    lookup(&app, ctx, "plans", q.time_series_id).await
}

#[derive(Debug, Deserialize)]
pub struct RequestForm {
    pub operation: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub time_series_id: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub incident: String,
}

impl RequestForm {
    fn params(&self) -> Value {
        match self.operation.as_str() {
            "lhc.mutex.release" => json!({"service": self.service}),
            _ => json!({"time_series_id": self.time_series_id}),
        }
    }
}

/// `POST /changes`: a change request from the lookup pages.
pub async fn request_change(
    State(app): State<AppState>,
    Authenticated(who): Authenticated,
    Form(f): Form<RequestForm>,
) -> AppResult<Response> {
    let c = engine::submit(&app, &who.user, &f.operation, &f.params(), &f.reason).await?;
    Ok(Redirect::to(&format!("/changes/{}", c.id)).into_response())
}

/// `POST /changes/emergency`: break-glass from the lookup pages.
pub async fn request_emergency(
    State(app): State<AppState>,
    Authenticated(who): Authenticated,
    Form(f): Form<RequestForm>,
) -> AppResult<Response> {
    let c = engine::emergency(
        &app,
        &who.user,
        &f.operation,
        &f.params(),
        &f.reason,
        &f.incident,
    )
    .await?;
    Ok(Redirect::to(&format!("/changes/{}", c.id)).into_response())
}

/// A row of the changes list.
pub struct ChangeListItem {
    pub id: i64,
    pub operation: String,
    pub subject: String,
    pub level: String,
    pub state: String,
    pub emergency: bool,
    pub requester: String,
    pub created: Moment,
}

impl ChangeListItem {
    pub fn from(app: &AppState, c: &ChangeRow) -> ChangeListItem {
        ChangeListItem {
            id: c.id,
            subject: app
                .operations
                .get(&c.operation)
                .map(|op| op.subject(&c.params))
                .unwrap_or_default(),
            operation: c.operation.clone(),
            level: c.level.to_string(),
            state: c.state.to_string(),
            emergency: c.emergency,
            requester: c.requester.clone(),
            created: Moment::from_ms(c.created_at),
        }
    }
}

#[derive(Template)]
#[template(path = "changes/list.html")]
pub struct ChangesPage {
    pub ctx: PageCtx,
    pub items: Vec<ChangeListItem>,
    pub q: ListQuery,
    pub states: Vec<&'static str>,
    pub operations: Vec<&'static str>,
}

/// `GET /changes`.
pub async fn list_changes(
    State(app): State<AppState>,
    _: Authenticated,
    ctx: PageCtx,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let rows = repo::list(app.store.pool(), &q.filter()?).await?;
    let items = rows.iter().map(|c| ChangeListItem::from(&app, c)).collect();
    Ok(render(&ChangesPage {
        ctx,
        items,
        q,
        states: ChangeState::ALL.iter().map(|s| s.as_str()).collect(),
        operations: app.operations.ids().collect(),
    }))
}

/// A decision as shown.
pub struct ApprovalView {
    pub by: String,
    pub org: crate::auth::Org,
    pub decision: String,
    pub comment: String,
    pub at: Moment,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "changes/detail.html")]
pub struct ChangePage {
    pub ctx: PageCtx,
    pub c: ChangeRow,
    pub subject: String,
    pub tables: Vec<TableView>,
    pub approvals: Vec<ApprovalView>,
    pub missing: Vec<crate::auth::Org>,
    pub may_decide: bool,
    pub may_execute: bool,
    pub may_withdraw: bool,
    pub may_reconcile: bool,
    pub before_tables: Vec<TableView>,
    pub created: Moment,
    pub expires: Moment,
    pub review_due: Option<Moment>,
}

#[derive(Template)]
#[template(path = "changes/detail.html", block = "change")]
pub struct ChangeFragment<'a> {
    pub ctx: &'a PageCtx,
    pub c: &'a ChangeRow,
    pub subject: &'a str,
    pub tables: &'a [TableView],
    pub approvals: &'a [ApprovalView],
    pub missing: &'a [crate::auth::Org],
    pub may_decide: bool,
    pub may_execute: bool,
    pub may_withdraw: bool,
    pub may_reconcile: bool,
    pub before_tables: &'a [TableView],
    pub created: &'a Moment,
    pub expires: &'a Moment,
    pub review_due: &'a Option<Moment>,
}

fn change_page(app: &AppState, ctx: PageCtx, c: ChangeRow) -> AppResult<ChangePage> {
    let user = ctx.user.clone().ok_or(AppError::Unauthenticated)?;
    let review = c
        .emergency
        .then_some(c.review.unwrap_or(model::Review::Pending));
    let may_decide =
        model::may_decide(&user, &c.requester, c.state, c.level, review, &c.approvals).is_ok();
    let before_tables = match &c.outcome {
        Some(o) => {
            let items = o.before_image.as_array().cloned().unwrap_or_default();
            preview_tables(&Preview {
                items,
                ..c.preview.clone()
            })
        }
        None => Vec::new(),
    };
    Ok(ChangePage {
        subject: app
            .operations
            .get(&c.operation)
            .map(|op| op.subject(&c.params))
            .unwrap_or_default(),
        tables: preview_tables(&c.preview),
        approvals: c
            .approvals
            .iter()
            .map(|a| ApprovalView {
                by: a.by.clone(),
                org: a.org,
                decision: a.decision.as_str().to_string(),
                comment: a.comment.clone(),
                at: Moment::from_ms(a.at_ms),
                current: a.digest == c.preview.digest,
            })
            .collect(),
        missing: model::missing_orgs(c.level, &c.approvals, &c.preview.digest),
        may_decide,
        may_execute: c.state == ChangeState::Approved && c.requester == user.name,
        may_withdraw: c.state == ChangeState::Pending && c.requester == user.name,
        may_reconcile: c.state == ChangeState::InDoubt && user.role.may_operate(),
        before_tables,
        created: Moment::from_ms(c.created_at),
        expires: Moment::from_ms(c.expires_at),
        review_due: c.review_due_at.map(Moment::from_ms),
        ctx,
        c,
    })
}

impl ChangePage {
    fn fragment(&self) -> ChangeFragment<'_> {
        ChangeFragment {
            ctx: &self.ctx,
            c: &self.c,
            subject: &self.subject,
            tables: &self.tables,
            approvals: &self.approvals,
            missing: &self.missing,
            may_decide: self.may_decide,
            may_execute: self.may_execute,
            may_withdraw: self.may_withdraw,
            may_reconcile: self.may_reconcile,
            before_tables: &self.before_tables,
            created: &self.created,
            expires: &self.expires,
            review_due: &self.review_due,
        }
    }
}

/// Renders the page, or only its `change` block for htmx.
fn respond(app: &AppState, ctx: PageCtx, c: ChangeRow, fragment: bool) -> AppResult<Response> {
    let page = change_page(app, ctx, c)?;
    Ok(if fragment {
        render(&page.fragment())
    } else {
        render(&page)
    })
}

/// `GET /changes/{id}`.
pub async fn show_change(
    State(app): State<AppState>,
    _: Authenticated,
    ctx: PageCtx,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let c = engine::get(&app, id).await?;
    respond(&app, ctx, c, false)
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    pub decision: String,
    #[serde(default)]
    pub comment: String,
}

fn is_htmx(ctx: &crate::web::context::RequestCtx) -> bool {
    ctx.kind == crate::web::context::RequestKind::Fragment
}

/// After a form action: the fragment for htmx, a redirect to the page otherwise.
fn after_action(
    app: &AppState,
    ctx: PageCtx,
    req: &crate::web::context::RequestCtx,
    c: ChangeRow,
) -> AppResult<Response> {
    if is_htmx(req) {
        respond(app, ctx, c, true)
    } else {
        Ok(Redirect::to(&format!("/changes/{}", c.id)).into_response())
    }
}

/// `POST /changes/{id}/decide`.
pub async fn decide_change_form(
    State(app): State<AppState>,
    Authenticated(who): Authenticated,
    ctx: PageCtx,
    axum::Extension(req): axum::Extension<crate::web::context::RequestCtx>,
    Path(id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> AppResult<Response> {
    let c = engine::decide(
        &app,
        &who.user,
        id,
        parse_decision(&f.decision)?,
        &f.comment,
    )
    .await?;
    after_action(&app, ctx, &req, c)
}

/// Declares a form handler for a change action without fields.
macro_rules! change_action {
    ($name:ident, $engine:path) => {
        /// A change action posted from the change page.
        pub async fn $name(
            State(app): State<AppState>,
            Authenticated(who): Authenticated,
            ctx: PageCtx,
            axum::Extension(req): axum::Extension<crate::web::context::RequestCtx>,
            Path(id): Path<i64>,
        ) -> AppResult<Response> {
            let c = $engine(&app, &who.user, id).await?;
            after_action(&app, ctx, &req, c)
        }
    };
}

#[derive(Debug, Default, Deserialize)]
pub struct ExecuteForm {
    /// For G3: the subject typed again (DESIGN §10).
    #[serde(default)]
    pub confirm: String,
}

/// `POST /changes/{id}/execute`; a G3 change needs its subject typed as confirmation.
pub async fn execute_change_form(
    State(app): State<AppState>,
    Authenticated(who): Authenticated,
    ctx: PageCtx,
    axum::Extension(req): axum::Extension<crate::web::context::RequestCtx>,
    Path(id): Path<i64>,
    Form(f): Form<ExecuteForm>,
) -> AppResult<Response> {
    let change = engine::get(&app, id).await?;
    if change.level == super::policy::Level::G3 {
        let subject = app
            .operations
            .get(&change.operation)
            .map(|op| op.subject(&change.params))
            .unwrap_or_default();
        if f.confirm != subject {
            return Err(AppError::bad_request(
                "confirmation_mismatch",
                format!("G3: type `{subject}` exactly to confirm the execution"),
            ));
        }
    }
    let c = engine::execute(&app, &who.user, id).await?;
    after_action(&app, ctx, &req, c)
}
change_action!(withdraw_change_form, engine::withdraw);
change_action!(reconcile_change_form, engine::reconcile);

/// `GET /changes/{id}/undo.sql`: the stored undo script as a download.
pub async fn download_undo(
    State(app): State<AppState>,
    _: Authenticated,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let (_, undo) = repo::backup(app.store.pool(), id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut resp = undo.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sql; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"change-{id}-undo.sql\""))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
