//! Alarm intake in-process: the Alertmanager webhook (token, validation, all-or-nothing writes,
//! upsert by fingerprint, label mapping, audit), the incidents API and the `/incidents` page,
//! on SQLite and on MariaDB.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lhc_ops::auth::{Org, Role, service};
use lhc_ops::config::{Config, Secret};
use serde_json::{Value, json};
use support::{Backend, TestApp, body_json, body_text};

const TOKEN: &str = "am-webhook-Secret-0123456789";
const HOOK: &str = "/api/v1/alerts/alertmanager";

async fn app_on(backend: Backend, token: &str) -> TestApp {
    let mut config = Config::default();
    config.alerts.webhook_token = Secret(token.into());
    let app = TestApp::with_config(backend, config).await;
    app.user("viewer1", Role::Viewer, Org::Customer).await;
    app.user("operator1", Role::Operator, Org::Site).await;
    app
}

async fn app() -> TestApp {
    app_on(Backend::Sqlite, TOKEN).await
}

/// An alert as Alertmanager 0.25 sends it.
fn alert(fingerprint: &str, status: &str, labels: Value, starts: &str, ends: &str) -> Value {
    json!({
        "status": status,
        "labels": labels,
        "annotations": {"summary": format!("{fingerprint} 告警摘要"), "description": "详情"},
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
        "fingerprint": fingerprint,
    })
}

fn firing(fingerprint: &str, labels: Value) -> Value {
    alert(
        fingerprint,
        "firing",
        labels,
        "2026-12-04T08:00:00.5Z",
        "0001-01-01T00:00:00Z",
    )
}

fn resolved(fingerprint: &str, labels: Value) -> Value {
    alert(
        fingerprint,
        "resolved",
        labels,
        "2026-12-04T08:00:00.5Z",
        "2026-12-04T08:30:00Z",
    )
}

/// A webhook v4 notification around `alerts`.
fn notification(alerts: Vec<Value>) -> Value {
    let status = if alerts.iter().any(|a| a["status"] == "firing") {
        "firing"
    } else {
        "resolved"
    };
    json!({
        "version": "4",
        "groupKey": "{}/{}:{alertname=\"PortDown\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "lhc-ops",
        "groupLabels": {"alertname": "PortDown"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
}

fn hub_port() -> Value {
    json!({"alertname": "PortDown", "component": "hub", "port": "5000", "instance": "10.0.0.20:5000"})
}

async fn post_raw(
    app: &TestApp,
    authorization: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut b = Request::post(HOOK).header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = authorization {
        b = b.header(header::AUTHORIZATION, a);
    }
    let resp = app.send(b.body(body.into()).unwrap()).await;
    let status = resp.status();
    let bytes = support::body_bytes(resp).await;
    (
        status,
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes))),
    )
}

async fn post(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    post_raw(app, Some(&format!("Bearer {TOKEN}")), body.to_string()).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(app.store().pool())
        .await
        .unwrap()
}

/// Rows of every table the intake writes: incidents, events, `alert.received` audit entries.
async fn stored(app: &TestApp) -> (i64, i64, i64) {
    (
        count(app, "SELECT COUNT(*) FROM incidents").await,
        count(app, "SELECT COUNT(*) FROM incident_events").await,
        count(
            app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.received'",
        )
        .await,
    )
}

async fn api(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let token = service::create_token(app.store(), "test", "viewer1", "test")
        .await
        .unwrap();
    let req = Request::get(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.send(req).await;
    (resp.status(), body_json(resp).await)
}

async fn incidents(app: &TestApp, state: &str) -> Vec<Value> {
    let (status, body) = api(app, &format!("/api/v1/incidents?state={state}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn firing_then_resolved_closes_the_incident_and_keeps_its_history(backend: Backend) {
    let app = app_on(backend, TOKEN).await;
    let (status, body) = post(&app, &notification(vec![firing("fp-hub-5000", hub_port())])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"received": 1, "opened": 1, "updated": 0, "resolved": 0})
    );
    let open = incidents(&app, "open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["fingerprint"], "fp-hub-5000");
    assert_eq!(open[0]["state"], "open");
    assert_eq!(open[0]["ended_at"], Value::Null);

    // Alertmanager repeats the firing notification: the same incident, refreshed.
    let mut again = firing("fp-hub-5000", hub_port());
    again["annotations"]["summary"] = json!("hub 5000 仍然不通");
    let (_, body) = post(&app, &notification(vec![again])).await;
    assert_eq!(
        body,
        json!({"received": 1, "opened": 0, "updated": 1, "resolved": 0})
    );
    let open = incidents(&app, "open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["summary"], "hub 5000 仍然不通");
    let id = open[0]["id"].clone();

    let (_, body) = post(
        &app,
        &notification(vec![resolved("fp-hub-5000", hub_port())]),
    )
    .await;
    assert_eq!(
        body,
        json!({"received": 1, "opened": 0, "updated": 0, "resolved": 1})
    );
    assert!(incidents(&app, "open").await.is_empty());
    let done = incidents(&app, "resolved").await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["id"], id, "the same incident is closed");
    assert_eq!(done[0]["state"], "resolved");
    assert_eq!(done[0]["started_at"], "2026-12-04T08:00:00.500Z");
    assert_eq!(done[0]["ended_at"], "2026-12-04T08:30:00.000Z");

    // Every notification is kept, in order, against the incident.
    let outcomes: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM incident_events WHERE incident_id = ? ORDER BY id")
            .bind(id.as_i64().unwrap())
            .fetch_all(app.store().pool())
            .await
            .unwrap();
    assert_eq!(outcomes, ["opened", "updated", "resolved"]);
    assert_eq!(stored(&app).await, (1, 3, 3));
}

#[tokio::test]
async fn firing_then_resolved_closes_the_incident_and_keeps_its_history_on_sqlite() {
    firing_then_resolved_closes_the_incident_and_keeps_its_history(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_then_resolved_closes_the_incident_and_keeps_its_history_on_mariadb() {
    firing_then_resolved_closes_the_incident_and_keeps_its_history(Backend::MariaDb).await;
}

#[tokio::test]
async fn two_alerts_in_one_request_are_two_incidents_and_one_audit_entry() {
    let app = app().await;
    let body = notification(vec![
        firing("fp-1", hub_port()),
        firing(
            "fp-2",
            json!({"alertname": "HostHighCpuLoad", "app": "aks"}),
        ),
    ]);
    let (status, resp) = post(&app, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        resp,
        json!({"received": 2, "opened": 2, "updated": 0, "resolved": 0})
    );
    assert_eq!(stored(&app).await, (2, 2, 1));

    // One resolved, one still firing, in one request.
    let (_, resp) = post(
        &app,
        &notification(vec![
            resolved("fp-1", hub_port()),
            firing(
                "fp-2",
                json!({"alertname": "HostHighCpuLoad", "app": "aks"}),
            ),
        ]),
    )
    .await;
    assert_eq!(
        resp,
        json!({"received": 2, "opened": 0, "updated": 1, "resolved": 1})
    );
    let open = incidents(&app, "open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(
        (&open[0]["fingerprint"], &open[0]["runbook"]),
        (&json!("fp-2"), &json!("apaks-cpu"))
    );

    let audit = lhc_ops::audit::list(
        app.store(),
        &lhc_ops::audit::Filter {
            action: Some("alert.received".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(audit.len(), 2);
    let latest = &audit[0];
    assert_eq!(
        (latest.actor.as_str(), latest.subject.as_str()),
        ("system", "lhc-ops")
    );
    for (k, v) in [
        ("received", 2),
        ("opened", 0),
        ("updated", 1),
        ("resolved", 1),
    ] {
        assert_eq!(latest.details[k], v, "{k}: {}", latest.details);
    }
    assert_eq!(latest.details["fingerprints"], json!(["fp-1", "fp-2"]));
    assert!(matches!(
        lhc_ops::audit::verify(app.store()).await.unwrap(),
        lhc_ops::audit::Verdict::Ok { .. }
    ));
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_401_and_stores_nothing() {
    let app = app().await;
    let body = notification(vec![firing("fp-1", hub_port())]).to_string();
    for auth in [
        None,
        Some("Bearer wrong-token"),
        Some(&format!("Bearer {TOKEN}x")[..]),
        Some(&format!("Basic {TOKEN}")[..]),
        Some("Bearer "),
    ] {
        let (status, resp) = post_raw(&app, auth, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(resp["error"]["code"], "invalid_token", "{auth:?}");
        assert!(
            resp["error"]["message"]
                .as_str()
                .unwrap()
                .contains("webhook_token"),
            "{resp}"
        );
    }
    // Neither an API token nor a browser session of any role admits to the webhook.
    let api_token = service::create_token(app.store(), "test", "operator1", "t")
        .await
        .unwrap();
    let (status, _) = post_raw(&app, Some(&format!("Bearer {api_token}")), body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let s = app.login("operator1").await;
    let req = Request::post(HOOK)
        .header(header::COOKIE, &s.cookie)
        .header("x-csrf-token", &s.csrf)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(app.send(req).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(stored(&app).await, (0, 0, 0));
}

#[tokio::test]
async fn no_token_configured_is_503_saying_how_to_enable() {
    let app = app_on(Backend::Sqlite, "").await;
    let body = notification(vec![firing("fp-1", hub_port())]).to_string();
    for auth in [None, Some("Bearer "), Some("Bearer anything")] {
        let (status, resp) = post_raw(&app, auth, body.clone()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{auth:?}");
        let message = resp["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("[alerts] webhook_token")
                && message.contains("LHC_OPS_ALERTS__WEBHOOK_TOKEN"),
            "{message}"
        );
    }
    assert_eq!(stored(&app).await, (0, 0, 0));
    // The page says so too.
    let s = app.login("viewer1").await;
    let page = body_text(app.get("/incidents", Some(&s)).await).await;
    assert!(
        page.contains("id=\"intake-disabled\"") && page.contains("告警接入未启用"),
        "{page}"
    );
}

/// Posts `body`, expects 400 with `code` and a message containing `needle`, and nothing stored.
async fn refused(app: &TestApp, body: impl Into<Body>, code: &str, needle: &str) {
    let before = stored(app).await;
    let (status, resp) = post_raw(app, Some(&format!("Bearer {TOKEN}")), body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{resp}");
    assert_eq!(resp["error"]["code"], code, "{resp}");
    let message = resp["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message}");
    assert!(message.contains("nothing was stored"), "{message}");
    assert_eq!(stored(app).await, before, "nothing partially stored");
}

/// An app with one open incident already, so "nothing stored" also means "nothing changed".
async fn app_with_one_incident() -> TestApp {
    let app = app().await;
    post(&app, &notification(vec![firing("fp-0", hub_port())])).await;
    assert_eq!(stored(&app).await, (1, 1, 1));
    app
}

#[tokio::test]
async fn malformed_json_is_400_and_stores_nothing() {
    let app = app_with_one_incident().await;
    refused(
        &app,
        "{\"version\": \"4\", \"alerts\": [",
        "bad_json",
        "not valid JSON",
    )
    .await;
    refused(&app, "not json at all", "bad_json", "not valid JSON").await;
    refused(&app, "", "bad_json", "not valid JSON").await;
    refused(&app, "[]", "bad_webhook", "webhook").await;
}

#[tokio::test]
async fn missing_alerts_or_required_fields_are_400_and_store_nothing() {
    let app = app_with_one_incident().await;
    let mut body = notification(vec![]);
    body.as_object_mut().unwrap().remove("alerts");
    refused(
        &app,
        body.to_string(),
        "bad_webhook",
        "missing field `alerts`",
    )
    .await;
    for field in ["version", "status", "receiver"] {
        let mut body = notification(vec![firing("fp-1", hub_port())]);
        body.as_object_mut().unwrap().remove(field);
        refused(&app, body.to_string(), "bad_webhook", field).await;
    }
    for field in ["status", "labels", "startsAt", "fingerprint"] {
        let mut a = firing("fp-1", hub_port());
        a.as_object_mut().unwrap().remove(field);
        let body = notification(vec![firing("fp-ok", hub_port()), a]);
        refused(&app, body.to_string(), "bad_webhook", "alerts[1]").await;
    }
    let mut body = notification(vec![firing("fp-1", hub_port())]);
    body["version"] = json!("3");
    refused(&app, body.to_string(), "bad_webhook", "version `3`").await;
}

#[tokio::test]
async fn one_bad_alert_rejects_the_whole_notification() {
    let app = app_with_one_incident().await;
    // The first alert would resolve the open incident, the second is broken: nothing changes.
    let mut broken = firing("fp-9", hub_port());
    broken["startsAt"] = json!("yesterday");
    let body = notification(vec![
        resolved("fp-0", hub_port()),
        firing("fp-new", hub_port()),
        broken,
    ]);
    refused(&app, body.to_string(), "bad_webhook", "alerts[2].startsAt").await;
    let open = incidents(&app, "open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["fingerprint"], "fp-0");
}

#[tokio::test]
async fn a_body_over_1_mib_is_400_and_stores_nothing() {
    let app = app_with_one_incident().await;
    let mut a = firing("fp-big", hub_port());
    a["annotations"]["description"] = json!("x".repeat(1024 * 1024));
    let big = notification(vec![a]).to_string();
    assert!(big.len() > 1024 * 1024 && big.len() < 2 * 1024 * 1024);
    // Without a Content-Length (streamed) and with one.
    refused(&app, big.clone(), "body_too_large", "1 MiB").await;
    let before = stored(&app).await;
    let req = Request::post(HOOK)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big))
        .unwrap();
    let resp = app.send(req).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(resp).await["error"]["code"], "body_too_large");
    assert_eq!(stored(&app).await, before);
}

#[tokio::test]
async fn labels_map_to_components_and_runbooks() {
    let app = app().await;
    let cases = [
        (
            json!({"alertname": "PortDown", "component": "hub", "port": "5000"}),
            "hub",
            "hub-port-5000",
        ),
        (
            json!({"alertname": "PortDown", "component": "aks", "port": "8080"}),
            "apaks",
            "apaks-port-8080",
        ),
        (
            json!({"alertname": "HighCPU", "app": "aksexecutor"}),
            "apaksexecutor",
            "apaksexecutor-cpu",
        ),
        (
            json!({"alertname": "ContainerMemoryHigh", "job": "lhc"}),
            "lhc",
            "lhc-memory",
        ),
        (
            json!({"alertname": "DiskWillFillIn4Hours", "component": "metaservice", "app": "x"}),
            "metaservice",
            "metaservice-disk",
        ),
        (
            json!({"alertname": "JvmOldGenHigh", "app": "orch"}),
            "opswareorch",
            "opswareorch-jvm",
        ),
        (
            json!({"alertname": "InstanceDown", "job": "ldccore"}),
            "ldccore",
            "ldccore-down",
        ),
        (
            json!({"alertname": "InstanceDown", "component": "my-cache"}),
            "my-cache",
            "my-cache-down",
        ),
    ];
    let alerts = cases
        .iter()
        .enumerate()
        .map(|(i, (labels, _, _))| firing(&format!("fp-{i}"), labels.clone()))
        .chain([firing("fp-none", json!({"alertname": "Watchdog"}))])
        .collect();
    let (status, _) = post(&app, &notification(alerts)).await;
    assert_eq!(status, StatusCode::OK);
    let open = incidents(&app, "open").await;
    let by_fp = |fp: &str| {
        open.iter()
            .find(|i| i["fingerprint"] == fp)
            .unwrap()
            .clone()
    };
    for (i, (labels, component, runbook)) in cases.iter().enumerate() {
        let got = by_fp(&format!("fp-{i}"));
        assert_eq!(
            (&got["component"], &got["runbook"]),
            (&json!(component), &json!(runbook)),
            "{labels}"
        );
    }
    let none = by_fp("fp-none");
    assert_eq!(
        (&none["component"], &none["runbook"]),
        (&json!(""), &Value::Null)
    );
}

#[tokio::test]
async fn a_new_firing_after_resolution_opens_a_new_incident_and_late_repeats_change_nothing() {
    let app = app().await;
    post(&app, &notification(vec![firing("fp-1", hub_port())])).await;
    post(&app, &notification(vec![resolved("fp-1", hub_port())])).await;
    // A late repeat of the resolved episode (same start): recorded, nothing reopens.
    let (_, resp) = post(&app, &notification(vec![firing("fp-1", hub_port())])).await;
    assert_eq!(
        resp,
        json!({"received": 1, "opened": 0, "updated": 0, "resolved": 0})
    );
    let (_, resp) = post(&app, &notification(vec![resolved("fp-1", hub_port())])).await;
    assert_eq!(resp["resolved"], 0);
    assert!(incidents(&app, "open").await.is_empty());
    assert_eq!(stored(&app).await, (1, 4, 4));

    // The alert fires again later: a new incident; the old one keeps its times.
    let later = alert(
        "fp-1",
        "firing",
        hub_port(),
        "2026-12-05T09:00:00Z",
        "0001-01-01T00:00:00Z",
    );
    let (_, resp) = post(&app, &notification(vec![later])).await;
    assert_eq!(resp["opened"], 1);
    let open = incidents(&app, "open").await;
    let done = incidents(&app, "resolved").await;
    assert_eq!((open.len(), done.len()), (1, 1));
    assert_ne!(open[0]["id"], done[0]["id"]);
    assert_eq!(open[0]["started_at"], "2026-12-05T09:00:00.000Z");
    assert_eq!(done[0]["ended_at"], "2026-12-04T08:30:00.000Z");
}

#[tokio::test]
async fn a_resolution_whose_firing_never_arrived_is_recorded_as_resolved() {
    let app = app().await;
    let (_, resp) = post(&app, &notification(vec![resolved("fp-late", hub_port())])).await;
    assert_eq!(
        resp,
        json!({"received": 1, "opened": 0, "updated": 0, "resolved": 1})
    );
    let done = incidents(&app, "resolved").await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0]["ended_at"], "2026-12-04T08:30:00.000Z");
}

#[tokio::test]
async fn the_api_lists_incidents_in_the_pinned_shape() {
    let app = app().await;
    post(
        &app,
        &notification(vec![
            firing("fp-open", hub_port()),
            resolved(
                "fp-done",
                json!({"alertname": "InstanceDown", "job": "lhc"}),
            ),
        ]),
    )
    .await;
    let open = incidents(&app, "open").await;
    assert_eq!(open.len(), 1);
    let item = open[0].as_object().unwrap();
    for key in [
        "id",
        "fingerprint",
        "alertname",
        "component",
        "state",
        "runbook",
        "started_at",
        "ended_at",
    ] {
        assert!(item.contains_key(key), "{key} in {item:?}");
    }
    assert!(item["id"].is_i64());
    assert_eq!(item["alertname"], "PortDown");
    assert_eq!(item["component"], "hub");
    assert_eq!(item["runbook"], "hub-port-5000");
    assert!(item["ended_at"].is_null());
    assert!(lhc_ops::store::parse_rfc3339_ms(item["started_at"].as_str().unwrap()).is_some());

    let done = incidents(&app, "resolved").await;
    assert_eq!(done.len(), 1);
    assert!(lhc_ops::store::parse_rfc3339_ms(done[0]["ended_at"].as_str().unwrap()).is_some());

    // No filter: open first.
    let (_, all) = api(&app, "/api/v1/incidents").await;
    let states: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["open", "resolved"]);

    let (status, body) = api(&app, "/api/v1/incidents?state=closed").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_state");
    let (status, _) = api(&app, "/api/v1/incidents?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let resp = app.get("/api/v1/incidents?state=open", None).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_page_shows_open_then_resolved_incidents_to_a_viewer() {
    let app = app().await;
    let mut open = firing("fp-open", hub_port());
    open["annotations"]["summary"] = json!("hub 镜像端口 <5000> 不通");
    post(
        &app,
        &notification(vec![
            open,
            resolved(
                "fp-done",
                json!({"alertname": "InstanceDown", "component": "lhc"}),
            ),
            firing("fp-odd", json!({"alertname": "X", "component": "a/b c"})),
        ]),
    )
    .await;
    let s = app.login("viewer1").await;
    let resp = app.get("/incidents", Some(&s)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = body_text(resp).await;
    for needle in [
        "<h1>告警事件</h1>",
        "未关闭的告警",
        "最近已恢复的告警",
        "<code>hub</code>",
        "PortDown",
        "hub 镜像端口 &#60;5000&#62; 不通",
        "href=\"/triage/hub-port-5000\"",
        "href=\"/health#component-hub\"",
        "href=\"/triage/lhc-down\"",
        "<time datetime=\"2026-12-04T08:00:00.500Z\"",
        "已恢复",
        // A label that is no component name: encoded in the link, plain /health.
        "href=\"/triage/a%2Fb%20c-down\"",
    ] {
        assert!(page.contains(needle), "{needle} missing:\n{page}");
    }
    assert!(!page.contains("id=\"intake-disabled\""));
    let open_at = page.find("id=\"incidents-open\"").unwrap();
    let done_at = page.find("id=\"incidents-resolved\"").unwrap();
    assert!(open_at < done_at, "open incidents come first");
    assert!(page[open_at..done_at].contains("fp-open"));
    assert!(page[done_at..].contains("fp-done"));

    // Filter by state.
    let page = body_text(app.get("/incidents?state=resolved", Some(&s)).await).await;
    assert!(
        page.contains("fp-done") && !page.contains("fp-open"),
        "{page}"
    );
    assert!(page.contains("<option value=\"resolved\" selected>"));
    let resp = app.get("/incidents?state=bogus", Some(&s)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // htmx refresh: the list block only.
    let req = Request::get("/incidents?state=open")
        .header(header::COOKIE, &s.cookie)
        .header("hx-request", "true")
        .body(Body::empty())
        .unwrap();
    let frag = body_text(app.send(req).await).await;
    assert!(
        frag.trim_start().starts_with("<div id=\"incidents-list\"") && !frag.contains("<html"),
        "{frag}"
    );
    assert!(frag.contains("fp-open") && !frag.contains("fp-done"));

    // English on request.
    let page = body_text(app.get("/incidents?lang=en", Some(&s)).await).await;
    assert!(
        page.contains("Open incidents") && page.contains("Recently resolved"),
        "{page}"
    );

    // Anonymous: to the login page.
    let resp = app.get("/incidents", None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_page_says_when_there_is_nothing() {
    let app = app().await;
    let s = app.login("viewer1").await;
    let page = body_text(app.get("/incidents", Some(&s)).await).await;
    assert!(
        page.contains("id=\"incidents-open-empty\"")
            && page.contains("id=\"incidents-resolved-empty\""),
        "{page}"
    );
}

#[tokio::test]
async fn a_store_failure_part_way_rolls_the_whole_notification_back() {
    let app = app_with_one_incident().await;
    // The audit append comes last in the transaction; without its head row it fails after
    // the incidents and events were written.
    support::sql(app.store(), "DELETE FROM audit_head").await;
    let body = notification(vec![
        resolved("fp-0", hub_port()),
        firing("fp-new", hub_port()),
    ]);
    let (status, resp) = post(&app, &body).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{resp}");
    assert_eq!(resp["error"]["code"], "internal");
    assert_eq!(stored(&app).await, (1, 1, 1), "nothing partially stored");
    let open: Vec<String> =
        sqlx::query_scalar("SELECT fingerprint FROM incidents WHERE state = 'open'")
            .fetch_all(app.store().pool())
            .await
            .unwrap();
    assert_eq!(open, ["fp-0"], "the open incident was not resolved");
}

#[tokio::test]
async fn a_body_far_over_the_limit_is_refused_before_it_is_read() {
    let app = app_with_one_incident().await;
    let before = stored(&app).await;
    // Over the router's 2 MiB limit too, which answers first (413) when Content-Length says so.
    let big = "x".repeat(3 * 1024 * 1024);
    let req = Request::post(HOOK)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big))
        .unwrap();
    let status = app.send(req).await.status();
    assert!(
        status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    assert_eq!(stored(&app).await, before);
}
