//! `lhc-ops demo`: a self-contained sandbox on loopback — a temporary SQLite store and seeded
//! users of every role and org, printed with their passwords and the URL. Nothing outside
//! loopback is touched, and the store is deleted on exit.

pub mod listeners;
pub mod mariadb;

/// The sandbox's lhcconsole schema (also used by the tests).
pub const LHCCONSOLE_SCHEMA: &str = include_str!("lhcconsole.sql");
/// The sandbox's lhcconsole data: a stuck mutex and a running plan.
pub const LHCCONSOLE_SEED: &str = include_str!("lhcconsole_seed.sql");

/// Starts a throw-away MariaDB with a seeded lhcconsole database; returns the server (kept
/// alive by the caller) and the database URL, or why the sandbox database is unavailable.
pub async fn sandbox_lhcconsole() -> Result<(mariadb::MariaDb, String), String> {
    let server = mariadb::MariaDb::start_ephemeral().await?;
    let url = server.create_database("lhcconsole").await?;
    let pool = sqlx::MySqlPool::connect(&url)
        .await
        .map_err(|e| format!("connecting to the sandbox database: {e}"))?;
    for (what, sql) in [("schema", LHCCONSOLE_SCHEMA), ("data", LHCCONSOLE_SEED)] {
        sqlx::raw_sql(sql)
            .execute(&pool)
            .await
            .map_err(|e| format!("loading the sandbox {what}: {e}"))?;
    }
    pool.close().await;
    Ok((server, url))
}

use std::net::SocketAddr;

use anyhow::{Context, bail};

use crate::AppState;
use crate::auth::{Org, Role, password, service};
use crate::config::{Config, ConfigSource, Dsn};
use crate::store::Store;

/// A seeded account: name, role, org, emergency flag, what it is for.
pub const DEMO_USERS: &[(&str, Role, Org, bool, &str)] = &[
    (
        "op.zhang",
        Role::Operator,
        Org::Site,
        true,
        "驻场运维 (可紧急操作 break-glass)",
    ),
    ("op.li", Role::Operator, Org::Site, false, "驻场运维"),
    (
        "appr.product",
        Role::Approver,
        Org::Product,
        false,
        "产品侧审批人",
    ),
    (
        "appr.customer",
        Role::Approver,
        Org::Customer,
        false,
        "客户侧审批人",
    ),
    (
        "viewer.audit",
        Role::Viewer,
        Org::Customer,
        false,
        "客户审计员 (只读)",
    ),
    ("admin", Role::Admin, Org::Site, false, "控制台管理员"),
];

/// Creates the demo users with fresh passwords; returns (name, password) pairs.
pub async fn seed_users(store: &Store) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, role, org, emergency, _) in DEMO_USERS {
        let pw = password::generate();
        service::add_user(store, "demo", name, *role, *org, *emergency, &pw).await?;
        out.push((name.to_string(), pw));
    }
    Ok(out)
}

/// Runs the sandbox until interrupted.
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        bail!(
            "demo listens on loopback only; {listen} is not a loopback address (try 127.0.0.1:8080)"
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("lhc-ops-demo-")
        .tempdir()
        .context("creating the demo's temporary folder")?;
    let mut config = Config::default();
    config.server.listen = listen.to_string();
    config.store.url = Dsn(format!(
        "sqlite://{}",
        dir.path().join("lhc-ops.db").display()
    ));
    crate::telemetry::init(&config.log);

    let sandbox = sandbox_lhcconsole().await;
    if let Ok((_, url)) = &sandbox {
        config.targets.lhcconsole.url = Dsn(url.clone());
    }
    let (components, stand_ins) = listeners::spawn()
        .await
        .context("opening the simulated component ports on loopback")?;
    config.components = components;
    config.probes.interval_seconds = 5;
    config.probes.timeout_ms = 1000;
    let store = Store::open_migrated(&config.store.url).await?;
    let logins = seed_users(&store).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen} (in use? choose another with `lhc-ops demo --listen 127.0.0.1:PORT`)")
    })?;
    let url = format!("http://{}/", listener.local_addr()?);
    let mut state = AppState::new(config, ConfigSource::Defaults, store)?;
    let sandbox_line = match &sandbox {
        Ok((_, url)) => format!(
            "sandbox lhcconsole database: {url} (a stuck mutex for order-service, a RUNNING plan shuang_202103261537288405)"
        ),
        Err(why) => {
            let note = format!("the demo's sandbox lhcconsole database is unavailable: {why}");
            state = state.with_sandbox_note(note.clone());
            note
        }
    };
    crate::cli::record_config_loaded(&state).await?;

    println!("LHC 运维控制台 demo — {url}");
    println!(
        "temporary store: {} (deleted on exit)",
        dir.path().display()
    );
    println!(
        "simulated components on 127.0.0.1 / 127.0.0.2 (hub and opswareorch degraded, ldccore down), probed every 5 s"
    );
    println!("{sandbox_line}");
    println!();
    println!(
        "{:<15} {:<9} {:<9} {:<17} note",
        "user", "role", "org", "password"
    );
    for ((name, pw), (_, role, org, _, note)) in logins.iter().zip(DEMO_USERS) {
        println!(
            "{name:<15} {:<9} {:<9} {pw:<17} {note}",
            role.as_str(),
            org.as_str()
        );
    }
    println!();
    println!("Press Ctrl-C to stop.");
    let served = crate::cli::serve_on(listener, state).await;
    stand_ins.iter().for_each(|t| t.abort());
    drop(sandbox); // stops the sandbox mariadbd
    served
}
