//! Probes against real loopback listeners: open, closed, silent, slow, wrong status, wrong body.

use std::time::Duration;

use lhc_ops::health::inventory::CheckSpec;
use lhc_ops::health::probe::probe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A listener that answers every connection with `response` after `delay` (or never).
async fn server(response: Option<&'static str>, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                match response {
                    Some(r) => {
                        tokio::time::sleep(delay).await;
                        let _ = sock.write_all(r.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    port
}

fn http(port: u16, expect: &[u16], body: Option<&str>) -> CheckSpec {
    CheckSpec::Http {
        port,
        path: "/checkService".into(),
        expect_status: expect.to_vec(),
        body_contains: body.map(String::from),
    }
}

const TIMEOUT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn tcp_open_and_closed() {
    let open = server(Some(""), Duration::ZERO).await;
    let r = probe("127.0.0.1", &CheckSpec::Tcp { port: open }, TIMEOUT).await;
    assert!(r.ok, "{r:?}");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = probe("127.0.0.1", &CheckSpec::Tcp { port: closed }, TIMEOUT).await;
    assert!(!r.ok);
    assert!(r.error.unwrap().contains("refused"));
}

#[tokio::test]
async fn http_status_and_body_checks() {
    let good = server(
        Some("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\npassed:true"),
        Duration::ZERO,
    )
    .await;
    assert!(
        probe(
            "127.0.0.1",
            &http(good, &[200], Some("passed:true")),
            TIMEOUT
        )
        .await
        .ok
    );
    let wrong_body = server(
        Some("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\npassed:false"),
        Duration::ZERO,
    )
    .await;
    let r = probe(
        "127.0.0.1",
        &http(wrong_body, &[200], Some("passed:true")),
        TIMEOUT,
    )
    .await;
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("lacks"),
        "{r:?}"
    );
    let wrong_status = server(
        Some("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"),
        Duration::ZERO,
    )
    .await;
    let r = probe("127.0.0.1", &http(wrong_status, &[200, 302], None), TIMEOUT).await;
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("503"),
        "{r:?}"
    );
    let redirect = server(
        Some("HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n"),
        Duration::ZERO,
    )
    .await;
    assert!(
        probe("127.0.0.1", &http(redirect, &[200, 302], None), TIMEOUT)
            .await
            .ok
    );
    let not_http = server(Some("SSH-2.0-OpenSSH_9.2\r\n"), Duration::ZERO).await;
    let r = probe("127.0.0.1", &http(not_http, &[200], None), TIMEOUT).await;
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("not an HTTP response"),
        "{r:?}"
    );
}

#[tokio::test]
async fn silent_and_slow_targets_fail_at_the_timeout() {
    let silent = server(None, Duration::ZERO).await;
    let r = probe("127.0.0.1", &http(silent, &[200], None), TIMEOUT).await;
    assert!(
        !r.ok
            && r.error
                .as_deref()
                .unwrap()
                .contains("no answer within 300 ms"),
        "{r:?}"
    );
    let slow = server(
        Some("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Duration::from_secs(2),
    )
    .await;
    let r = probe("127.0.0.1", &http(slow, &[200], None), TIMEOUT).await;
    assert!(!r.ok, "slower than the timeout counts as failed: {r:?}");
    let r = probe(
        "127.0.0.1",
        &http(slow, &[200], None),
        Duration::from_secs(5),
    )
    .await;
    assert!(r.ok && r.latency_ms >= 2000.0, "{r:?}");
}

mod support;

use lhc_ops::auth::{Org, Role};
use lhc_ops::config::{ComponentConfig, Config, HttpCheckConfig};
use support::{Backend, TestApp, body_json, body_text};

/// Two hub instances: one fully up, one with port 5000 closed.
async fn app_with_hub() -> (TestApp, u16, u16) {
    let up = server(
        Some("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        Duration::ZERO,
    )
    .await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = Config::default();
    config.probes.failure_threshold = 1;
    config.components = vec![ComponentConfig {
        name: "hub".into(),
        hosts: vec!["127.0.0.1".into(), "127.0.0.2".into()],
        tcp: vec![],
        http: vec![HttpCheckConfig {
            port: i64::from(up),
            path: "/".into(),
            expect_status: vec![200],
            body_contains: Some("ok".into()),
        }],
    }];
    let app = TestApp::with_config(Backend::Sqlite, config).await;
    app.user("op", Role::Operator, Org::Site).await;
    app.user("viewer", Role::Viewer, Org::Customer).await;
    (app, up, closed)
}

#[tokio::test]
async fn probe_now_updates_status_api_page_and_history_survives_restart() {
    let (app, up, _) = app_with_hub().await;
    let viewer = app.login("viewer").await;
    let before = body_json(app.get("/api/v1/components", Some(&viewer)).await).await;
    let hub = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "hub")
        .unwrap()
        .clone();
    assert_eq!(hub["status"], "unknown");
    assert_eq!(
        hub["instances"][0]["checks"][0]["ok"],
        serde_json::Value::Null
    );
    let lhc = before["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "lhc")
        .unwrap()
        .clone();
    assert_eq!(
        (
            lhc["status"].as_str(),
            lhc["instances"].as_array().map(Vec::len)
        ),
        (Some("unknown"), Some(0))
    );

    let op = app.login("op").await;
    let resp = app
        .post_form("/health/hub/probe", Some(&op), &[("csrf_token", &op.csrf)])
        .await;
    assert_eq!(resp.status(), axum::http::StatusCode::SEE_OTHER);
    let after = body_json(app.get("/api/v1/components", Some(&viewer)).await).await;
    let hub = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "hub")
        .unwrap()
        .clone();
    // 127.0.0.2 has nothing listening on the port: that instance fails, the component is degraded.
    assert_eq!(hub["status"], "degraded", "{hub}");
    let first = &hub["instances"][0]["checks"][0];
    assert_eq!(
        (
            first["kind"].as_str(),
            first["port"].as_u64(),
            first["ok"].as_bool()
        ),
        (Some("http"), Some(u64::from(up)), Some(true))
    );
    assert!(first["since"].is_string() && first["latency_ms"].is_number());
    let second = &hub["instances"][1]["checks"][0];
    assert_eq!(second["ok"], false);
    assert!(
        second["error"].as_str().unwrap().contains("refused"),
        "{second}"
    );
    assert!(hub["impact"].as_str().unwrap().contains("单节点异常"));

    let metrics = body_text(app.get("/metrics", None).await).await;
    assert!(
        metrics.contains("lhc_ops_component_up{component=\"hub\"} 0.5"),
        "{metrics}"
    );
    let down = format!(
        "lhc_ops_probe_up{{component=\"hub\",host=\"127.0.0.2\",kind=\"http\",port=\"{up}\"}} 0"
    );
    assert!(metrics.contains(&down), "{metrics}");
    assert!(metrics.contains("lhc_ops_probe_duration_seconds{component=\"hub\""));
    let page = body_text(app.get("/health", Some(&viewer)).await).await;
    assert!(
        page.contains("部分异常") && page.contains(&format!("/triage/hub-port-{up}")),
        "failing checks link to their runbook"
    );
    assert!(
        page.contains("<svg class=\"spark\""),
        "sparkline drawn on the server"
    );
    let audit = lhc_ops::audit::list(
        app.store(),
        &lhc_ops::audit::Filter {
            action: Some("probe".into()),
            limit: 50,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "probe.run" && e.actor == "op" && e.details["level"] == "G1")
    );
    assert!(
        !audit.iter().any(|e| e.action == "probe.state_changed"),
        "first results are discoveries, not audited"
    );

    // A new monitor on the same store starts from the stored states.
    let fresh = lhc_ops::health::monitor::Monitor::new(
        app.state.health.inventory().to_vec(),
        app.state.config.probes.clone(),
    );
    assert_eq!(fresh.restore(app.store()).await.unwrap(), 2);
    let hub = fresh
        .snapshot()
        .into_iter()
        .find(|c| c.spec.name == "hub")
        .unwrap();
    assert_eq!(
        hub.status,
        lhc_ops::health::status::ComponentStatus::Degraded
    );

    // The failing instance comes back: that change is stored and audited.
    let listener = TcpListener::bind(("127.0.0.2", up)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 512];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
        }
    });
    let resp = app
        .post_form("/health/hub/probe", Some(&op), &[("csrf_token", &op.csrf)])
        .await;
    assert_eq!(resp.status(), axum::http::StatusCode::SEE_OTHER);
    let changed = lhc_ops::audit::list(
        app.store(),
        &lhc_ops::audit::Filter {
            action: Some("probe.state_changed".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert_eq!(changed[0].subject, format!("hub/127.0.0.2:{up}"));
    assert_eq!(changed[0].details["status"], "up");
}

#[tokio::test]
async fn htmx_refresh_gets_only_the_grid() {
    let (app, _, _) = app_with_hub().await;
    let viewer = app.login("viewer").await;
    let req = axum::http::Request::get("/health")
        .header(axum::http::header::COOKIE, &viewer.cookie)
        .header("hx-request", "true")
        .body(axum::body::Body::empty())
        .unwrap();
    let grid = body_text(app.send(req).await).await;
    assert!(
        grid.starts_with("<div id=\"health-grid\"")
            || grid.trim_start().starts_with("<div id=\"health-grid\""),
        "{grid}"
    );
    assert!(!grid.contains("<html") && grid.contains("component-hub"));
}

#[tokio::test]
async fn only_operators_probe_now() {
    let (app, _, _) = app_with_hub().await;
    let viewer = app.login("viewer").await;
    let resp = app
        .post_form(
            "/health/hub/probe",
            Some(&viewer),
            &[("csrf_token", &viewer.csrf)],
        )
        .await;
    assert_eq!(resp.status(), axum::http::StatusCode::FORBIDDEN);
    let op = app.login("op").await;
    let resp = app
        .post_form(
            "/health/nosuch/probe",
            Some(&op),
            &[("csrf_token", &op.csrf)],
        )
        .await;
    assert_eq!(resp.status(), axum::http::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn stored_hours_give_uptime_and_retention_prunes_them() {
    let (app, up, _) = app_with_hub().await;
    let now = lhc_ops::store::now_ms();
    let hour = 3_600_000;
    for (at, samples, ok) in [
        (now - 2 * hour, 60, 57),
        (now - 3 * 24 * hour, 60, 30),
        (now - 40 * 24 * hour, 60, 0),
    ] {
        sqlx::query("INSERT INTO probe_hourly (component, host, kind, port, hour, samples, successes, p50_ms, p95_ms) VALUES ('hub', '127.0.0.1', 'http', ?, ?, ?, ?, 1.0, 2.0)")
            .bind(i64::from(up))
            .bind(at - at.rem_euclid(hour))
            .bind(samples)
            .bind(ok)
            .execute(app.store().pool())
            .await
            .unwrap();
    }
    app.state
        .health
        .restore_uptime(app.store(), now)
        .await
        .unwrap();
    let hub = app
        .state
        .health
        .snapshot()
        .into_iter()
        .find(|c| c.spec.name == "hub")
        .unwrap();
    let slot = &hub.slots[0][0];
    assert_eq!((slot.stored_day, slot.stored_week), ((57, 60), (87, 120)));
    assert_eq!(slot.uptime(slot.stored_day), Some(95.0));
    let viewer = app.login("viewer").await;
    let page = body_text(app.get("/health", Some(&viewer)).await).await;
    assert!(
        page.contains("95.0 %") && page.contains("72.5 %"),
        "24 h and 7 d uptime shown"
    );
    // 31 days of retention drop the 40-day-old hour only.
    assert_eq!(
        lhc_ops::health::monitor::prune(app.store(), 31, now)
            .await
            .unwrap(),
        1
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM probe_hourly")
        .fetch_one(app.store().pool())
        .await
        .unwrap();
    assert_eq!(left, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_probes_everything_while_black_holed_targets_hang() {
    // Ten answering ports and three that accept and never answer, with only two probes at a
    // time: the silent ones hold their own permit for the timeout, never the others'.
    let mut checks = Vec::new();
    for _ in 0..10 {
        checks.push(CheckSpec::Tcp {
            port: server(Some(""), Duration::ZERO).await,
        });
    }
    for _ in 0..3 {
        checks.push(http(server(None, Duration::ZERO).await, &[200], None));
    }
    let spec = lhc_ops::health::inventory::ComponentSpec {
        name: "apaks".into(),
        hosts: vec!["127.0.0.1".into()],
        checks,
        impact_down: (String::new(), String::new()),
    };
    let settings = lhc_ops::config::ProbesConfig {
        interval_seconds: 2,
        timeout_ms: 500,
        concurrency: 2,
        failure_threshold: 1,
        success_threshold: 1,
        retention_days: 31,
    };
    let monitor = std::sync::Arc::new(lhc_ops::health::monitor::Monitor::new(vec![spec], settings));
    let db = support::TestStore::new(Backend::Sqlite).await;
    let runner = tokio::spawn(monitor.clone().run(db.store.clone()));
    let mut settled = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let snap = monitor.snapshot();
        let states: Vec<_> = snap[0].slots[0].iter().map(|s| s.state.status).collect();
        use lhc_ops::health::status::CheckStatus::{Down, Up};
        if states[..10].iter().all(|s| *s == Up) && states[10..].iter().all(|s| *s == Down) {
            settled = true;
            break;
        }
    }
    runner.abort();
    assert!(
        settled,
        "every target was probed in the first rounds: {:?}",
        monitor.snapshot()[0].slots[0]
            .iter()
            .map(|s| s.state.status)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        monitor.snapshot()[0].status,
        lhc_ops::health::status::ComponentStatus::Down,
        "an instance with a failing check is failing"
    );
}
