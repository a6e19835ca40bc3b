//! Real-browser tests in headless Chromium: logging in, the Chinese dashboard, the English
//! switch, logging out, and a wrong password shown and audited.

mod support;

use std::time::Duration;

use fantoccini::Locator;
use lhc_ops::auth::{Org, Role};
use support::browser::{Browser, screenshot, submit_login, wait_for};
use support::{Backend, PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_logs_in_sees_chinese_dashboard_switches_to_english_and_logs_out() {
    let app = TestApp::new(Backend::Sqlite).await;
    app.user("op.zhang", Role::Operator, Org::Site).await;
    let base = support::serve(app.state.clone()).await;
    let browser = Browser::start().await;
    let c = browser.session().await;

    submit_login(&c, &base, "op.zhang", PASSWORD).await;
    assert_eq!(
        wait_for(&c, "#dashboard-title").await.text().await.unwrap(),
        "运维总览"
    );
    assert!(
        wait_for(&c, "#whoami")
            .await
            .text()
            .await
            .unwrap()
            .contains("驻场运维")
    );
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
        wait_for(&c, "#dashboard-title").await.text().await.unwrap(),
        "Operations dashboard"
    );
    // The choice is remembered on the next page.
    c.goto(&format!("{base}/audit")).await.unwrap();
    assert_eq!(wait_for(&c, "h1").await.text().await.unwrap(), "Audit log");
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

    submit_login(&c, &base, "op.li", "not-the-password").await;
    assert_eq!(
        wait_for(&c, "#login-error").await.text().await.unwrap(),
        "用户名或密码错误。"
    );
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
    submit_login(&c, &base, "op.li", PASSWORD).await;
    assert_eq!(
        wait_for(&c, "#dashboard-title").await.text().await.unwrap(),
        "运维总览"
    );
    c.close().await.unwrap();
}
