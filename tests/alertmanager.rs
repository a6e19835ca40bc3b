//! The alarm intake against the REAL Alertmanager (Debian `prometheus-alertmanager`): an alert
//! posted to Alertmanager's API reaches the console through a webhook receiver with bearer
//! credentials and opens an incident; the same alert posted as ended resolves it.

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lhc_ops::auth::{Org, Role, service};
use lhc_ops::config::{Config, Secret};
use lhc_ops::store::{format_ms, now_ms};
use serde_json::{Value, json};
use support::{Backend, TestApp};

const BINARY: &str = "prometheus-alertmanager";
const TOKEN: &str = "am-to-console-0f3c9a1e7b";
/// How long an alert may take to travel Alertmanager → console.
const DEADLINE: Duration = Duration::from_secs(30);

/// The Alertmanager binary, from PATH or /usr/bin; fails (never skips) when not installed.
fn binary() -> PathBuf {
    let from_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(BINARY))
            .find(|p| p.is_file())
    });
    from_path
        .or_else(|| Some(PathBuf::from("/usr/bin").join(BINARY)).filter(|p| p.is_file()))
        .unwrap_or_else(|| {
            panic!(
                "this test needs the real Alertmanager: `{BINARY}` is neither in PATH nor in /usr/bin. \
                 Install it with `apt-get install -y prometheus-alertmanager` (Debian package prometheus-alertmanager)"
            )
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throw-away Alertmanager in a temp dir, killed on drop.
struct Alertmanager {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts Alertmanager with one route to a webhook receiver at `webhook` carrying `token`.
    async fn start(webhook: &str, token: &str) -> Alertmanager {
        let bin = binary();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  resolve_timeout: 5m\n\
                 route:\n  receiver: lhc-ops\n  group_by: ['alertname', 'component']\n  \
                 group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n  - name: lhc-ops\n    webhook_configs:\n      - url: '{webhook}'\n        \
                 send_resolved: true\n        http_config:\n          authorization:\n            \
                 credentials: '{token}'\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let log = dir.path().join("alertmanager.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=debug")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut am = Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        am.wait_ready().await;
        am
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("Alertmanager exited ({status}):\n{}", self.log_text());
            }
            let ready = client
                .get(format!("{}/-/ready", self.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "Alertmanager not ready after {DEADLINE:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `POST /api/v2/alerts`.
    async fn post_alerts(&self, alerts: Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(&alerts)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(
            status.is_success(),
            "Alertmanager refused the alert ({status}): {}",
            resp.text().await.unwrap_or_default()
        );
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `GET /api/v1/incidents?state=…` on the console until the PortDown incident shows up;
/// fails after [`DEADLINE`] with Alertmanager's log.
async fn wait_for_incident(
    am: &Alertmanager,
    console: &str,
    api_token: &str,
    state: &str,
) -> Value {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let body: Value = client
            .get(format!("{console}/api/v1/incidents?state={state}"))
            .bearer_auth(api_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(found) = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["alertname"] == "PortDown")
        {
            return found.clone();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no {state} PortDown incident after {DEADLINE:?}; Alertmanager log:\n{}",
            am.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_through_the_real_alertmanager_opens_and_resolves_an_incident() {
    let mut config = Config::default();
    config.alerts.webhook_token = Secret(TOKEN.into());
    let app = TestApp::with_config(Backend::Sqlite, config).await;
    service::add_user(
        app.store(),
        "test",
        "viewer1",
        Role::Viewer,
        Org::Customer,
        false,
        support::PASSWORD,
    )
    .await
    .unwrap();
    let api_token = service::create_token(app.store(), "test", "viewer1", "test")
        .await
        .unwrap();
    let console = support::serve(app.state.clone()).await;
    let am = Alertmanager::start(&format!("{console}/api/v1/alerts/alertmanager"), TOKEN).await;

    let labels = json!({"alertname": "PortDown", "component": "hub", "port": "5000", "instance": "10.0.0.20:5000"});
    let starts = format_ms(now_ms() - 60_000);
    am.post_alerts(json!([{
        "labels": labels,
        "annotations": {"summary": "hub 5000 端口不通"},
        "startsAt": starts,
        "generatorURL": "http://prometheus.invalid/graph",
    }]))
    .await;
    let open = wait_for_incident(&am, &console, &api_token, "open").await;
    assert_eq!(open["component"], "hub");
    assert_eq!(open["runbook"], "hub-port-5000");
    assert_eq!(open["state"], "open");
    assert!(open["ended_at"].is_null());
    assert_eq!(open["started_at"], starts);
    assert!(
        !open["fingerprint"].as_str().unwrap().is_empty(),
        "Alertmanager's fingerprint is kept"
    );

    // The same alert, ended a second ago: Alertmanager sends it resolved.
    let ends = format_ms(now_ms() - 1_000);
    am.post_alerts(json!([{
        "labels": labels,
        "annotations": {"summary": "hub 5000 端口不通"},
        "startsAt": starts,
        "endsAt": ends,
        "generatorURL": "http://prometheus.invalid/graph",
    }]))
    .await;
    let done = wait_for_incident(&am, &console, &api_token, "resolved").await;
    assert_eq!(
        done["id"], open["id"],
        "the incident that was open is resolved"
    );
    assert_eq!(done["fingerprint"], open["fingerprint"]);
    assert_eq!(done["ended_at"], ends);

    // Every notification was authenticated and audited.
    let received = lhc_ops::audit::list(
        app.store(),
        &lhc_ops::audit::Filter {
            action: Some("alert.received".into()),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(received.len() >= 2, "{received:?}");
}
