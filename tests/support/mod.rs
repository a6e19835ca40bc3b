//! Test harness: builds the app on a real store (a SQLite file or a fresh MariaDB database),
//! drives it in-process with `tower::ServiceExt::oneshot`, logs users in, and serves it on a
//! real listener for the browser tests.

#![allow(dead_code, reason = "each test binary uses part of the harness")]

pub mod browser;

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use lhc_ops::AppState;
use lhc_ops::auth::{Org, Role, service};
use lhc_ops::config::{Config, ConfigSource, Dsn};
use lhc_ops::demo::mariadb::MariaDb;
use lhc_ops::store::Store;
use tower::ServiceExt;

/// The password every harness user gets.
pub const PASSWORD: &str = "correct-horse-battery";

/// Which backend a test's store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MariaDb,
}

/// The MariaDB server shared by a test binary (found or started once).
pub fn mariadb() -> &'static MariaDb {
    static SERVER: OnceLock<MariaDb> = OnceLock::new();
    SERVER.get_or_init(|| {
        // A throw-away mariadbd dies with the thread that started it, so that thread stays
        // parked for the life of the test process.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            tx.send(rt.block_on(MariaDb::find_or_start())).unwrap();
            loop {
                std::thread::park();
            }
        });
        rx.recv()
            .unwrap()
            .unwrap_or_else(|e| panic!("the MariaDB tests need a server: {e}"))
    })
}

/// A store on a fresh SQLite file or a fresh MariaDB database, kept alive with its files.
pub struct TestStore {
    pub store: Store,
    pub url: Dsn,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub async fn new(backend: Backend) -> TestStore {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = Dsn(format!(
                    "sqlite://{}",
                    dir.path().join("store/lhc-ops.db").display()
                ));
                let store = Store::open_migrated(&url).await.unwrap();
                TestStore {
                    store,
                    url,
                    _dir: Some(dir),
                }
            }
            Backend::MariaDb => {
                let url = Dsn(mariadb().create_database("lhcops_test").await.unwrap());
                let store = Store::open_migrated(&url).await.unwrap();
                TestStore {
                    store,
                    url,
                    _dir: None,
                }
            }
        }
    }
}

/// The app on a test store.
pub struct TestApp {
    pub state: AppState,
    pub router: axum::Router,
    pub db: TestStore,
}

/// A logged-in browser session: its cookie header and CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

impl TestApp {
    pub async fn new(backend: Backend) -> TestApp {
        TestApp::with_config(backend, Config::default()).await
    }

    pub async fn with_config(backend: Backend, mut config: Config) -> TestApp {
        let db = TestStore::new(backend).await;
        config.store.url = db.url.clone();
        let state = AppState::new(config, ConfigSource::Defaults, db.store.clone()).unwrap();
        let router = lhc_ops::app(state.clone())
            .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        TestApp { state, router, db }
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Creates a user with [`PASSWORD`].
    pub async fn user(&self, name: &str, role: Role, org: Org) {
        service::add_user(self.store(), "test", name, role, org, false, PASSWORD)
            .await
            .unwrap();
    }

    pub async fn send(&self, req: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(req).await.unwrap()
    }

    pub async fn get(&self, path: &str, session: Option<&Session>) -> Response<Body> {
        let mut b = Request::get(path);
        if let Some(s) = session {
            b = b.header(header::COOKIE, &s.cookie);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// POSTs a form; `fields` are url-encoded.
    pub async fn post_form(
        &self,
        path: &str,
        session: Option<&Session>,
        fields: &[(&str, &str)],
    ) -> Response<Body> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut b =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(s) = session {
            b = b.header(header::COOKIE, &s.cookie);
        }
        self.send(b.body(Body::from(body)).unwrap()).await
    }

    /// Logs in through `POST /login` and reads the CSRF token from the dashboard.
    pub async fn login(&self, name: &str) -> Session {
        self.try_login(name, PASSWORD)
            .await
            .unwrap_or_else(|r| panic!("login of {name} failed: {r}"))
    }

    pub async fn try_login(&self, name: &str, password: &str) -> Result<Session, StatusCode> {
        let resp = self
            .post_form(
                "/login",
                None,
                &[("username", name), ("password", password)],
            )
            .await;
        if resp.status() != StatusCode::SEE_OTHER {
            return Err(resp.status());
        }
        let set_cookie = resp
            .headers()
            .get(header::SET_COOKIE)
            .expect("login sets a cookie")
            .to_str()
            .unwrap();
        let cookie = set_cookie.split(';').next().unwrap().to_string();
        let page = body_text(
            self.get(
                "/",
                Some(&Session {
                    cookie: cookie.clone(),
                    csrf: String::new(),
                }),
            )
            .await,
        )
        .await;
        let csrf = extract_csrf(&page).expect("pages carry the CSRF token");
        Ok(Session { cookie, csrf })
    }
}

/// The value of the first `name="csrf_token" value="…"` field.
pub fn extract_csrf(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

pub async fn body_bytes(resp: Response<Body>) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

pub async fn body_text(resp: Response<Body>) -> String {
    String::from_utf8(body_bytes(resp).await).unwrap()
}

pub async fn body_json(resp: Response<Body>) -> serde_json::Value {
    let bytes = body_bytes(resp).await;
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// Serves the app on a real loopback listener; returns its base URL.
pub async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = lhc_ops::app(state).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

/// Runs a statement on the test store directly, as a SQL client would.
pub async fn sql(store: &Store, statement: &str) -> u64 {
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_string()))
        .execute(store.pool())
        .await
        .unwrap()
        .rows_affected()
}

impl Drop for TestStore {
    /// Drops the test's MariaDB database (SQLite files go with their temp dir).
    fn drop(&mut self) {
        if !self.url.expose().starts_with("mysql://") {
            return;
        }
        let url = self.url.expose().to_string();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(mariadb().drop_database(&url))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("warning: could not drop the test database: {e}");
        }
    }
}
