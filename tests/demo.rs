//! `lhc-ops demo` as a new user meets it: it prints the URL and a login for every role, each
//! login works, and the temporary store is gone after Ctrl-C / SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_lhc-ops");

#[tokio::test]
async fn demo_serves_login_and_every_seeded_user_can_log_in() {
    let mut child = Command::new(BIN)
        .args(["demo", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    /// Kills the demo if the test fails before stopping it.
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .status();
        }
    }
    let guard = KillOnDrop(child.id());
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines.iter().any(|l: &String| l.starts_with("Press Ctrl-C")) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("demo did not start; printed: {lines:#?}"));
        lines.push(line);
    }
    let url = lines[0]
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let store_dir = lines[1]
        .strip_prefix("temporary store: ")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert!(std::path::Path::new(&store_dir).exists());

    let logins: Vec<(String, String, String)> = lines
        .iter()
        .skip_while(|l| !l.starts_with("user "))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].to_string(), f[3].to_string())
        })
        .collect();
    let roles: std::collections::BTreeSet<&str> =
        logins.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(
        roles.into_iter().collect::<Vec<_>>(),
        ["admin", "approver", "operator", "viewer"]
    );

    let login_page = reqwest::get(format!("{url}/login")).await.unwrap();
    assert_eq!(login_page.status(), 200);
    assert!(login_page.text().await.unwrap().contains("登录"));
    for (name, role, password) in &logins {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let resp = client
            .post(format!("{url}/login"))
            .form(&[("username", name), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name} lands on the dashboard");
        let me: serde_json::Value = client
            .get(format!("{url}/api/v1/me"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (me["name"].as_str(), me["role"].as_str()),
            (Some(name.as_str()), Some(role.as_str()))
        );
    }

    // The sandbox lhcconsole database carries a stuck mutex an operator can walk through G2.
    let sandbox = lines
        .iter()
        .find(|l| l.starts_with("sandbox lhcconsole database: "))
        .expect("the sandbox line");
    assert!(
        sandbox.contains("mysql://") && sandbox.contains("@127.0.0.1:"),
        "{sandbox}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("simulated components on 127.0.0.1"))
    );
    let login = |name: &str| {
        let (_, _, password) = logins.iter().find(|(n, _, _)| n == name).unwrap().clone();
        let url = url.clone();
        let name = name.to_string();
        async move {
            let client = reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap();
            let page = client
                .post(format!("{url}/login"))
                .form(&[("username", name.as_str()), ("password", password.as_str())])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let marker = "name=\"csrf_token\" value=\"";
            let start = page.find(marker).unwrap() + marker.len();
            let csrf = page[start..start + 64].to_string();
            (client, csrf)
        }
    };
    let (op, op_csrf) = login("op.zhang").await;
    let page = op
        .get(format!("{url}/mutex?service=order-service"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("发布中断后遗留的互斥记录"),
        "the sandbox rows show: {page}"
    );
    let submitted: serde_json::Value = op
        .post(format!("{url}/api/v1/changes"))
        .header("x-csrf-token", &op_csrf)
        .json(&serde_json::json!({"operation": "lhc.mutex.release", "params": {"service": "order-service"}, "reason": "demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(submitted["preview"]["count"], 2, "{submitted}");
    let id = submitted["id"].as_i64().unwrap();
    let (prod, prod_csrf) = login("appr.product").await;
    let approved: serde_json::Value = prod
        .post(format!("{url}/api/v1/changes/{id}/approvals"))
        .header("x-csrf-token", &prod_csrf)
        .json(&serde_json::json!({"decision": "approve", "comment": "ok"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(approved["state"], "approved");
    let executed: serde_json::Value = op
        .post(format!("{url}/api/v1/changes/{id}/execute"))
        .header("x-csrf-token", &op_csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            executed["state"].as_str(),
            executed["outcome"]["affected"].as_i64()
        ),
        (Some("executed"), Some(2)),
        "{executed}"
    );

    // The simulated components show every state within a few probe rounds.
    let deadline = Instant::now() + Duration::from_secs(45);
    let status_of = |items: &serde_json::Value, name: &str| {
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["status"].as_str().unwrap_or("").to_string())
    };
    loop {
        let items: serde_json::Value = op
            .get(format!("{url}/api/v1/components"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let seen = ["apaks", "hub", "opswareorch", "ldccore"]
            .map(|n| status_of(&items, n).unwrap_or_default());
        if seen == ["up", "degraded", "degraded", "down"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "components did not settle: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The start was audited: the seeded users, then the configuration it runs with.
    let audit: serde_json::Value = op
        .get(format!("{url}/api/v1/audit?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "user.created").count(),
        logins.len()
    );
    assert!(actions.contains(&"config.loaded"), "{actions:?}");
    assert_eq!(
        actions.iter().filter(|a| **a == "auth.login").count(),
        logins.len() + 2
    );

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    std::mem::forget(guard); // exited: its pid may be reused
    assert!(status.success(), "demo exits cleanly on SIGTERM: {status}");
    assert!(
        !std::path::Path::new(&store_dir).exists(),
        "the temporary store is removed"
    );
}

#[test]
fn demo_refuses_non_loopback_addresses() {
    let out = Command::new(BIN)
        .args(["demo", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}
