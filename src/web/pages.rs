//! The dashboard and the pages whose capability is not built yet. Those say so plainly and
//! describe what will be there; they never show invented data.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use crate::audit::{self, Filter};
use crate::auth::extract::Authenticated;
use crate::error::AppResult;
use crate::state::AppState;
use crate::web::page::{Moment, PageCtx, render};

/// A recent audit entry on the dashboard.
pub struct RecentEntry {
    pub seq: i64,
    pub at: Moment,
    pub action: String,
    pub subject: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub ctx: PageCtx,
    pub audit_entries: i64,
    pub audit_head: String,
    pub recent: Vec<RecentEntry>,
    pub config_source: String,
    /// Changes waiting for a decision from the viewer's org (all waiting ones for non-approvers).
    pub awaiting: Vec<crate::changes::pages::ChangeListItem>,
    /// Break-glass changes whose review is overdue.
    pub overdue: Vec<crate::changes::pages::ChangeListItem>,
    /// Components by status: (status, count), in the order up, degraded, down, unknown.
    pub health_counts: Vec<(&'static str, usize)>,
    /// Open incidents: (component, alertname, summary, runbook).
    pub incidents: Vec<(String, String, String, Option<String>)>,
    /// Components that are degraded or down, with the guide's impact.
    pub health_alerts: Vec<(String, &'static str, String)>,
}

/// `GET /`.
pub async fn show_dashboard(
    State(app): State<AppState>,
    Authenticated(id): Authenticated,
    ctx: PageCtx,
) -> AppResult<Response> {
    let (audit_entries, audit_head) = audit::head(&app.store).await?;
    let mine = Filter {
        actor: Some(id.user.name.clone()),
        limit: 8,
        ..Default::default()
    };
    let recent = audit::list(&app.store, &mine)
        .await?
        .into_iter()
        .map(|e| RecentEntry {
            seq: e.seq,
            at: Moment::from_ms(e.at),
            action: e.action,
            subject: e.subject,
        })
        .collect();
    let user = &id.user;
    let waiting = crate::store::changes::awaiting_decision(app.store.pool(), 50).await?;
    let awaiting = crate::store::changes::with_approvals(app.store.pool(), waiting)
        .await?
        .into_iter()
        .filter(|c| {
            user.role != crate::auth::Role::Approver
                || (c.requester != user.name
                    && !c.approvals.iter().any(|a| a.by == user.name)
                    && crate::changes::model::missing_orgs(
                        c.level,
                        &c.approvals,
                        &c.preview.digest,
                    )
                    .contains(&user.org))
        })
        .map(|c| crate::changes::pages::ChangeListItem::from(&app, &c))
        .collect();
    let overdue =
        crate::store::changes::overdue_reviews(app.store.pool(), None, crate::store::now_ms())
            .await?
            .iter()
            .map(|c| crate::changes::pages::ChangeListItem::from(&app, c))
            .collect();
    let snapshot = app.health.snapshot();
    let health_counts = ["up", "degraded", "down", "unknown"]
        .into_iter()
        .map(|st| {
            (
                st,
                snapshot.iter().filter(|c| c.status.as_str() == st).count(),
            )
        })
        .collect();
    let health_alerts = snapshot
        .iter()
        .filter(|c| matches!(c.status.as_str(), "degraded" | "down"))
        .map(|c| {
            (
                c.spec.name.clone(),
                c.status.as_str(),
                crate::health::routes::impact_text(c, ctx.lang),
            )
        })
        .collect();
    let open = crate::alerts::incidents::ListFilter {
        state: Some(crate::alerts::incidents::IncidentState::Open),
        limit: 10,
    };
    let incidents = crate::alerts::incidents::list(app.store.pool(), &open)
        .await?
        .into_iter()
        .map(|i| {
            (
                i.component.clone(),
                i.alertname.clone(),
                i.summary().to_string(),
                i.runbook.clone(),
            )
        })
        .collect();
    Ok(render(&DashboardPage {
        incidents,
        health_counts,
        health_alerts,
        awaiting,
        overdue,
        ctx,
        audit_entries,
        audit_head,
        recent,
        config_source: app.config_source.to_string(),
    }))
}

#[derive(Template)]
#[template(path = "placeholder.html")]
pub struct PlaceholderPage {
    pub ctx: PageCtx,
    pub title_key: &'static str,
    pub lead_key: &'static str,
    /// The path parameter, for pages such as `/triage/{runbook}`.
    pub subject: Option<String>,
}

fn placeholder(
    ctx: PageCtx,
    title_key: &'static str,
    lead_key: &'static str,
    subject: Option<String>,
) -> Response {
    render(&PlaceholderPage {
        ctx,
        title_key,
        lead_key,
        subject,
    })
}

/// Declares a handler for a page that is not built yet.
macro_rules! placeholder_page {
    ($name:ident, $title:literal, $lead:literal) => {
        /// A page whose capability is not built yet.
        pub async fn $name(_: Authenticated, ctx: PageCtx) -> Response {
            placeholder(ctx, $title, $lead, None)
        }
    };
}

placeholder_page!(list_runbooks, "page.triage.title", "page.triage.pending");
placeholder_page!(show_fed, "page.fed.title", "page.fed.pending");
placeholder_page!(
    list_fed_clusters,
    "page.fed_clusters.title",
    "page.fed_clusters.pending"
);
placeholder_page!(
    list_hub_migrations,
    "page.hub_migrations.title",
    "page.hub_migrations.pending"
);
placeholder_page!(
    show_build_config,
    "page.aks_build_config.title",
    "page.aks_build_config.pending"
);
placeholder_page!(
    list_error_codes,
    "page.kb_error_codes.title",
    "page.kb_error_codes.pending"
);
placeholder_page!(list_logs, "page.kb_logs.title", "page.kb_logs.pending");
placeholder_page!(
    show_glossary,
    "page.kb_glossary.title",
    "page.kb_glossary.pending"
);

/// `GET /triage/{runbook}`: runbook ids follow the PINNED scheme; content is not written yet.
pub async fn show_runbook(_: Authenticated, ctx: PageCtx, Path(runbook): Path<String>) -> Response {
    placeholder(
        ctx,
        "page.runbook.title",
        "page.runbook.pending",
        Some(runbook),
    )
}

/// `GET /fed/namespaces/{ns}`.
pub async fn show_fed_namespace(
    _: Authenticated,
    ctx: PageCtx,
    Path(ns): Path<String>,
) -> Response {
    placeholder(
        ctx,
        "page.fed_namespace.title",
        "page.fed.pending",
        Some(ns),
    )
}
