//! Request metrics for `/metrics`: counts and latency histograms by matched route, method and
//! status, recorded by a route layer. Rendering is Prometheus text exposition format 0.0.4.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum_seconds: f64,
    buckets: [u64; BUCKETS.len()],
}

/// Process-wide request counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let s = map
            .entry((route.to_string(), method.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum_seconds += seconds;
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                s.buckets[i] += 1;
            }
        }
    }

    /// Prometheus text for the request series.
    pub fn render_requests(&self, out: &mut String) {
        let map = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        out.push_str("# HELP lhc_ops_http_requests_total HTTP requests by matched route, method and status.\n");
        out.push_str("# TYPE lhc_ops_http_requests_total counter\n");
        for ((route, method, status), s) in &map {
            let _ = writeln!(
                out,
                "lhc_ops_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape(route),
                s.count
            );
        }
        out.push_str(
            "# HELP lhc_ops_http_request_duration_seconds HTTP request latency by matched route.\n",
        );
        out.push_str("# TYPE lhc_ops_http_request_duration_seconds histogram\n");
        let mut by_route: BTreeMap<(String, String), Series> = BTreeMap::new();
        for ((route, method, _), s) in &map {
            let agg = by_route.entry((route.clone(), method.clone())).or_default();
            agg.count += s.count;
            agg.sum_seconds += s.sum_seconds;
            for (a, b) in agg.buckets.iter_mut().zip(s.buckets.iter()) {
                *a += b;
            }
        }
        for ((route, method), s) in &by_route {
            let labels = format!("route=\"{}\",method=\"{method}\"", escape(route));
            for (le, n) in BUCKETS.iter().zip(s.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "lhc_ops_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "lhc_ops_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "lhc_ops_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_seconds
            );
            let _ = writeln!(
                out,
                "lhc_ops_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Layer: times each request and records it under its matched route.
pub async fn track(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    app.metrics.observe(
        &route,
        &method,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labelled() {
        let m = Metrics::default();
        m.observe("/login", "GET", 200, 0.003);
        m.observe("/login", "GET", 200, 0.2);
        m.observe("/login", "POST", 401, 0.05);
        let mut out = String::new();
        m.render_requests(&mut out);
        assert!(
            out.contains(
                "lhc_ops_http_requests_total{route=\"/login\",method=\"GET\",status=\"200\"} 2"
            ),
            "{out}"
        );
        assert!(out.contains("lhc_ops_http_request_duration_seconds_bucket{route=\"/login\",method=\"GET\",le=\"0.005\"} 1"));
        assert!(out.contains("lhc_ops_http_request_duration_seconds_bucket{route=\"/login\",method=\"GET\",le=\"0.25\"} 2"));
        assert!(out.contains(
            "lhc_ops_http_request_duration_seconds_count{route=\"/login\",method=\"POST\"} 1"
        ));
    }
}
