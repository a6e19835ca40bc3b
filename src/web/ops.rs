//! Operational endpoints (PINNED): `/healthz`, `/readyz`, `/metrics`. Unauthenticated, so that
//! load balancers and Prometheus can reach them; they reveal no configuration or secrets.

use std::fmt::Write;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `GET /healthz`: 200 `ok` while the process serves.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: 200 when the own store answers within 2 s, else 503 saying what failed.
pub async fn readyz(State(app): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), app.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error.message = %e, "readiness check: store query failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the console's store does not answer queries\n",
            )
                .into_response()
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the console's store did not answer within 2 s\n",
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut out = String::new();
    app.metrics.render_requests(&mut out);
    out.push_str("# HELP lhc_ops_uptime_seconds Seconds since the console started.\n# TYPE lhc_ops_uptime_seconds gauge\n");
    let _ = writeln!(
        out,
        "lhc_ops_uptime_seconds {:.3}",
        app.started.elapsed().as_secs_f64()
    );
    match crate::audit::head(&app.store).await {
        Ok((seq, _)) => {
            out.push_str("# HELP lhc_ops_audit_entries Entries in the audit log.\n# TYPE lhc_ops_audit_entries gauge\n");
            let _ = writeln!(out, "lhc_ops_audit_entries {seq}");
            out.push_str("# HELP lhc_ops_store_up Whether the console's store answered.\n# TYPE lhc_ops_store_up gauge\nlhc_ops_store_up 1\n");
        }
        Err(e) => {
            tracing::warn!(error.message = %e, "metrics: cannot read the audit head");
            out.push_str("# HELP lhc_ops_store_up Whether the console's store answered.\n# TYPE lhc_ops_store_up gauge\nlhc_ops_store_up 0\n");
        }
    }
    if let Ok(by_state) = crate::store::changes::count_by_state(app.store.pool()).await {
        out.push_str("# HELP lhc_ops_change_requests Change requests by state.\n# TYPE lhc_ops_change_requests gauge\n");
        for state in crate::changes::model::State::ALL {
            let n = by_state
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map(|(_, n)| *n)
                .unwrap_or(0);
            let _ = writeln!(
                out,
                "lhc_ops_change_requests{{state=\"{}\"}} {n}",
                state.as_str()
            );
        }
    }
    render_probes(&app, &mut out);
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Probe results and durations: status per component, and per check the damped state and the
/// last probe's latency.
fn render_probes(app: &AppState, out: &mut String) {
    let snapshot = app.health.snapshot();
    out.push_str("# HELP lhc_ops_component_up Component status: 1 up, 0.5 degraded, 0 down, -1 unknown.\n# TYPE lhc_ops_component_up gauge\n");
    for c in &snapshot {
        let v = match c.status {
            crate::health::status::ComponentStatus::Up => "1",
            crate::health::status::ComponentStatus::Degraded => "0.5",
            crate::health::status::ComponentStatus::Down => "0",
            crate::health::status::ComponentStatus::Unknown => "-1",
        };
        let _ = writeln!(
            out,
            "lhc_ops_component_up{{component=\"{}\"}} {v}",
            c.spec.name
        );
    }
    out.push_str("# HELP lhc_ops_probe_up Damped check state: 1 up, 0 down, -1 unknown.\n# TYPE lhc_ops_probe_up gauge\n");
    let mut durations = String::from(
        "# HELP lhc_ops_probe_duration_seconds Duration of the last probe.\n# TYPE lhc_ops_probe_duration_seconds gauge\n",
    );
    for c in &snapshot {
        for (host, slots) in c.spec.hosts.iter().zip(&c.slots) {
            for (check, slot) in c.spec.checks.iter().zip(slots) {
                let labels = format!(
                    "component=\"{}\",host=\"{}\",kind=\"{}\",port=\"{}\"",
                    c.spec.name,
                    host.replace('"', ""),
                    check.kind(),
                    check.port()
                );
                let v = match slot.state.status {
                    crate::health::status::CheckStatus::Up => 1,
                    crate::health::status::CheckStatus::Down => 0,
                    crate::health::status::CheckStatus::Unknown => -1,
                };
                let _ = writeln!(out, "lhc_ops_probe_up{{{labels}}} {v}");
                if let Some(ms) = slot.state.last_latency_ms {
                    let _ = writeln!(
                        durations,
                        "lhc_ops_probe_duration_seconds{{{labels}}} {:.6}",
                        ms / 1000.0
                    );
                }
            }
        }
    }
    out.push_str(&durations);
}
