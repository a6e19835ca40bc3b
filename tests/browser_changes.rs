//! The G2 flow in two real browser sessions: an operator requests a mutex release, a product
//! approver approves in a second session, the operator executes and sees the outcome.

mod support;

use fantoccini::Locator;
use lhc_ops::auth::{Org, Role};
use lhc_ops::config::{Config, Dsn};
use support::browser::{Browser, screenshot, submit_login, wait_for};
use support::{Backend, PASSWORD, TestApp, mariadb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_requests_approver_approves_operator_executes() {
    let target_url = mariadb().create_database("lhcconsole").await.unwrap();
    let target = sqlx::MySqlPool::connect(&target_url).await.unwrap();
    sqlx::raw_sql(lhc_ops::demo::LHCCONSOLE_SCHEMA)
        .execute(&target)
        .await
        .unwrap();
    sqlx::raw_sql(lhc_ops::demo::LHCCONSOLE_SEED)
        .execute(&target)
        .await
        .unwrap();
    let mut config = Config::default();
    config.targets.lhcconsole.url = Dsn(target_url.clone());
    let app = TestApp::with_config(Backend::Sqlite, config).await;
    app.user("op.zhang", Role::Operator, Org::Site).await;
    app.user("appr.product", Role::Approver, Org::Product).await;
    let base = support::serve(app.state.clone()).await;
    let browser = Browser::start().await;
    let (op, approver) = (browser.session().await, browser.session().await);

    // The operator looks the service up and requests the release.
    submit_login(&op, &base, "op.zhang", PASSWORD).await;
    wait_for(&op, "#dashboard-title").await;
    op.goto(&format!("{base}/mutex")).await.unwrap();
    op.find(Locator::Css("input[name='service']"))
        .await
        .unwrap()
        .send_keys("order-service")
        .await
        .unwrap();
    op.find(Locator::Css("#lookup button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&op, "#request-change").await;
    assert!(
        op.source()
            .await
            .unwrap()
            .contains("发布中断后遗留的互斥记录")
    );
    screenshot(&op, "mutex-lookup").await;
    op.find(Locator::Id("reason"))
        .await
        .unwrap()
        .send_keys("开始发布提示发布单冲突，且无法取消")
        .await
        .unwrap();
    op.find(Locator::Id("submit-request"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        wait_for(&op, "#change")
            .await
            .attr("data-state")
            .await
            .unwrap()
            .as_deref(),
        Some("pending")
    );
    let change_url = op.current_url().await.unwrap().to_string();

    // The approver, in a second browser session, approves (htmx swaps the change in place).
    submit_login(&approver, &base, "appr.product", PASSWORD).await;
    wait_for(&approver, "#dashboard-title").await;
    assert!(
        wait_for(&approver, "#awaiting")
            .await
            .text()
            .await
            .unwrap()
            .contains("order-service"),
        "the dashboard lists it"
    );
    approver.goto(&change_url).await.unwrap();
    approver
        .find(Locator::Id("comment"))
        .await
        .unwrap()
        .send_keys("已与产品侧确认")
        .await
        .unwrap();
    approver
        .find(Locator::Id("approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&approver, "#change[data-state='approved']").await;
    assert!(
        approver
            .find(Locator::Id("approvals"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("已与产品侧确认")
    );

    // The operator executes and sees the outcome.
    op.goto(&change_url).await.unwrap();
    wait_for(&op, "#execute-button")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&op, "#change[data-state='executed']").await;
    assert!(
        wait_for(&op, "#affected")
            .await
            .text()
            .await
            .unwrap()
            .contains('2')
    );
    assert!(op.find(Locator::Id("undo-download")).await.is_ok());
    screenshot(&op, "change-executed").await;

    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM lks_res_deploy_mutex WHERE ref_res_type = 'MULTI_CONTAINER_SERVICE' AND ref_resource = 'order-service'")
        .fetch_one(&target)
        .await
        .unwrap();
    assert_eq!(left, 0);
    op.close().await.unwrap();
    approver.close().await.unwrap();
    target.close().await;
    mariadb().drop_database(&target_url).await.unwrap();
}
