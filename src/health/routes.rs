//! `/health` (the component × instance × port matrix, live-refreshed with htmx),
//! `POST /health/{component}/probe` ("probe now", G1, audited) and `GET /api/v1/components`.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::inventory::CheckSpec;
use super::monitor::{ComponentView, Slot};
use super::status::{CheckStatus, ComponentStatus};
use crate::auth::extract::{Authenticated, Operator};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::store::format_ms;
use crate::web::context::{RequestCtx, RequestKind};
use crate::web::extract::Path;
use crate::web::i18n::Lang;
use crate::web::page::{Moment, PageCtx, render};

/// The runbook a failing check links to (PINNED id scheme `<component>-port-<port>`).
pub fn runbook_for(component: &str, check: &CheckSpec) -> String {
    format!("{component}-port-{}", check.port())
}

fn check_json(spec: &CheckSpec, slot: &Slot) -> Value {
    json!({
        "kind": spec.kind(),
        "port": spec.port(),
        "ok": match slot.state.status { CheckStatus::Up => json!(true), CheckStatus::Down => json!(false), CheckStatus::Unknown => Value::Null },
        "latency_ms": slot.state.last_latency_ms,
        "error": slot.state.last_error,
        "since": slot.state.since_ms.map(format_ms),
    })
}

/// The PINNED JSON shape of one component.
pub fn component_json(c: &ComponentView) -> Value {
    json!({
        "name": c.spec.name,
        "status": c.status,
        "impact": impact_text(c, Lang::ZhCn),
        "instances": c.spec.hosts.iter().zip(&c.slots).map(|(host, slots)| json!({
            "host": host,
            "checks": c.spec.checks.iter().zip(slots).map(|(k, s)| check_json(k, s)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The guide's impact text for a component status (§6.3).
pub fn impact_text(c: &ComponentView, lang: Lang) -> String {
    let t = lang.catalog();
    match c.status {
        ComponentStatus::Up => t.t("health.impact.up").to_string(),
        ComponentStatus::Degraded => t.t("health.impact.degraded").to_string(),
        ComponentStatus::Down => {
            let what = if lang == Lang::ZhCn {
                &c.spec.impact_down.0
            } else {
                &c.spec.impact_down.1
            };
            t.fmt("health.impact.down", &[("impact", what)])
        }
        ComponentStatus::Unknown if c.spec.hosts.is_empty() => {
            t.t("health.impact.no_hosts").to_string()
        }
        ComponentStatus::Unknown => t.t("health.impact.unknown").to_string(),
    }
}

/// `GET /api/v1/components`.
pub async fn list_components(State(app): State<AppState>, _: Authenticated) -> Response {
    let items: Vec<Value> = app.health.snapshot().iter().map(component_json).collect();
    axum::Json(json!({"items": items})).into_response()
}

/// An inline SVG sparkline of recent latencies (failed probes as red ticks). Numbers only, so
/// the markup is safe to embed.
pub fn sparkline(samples: &[Option<f64>]) -> String {
    const W: f64 = 90.0;
    const H: f64 = 18.0;
    if samples.is_empty() {
        return String::new();
    }
    let max = samples.iter().flatten().copied().fold(1.0_f64, f64::max);
    let step = if samples.len() > 1 {
        W / (samples.len() - 1) as f64
    } else {
        0.0
    };
    let mut points = Vec::new();
    let mut ticks = String::new();
    for (i, s) in samples.iter().enumerate() {
        let x = i as f64 * step;
        match s {
            Some(v) => points.push(format!("{x:.1},{:.1}", H - 1.0 - (v / max) * (H - 2.0))),
            None => ticks.push_str(&format!(
                "<line x1=\"{x:.1}\" y1=\"0\" x2=\"{x:.1}\" y2=\"{H}\" class=\"spark-fail\"/>"
            )),
        }
    }
    format!(
        "<svg class=\"spark\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-hidden=\"true\"><polyline points=\"{}\" class=\"spark-line\"/>{ticks}</svg>",
        points.join(" ")
    )
}

/// One cell of the matrix.
pub struct CellView {
    pub kind: &'static str,
    pub port: u16,
    pub status: &'static str,
    pub latency: String,
    pub error: String,
    pub since: Option<Moment>,
    pub spark: String,
    pub runbook: String,
    /// Uptime over 24 h and 7 d, e.g. `99.9 %`, empty without samples.
    pub uptime_day: String,
    pub uptime_week: String,
}

fn percent(v: Option<f64>) -> String {
    v.map(|p| format!("{p:.1} %")).unwrap_or_default()
}

/// One instance row.
pub struct InstanceView {
    pub host: String,
    pub cells: Vec<CellView>,
}

/// One component block.
pub struct ComponentRow {
    pub name: String,
    pub status: &'static str,
    pub impact: String,
    pub instances: Vec<InstanceView>,
    pub runbook_down: String,
}

/// Problems first: down, degraded, up, then unknown (inventory order within each).
fn attention_order(status: ComponentStatus) -> u8 {
    match status {
        ComponentStatus::Down => 0,
        ComponentStatus::Degraded => 1,
        ComponentStatus::Up => 2,
        ComponentStatus::Unknown => 3,
    }
}

fn rows(app: &AppState, lang: Lang) -> Vec<ComponentRow> {
    let mut snapshot = app.health.snapshot();
    snapshot.sort_by_key(|c| attention_order(c.status));
    snapshot
        .iter()
        .map(|c| ComponentRow {
            name: c.spec.name.clone(),
            status: c.status.as_str(),
            impact: impact_text(c, lang),
            runbook_down: format!("{}-down", c.spec.name),
            instances: c
                .spec
                .hosts
                .iter()
                .zip(&c.slots)
                .map(|(host, slots)| InstanceView {
                    host: host.clone(),
                    cells: c
                        .spec
                        .checks
                        .iter()
                        .zip(slots)
                        .map(|(k, s)| CellView {
                            kind: k.kind(),
                            port: k.port(),
                            status: match s.state.status {
                                CheckStatus::Up => "up",
                                CheckStatus::Down => "down",
                                CheckStatus::Unknown => "unknown",
                            },
                            latency: s
                                .state
                                .last_latency_ms
                                .map(|l| format!("{l:.1} ms"))
                                .unwrap_or_default(),
                            error: s.state.last_error.clone().unwrap_or_default(),
                            since: s.state.since_ms.map(Moment::from_ms),
                            spark: sparkline(&s.recent.iter().copied().collect::<Vec<_>>()),
                            runbook: runbook_for(&c.spec.name, k),
                            uptime_day: percent(s.uptime(s.stored_day)),
                            uptime_week: percent(s.uptime(s.stored_week)),
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "health/index.html")]
pub struct HealthPage {
    pub ctx: PageCtx,
    pub components: Vec<ComponentRow>,
    pub may_probe: bool,
}

#[derive(Template)]
#[template(path = "health/index.html", block = "grid")]
pub struct HealthGrid<'a> {
    pub ctx: &'a PageCtx,
    pub components: &'a [ComponentRow],
    pub may_probe: bool,
}

/// `GET /health` (the `grid` block for htmx refreshes).
pub async fn show_health(
    State(app): State<AppState>,
    Authenticated(id): Authenticated,
    ctx: PageCtx,
    axum::Extension(req): axum::Extension<RequestCtx>,
) -> Response {
    let page = HealthPage {
        components: rows(&app, ctx.lang),
        may_probe: id.user.role.may_operate(),
        ctx,
    };
    if req.kind == RequestKind::Fragment {
        render(&HealthGrid {
            ctx: &page.ctx,
            components: &page.components,
            may_probe: page.may_probe,
        })
    } else {
        render(&page)
    }
}

/// `POST /health/{component}/probe`: probes the component now (G1: no change request, audited).
pub async fn probe_now(
    State(app): State<AppState>,
    Operator(who): Operator,
    Path(name): Path<String>,
) -> AppResult<Response> {
    let index = app
        .health
        .inventory()
        .iter()
        .position(|c| c.name == name)
        .ok_or(AppError::NotFound)?;
    let results = app.health.probe_component(&app.store, index).await;
    let failed = results.iter().filter(|r| !r.ok).count();
    crate::audit::record(
        &app.store,
        crate::audit::Event {
            actor: &who.user.name,
            action: "probe.run",
            subject: &name,
            details: json!({"level": "G1", "checks": results.len(), "failed": failed}),
        },
    )
    .await?;
    Ok(Redirect::to("/health").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_are_numbers_only() {
        let svg = sparkline(&[Some(1.0), None, Some(3.0)]);
        assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("spark-fail"));
        assert!(!svg.contains('&') && !svg.contains("script"));
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn runbooks_follow_the_pinned_scheme() {
        assert_eq!(
            runbook_for("hub", &CheckSpec::Tcp { port: 5000 }),
            "hub-port-5000"
        );
    }
}
