//! The one route table. Every route is listed here with its method, so the authorization test
//! can walk every route × every role from [`routes`].

use axum::Router;
use axum::handler::Handler;
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::from_fn_with_state;
use axum::routing::MethodRouter;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::AppError;
use crate::state::AppState;
use crate::web::{assets, context, metrics, ops, pages};
use crate::{alerts, audit, auth, changes, health};

/// One entry of the route table.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
}

fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
    Route {
        method: Method::GET,
        path,
        handler: axum::routing::get(h),
    }
}

fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, h: H) -> Route {
    Route {
        method: Method::POST,
        path,
        handler: axum::routing::post(h),
    }
}

/// Every route of the console.
pub fn routes() -> Vec<Route> {
    vec![
        // Operational endpoints (unauthenticated, PINNED).
        get("/healthz", ops::healthz),
        get("/readyz", ops::readyz),
        get("/metrics", ops::metrics),
        get("/static/{*path}", assets::serve_static),
        // Identity.
        get("/login", auth::routes::show_login),
        post("/login", auth::routes::submit_login),
        post("/logout", auth::routes::submit_logout),
        get("/admin/users", auth::routes::list_users),
        post("/admin/users", auth::routes::create_user),
        // Pages.
        get("/", pages::show_dashboard),
        get("/health", health::routes::show_health),
        post("/health/{component}/probe", health::routes::probe_now),
        get("/incidents", alerts::pages::list_incidents),
        get("/triage", pages::list_runbooks),
        get("/triage/{runbook}", pages::show_runbook),
        get("/mutex", changes::pages::show_mutex),
        get("/plans", changes::pages::show_plans),
        get("/changes", changes::pages::list_changes),
        post("/changes", changes::pages::request_change),
        post("/changes/emergency", changes::pages::request_emergency),
        get("/changes/{id}", changes::pages::show_change),
        post("/changes/{id}/decide", changes::pages::decide_change_form),
        post("/changes/{id}/execute", changes::pages::execute_change_form),
        post(
            "/changes/{id}/withdraw",
            changes::pages::withdraw_change_form,
        ),
        post(
            "/changes/{id}/reconcile",
            changes::pages::reconcile_change_form,
        ),
        get("/changes/{id}/undo.sql", changes::pages::download_undo),
        get("/audit", audit::routes::show_audit),
        get("/fed", pages::show_fed),
        get("/fed/clusters", pages::list_fed_clusters),
        get("/fed/namespaces/{ns}", pages::show_fed_namespace),
        get("/hub/migrations", pages::list_hub_migrations),
        get("/aks/build-config", pages::show_build_config),
        get("/kb/error-codes", pages::list_error_codes),
        get("/kb/logs", pages::list_logs),
        get("/kb/glossary", pages::show_glossary),
        // JSON API.
        get("/api/v1/me", auth::routes::show_me),
        get("/api/v1/audit", audit::routes::list_audit),
        get("/api/v1/audit/verify", audit::routes::verify_audit),
        get("/api/v1/components", health::routes::list_components),
        // Alarm intake: the webhook authenticates with alerts.webhook_token, not a user.
        post(
            "/api/v1/alerts/alertmanager",
            alerts::routes::receive_alertmanager,
        ),
        get("/api/v1/incidents", alerts::routes::list_incidents_json),
        get("/api/v1/changes", changes::routes::list_changes_json),
        post("/api/v1/changes", changes::routes::submit_change),
        post(
            "/api/v1/changes/emergency",
            changes::routes::submit_emergency,
        ),
        get("/api/v1/changes/{id}", changes::routes::show_change_json),
        post(
            "/api/v1/changes/{id}/approvals",
            changes::routes::decide_change,
        ),
        post(
            "/api/v1/changes/{id}/execute",
            changes::routes::execute_change,
        ),
        post(
            "/api/v1/changes/{id}/withdraw",
            changes::routes::withdraw_change,
        ),
        post(
            "/api/v1/changes/{id}/reconcile",
            changes::routes::reconcile_change,
        ),
    ]
}

/// Headers on every response (DESIGN §5).
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// Builds the application router with its layers.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for r in routes() {
        router = router.route(r.path, r.handler);
    }
    let mut router = router
        .fallback(|| async { AppError::NotFound })
        .layer(from_fn_with_state(state.clone(), context::request_context))
        // Outside the context layer, so it counts the status actually sent (redirects, pages).
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cache-control"),
            HeaderValue::from_static("no-store"),
        ));
    for (name, value) in SECURITY_HEADERS {
        router = router.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    router
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let route = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned());
            tracing::info_span!("request", http.method = %req.method(), http.route = route.as_deref().unwrap_or("unmatched"))
        }))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(2 * 1024 * 1024))
        .with_state(state)
}
