//! Change requests end to end through the PINNED JSON API, against a real MariaDB lhcconsole
//! database: approvals by level, refusals, execution with lock and digest check, concurrency,
//! literal matching, in-doubt recovery, undo, expiry and break-glass.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lhc_ops::auth::{Org, Role, service};
use lhc_ops::config::{Config, Dsn};
use serde_json::{Value, json};
use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, Row};
use support::{Backend, TestApp, mariadb};

/// An app with a fresh lhcconsole database and one user per role and org.
struct Env {
    app: TestApp,
    target: MySqlPool,
    target_url: String,
    tokens: std::collections::HashMap<&'static str, String>,
}

const USERS: [(&str, Role, Org, bool); 6] = [
    ("op", Role::Operator, Org::Site, true),
    ("op2", Role::Operator, Org::Site, false),
    ("prod", Role::Approver, Org::Product, false),
    ("prod2", Role::Approver, Org::Product, false),
    ("cust", Role::Approver, Org::Customer, false),
    ("viewer", Role::Viewer, Org::Customer, false),
];

impl Env {
    async fn new() -> Env {
        Env::with(|_| {}).await
    }

    async fn with(adjust: impl FnOnce(&mut Config)) -> Env {
        let target_url = mariadb().create_database("lhcconsole").await.unwrap();
        let target = MySqlPool::connect(&target_url).await.unwrap();
        sqlx::raw_sql(lhc_ops::demo::LHCCONSOLE_SCHEMA)
            .execute(&target)
            .await
            .unwrap();
        let mut config = Config::default();
        config.targets.lhcconsole.url = Dsn(target_url.clone());
        adjust(&mut config);
        let app = TestApp::with_config(Backend::Sqlite, config).await;
        let mut tokens = std::collections::HashMap::new();
        for (name, role, org, emergency) in USERS {
            service::add_user(
                app.store(),
                "test",
                name,
                role,
                org,
                emergency,
                support::PASSWORD,
            )
            .await
            .unwrap();
            tokens.insert(
                name,
                service::create_token(app.store(), "test", name, "test")
                    .await
                    .unwrap(),
            );
        }
        Env {
            app,
            target,
            target_url,
            tokens,
        }
    }

    async fn call(
        &self,
        who: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut b = Request::builder().method(method).uri(path).header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.tokens[who]),
        );
        let body = match body {
            Some(v) => {
                b = b.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let resp = self.app.send(b.body(body).unwrap()).await;
        let status = resp.status();
        let bytes = support::body_bytes(resp).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn submit(&self, who: &str, operation: &str, params: Value) -> (StatusCode, Value) {
        self.call(
            who,
            "POST",
            "/api/v1/changes",
            Some(
                json!({"operation": operation, "params": params, "reason": "发布单冲突，无法取消"}),
            ),
        )
        .await
    }

    async fn approve(&self, who: &str, id: i64) -> (StatusCode, Value) {
        self.call(
            who,
            "POST",
            &format!("/api/v1/changes/{id}/approvals"),
            Some(json!({"decision": "approve", "comment": "同意"})),
        )
        .await
    }

    async fn execute(&self, who: &str, id: i64) -> (StatusCode, Value) {
        self.call(who, "POST", &format!("/api/v1/changes/{id}/execute"), None)
            .await
    }

    /// Submits the release of `order-service`'s mutex as `op`; returns the change id.
    async fn submit_release(&self) -> i64 {
        let (status, c) = self
            .submit(
                "op",
                "lhc.mutex.release",
                json!({"service": "order-service"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
        id_of(&c)
    }

    /// Submits the release and has `prod` approve it; returns the change id.
    async fn approved_release(&self) -> i64 {
        let id = self.submit_release().await;
        let (status, c) = self.approve("prod", id).await;
        assert_eq!(status, StatusCode::OK, "{c}");
        id
    }

    /// Sets columns of a change directly in the console's store (simulating time or a crash).
    async fn force(&self, id: i64, assignment: &'static str) {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE changes SET {assignment} WHERE id = ?"
        )))
        .bind(id)
        .execute(self.app.store().pool())
        .await
        .unwrap();
    }

    async fn sql(&self, statement: &str) {
        sqlx::raw_sql(AssertSqlSafe(statement.to_string()))
            .execute(&self.target)
            .await
            .unwrap();
    }

    async fn count(&self, where_clause: &str) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM lks_res_deploy_mutex WHERE {where_clause}"
        )))
        .fetch_one(&self.target)
        .await
        .unwrap()
    }

    /// Every column of every row, as text, for before/after comparisons.
    async fn snapshot(&self, table: &str) -> Vec<Vec<Option<String>>> {
        let cols: Vec<String> = sqlx::query_scalar(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        )
        .bind(table)
        .fetch_all(&self.target)
        .await
        .unwrap();
        let list: Vec<String> = cols.iter().map(|c| format!("HEX(`{c}`)")).collect();
        let sql = format!(
            "SELECT {} FROM `{table}` ORDER BY {}",
            list.join(", "),
            list.join(", ")
        );
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.target)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (0..cols.len())
                    .map(|i| r.get::<Option<String>, _>(i))
                    .collect()
            })
            .collect()
    }

    async fn actions(&self, change_id: i64) -> Vec<String> {
        lhc_ops::audit::list(
            self.app.store(),
            &lhc_ops::audit::Filter {
                after_seq: Some(0),
                limit: 1000,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.subject == change_id.to_string() && e.action.starts_with("change."))
        .map(|e| e.action)
        .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let url = self.target_url.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(mariadb().drop_database(&url))
        })
        .join();
    }
}

const SEED_MUTEX: &str = r#"
INSERT INTO lks_res_deploy_mutex (tenant_id, workspace_id, ref_res_type, ref_resource, deploy_id, operator, lock_version, lease_seconds, ext_info, memo) VALUES
 ('t1', 'ws-prod', 'MULTI_CONTAINER_SERVICE', 'order-service', 'dp-1', '张三', 3, 12.500, '{"cell": "rz00a", "备注": "卡住"}', NULL),
 ('t1', NULL,      'MULTI_CONTAINER_SERVICE', 'order-service', 'dp-2', NULL, 0, NULL, NULL, 'line1\nline2 \'quoted\' \\ backslash'),
 ('t1', 'ws-prod', 'MULTI_CONTAINER_SERVICE', 'order-service', NULL, 'bot', 1, -0.001, '[]', ''),
 ('t1', 'ws-prod', 'MULTI_CONTAINER_SERVICE', 'payment-service', 'dp-9', 'x', 0, NULL, NULL, NULL),
 ('t1', 'ws-prod', 'OTHER_TYPE', 'order-service', 'dp-8', 'x', 0, NULL, NULL, NULL);
"#;

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

#[tokio::test]
async fn g2_release_mutex_happy_path_with_backup_and_undo() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let before = env.snapshot("lks_res_deploy_mutex").await;

    let (status, c) = env
        .submit(
            "op",
            "lhc.mutex.release",
            json!({"service": "order-service"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(
        (
            c["level"].as_str(),
            c["state"].as_str(),
            c["operation"].as_str()
        ),
        (Some("G2"), Some("pending"), Some("lhc.mutex.release"))
    );
    assert_eq!(c["preview"]["count"], 3);
    assert_eq!(c["preview"]["items"].as_array().unwrap().len(), 3);
    assert_eq!(c["preview"]["digest"].as_str().unwrap().len(), 64);
    let row = &c["preview"]["items"][0];
    for col in [
        "id",
        "gmt_create",
        "gmt_modified",
        "tenant_id",
        "workspace_id",
        "ref_res_type",
        "ref_resource",
        "deploy_id",
        "operator",
        "lock_version",
        "lease_seconds",
        "ext_info",
        "memo",
    ] {
        assert!(
            row.get(col).is_some(),
            "preview shows every column: {col} missing from {row}"
        );
    }
    assert_eq!(row["operator"], "张三");
    assert_eq!(c["preview"]["items"][1]["workspace_id"], Value::Null);
    let id = id_of(&c);

    let (status, c) = env.approve("prod", id).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["state"], "approved");
    assert_eq!(c["approvals"][0]["by"], "prod");
    assert_eq!(c["approvals"][0]["org"], "product");
    assert_eq!(c["approvals"][0]["decision"], "approve");

    let (status, c) = env.execute("op", id).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["state"], "executed");
    assert_eq!(c["outcome"]["affected"], 3);
    assert_eq!(c["outcome"]["before_image"].as_array().unwrap().len(), 3);
    assert_eq!(
        env.count("ref_resource = 'order-service' AND ref_res_type = 'MULTI_CONTAINER_SERVICE'")
            .await,
        0
    );
    assert_eq!(
        env.count("1=1").await,
        2,
        "other services and types untouched"
    );

    let (status, again) = env.execute("op", id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["error"]["code"], "already_executed");

    // Running the undo script restores every column of every row.
    let undo = c["outcome"]["undo"].as_str().unwrap();
    env.sql(undo).await;
    assert_eq!(env.snapshot("lks_res_deploy_mutex").await, before);
    // The undo is downloadable too.
    let s = env.app.login("op").await;
    let resp = env
        .app
        .get(&format!("/changes/{id}/undo.sql"), Some(&s))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("undo.sql")
    );
    assert_eq!(support::body_text(resp).await, undo);

    assert_eq!(
        env.actions(id).await,
        [
            "change.submitted",
            "change.approved",
            "change.execute.started",
            "change.backup_written",
            "change.executed"
        ]
    );
    let v = lhc_ops::audit::verify(env.app.store()).await.unwrap();
    assert!(matches!(v, lhc_ops::audit::Verdict::Ok { .. }));
}

#[tokio::test]
async fn g3_needs_product_and_customer_approval() {
    let env = Env::with(|c| {
        c.policy
            .levels
            .insert("lhc.mutex.release".into(), "G3".into());
    })
    .await;
    env.sql(SEED_MUTEX).await;
    let (_, c) = env
        .submit(
            "op",
            "lhc.mutex.release",
            json!({"service": "order-service"}),
        )
        .await;
    assert_eq!(c["level"], "G3");
    let id = id_of(&c);
    let (_, c) = env.approve("prod", id).await;
    assert_eq!(c["state"], "pending", "product alone is not enough for G3");
    let (status, c) = env.approve("prod2", id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        c["state"], "pending",
        "a second product approval still lacks the customer"
    );
    let (status, _) = env.execute("op", id).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, c) = env.approve("cust", id).await;
    assert_eq!(c["state"], "approved");
    let (status, c) = env.execute("op", id).await;
    assert_eq!(
        (status, c["state"].as_str()),
        (StatusCode::OK, Some("executed"))
    );
}

#[tokio::test]
async fn refusals_self_approval_wrong_role_not_approved_not_pending() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let id = env.submit_release().await;

    let (status, e) = env.approve("op", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("self_approval")),
        "the requester approving their own change"
    );
    let (status, e) = env.approve("op2", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_role"))
    );
    let (status, e) = env.approve("viewer", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_role"))
    );
    let (status, e) = env.approve("cust", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_role")),
        "G2 asks product only"
    );
    let (status, e) = env.execute("op", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_approved"))
    );
    let (status, e) = env
        .submit(
            "prod",
            "lhc.mutex.release",
            json!({"service": "order-service"}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_role"))
    );

    // The requester later became a product approver: still no self-approval.
    sqlx::query("UPDATE users SET role = 'approver', org = 'product' WHERE name = 'op'")
        .execute(env.app.store().pool())
        .await
        .unwrap();
    let (status, e) = env.approve("op", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("self_approval"))
    );

    let (status, _) = env.approve("prod", id).await;
    assert_eq!(status, StatusCode::OK);
    let (status, e) = env.approve("prod2", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_pending"))
    );
    let (status, e) = env
        .call(
            "op2",
            "POST",
            &format!("/api/v1/changes/{id}/execute"),
            None,
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_requester"))
    );
    assert_eq!(
        env.count("ref_resource = 'order-service' AND ref_res_type = 'MULTI_CONTAINER_SERVICE'")
            .await,
        3
    );
}

#[tokio::test]
async fn a_rejection_rejects_and_bad_input_is_refused_clearly() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let id = env.submit_release().await;
    let (status, e) = env
        .call(
            "prod",
            "POST",
            &format!("/api/v1/changes/{id}/approvals"),
            Some(json!({"decision": "reject"})),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("comment_required"))
    );
    let (_, c) = env
        .call(
            "prod",
            "POST",
            &format!("/api/v1/changes/{id}/approvals"),
            Some(json!({"decision": "reject", "comment": "先确认发布单"})),
        )
        .await;
    assert_eq!(c["state"], "rejected");

    for (params, code) in [
        (json!({}), "bad_params"),
        (json!({"service": ""}), "bad_params"),
        (json!({"service": 5}), "bad_params"),
        (json!({"service": "x", "extra": 1}), "bad_params"),
        (json!({"service": "no-such-service"}), "nothing_to_change"),
    ] {
        let (status, e) = env.submit("op", "lhc.mutex.release", params.clone()).await;
        assert_eq!(e["error"]["code"], code, "{params} → {status} {e}");
    }
    let (status, e) = env.submit("op", "rm.everything", json!({})).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unknown_operation"))
    );
    let (status, e) = env
        .call(
            "op",
            "POST",
            "/api/v1/changes",
            Some(json!({"operation": "lhc.mutex.release", "params": {"service": "order-service"}})),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reason_required"))
    );
    let (status, e) = env
        .call("op", "GET", "/api/v1/changes?state=bogus", None)
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_state"))
    );
    let (status, e) = env.call("op", "GET", "/api/v1/changes/abc", None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_path"))
    );
    let (_, list) = env
        .call("viewer", "GET", "/api/v1/changes?state=rejected", None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn execute_refuses_when_rows_changed_since_approval() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let id = env.approved_release().await;
    env.sql("INSERT INTO lks_res_deploy_mutex (ref_res_type, ref_resource, deploy_id) VALUES ('MULTI_CONTAINER_SERVICE', 'order-service', 'dp-late')").await;
    let (status, e) = env.execute("op", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("preview_changed"))
    );
    assert_eq!(
        env.count("ref_resource = 'order-service' AND ref_res_type = 'MULTI_CONTAINER_SERVICE'")
            .await,
        4,
        "nothing deleted"
    );
    let (_, c) = env
        .call("op", "GET", &format!("/api/v1/changes/{id}"), None)
        .await;
    assert_eq!(c["state"], "approved");
    assert!(c["note"].as_str().unwrap().contains("changed"), "{c}");
    // A change to one column of one row counts too.
    env.sql("DELETE FROM lks_res_deploy_mutex WHERE deploy_id = 'dp-late'")
        .await;
    env.sql(
        "UPDATE lks_res_deploy_mutex SET lock_version = lock_version + 1 WHERE deploy_id = 'dp-1'",
    )
    .await;
    let (status, _) = env.execute("op", id).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        env.actions(id)
            .await
            .contains(&"change.execute.refused".to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_executes_one_wins() {
    let env = std::sync::Arc::new(Env::new().await);
    env.sql(SEED_MUTEX).await;
    let id = env.approved_release().await;
    let (a, b) = tokio::join!(env.execute("op", id), env.execute("op", id));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{a:?} {b:?}"
    );
    let loser = if a.0 == StatusCode::CONFLICT {
        a.1
    } else {
        b.1
    };
    assert_eq!(loser["error"]["code"], "already_executed");
    assert_eq!(env.count("1=1").await, 2);
}

#[tokio::test]
async fn service_names_match_literally() {
    let env = Env::new().await;
    let names = [
        "O'Brien-svc",
        "100%",
        "a_b",
        "服务-中文-😀",
        "x' OR '1'='1",
        "back\\slash",
        "trailing ",
    ];
    for n in names {
        let lit = n.replace('\\', "\\\\").replace('\'', "\\'");
        env.sql(&format!("INSERT INTO lks_res_deploy_mutex (ref_res_type, ref_resource) VALUES ('MULTI_CONTAINER_SERVICE', '{lit}')")).await;
    }
    // Decoys that LIKE, wildcards, case folding or trailing-space padding would match.
    for decoy in ["100x", "aXb", "O'BRIEN-SVC", "trailing", "服务-中文-😀-2"] {
        let lit = decoy.replace('\'', "\\'");
        env.sql(&format!("INSERT INTO lks_res_deploy_mutex (ref_res_type, ref_resource) VALUES ('MULTI_CONTAINER_SERVICE', '{lit}')")).await;
    }
    for n in names {
        let (status, c) = env
            .submit("op", "lhc.mutex.release", json!({"service": n}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{n}: {c}");
        assert_eq!(c["preview"]["count"], 1, "{n}: {c}");
        assert_eq!(c["preview"]["items"][0]["ref_resource"], n);
        let id = id_of(&c);
        env.approve("prod", id).await;
        let (status, c) = env.execute("op", id).await;
        assert_eq!(
            (status, c["outcome"]["affected"].as_i64()),
            (StatusCode::OK, Some(1)),
            "{n}: {c}"
        );
    }
    assert_eq!(env.count("1=1").await, 5, "only the decoys are left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_lost_mid_execution_is_in_doubt_and_reconcile_finds_it_not_applied() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let id = env.approved_release().await;
    // The DELETE stalls in a trigger; meanwhile the target connection is killed.
    env.sql("CREATE TRIGGER stall BEFORE DELETE ON lks_res_deploy_mutex FOR EACH ROW DO SLEEP(2)")
        .await;
    let killer = {
        let target = env.target.clone();
        tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let ids: Vec<i64> = sqlx::query_scalar("SELECT ID FROM information_schema.PROCESSLIST WHERE (INFO LIKE '%DELETE%' OR INFO LIKE '%SLEEP%') AND ID <> CONNECTION_ID()")
                    .fetch_all(&target)
                    .await
                    .unwrap();
                if let Some(pid) = ids.first() {
                    sqlx::raw_sql(AssertSqlSafe(format!("KILL {pid}")))
                        .execute(&target)
                        .await
                        .unwrap();
                    return true;
                }
            }
            false
        })
    };
    let (status, e) = env.execute("op", id).await;
    let seen = killer.await.unwrap();
    if !seen {
        let list: Vec<(i64, Option<String>, Option<String>)> =
            sqlx::query_as("SELECT ID, COMMAND, INFO FROM information_schema.PROCESSLIST")
                .fetch_all(&env.target)
                .await
                .unwrap();
        panic!("not seen: {status} {e} {list:?}");
    }
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("in_doubt")),
        "{e}"
    );
    let (_, c) = env
        .call("op", "GET", &format!("/api/v1/changes/{id}"), None)
        .await;
    assert_eq!(c["state"], "in_doubt");
    env.sql("DROP TRIGGER stall").await;

    let (status, e) = env
        .call(
            "viewer",
            "POST",
            &format!("/api/v1/changes/{id}/reconcile"),
            None,
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_role"))
    );
    let (status, c) = env
        .call(
            "op",
            "POST",
            &format!("/api/v1/changes/{id}/reconcile"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(
        c["state"], "failed",
        "the rows are still there: not applied"
    );
    assert!(c["note"].as_str().unwrap().contains("not applied"));
    assert_eq!(
        env.count("ref_resource = 'order-service' AND ref_res_type = 'MULTI_CONTAINER_SERVICE'")
            .await,
        3
    );
}

#[tokio::test]
async fn a_restart_while_executing_leaves_in_doubt_and_reconcile_finds_it_applied() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let id = env.approved_release().await;
    // As if the console died after the target committed: the rows are gone, the change says executing.
    env.force(id, "state = 'executing'").await;
    env.sql("DELETE FROM lks_res_deploy_mutex WHERE ref_resource = 'order-service' AND ref_res_type = 'MULTI_CONTAINER_SERVICE'").await;
    let recovered = lhc_ops::changes::engine::recover_in_doubt(env.app.store())
        .await
        .unwrap();
    assert_eq!(recovered, [id]);
    let (_, c) = env
        .call(
            "op",
            "POST",
            &format!("/api/v1/changes/{id}/reconcile"),
            None,
        )
        .await;
    assert_eq!(c["state"], "executed", "{c}");
    assert!(c["note"].as_str().unwrap().contains("reconciled"));
    let actions = env.actions(id).await;
    assert!(
        actions.ends_with(&[
            "change.in_doubt".to_string(),
            "change.reconciled".to_string()
        ]),
        "{actions:?}"
    );
}

#[tokio::test]
async fn approvals_expire() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let id = env.approved_release().await;
    env.force(id, "expires_at = 1").await;
    let (status, e) = env.execute("op", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_approved")),
        "{e}"
    );
    let (_, c) = env
        .call("op", "GET", &format!("/api/v1/changes/{id}"), None)
        .await;
    assert_eq!(c["state"], "expired");
    // Pending changes expire by the periodic sweep too.
    let (_, c2) = env
        .submit(
            "op",
            "lhc.mutex.release",
            json!({"service": "order-service"}),
        )
        .await;
    let id2 = id_of(&c2);
    env.force(id2, "expires_at = 1").await;
    assert_eq!(
        lhc_ops::changes::engine::expire_due(&env.app.state)
            .await
            .unwrap(),
        1
    );
    let (_, c2) = env
        .call("op", "GET", &format!("/api/v1/changes/{id2}"), None)
        .await;
    assert_eq!(c2["state"], "expired");
    assert!(
        env.actions(id2)
            .await
            .contains(&"change.expired".to_string())
    );
    assert_eq!(env.count("ref_resource = 'order-service'").await, 4);
}

#[tokio::test]
async fn break_glass_with_and_without_the_flag_and_its_review() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let body = |incident: &str| json!({"operation": "lhc.mutex.release", "params": {"service": "order-service"}, "reason": "生产发布阻塞", "incident": incident});
    let (status, e) = env
        .call(
            "op2",
            "POST",
            "/api/v1/changes/emergency",
            Some(body("INC-1")),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("emergency_not_allowed"))
    );
    let (status, e) = env
        .call("op", "POST", "/api/v1/changes/emergency", Some(body("")))
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("incident_required"))
    );

    let (status, c) = env
        .call(
            "op",
            "POST",
            "/api/v1/changes/emergency",
            Some(body("INC-1")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(
        (
            c["state"].as_str(),
            c["emergency"].as_bool(),
            c["review"].as_str()
        ),
        (Some("executed"), Some(true), Some("pending"))
    );
    assert_eq!(c["outcome"]["affected"], 3);
    let id = id_of(&c);
    assert_eq!(
        env.count("ref_resource = 'order-service' AND ref_res_type = 'MULTI_CONTAINER_SERVICE'")
            .await,
        0
    );

    // While the review is overdue, no further break-glass for this operator.
    env.force(id, "review_due_at = 1").await;
    env.sql("INSERT INTO lks_res_deploy_mutex (ref_res_type, ref_resource) VALUES ('MULTI_CONTAINER_SERVICE', 'payment-service')").await;
    let again = json!({"operation": "lhc.mutex.release", "params": {"service": "payment-service"}, "reason": "再次阻塞", "incident": "INC-2"});
    let (status, e) = env
        .call(
            "op",
            "POST",
            "/api/v1/changes/emergency",
            Some(again.clone()),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("emergency_not_allowed"))
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("#{id}"))
    );
    // The overdue banner appears on every page.
    let s = env.app.login("viewer").await;
    let page = support::body_text(env.app.get("/audit", Some(&s)).await).await;
    assert!(
        page.contains("id=\"overdue-banner\""),
        "overdue banner on every page"
    );

    // The product approver reviews it; break-glass works again.
    let (status, c) = env.approve("prod", id).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["review"], "approved");
    let (status, c) = env
        .call("op", "POST", "/api/v1/changes/emergency", Some(again))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let actions = env.actions(id).await;
    assert_eq!(
        actions.first().map(String::as_str),
        Some("change.emergency_submitted")
    );
    assert!(
        actions.contains(&"change.emergency_executed".to_string())
            && actions.contains(&"change.reviewed".to_string()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn plan_cancel_updates_plan_and_its_services_in_one_transaction_and_undoes_exactly() {
    let env = Env::new().await;
    env.sql(
        r#"INSERT INTO ldc_plan (id, time_series_id, tenant_id, app_name, title, state, creator, progress, ext_info) VALUES
             (7, 'shuang_202103261537288405', 't1', 'order', '双十一发布', 'RUNNING', '张三', 42.50, '{"batches": 3}'),
             (8, 'other_plan', 't1', 'pay', NULL, 'RUNNING', NULL, NULL, NULL);
           INSERT INTO ldc_service (plan_id, service_name, cell, state, batch_no, detail, raw_config) VALUES
             (7, 'order-service', 'rz00a', 'RUNNING', 1, 'batch ''one''', X'00FF10'),
             (7, 'order-service', 'rz00b', 'INIT', 2, NULL, NULL),
             (7, 'order-web', 'rz00a', 'CANCELED', 1, NULL, NULL),
             (8, 'pay-service', 'rz00a', 'RUNNING', 1, NULL, NULL);"#,
    )
    .await;
    let (plan_before, services_before) = (
        env.snapshot("ldc_plan").await,
        env.snapshot("ldc_service").await,
    );
    let (status, c) = env
        .submit(
            "op",
            "lhc.plan.cancel",
            json!({"time_series_id": "shuang_202103261537288405"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(
        c["preview"]["count"], 3,
        "the plan and its two services not yet CANCELED: {c}"
    );
    assert_eq!(c["preview"]["tables"][0]["name"], "ldc_plan");
    assert_eq!(c["preview"]["tables"][1]["count"], 2);
    let id = id_of(&c);
    env.approve("prod", id).await;
    let (status, c) = env.execute("op", id).await;
    assert_eq!(
        (status, c["outcome"]["affected"].as_i64()),
        (StatusCode::OK, Some(3)),
        "{c}"
    );
    let states: Vec<String> = sqlx::query_scalar(
        "SELECT state FROM ldc_service WHERE plan_id = 7 ORDER BY cell, service_name",
    )
    .fetch_all(&env.target)
    .await
    .unwrap();
    assert_eq!(states, ["CANCELED", "CANCELED", "CANCELED"]);
    let plan_state: String = sqlx::query_scalar("SELECT state FROM ldc_plan WHERE id = 7")
        .fetch_one(&env.target)
        .await
        .unwrap();
    assert_eq!(plan_state, "CANCELED");
    let other: String = sqlx::query_scalar("SELECT state FROM ldc_plan WHERE id = 8")
        .fetch_one(&env.target)
        .await
        .unwrap();
    assert_eq!(other, "RUNNING");

    env.sql(c["outcome"]["undo"].as_str().unwrap()).await;
    assert_eq!(env.snapshot("ldc_plan").await, plan_before);
    assert_eq!(env.snapshot("ldc_service").await, services_before);
}

#[tokio::test]
async fn an_unconfigured_target_says_how_to_configure_it() {
    let app = TestApp::new(Backend::Sqlite).await;
    app.user("op", Role::Operator, Org::Site).await;
    let token = service::create_token(app.store(), "test", "op", "t")
        .await
        .unwrap();
    let req = Request::post("/api/v1/changes")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"operation": "lhc.mutex.release", "params": {"service": "x"}, "reason": "r"})
                .to_string(),
        ))
        .unwrap();
    let resp = app.send(req).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let e = support::body_json(resp).await;
    assert_eq!(e["error"]["code"], "target_not_configured");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[targets.lhcconsole]")
    );
    let s = app.login("op").await;
    let page = support::body_text(app.get("/mutex", Some(&s)).await).await;
    assert!(
        page.contains("id=\"not-configured\"") && page.contains("[targets.lhcconsole]"),
        "{page}"
    );
}

#[tokio::test]
async fn pages_walk_the_g2_flow_without_javascript() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let op = env.app.login("op").await;
    let page =
        support::body_text(env.app.get("/mutex?service=order-service", Some(&op)).await).await;
    assert!(
        page.contains("id=\"request-change\"") && page.contains("张三"),
        "{page}"
    );
    let resp = env
        .app
        .post_form(
            "/changes",
            Some(&op),
            &[
                ("csrf_token", &op.csrf),
                ("operation", "lhc.mutex.release"),
                ("service", "order-service"),
                ("reason", "冲突"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let prod = env.app.login("prod").await;
    let page = support::body_text(env.app.get(&location, Some(&prod)).await).await;
    assert!(
        page.contains("id=\"approve\""),
        "approver sees the decision form"
    );
    let resp = env
        .app
        .post_form(
            &format!("{location}/decide"),
            Some(&prod),
            &[
                ("csrf_token", &prod.csrf),
                ("decision", "approve"),
                ("comment", "ok"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let page = support::body_text(env.app.get(&location, Some(&op)).await).await;
    assert!(
        page.contains("id=\"execute\""),
        "requester sees execute once approved"
    );
    // htmx posts get the change block back, not a redirect.
    let req = Request::post(format!("{location}/execute"))
        .header(header::COOKIE, &op.cookie)
        .header("hx-request", "true")
        .header("x-csrf-token", &op.csrf)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf_token={}", op.csrf)))
        .unwrap();
    let resp = env.app.send(req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let fragment = support::body_text(resp).await;
    assert!(
        fragment.contains("id=\"outcome\"") && !fragment.contains("<html"),
        "{fragment}"
    );
    let metrics = support::body_text(env.app.get("/metrics", None).await).await;
    assert!(
        metrics.contains("lhc_ops_change_requests{state=\"executed\"} 1"),
        "{metrics}"
    );
    let page = support::body_text(env.app.get(&location, Some(&op)).await).await;
    assert!(
        page.contains("id=\"outcome\"") && page.contains("undo.sql"),
        "{page}"
    );
    let list = support::body_text(env.app.get("/changes?state=executed", Some(&op)).await).await;
    assert!(list.contains(&location), "{list}");
}

#[tokio::test]
async fn withdraw_is_for_the_requester_while_pending() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let id = env.submit_release().await;
    let path = format!("/api/v1/changes/{id}/withdraw");
    let (status, e) = env.call("op2", "POST", &path, None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_requester"))
    );
    let (status, c) = env.call("op", "POST", &path, None).await;
    assert_eq!(
        (status, c["state"].as_str()),
        (StatusCode::OK, Some("withdrawn"))
    );
    let (status, e) = env.call("op", "POST", &path, None).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_pending"))
    );
    let (status, e) = env.approve("prod", id).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_pending"))
    );
    assert!(
        env.actions(id)
            .await
            .contains(&"change.withdrawn".to_string())
    );
}

/// Wraps the mutex release but reports one row more than it deleted.
struct MiscountingRelease;

#[async_trait::async_trait]
impl lhc_ops::ops::SqlChange for MiscountingRelease {
    async fn read(
        &self,
        conn: &mut sqlx::MySqlConnection,
        params: &Value,
        lock: bool,
    ) -> sqlx::Result<Vec<lhc_ops::targets::lhcconsole::Rows>> {
        lhc_ops::ops::mutex_release::MutexRelease
            .read(conn, params, lock)
            .await
    }
    async fn apply(
        &self,
        conn: &mut sqlx::MySqlConnection,
        params: &Value,
        snapshot: &[lhc_ops::targets::lhcconsole::Rows],
    ) -> sqlx::Result<u64> {
        Ok(lhc_ops::ops::mutex_release::MutexRelease
            .apply(conn, params, snapshot)
            .await?
            + 1)
    }
    fn undo(&self, snapshot: &[lhc_ops::targets::lhcconsole::Rows]) -> String {
        lhc_ops::ops::mutex_release::MutexRelease.undo(snapshot)
    }
}

struct NoBackup;

#[async_trait::async_trait]
impl lhc_ops::changes::operation::Backup for NoBackup {
    async fn save(&self, _: &Value, _: &str) -> anyhow::Result<()> {
        Ok(())
    }
}

struct FailingBackup;

#[async_trait::async_trait]
impl lhc_ops::changes::operation::Backup for FailingBackup {
    async fn save(&self, _: &Value, _: &str) -> anyhow::Result<()> {
        anyhow::bail!("store unavailable")
    }
}

#[tokio::test]
async fn a_wrong_affected_count_or_a_failed_backup_rolls_back() {
    use lhc_ops::changes::operation::OpError;
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let pools = env.app.state.targets.lhcconsole().unwrap().clone();
    let params = json!({"service": "order-service"});
    let preview = lhc_ops::ops::preview_sql(&MiscountingRelease, &pools, &params)
        .await
        .unwrap();
    let err = lhc_ops::ops::execute_sql(&MiscountingRelease, &pools, &params, &preview, &NoBackup)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OpError::CountMismatch {
                expected: 3,
                got: 4
            }
        ),
        "{err}"
    );
    let err = lhc_ops::ops::execute_sql(
        &lhc_ops::ops::mutex_release::MutexRelease,
        &pools,
        &params,
        &preview,
        &FailingBackup,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpError::Backup(_)), "{err}");
    assert_eq!(
        env.count("ref_resource = 'order-service' AND ref_res_type = 'MULTI_CONTAINER_SERVICE'")
            .await,
        3,
        "both rolled back"
    );
}

#[tokio::test]
async fn g3_execution_from_the_page_needs_the_typed_confirmation() {
    let env = Env::with(|c| {
        c.policy
            .levels
            .insert("lhc.mutex.release".into(), "G3".into());
    })
    .await;
    env.sql(SEED_MUTEX).await;
    let id = env.approved_release().await;
    env.approve("cust", id).await;
    let op = env.app.login("op").await;
    let page = support::body_text(env.app.get(&format!("/changes/{id}"), Some(&op)).await).await;
    assert!(
        page.contains("id=\"confirm\""),
        "G3 asks for a typed confirmation"
    );
    let resp = env
        .app
        .post_form(
            &format!("/changes/{id}/execute"),
            Some(&op),
            &[("csrf_token", &op.csrf), ("confirm", "order")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        support::body_text(resp)
            .await
            .contains("confirmation_mismatch")
    );
    let resp = env
        .app
        .post_form(
            &format!("/changes/{id}/execute"),
            Some(&op),
            &[("csrf_token", &op.csrf), ("confirm", "order-service")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        env.count("ref_resource = 'order-service' AND ref_res_type = 'MULTI_CONTAINER_SERVICE'")
            .await,
        0
    );
}

#[tokio::test]
async fn break_glass_from_the_page() {
    let env = Env::new().await;
    env.sql(SEED_MUTEX).await;
    let op = env.app.login("op").await;
    let page =
        support::body_text(env.app.get("/mutex?service=order-service", Some(&op)).await).await;
    assert!(
        page.contains("id=\"break-glass\""),
        "operators with the flag see break-glass"
    );
    let op2 = env.app.login("op2").await;
    let page = support::body_text(
        env.app
            .get("/mutex?service=order-service", Some(&op2))
            .await,
    )
    .await;
    assert!(!page.contains("id=\"break-glass\""), "others do not");
    let fields = [
        ("csrf_token", op.csrf.as_str()),
        ("operation", "lhc.mutex.release"),
        ("service", "order-service"),
        ("reason", "阻塞生产发布"),
        ("incident", "INC-42"),
    ];
    let resp = env
        .app
        .post_form("/changes/emergency", Some(&op), &fields)
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let page = support::body_text(env.app.get(&location, Some(&op)).await).await;
    assert!(
        page.contains("INC-42") && page.contains("data-state=\"executed\""),
        "{page}"
    );
}

#[tokio::test]
async fn an_unreachable_or_unexpected_target_gets_a_clear_503() {
    let env = Env::new().await;
    env.sql("DROP TABLE lks_res_deploy_mutex").await;
    let (status, e) = env
        .submit(
            "op",
            "lhc.mutex.release",
            json!({"service": "order-service"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lks_res_deploy_mutex"),
        "{e}"
    );

    let dead =
        Env::with(|c| c.targets.lhcconsole.url = Dsn("mysql://root@127.0.0.1:1/lhcconsole".into()))
            .await;
    let (status, e) = dead
        .submit(
            "op",
            "lhc.mutex.release",
            json!({"service": "order-service"}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
        "{e}"
    );
}
