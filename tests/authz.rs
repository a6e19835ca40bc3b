//! Authorization, CSRF and error shapes over HTTP: every route × every role (and anonymous),
//! on both store backends.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use lhc_ops::auth::{Org, Role, service};
use support::{Backend, Session, TestApp, body_json, body_text};

/// What a route admits.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Access {
    /// Anyone, no session needed.
    Public,
    /// Any authenticated user.
    AnyUser,
    /// Admins only.
    AdminOnly,
    /// Operators and admins (G1 actions such as "probe now").
    OperatorOnly,
    /// The Alertmanager webhook: only `alerts.webhook_token` admits, never a session or an
    /// API token (tests/alerts.rs covers the right token).
    WebhookToken,
}

/// The expected access of every route; a route missing here fails the test.
fn access_of(method: &Method, path: &str) -> Access {
    match (method.as_str(), path) {
        ("GET", "/healthz" | "/readyz" | "/metrics" | "/static/{*path}" | "/login")
        | ("POST", "/login") => Access::Public,
        (_, "/admin/users") => Access::AdminOnly,
        ("POST", "/health/{component}/probe") => Access::OperatorOnly,
        ("POST", "/logout") => Access::AnyUser,
        ("POST", "/api/v1/alerts/alertmanager") => Access::WebhookToken,
        // Change requests: any user reaches the engine, which decides by role, org and
        // requester (tested in tests/changes.rs).
        ("POST", p) if p.starts_with("/api/v1/changes") || p.starts_with("/changes") => {
            Access::AnyUser
        }
        ("GET", p) if p == "/" || p.starts_with('/') => Access::AnyUser,
        other => panic!("route {other:?} has no expected access in this test: add it"),
    }
}

/// A concrete request path for a route pattern.
fn concrete(path: &str) -> String {
    path.replace("{*path}", "css/app.css")
        .replace("{runbook}", "hub-port-5000")
        .replace("{id}", "1")
        .replace("{ns}", "demo-ns")
        .replace("{component}", "hub")
}

const ROLES: [(&str, Role, Org); 5] = [
    ("viewer1", Role::Viewer, Org::Customer),
    ("operator1", Role::Operator, Org::Site),
    ("approver-p", Role::Approver, Org::Product),
    ("approver-c", Role::Approver, Org::Customer),
    ("admin1", Role::Admin, Org::Site),
];

async fn request(
    app: &TestApp,
    method: &Method,
    path: &str,
    session: Option<&Session>,
) -> axum::http::Response<Body> {
    let mut b = Request::builder().method(method.clone()).uri(path);
    if let Some(s) = session {
        b = b.header(header::COOKIE, &s.cookie);
        if method != Method::GET {
            b = b.header("x-csrf-token", &s.csrf);
        }
    }
    if method != Method::GET {
        b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    app.send(b.body(Body::empty()).unwrap()).await
}

/// What an authorised user gets from a route called without a body: change routes name
/// change #1, which does not exist, and POSTs without their fields are bad requests.
fn user_status(method: &Method, pattern: &str) -> StatusCode {
    let takes_fields = pattern.ends_with("/approvals")
        || pattern.ends_with("/decide")
        || !pattern.contains("{id}");
    match (method.as_str(), pattern.contains("{id}")) {
        ("POST", _) if takes_fields => StatusCode::BAD_REQUEST,
        (_, true) => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

/// The status a role should get for a route (requests carry no form fields).
fn expected(access: Access, method: &Method, path: &str, role: Option<Role>) -> StatusCode {
    let is_api = path.starts_with("/api/");
    let unauthenticated = if is_api {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::SEE_OTHER
    };
    match (access, role) {
        (Access::WebhookToken, _) => StatusCode::UNAUTHORIZED,
        (Access::Public, _) if *method == Method::POST => StatusCode::BAD_REQUEST, // empty login form
        (Access::Public, Some(_)) if path == "/login" => StatusCode::SEE_OTHER, // already logged in
        (Access::Public, _) => StatusCode::OK,
        (_, None) => unauthenticated,
        (Access::AdminOnly, Some(Role::Admin)) if *method == Method::POST => {
            StatusCode::BAD_REQUEST
        } // empty form
        (Access::AdminOnly, Some(Role::Admin)) => StatusCode::OK,
        (Access::AdminOnly, Some(_)) => StatusCode::FORBIDDEN,
        (Access::OperatorOnly, Some(Role::Operator | Role::Admin)) => StatusCode::SEE_OTHER,
        (Access::OperatorOnly, Some(_)) => StatusCode::FORBIDDEN,
        (Access::AnyUser, Some(_)) if path == "/logout" => StatusCode::SEE_OTHER,
        (Access::AnyUser, Some(_)) => user_status(method, path),
    }
}

async fn every_route_for_every_role(backend: Backend) {
    let mut config = lhc_ops::config::Config::default();
    config.alerts.webhook_token = lhc_ops::config::Secret("alertmanager-webhook-secret".into());
    let app = TestApp::with_config(backend, config).await;
    for (name, role, org) in ROLES {
        app.user(name, role, org).await;
    }
    let routes = lhc_ops::web::router::routes();
    assert!(routes.len() >= 30, "the route table lists every route");
    let mut checked = 0;
    for (name, role, _) in std::iter::once(("anonymous", None, Org::Site))
        .chain(ROLES.iter().map(|(n, r, o)| (*n, Some(*r), *o)))
    {
        let mut session = None;
        for route in &routes {
            // Log in when needed: /logout ends the session.
            if role.is_some() && session.is_none() {
                session = Some(app.login(name).await);
            }
            let path = concrete(route.path);
            let access = access_of(&route.method, route.path);
            let resp = request(&app, &route.method, &path, session.as_ref()).await;
            let want = expected(access, &route.method, route.path, role);
            assert_eq!(resp.status(), want, "{} {path} as {name}", route.method);
            if want == StatusCode::FORBIDDEN {
                let page = body_text(resp).await;
                assert!(page.contains("wrong_role"), "403 names the reason: {page}");
            } else if want == StatusCode::UNAUTHORIZED {
                let code = if access == Access::WebhookToken {
                    "invalid_token"
                } else {
                    "unauthenticated"
                };
                assert_eq!(body_json(resp).await["error"]["code"], code);
            } else if want == StatusCode::SEE_OTHER && role.is_none() {
                let loc = resp.headers()[header::LOCATION]
                    .to_str()
                    .unwrap()
                    .to_string();
                assert!(loc.starts_with("/login?next="), "{path}: {loc}");
            }
            if route.path == "/logout" {
                session = None;
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * (ROLES.len() + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_role_on_sqlite() {
    every_route_for_every_role(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_for_every_role_on_mariadb() {
    every_route_for_every_role(Backend::MariaDb).await;
}

async fn app_with_users() -> TestApp {
    let app = TestApp::new(Backend::Sqlite).await;
    for (name, role, org) in ROLES {
        app.user(name, role, org).await;
    }
    app
}

#[tokio::test]
async fn state_change_with_session_but_without_csrf_token_is_refused() {
    let app = app_with_users().await;
    let s = app.login("admin1").await;
    // No token at all, a wrong token in the form, a wrong header: all 403 csrf_failed, nothing created.
    let create = [
        ("name", "mallory"),
        ("role", "admin"),
        ("org", "site"),
        ("password", "long-enough-password"),
    ];
    let resp = app.post_form("/admin/users", Some(&s), &create).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(body_text(resp).await.contains("csrf_failed"));
    let mut with_wrong = create.to_vec();
    with_wrong.push(("csrf_token", "0000"));
    assert_eq!(
        app.post_form("/admin/users", Some(&s), &with_wrong)
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let req = Request::post("/logout")
        .header(header::COOKIE, &s.cookie)
        .header("x-csrf-token", "f".repeat(64))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.status(), StatusCode::FORBIDDEN);
    assert!(
        lhc_ops::store::users::by_name(app.store().pool(), "mallory")
            .await
            .unwrap()
            .is_none()
    );

    // The right token in the form field creates the user.
    let mut with_token = create.to_vec();
    with_token.push(("csrf_token", &s.csrf));
    let resp = app.post_form("/admin/users", Some(&s), &with_token).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(body_text(resp).await.contains("mallory"));
    let created = lhc_ops::audit::list(
        app.store(),
        &lhc_ops::audit::Filter {
            action: Some("user.created".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (created[0].actor.as_str(), created[0].subject.as_str()),
        ("admin1", "mallory")
    );
}

#[tokio::test]
async fn bearer_tokens_need_no_csrf_and_bad_tokens_get_401() {
    let app = app_with_users().await;
    let token = service::create_token(app.store(), "test", "admin1", "ci")
        .await
        .unwrap();
    let me = Request::get("/api/v1/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let resp = app.send(me).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = body_json(resp).await;
    assert_eq!(
        body,
        serde_json::json!({"name": "admin1", "role": "admin", "org": "site", "emergency": false})
    );

    // A POST with a bearer token passes CSRF (and fails only on the empty form).
    let req = Request::post("/admin/users")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "name=x&role=nope&org=site&password=long-enough-password",
        ))
        .unwrap();
    assert_eq!(app.send(req).await.status(), StatusCode::BAD_REQUEST);

    let bad = Request::get("/api/v1/me")
        .header(header::AUTHORIZATION, "Bearer lhc_0000")
        .body(Body::empty())
        .unwrap();
    let resp = app.send(bad).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(resp).await["error"]["code"], "invalid_token");
}

#[tokio::test]
async fn wrong_password_shows_an_error_and_is_audited_then_throttled() {
    let app = app_with_users().await;
    let resp = app
        .post_form(
            "/login",
            None,
            &[("username", "operator1"), ("password", "wrong-password")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let page = body_text(resp).await;
    assert!(page.contains("用户名或密码错误"), "{page}");
    assert!(
        page.contains("value=\"operator1\""),
        "the user name is kept"
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
    assert_eq!(failed[0].subject, "operator1");
    assert_eq!(failed[0].details["address"], "127.0.0.1");
    for _ in 1..service::ACCOUNT_FAILURE_LIMIT {
        app.post_form(
            "/login",
            None,
            &[("username", "operator1"), ("password", "wrong-password")],
        )
        .await;
    }
    let resp = app
        .post_form(
            "/login",
            None,
            &[("username", "operator1"), ("password", support::PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn login_redirects_only_to_local_paths_and_sets_a_strict_cookie() {
    let app = app_with_users().await;
    let resp = app
        .post_form(
            "/login",
            None,
            &[
                ("username", "viewer1"),
                ("password", support::PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/");
    let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let resp = app
        .post_form(
            "/login",
            None,
            &[
                ("username", "viewer1"),
                ("password", support::PASSWORD),
                ("next", "/audit?actor=x"),
            ],
        )
        .await;
    assert_eq!(resp.headers()[header::LOCATION], "/audit?actor=x");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = app_with_users().await;
    let s = app.login("operator1").await;
    let resp = app
        .post_form("/logout", Some(&s), &[("csrf_token", &s.csrf)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert!(
        resp.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let resp = app.get("/", Some(&s)).await;
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "the old cookie no longer works"
    );
}

#[tokio::test]
async fn errors_render_by_request_kind_with_security_headers() {
    let app = app_with_users().await;
    let s = app.login("viewer1").await;
    // Page: HTML with the layout.
    let resp = app.get("/no/such/page", Some(&s)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    for (h, v) in [
        ("content-security-policy", "default-src 'self'"),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        let got = resp.headers()[h].to_str().unwrap();
        assert!(got.starts_with(v), "{h}: {got}");
    }
    let page = body_text(resp).await;
    assert!(
        page.contains("<html") && page.contains("页面或资源不存在"),
        "{page}"
    );
    // htmx fragment: no layout.
    let req = Request::get("/no/such/page")
        .header(header::COOKIE, &s.cookie)
        .header("hx-request", "true")
        .body(Body::empty())
        .unwrap();
    let resp = app.send(req).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let frag = body_text(resp).await;
    assert!(
        !frag.contains("<html") && frag.contains("role=\"alert\""),
        "{frag}"
    );
    // API: the JSON error shape.
    let resp = app.get("/api/v1/nope", Some(&s)).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(resp).await["error"]["code"], "not_found");
    // htmx request without a session: 401 with HX-Redirect.
    let req = Request::get("/audit")
        .header("hx-request", "true")
        .body(Body::empty())
        .unwrap();
    let resp = app.send(req).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["hx-redirect"], "/login");
    // A malformed query gets a clear 400, not a bare rejection.
    let resp = app.get("/api/v1/audit?after_seq=abc", Some(&s)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(resp).await["error"]["code"], "bad_query");
    let resp = app.get("/audit?from=yesterday", Some(&s)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(body_text(resp).await.contains("yesterday"));
}

#[tokio::test]
async fn pages_speak_chinese_by_default_and_english_on_request() {
    let app = app_with_users().await;
    let s = app.login("operator1").await;
    let zh = body_text(app.get("/", Some(&s)).await).await;
    assert!(zh.contains("lang=\"zh-CN\"") && zh.contains("运维总览") && zh.contains("组件健康"));
    let resp = app.get("/?lang=en", Some(&s)).await;
    assert!(
        resp.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("lhc_lang=en")
    );
    let en = body_text(resp).await;
    assert!(
        en.contains("lang=\"en\"")
            && en.contains("Operations dashboard")
            && !en.contains("运维总览")
    );
    // The choice sticks through the cookie.
    let req = Request::get("/kb/glossary")
        .header(header::COOKIE, format!("{}; lhc_lang=en", s.cookie))
        .body(Body::empty())
        .unwrap();
    let page = body_text(app.send(req).await).await;
    assert!(
        page.contains("Not available yet"),
        "unbuilt pages say so: {page}"
    );
}

#[tokio::test]
async fn audit_api_pages_and_verifies() {
    let app = app_with_users().await;
    let s = app.login("viewer1").await;
    let resp = app.get("/api/v1/audit?after_seq=0&limit=3", Some(&s)).await;
    let body = body_json(resp).await;
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["seq"], 1);
    assert_eq!(items[1]["prev_hash"], items[0]["hash"]);
    for key in [
        "seq",
        "at",
        "actor",
        "action",
        "subject",
        "details",
        "prev_hash",
        "hash",
    ] {
        assert!(items[0].get(key).is_some(), "{key}");
    }
    let next = body_json(app.get("/api/v1/audit?after_seq=3&limit=2", Some(&s)).await).await;
    assert_eq!(next["items"][0]["seq"], 4);
    assert_eq!(
        app.get("/api/v1/audit?limit=5000", Some(&s)).await.status(),
        StatusCode::BAD_REQUEST
    );

    let v = body_json(app.get("/api/v1/audit/verify", Some(&s)).await).await;
    assert_eq!(v["ok"], true);
    let (seq, head) = lhc_ops::audit::head(app.store()).await.unwrap();
    assert_eq!(v["entries"], seq);
    assert_eq!(v["head"], head);

    support::sql(
        app.store(),
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2",
    )
    .await;
    let v = body_json(app.get("/api/v1/audit/verify", Some(&s)).await).await;
    assert_eq!(
        (v["ok"].clone(), v["first_bad_seq"].clone()),
        (serde_json::json!(false), serde_json::json!(2))
    );

    // The page filters by actor and shows the head hash.
    let page = body_text(app.get("/audit?actor=viewer1&verify=1", Some(&s)).await).await;
    assert!(
        page.contains(&head) && page.contains("auth.login") && page.contains("校验失败"),
        "{page}"
    );
    assert!(
        !page.contains("user.created"),
        "filtered to viewer1's entries"
    );
}

#[tokio::test]
async fn operational_endpoints() {
    let app = app_with_users().await;
    let resp = app.get("/healthz", None).await;
    assert_eq!(body_text(resp).await, "ok");
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    app.get("/login", None).await;
    let metrics = body_text(app.get("/metrics", None).await).await;
    assert!(
        metrics.contains(
            "lhc_ops_http_requests_total{route=\"/login\",method=\"GET\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    assert!(metrics.contains("lhc_ops_audit_entries 5"), "{metrics}");
    assert!(
        metrics.contains("lhc_ops_change_requests{state=\"pending\"} 0"),
        "{metrics}"
    );
    let htmx = app.get("/static/vendor/htmx-2.0.11.min.js", None).await;
    assert_eq!(htmx.status(), StatusCode::OK);
    assert_eq!(
        app.get("/static/../Cargo.toml", None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn readyz_fails_when_the_store_is_gone() {
    let app = app_with_users().await;
    app.store().pool().close().await;
    let resp = app.get("/readyz", None).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(body_text(resp).await.contains("store"));
}

#[tokio::test]
async fn output_is_escaped() {
    let app = app_with_users().await;
    let s = app.login("viewer1").await;
    let page = body_text(
        app.get("/triage/%3Cscript%3Ealert(1)%3C%2Fscript%3E", Some(&s))
            .await,
    )
    .await;
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(
        page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"),
        "{page}"
    );
}
