//! Real-browser tests in headless Chromium: logging in, the Chinese dashboard, the English
//! switch, logging out, and a wrong password shown and audited.

mod support;

use std::time::Duration;

use fantoccini::{Client, Locator};
use lhc_ops::auth::{Org, Role};
use support::browser::Browser;
use support::{Backend, PASSWORD, TestApp};

async fn text_of(c: &Client, css: &str) -> String {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn log_in(c: &Client, base: &str, name: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Id("login-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Saves a screenshot when `LHC_OPS_SCREENSHOTS` names a folder (for looking at the pages).
async fn screenshot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("LHC_OPS_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_logs_in_sees_chinese_dashboard_switches_to_english_and_logs_out() {
    let app = TestApp::new(Backend::Sqlite).await;
    app.user("op.zhang", Role::Operator, Org::Site).await;
    let base = support::serve(app.state.clone()).await;
    let browser = Browser::start().await;
    let c = browser.session().await;

    log_in(&c, &base, "op.zhang", PASSWORD).await;
    assert_eq!(text_of(&c, "#dashboard-title").await, "运维总览");
    assert!(text_of(&c, "#whoami").await.contains("驻场运维"));
    let html = c.source().await.unwrap();
    assert!(html.contains("lang=\"zh-CN\""));
    screenshot(&c, "dashboard-zh").await;

    c.find(Locator::Id("lang-switch"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("html[lang='en']"))
        .await
        .unwrap();
    assert_eq!(
        text_of(&c, "#dashboard-title").await,
        "Operations dashboard"
    );
    // The choice is remembered on the next page.
    c.goto(&format!("{base}/audit")).await.unwrap();
    assert_eq!(text_of(&c, "h1").await, "Audit log");
    screenshot(&c, "audit-en").await;

    c.find(Locator::Id("logout"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
    c.goto(&format!("{base}/")).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("login-form"))
        .await
        .unwrap();
    assert!(
        c.current_url()
            .await
            .unwrap()
            .as_str()
            .contains("/login?next=%2F")
    );

    let actions: Vec<String> = lhc_ops::audit::list(
        app.store(),
        &lhc_ops::audit::Filter {
            actor: Some("op.zhang".into()),
            after_seq: Some(0),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.action)
    .collect();
    assert_eq!(actions, ["auth.login", "auth.logout"]);
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_shows_an_error_and_is_audited() {
    let app = TestApp::new(Backend::Sqlite).await;
    app.user("op.li", Role::Operator, Org::Site).await;
    let base = support::serve(app.state.clone()).await;
    let browser = Browser::start().await;
    let c = browser.session().await;

    log_in(&c, &base, "op.li", "not-the-password").await;
    assert_eq!(text_of(&c, "#login-error").await, "用户名或密码错误。");
    screenshot(&c, "login-error").await;
    assert_eq!(
        c.find(Locator::Id("username"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("op.li")
    );
    let failed = lhc_ops::audit::list(
        app.store(),
        &lhc_ops::audit::Filter {
            action: Some("auth.login_failed".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].subject, "op.li");

    // The right password still works afterwards.
    log_in(&c, &base, "op.li", PASSWORD).await;
    assert_eq!(text_of(&c, "#dashboard-title").await, "运维总览");
    c.close().await.unwrap();
}
