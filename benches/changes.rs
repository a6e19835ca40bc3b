//! Change-request figures on this machine, through the PINNED JSON API in-process (no network
//! between client and console; the lhcconsole target is a real MariaDB database):
//!
//! 1. submit → approve → execute of `lhc.mutex.release` for 200 services of 3 rows each;
//! 2. a service with 1,000 mutex rows: submission (preview) latency and size, the JSON and the
//!    HTML view of such a change.
//!
//! Every response is checked (status and content) and the target rows are checked at the end:
//! if anything did not do its work, the benchmark says what and exits non-zero. No figure is
//! asserted against a threshold.
//!
//! Run: `cargo bench --bench changes`. MariaDB as in the tests: `LHC_OPS_TEST_MYSQL_URL`, else
//! `127.0.0.1:3306`, else a throw-away `mariadbd`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use lhc_ops::AppState;
use lhc_ops::auth::{Org, Role, service};
use lhc_ops::config::{Config, ConfigSource, Dsn};
use lhc_ops::demo::mariadb::MariaDb;
use lhc_ops::store::Store;
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlPool;
use tower::ServiceExt;

const OPERATION: &str = "lhc.mutex.release";
const SERVICE_RES_TYPE: &str = "MULTI_CONTAINER_SERVICE";
const PASSWORD: &str = "bench-password-123";
const OPERATOR: &str = "bench.op";
const APPROVER: &str = "bench.prod";

/// Part 1: services and mutex rows per service.
const SERVICES: usize = 200;
const ROWS_PER_SERVICE: usize = 3;
/// Part 2: rows of the big service, rows per INSERT, submissions and page renders.
const BIG_ROWS: usize = 1000;
const BIG_BATCH: usize = 250;
const BIG_SUBMISSIONS: usize = 50;
const VIEWS: usize = 20;
const BIG_SERVICE: &str = "bench-big-service";
const WARMUP_SERVICE: &str = "bench-warmup-service";

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("benchmark failed: cannot build the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `block_on` runs on this (main) thread, so a throw-away mariadbd started here lives as
    // long as the process.
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nbenchmark FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let server = MariaDb::find_or_start()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the changes benchmark needs a MariaDB server")?;
    let target_url = server
        .create_database("bench")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let result = bench(&server, &target_url).await;
    if let Err(e) = server.drop_database(&target_url).await {
        eprintln!("warning: could not drop the benchmark database: {e}");
    }
    result
}

/// The console under test, its target database and the users' tokens.
struct Env {
    router: Router,
    store: Store,
    target: MySqlPool,
    operator_token: String,
    approver_token: String,
    _dir: tempfile::TempDir,
}

/// One response, read to the end.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response ({}) is not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            )
        })
    }

    /// Fails with the body quoted unless the status is `want`.
    fn expect(&self, want: StatusCode, what: &str) -> anyhow::Result<()> {
        ensure!(
            self.status == want,
            "{what}: expected {want}, got {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body[..self.body.len().min(1000)])
        );
        Ok(())
    }
}

impl Env {
    async fn new(target_url: &str) -> anyhow::Result<Env> {
        let target = MySqlPool::connect(target_url)
            .await
            .context("connecting to the benchmark database")?;
        sqlx::raw_sql(lhc_ops::demo::LHCCONSOLE_SCHEMA)
            .execute(&target)
            .await
            .context("loading the lhcconsole schema")?;

        let dir = tempfile::tempdir().context("creating a temporary directory for the store")?;
        let store_url = Dsn(format!(
            "sqlite://{}",
            dir.path().join("lhc-ops.db").display()
        ));
        let store = Store::open_migrated(&store_url)
            .await
            .context("opening the SQLite store")?;
        let mut config = Config::default();
        config.store.url = store_url;
        config.targets.lhcconsole.url = Dsn(target_url.to_string());
        let state = AppState::new(config, ConfigSource::Defaults, store.clone())?;
        let router =
            lhc_ops::app(state).layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));

        let mut tokens = Vec::new();
        for (name, role, org) in [
            (OPERATOR, Role::Operator, Org::Site),
            (APPROVER, Role::Approver, Org::Product),
        ] {
            service::add_user(&store, "bench", name, role, org, false, PASSWORD)
                .await
                .with_context(|| format!("adding user {name}"))?;
            tokens.push(
                service::create_token(&store, "bench", name, "bench")
                    .await
                    .with_context(|| format!("creating a token for {name}"))?,
            );
        }
        let approver_token = tokens.pop().expect("two tokens");
        let operator_token = tokens.pop().expect("two tokens");
        Ok(Env {
            router,
            store,
            target,
            operator_token,
            approver_token,
            _dir: dir,
        })
    }

    /// Sends a request and reads the whole body.
    async fn send(&self, req: Request<Body>) -> anyhow::Result<Reply> {
        let resp = self.router.clone().oneshot(req).await?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading a response body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn api(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let b = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let req = match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string()))?,
            None => b.body(Body::empty())?,
        };
        self.send(req).await
    }

    async fn submit(&self, service: &str) -> anyhow::Result<Reply> {
        self.api(
            &self.operator_token,
            "POST",
            "/api/v1/changes",
            Some(json!({
                "operation": OPERATION,
                "params": {"service": service},
                "reason": "发布单冲突，无法取消 (bench)",
            })),
        )
        .await
    }

    async fn approve(&self, id: i64) -> anyhow::Result<Reply> {
        self.api(
            &self.approver_token,
            "POST",
            &format!("/api/v1/changes/{id}/approvals"),
            Some(json!({"decision": "approve", "comment": "同意 (bench)"})),
        )
        .await
    }

    async fn execute(&self, id: i64) -> anyhow::Result<Reply> {
        self.api(
            &self.operator_token,
            "POST",
            &format!("/api/v1/changes/{id}/execute"),
            None,
        )
        .await
    }

    async fn count(&self, where_clause: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM lks_res_deploy_mutex WHERE {where_clause}"
        )))
        .fetch_one(&self.target)
        .await?)
    }

    /// Inserts mutex rows with realistic extra columns, `batch` rows per statement.
    async fn seed(&self, rows: &[MutexRow], batch: usize) -> anyhow::Result<()> {
        for chunk in rows.chunks(batch) {
            let mut sql = String::from(
                "INSERT INTO lks_res_deploy_mutex (tenant_id, workspace_id, ref_res_type, \
                 ref_resource, deploy_id, operator, lock_version, lease_seconds, ext_info, memo) \
                 VALUES ",
            );
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(",\n");
                }
                sql.push_str(&r.values());
            }
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&self.target)
                .await
                .context("seeding lks_res_deploy_mutex")?;
        }
        Ok(())
    }

    /// One submit → approve → execute with every response checked; the three step times.
    async fn round_trip(&self, service: &str, rows: usize) -> anyhow::Result<[Duration; 3]> {
        let t = Instant::now();
        let r = self.submit(service).await?;
        let submit = t.elapsed();
        r.expect(StatusCode::CREATED, &format!("submit for {service}"))?;
        let c = r.json()?;
        ensure!(
            c["state"] == "pending" && c["level"] == "G2",
            "submit for {service}: expected a pending G2 change, got state {} level {}",
            c["state"],
            c["level"]
        );
        ensure!(
            c["preview"]["count"] == rows,
            "submit for {service}: preview shows {} rows, expected {rows}",
            c["preview"]["count"]
        );
        let id = c["id"]
            .as_i64()
            .with_context(|| format!("submit for {service}: no id in the response"))?;

        let t = Instant::now();
        let r = self.approve(id).await?;
        let approve = t.elapsed();
        r.expect(StatusCode::OK, &format!("approval of change {id}"))?;
        let c = r.json()?;
        ensure!(
            c["state"] == "approved",
            "approval of change {id}: state is {}, expected approved",
            c["state"]
        );

        let t = Instant::now();
        let r = self.execute(id).await?;
        let execute = t.elapsed();
        r.expect(StatusCode::OK, &format!("execution of change {id}"))?;
        let c = r.json()?;
        ensure!(
            c["state"] == "executed" && c["outcome"]["affected"] == rows,
            "execution of change {id}: state {} affected {}, expected executed / {rows}",
            c["state"],
            c["outcome"]["affected"]
        );
        Ok([submit, approve, execute])
    }
}

/// A row of `lks_res_deploy_mutex` as a realistic deployment would have it.
struct MutexRow {
    res_type: &'static str,
    service: String,
    n: usize,
}

impl MutexRow {
    fn values(&self) -> String {
        let n = self.n;
        // Some rows leave the optional columns NULL, as real ones do.
        let workspace = if n % 7 == 3 {
            "NULL".to_string()
        } else {
            format!("'ws-prod-{}'", n % 4)
        };
        let lease = if n.is_multiple_of(5) {
            "NULL".to_string()
        } else {
            format!("{}.{:03}", 30 + n % 600, n % 1000)
        };
        let memo = match n % 3 {
            0 => "NULL".to_string(),
            1 => "''".to_string(),
            _ => format!("'发布单 {n} 卡在 \\'分批发布\\' 阶段，等待人工处理'"),
        };
        format!(
            "('tenant-{tenant}', {workspace}, '{res_type}', '{service}', 'dp-{service}-{n:04}', \
             '{operator}', {version}, {lease}, \
             '{{\"cell\": \"rz{cell:02}a\", \"batch\": {batch}, \"备注\": \"卡住\", \"hosts\": [\"10.0.{cell}.{host}\", \"10.0.{cell}.{host2}\"]}}', \
             {memo})",
            tenant = n % 3,
            res_type = self.res_type,
            service = self.service,
            operator = ["张三", "李四", "deploy-bot", "王五"][n % 4],
            version = n % 17,
            cell = n % 12,
            batch = n % 5 + 1,
            host = n % 250 + 1,
            host2 = (n + 1) % 250 + 1,
        )
    }
}

fn service_name(i: usize) -> String {
    format!("bench-svc-{i:03}")
}

fn rows_for(service: &str, res_type: &'static str, count: usize) -> Vec<MutexRow> {
    (0..count)
        .map(|n| MutexRow {
            res_type,
            service: service.to_string(),
            n,
        })
        .collect()
}

async fn bench(server: &MariaDb, target_url: &str) -> anyhow::Result<()> {
    let env = Env::new(target_url).await?;
    let version: String = sqlx::query_scalar("SELECT VERSION()")
        .fetch_one(&env.target)
        .await?;

    println!("== lhc-ops change-request benchmark ==");
    println!(
        "machine: nproc = {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "MariaDB: {} ({}), server {version}",
        if server.is_ephemeral() {
            "throw-away mariadbd started by the benchmark"
        } else if std::env::var("LHC_OPS_TEST_MYSQL_URL").is_ok_and(|u| !u.trim().is_empty()) {
            "existing server from LHC_OPS_TEST_MYSQL_URL"
        } else {
            "existing local server on 127.0.0.1:3306"
        },
        server.base_url().split('@').next_back().unwrap_or("?")
    );
    println!(
        "build: {} (debug_assertions {}), store: SQLite temp file, requests in-process via tower oneshot, tokio multi-thread runtime",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if cfg!(debug_assertions) { "on" } else { "off" }
    );

    part1(&env).await?;
    part2(&env).await?;

    let t = Instant::now();
    let verdict = lhc_ops::audit::verify(&env.store).await?;
    ensure!(
        matches!(verdict, lhc_ops::audit::Verdict::Ok { .. }),
        "the audit chain does not verify after the benchmark: {verdict:?}"
    );
    println!(
        "\naudit chain verified after the run in {} ({verdict:?})",
        ms(t.elapsed())
    );
    Ok(())
}

async fn part1(env: &Env) -> anyhow::Result<()> {
    println!(
        "\n-- 1. {OPERATION}: submit → approve → execute, {SERVICES} services × {ROWS_PER_SERVICE} rows --"
    );
    let mut rows = Vec::new();
    for i in 0..SERVICES {
        let name = service_name(i);
        rows.extend(rows_for(&name, SERVICE_RES_TYPE, ROWS_PER_SERVICE));
        // A row of another resource type with the same name must survive the release.
        rows.push(MutexRow {
            res_type: "OTHER_TYPE",
            service: name,
            n: i,
        });
    }
    rows.extend(rows_for(WARMUP_SERVICE, SERVICE_RES_TYPE, ROWS_PER_SERVICE));
    let t = Instant::now();
    env.seed(&rows, 200).await?;
    println!(
        "seeded {} rows ({} services × {ROWS_PER_SERVICE} + one OTHER_TYPE row each + warm-up) in {}",
        rows.len(),
        SERVICES,
        ms(t.elapsed())
    );

    // The first change opens the target pools; it is reported apart.
    let t = Instant::now();
    let [s, a, e] = env.round_trip(WARMUP_SERVICE, ROWS_PER_SERVICE).await?;
    println!(
        "warm-up (first change, cold pools): total {} = submit {} + approve {} + execute {}",
        ms(t.elapsed()),
        ms(s),
        ms(a),
        ms(e)
    );

    let mut submit = Vec::with_capacity(SERVICES);
    let mut approve = Vec::with_capacity(SERVICES);
    let mut execute = Vec::with_capacity(SERVICES);
    let mut total = Vec::with_capacity(SERVICES);
    let wall = Instant::now();
    for i in 0..SERVICES {
        let t = Instant::now();
        let [s, a, e] = env
            .round_trip(&service_name(i), ROWS_PER_SERVICE)
            .await
            .with_context(|| format!("change {} of {SERVICES}", i + 1))?;
        total.push(t.elapsed());
        submit.push(s);
        approve.push(a);
        execute.push(e);
    }
    let wall = wall.elapsed();

    let left = env
        .count(&format!(
            "ref_res_type = '{SERVICE_RES_TYPE}' AND ref_resource LIKE 'bench-svc-%'"
        ))
        .await?;
    ensure!(
        left == 0,
        "{left} {SERVICE_RES_TYPE} rows of the {SERVICES} released services are still there"
    );
    let others = env
        .count("ref_res_type = 'OTHER_TYPE' AND ref_resource LIKE 'bench-svc-%'")
        .await?;
    ensure!(
        others == SERVICES as i64,
        "{others} OTHER_TYPE rows left, expected all {SERVICES} untouched"
    );

    println!("{}", Stats::header());
    println!("{}", Stats::of("submit (201)", &submit).line());
    println!("{}", Stats::of("approve (200)", &approve).line());
    println!("{}", Stats::of("execute (200)", &execute).line());
    println!("{}", Stats::of("round trip", &total).line());
    println!(
        "{SERVICES} changes in {} sequentially: {:.1} changes/s; all {} target rows gone, {} OTHER_TYPE rows untouched",
        ms(wall),
        SERVICES as f64 / wall.as_secs_f64(),
        SERVICES * ROWS_PER_SERVICE,
        others
    );
    Ok(())
}

async fn part2(env: &Env) -> anyhow::Result<()> {
    println!("\n-- 2. preview of one service with {BIG_ROWS} mutex rows --");
    let rows = rows_for(BIG_SERVICE, SERVICE_RES_TYPE, BIG_ROWS);
    let t = Instant::now();
    env.seed(&rows, BIG_BATCH).await?;
    println!(
        "seeded {BIG_ROWS} rows in {} INSERTs of {BIG_BATCH} in {}",
        BIG_ROWS.div_ceil(BIG_BATCH),
        ms(t.elapsed())
    );

    let mut submit = Vec::with_capacity(BIG_SUBMISSIONS);
    let mut sizes = Vec::with_capacity(BIG_SUBMISSIONS);
    let mut first_id = None;
    for i in 0..BIG_SUBMISSIONS {
        let t = Instant::now();
        let r = env.submit(BIG_SERVICE).await?;
        submit.push(t.elapsed());
        r.expect(
            StatusCode::CREATED,
            &format!("submission {} for {BIG_SERVICE}", i + 1),
        )?;
        let c = r.json()?;
        let items = c["preview"]["items"].as_array().map_or(0, Vec::len);
        ensure!(
            c["preview"]["count"] == BIG_ROWS && items == BIG_ROWS,
            "submission {} for {BIG_SERVICE}: preview count {} with {items} items, expected {BIG_ROWS}",
            i + 1,
            c["preview"]["count"]
        );
        ensure!(
            c["state"] == "pending",
            "submission {}: state {}",
            i + 1,
            c["state"]
        );
        first_id = first_id.or(c["id"].as_i64());
        sizes.push(r.body.len());
    }
    let id = first_id.context("no change id from the big submissions")?;
    let still = env
        .count(&format!(
            "ref_res_type = '{SERVICE_RES_TYPE}' AND ref_resource = '{BIG_SERVICE}'"
        ))
        .await?;
    ensure!(
        still == BIG_ROWS as i64,
        "{still} rows of {BIG_SERVICE} after the submissions, expected {BIG_ROWS} (a preview must not change rows)"
    );

    let mut json_view = Vec::with_capacity(VIEWS);
    let mut json_size = 0;
    for i in 0..VIEWS {
        let t = Instant::now();
        let r = env
            .api(
                &env.operator_token,
                "GET",
                &format!("/api/v1/changes/{id}"),
                None,
            )
            .await?;
        json_view.push(t.elapsed());
        r.expect(
            StatusCode::OK,
            &format!("GET /api/v1/changes/{id} #{}", i + 1),
        )?;
        let c = r.json()?;
        ensure!(
            c["id"] == id && c["preview"]["count"] == BIG_ROWS,
            "GET /api/v1/changes/{id}: wrong change or preview count {}",
            c["preview"]["count"]
        );
        json_size = r.body.len();
    }

    let cookie = login(env, OPERATOR).await?;
    let mut html_view = Vec::with_capacity(VIEWS);
    let mut html_size = 0;
    let mut html_rows = 0;
    let last_deploy = format!("dp-{BIG_SERVICE}-{:04}", BIG_ROWS - 1);
    let mut has_last_row = false;
    for i in 0..VIEWS {
        let req = Request::get(format!("/changes/{id}"))
            .header(header::COOKIE, &cookie)
            .body(Body::empty())?;
        let t = Instant::now();
        let r = env.send(req).await?;
        html_view.push(t.elapsed());
        r.expect(StatusCode::OK, &format!("GET /changes/{id} #{}", i + 1))?;
        let content_type = r
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        ensure!(
            content_type.starts_with("text/html"),
            "GET /changes/{id}: content-type `{content_type}`, expected text/html"
        );
        let html = String::from_utf8_lossy(&r.body);
        ensure!(
            html.contains("<code id=\"digest\">"),
            "GET /changes/{id}: the page has no digest — not the change page?"
        );
        html_size = r.body.len();
        html_rows = html.matches("<tr>").count();
        has_last_row = html.contains(&last_deploy);
    }

    println!("{}", Stats::header());
    println!(
        "{}",
        Stats::of(&format!("submit, {BIG_ROWS} rows"), &submit).line()
    );
    println!(
        "{}",
        Stats::of("GET /api/v1/changes/{id}", &json_view).line()
    );
    println!("{}", Stats::of("GET /changes/{id} HTML", &html_view).line());
    let (min, max) = (
        sizes.iter().min().copied().unwrap_or(0),
        sizes.iter().max().copied().unwrap_or(0),
    );
    println!(
        "submit response: {} ({} B{}), {} B per preview row",
        kib(max),
        max,
        if min == max {
            String::new()
        } else {
            format!(", smallest {min} B")
        },
        max / BIG_ROWS
    );
    println!(
        "GET /api/v1/changes/{{id}} response: {} ({json_size} B)",
        kib(json_size)
    );
    println!(
        "GET /changes/{{id}} page: {} ({html_size} B), {html_rows} <tr> rows, last preview row {}",
        kib(html_size),
        if has_last_row { "present" } else { "MISSING" }
    );
    println!(
        "(p99 of {BIG_SUBMISSIONS} or {VIEWS} samples is the largest or second largest sample)"
    );
    Ok(())
}

/// Logs in through `POST /login`; the `lhc_session=…` cookie pair.
async fn login(env: &Env, name: &str) -> anyhow::Result<String> {
    let body = format!("username={name}&password={PASSWORD}");
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))?;
    let r = env.send(req).await?;
    r.expect(StatusCode::SEE_OTHER, &format!("login of {name}"))?;
    for v in r.headers.get_all(header::SET_COOKIE) {
        let pair = v.to_str()?.split(';').next().unwrap_or("").trim();
        if pair.starts_with("lhc_session=") {
            return Ok(pair.to_string());
        }
    }
    bail!("login of {name} set no lhc_session cookie")
}

/// Percentiles (nearest rank) of one step.
struct Stats {
    name: String,
    n: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    mean: Duration,
}

impl Stats {
    fn of(name: &str, samples: &[Duration]) -> Stats {
        let mut s = samples.to_vec();
        s.sort();
        let rank = |p: f64| {
            let i = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len().max(1));
            s.get(i - 1).copied().unwrap_or_default()
        };
        let sum: Duration = s.iter().sum();
        Stats {
            name: name.to_string(),
            n: s.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: s.last().copied().unwrap_or_default(),
            mean: sum / u32::try_from(s.len().max(1)).unwrap_or(u32::MAX),
        }
    }

    fn header() -> String {
        format!(
            "{:<28} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "step", "n", "p50", "p90", "p99", "max", "mean"
        )
    }

    fn line(&self) -> String {
        format!(
            "{:<28} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10}",
            self.name,
            self.n,
            ms(self.p50),
            ms(self.p90),
            ms(self.p99),
            ms(self.max),
            ms(self.mean)
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}
