//! Finds or starts a MariaDB server for the test harness and for the demo sandbox.
//!
//! [`MariaDb::find_or_start`] is what the test harness uses: it honours
//! `LHC_OPS_TEST_MYSQL_URL` when set, otherwise uses a local server on
//! `127.0.0.1:3306` if one answers, and as a last resort starts a private,
//! throw-away `mariadbd` ([`MariaDb::start_ephemeral`]). The demo sandbox
//! always wants its own server and calls [`MariaDb::start_ephemeral`]
//! directly.
//!
//! A throw-away server lives in a fresh temporary directory (data directory,
//! socket, pid file, and `install-db.log` / `mariadbd.log` with the children's
//! stdout/stderr), is bound to the loopback interface only, and is killed —
//! and its directory removed — when the [`MariaDb`] value is dropped.
//!
//! Each test or sandbox gets its own database from
//! [`MariaDb::create_database`], so many of them can share one server.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Connection};
use tempfile::TempDir;

/// Environment variable naming an existing server for the test harness.
const ENV_URL: &str = "LHC_OPS_TEST_MYSQL_URL";
/// The conventional local server tried when [`ENV_URL`] is unset.
const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306";
/// How long a single connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `mariadb-install-db` may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a freshly started `mariadbd` may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Ports tried when a freshly picked free port was taken in the meantime.
const PORT_ATTEMPTS: usize = 3;
/// Lines of the server log quoted in start-up errors.
const LOG_TAIL_LINES: usize = 25;
/// Longest accepted database-name prefix (MariaDB allows 64 characters in total).
const MAX_PREFIX_LEN: usize = 48;
/// Directories searched for server binaries in addition to `PATH`.
const EXTRA_BIN_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"];
/// What to tell people who have no MariaDB at all.
const INSTALL_HINT: &str = "install it with `apt-get install mariadb-server`";

/// A reachable MariaDB (or MySQL) server, possibly one this value started.
#[derive(Debug)]
pub struct MariaDb {
    /// Server URL without database part and without query string.
    base_url: String,
    /// Query string of the original URL (`""` or `"?…"`), re-appended to database URLs.
    query: String,
    /// The throw-away server process, when this value started one.
    server: Option<EphemeralServer>,
}

/// A `mariadbd` child process together with the directory holding all of its files.
///
/// Fields drop in declaration order: the process is killed before the directory goes.
#[derive(Debug)]
struct EphemeralServer {
    /// Held only to be dropped: kills `mariadbd`.
    _process: KillOnDrop,
    /// Held only to be dropped (after `_process`): removes the directory.
    _dir: TempDir,
}

/// A child process that is killed and reaped when dropped, also when a start-up future is
/// cancelled half-way.
#[derive(Debug)]
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // The data is throw-away, so there is no point in a graceful shutdown.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl MariaDb {
    /// Test harness order: `LHC_OPS_TEST_MYSQL_URL` if set (must connect, else error), else
    /// `mysql://root@127.0.0.1:3306` if it answers, else [`MariaDb::start_ephemeral`].
    ///
    /// An empty `LHC_OPS_TEST_MYSQL_URL` counts as unset. A database part in that URL is
    /// ignored: databases are always created with [`MariaDb::create_database`].
    pub async fn find_or_start() -> Result<MariaDb, String> {
        match std::env::var(ENV_URL) {
            Ok(url) if !url.trim().is_empty() => {
                let url = url.trim();
                let db =
                    MariaDb::external(url).map_err(|e| format!("{ENV_URL} is invalid: {e}"))?;
                db.ping().await.map_err(|e| {
                    format!(
                        "{ENV_URL}={} is set, but connecting to it failed: {e} — start that \
                         server, fix the URL, or unset {ENV_URL} so the harness falls back to \
                         {DEFAULT_URL} or a throw-away mariadbd",
                        redact(url)
                    )
                })?;
                return Ok(db);
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(format!(
                    "{ENV_URL} is set but is not valid UTF-8 — set it to a URL such as \
                     {DEFAULT_URL} or unset it"
                ));
            }
            _ => {}
        }

        let local = MariaDb::external(DEFAULT_URL)?;
        let local_failure = match local.ping().await {
            Ok(()) => return Ok(local),
            Err(e) => e,
        };
        MariaDb::start_ephemeral().await.map_err(|e| {
            format!(
                "no MariaDB available: {ENV_URL} unset, nothing usable answers on \
                 127.0.0.1:3306 ({local_failure}), and {e}"
            )
        })
    }

    /// Always start a throw-away `mariadbd` in a fresh temporary directory.
    ///
    /// The data directory is initialised with `mariadb-install-db` (or `mysql_install_db`),
    /// with a password-less `root` account. The server listens on a free port of
    /// `127.0.0.1` only (`--bind-address=127.0.0.1`), keeps its socket and pid file in the
    /// temporary directory, runs with `--user=root` when the harness runs as root, and uses
    /// a small buffer pool. This waits (at most ~30 s) until the server accepts a
    /// connection. The process is killed and the directory removed on drop.
    pub async fn start_ephemeral() -> Result<MariaDb, String> {
        let server_bin = find_binary(&["mariadbd", "mysqld"]).ok_or_else(|| {
            format!(
                "mariadbd is not installed (looked in PATH and {}) — {INSTALL_HINT}",
                EXTRA_BIN_DIRS.join(", ")
            )
        })?;
        let install_bin =
            find_binary(&["mariadb-install-db", "mysql_install_db"]).ok_or_else(|| {
                format!(
                    "mariadb-install-db is not installed (looked in PATH and {}), so no data \
                     directory can be created for a throw-away mariadbd — {INSTALL_HINT}",
                    EXTRA_BIN_DIRS.join(", ")
                )
            })?;

        let dir = tempfile::Builder::new()
            .prefix("lhc-ops-mariadb-")
            .tempdir()
            .map_err(|e| {
                format!(
                    "cannot create a temporary directory for a throw-away mariadbd: {e} — \
                     check that TMPDIR (or /tmp) exists and is writable"
                )
            })?;
        let data_dir = dir.path().join("data");
        let install_log = dir.path().join("install-db.log");
        let log_path = dir.path().join("mariadbd.log");
        let as_root = running_as_root();

        install_data_dir(&install_bin, &data_dir, &install_log, as_root).await?;

        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let mut child = KillOnDrop(spawn_server(
                &server_bin,
                dir.path(),
                &data_dir,
                &log_path,
                port,
                as_root,
            )?);
            let base_url = format!("mysql://root@127.0.0.1:{port}");
            match wait_until_ready(&mut child.0, &base_url, &log_path).await {
                Ok(()) => {
                    return Ok(MariaDb {
                        base_url,
                        query: String::new(),
                        server: Some(EphemeralServer {
                            _process: child,
                            _dir: dir,
                        }),
                    });
                }
                // Someone grabbed the port between picking and binding it: try another.
                Err(Startup::PortTaken(e)) => last_error = e,
                Err(Startup::Failed(e)) => return Err(e),
            }
        }
        Err(last_error)
    }

    /// The server URL without a database part, e.g. `"mysql://root@127.0.0.1:40123"`.
    ///
    /// Any query string of `LHC_OPS_TEST_MYSQL_URL` is not part of this, but is kept in the
    /// URLs returned by [`MariaDb::create_database`].
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Create a fresh database named `{prefix}_{8 random hex digits}` (the prefix lowercased
    /// and sanitized to `[a-z0-9_]`) with character set `utf8mb4` and return its full URL.
    pub async fn create_database(&self, prefix: &str) -> Result<String, String> {
        let name = database_name(prefix);
        let mut conn = self.connect().await?;
        let sql =
            format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        let result = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
        let _ = conn.close().await;
        result.map_err(|e| {
            format!(
                "creating database `{name}` on {} failed: {e} — the account in the URL needs \
                 the CREATE privilege",
                redact(&self.base_url)
            )
        })?;
        Ok(format!("{}/{name}{}", self.base_url, self.query))
    }

    /// Drop a database previously created with [`MariaDb::create_database`] (best effort,
    /// used by test teardown).
    ///
    /// Refuses URLs of other servers and database names that `create_database` cannot have
    /// produced, so a mix-up cannot drop anything else.
    pub async fn drop_database(&self, url: &str) -> Result<(), String> {
        let without_query = url.split('?').next().unwrap_or(url);
        let name = without_query
            .strip_prefix(&self.base_url)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| {
                format!(
                    "refusing to drop {}: it is not a database URL of the server at {}",
                    redact(url),
                    redact(&self.base_url)
                )
            })?;
        if !is_generated_name(name) {
            return Err(format!(
                "refusing to drop database `{name}`: create_database never makes such a name \
                 (expected `prefix_` followed by 8 hex digits)"
            ));
        }
        let mut conn = self.connect().await?;
        let sql = format!("DROP DATABASE IF EXISTS `{name}`");
        let result = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
        let _ = conn.close().await;
        result.map(|_| ()).map_err(|e| {
            format!(
                "dropping database `{name}` on {} failed: {e} — the account in the URL needs \
                 the DROP privilege",
                redact(&self.base_url)
            )
        })
    }

    /// `true` when this value owns a `mariadbd` process it started.
    pub fn is_ephemeral(&self) -> bool {
        self.server.is_some()
    }

    /// A value for a server somebody else runs.
    fn external(url: &str) -> Result<MariaDb, String> {
        let (base_url, query) = split_url(url)?;
        Ok(MariaDb {
            base_url,
            query,
            server: None,
        })
    }

    /// URL used for server-level connections (no database, original query string).
    fn server_url(&self) -> String {
        format!("{}{}", self.base_url, self.query)
    }

    /// Open a server-level connection, with a timeout.
    async fn connect(&self) -> Result<MySqlConnection, String> {
        connect_once(&self.server_url()).await.map_err(|e| {
            format!(
                "connecting to MariaDB at {} failed: {e}",
                redact(&self.base_url)
            )
        })
    }

    /// Check that the server accepts the URL's credentials.
    async fn ping(&self) -> Result<(), String> {
        let conn = connect_once(&self.server_url()).await?;
        let _ = conn.close().await;
        Ok(())
    }
}

/// Why a start attempt failed.
enum Startup {
    /// The picked port was grabbed by someone else; worth another try.
    PortTaken(String),
    /// Anything else.
    Failed(String),
}

/// One connection attempt, bounded by [`CONNECT_TIMEOUT`].
async fn connect_once(url: &str) -> Result<MySqlConnection, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, MySqlConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
    }
}

/// Run `mariadb-install-db` into `data_dir`, logging to `log_path`.
async fn install_data_dir(
    install_bin: &Path,
    data_dir: &Path,
    log_path: &Path,
    as_root: bool,
) -> Result<(), String> {
    let (stdout, stderr) = log_files(log_path)?;
    let mut cmd = tokio::process::Command::new(install_bin);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data_dir.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--skip-name-resolve")
        .arg("--innodb-log-file-size=8M")
        .arg("--innodb-buffer-pool-size=32M");
    if as_root {
        cmd.arg("--user=root");
    }
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e} — {INSTALL_HINT}", install_bin.display()))?;
    let status = match tokio::time::timeout(INSTALL_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(format!("waiting for {} failed: {e}", install_bin.display())),
        Err(_) => {
            let _ = child.kill().await;
            return Err(format!(
                "{} did not finish within {} s{}",
                install_bin.display(),
                INSTALL_TIMEOUT.as_secs(),
                log_tail(log_path)
            ));
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({status}) while creating a data directory for a throw-away mariadbd \
             — check the log below, or point {ENV_URL} at a running server{}",
            install_bin.display(),
            log_tail(log_path)
        ))
    }
}

/// Start `mariadbd` on `127.0.0.1:port` with everything kept inside `dir`.
fn spawn_server(
    server_bin: &Path,
    dir: &Path,
    data_dir: &Path,
    log_path: &Path,
    port: u16,
    as_root: bool,
) -> Result<Child, String> {
    let (stdout, stderr) = log_files(log_path)?;
    let mut cmd = Command::new(server_bin);
    // `--no-defaults` must come first; it keeps /etc/mysql/*.cnf out of the picture.
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", data_dir.display()))
        .arg(format!("--tmpdir={}", dir.display()))
        .arg(format!("--socket={}", dir.join("mariadbd.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
        .arg(format!("--port={port}"))
        .arg("--skip-networking=0")
        .arg("--bind-address=127.0.0.1")
        .arg("--skip-name-resolve")
        .arg("--innodb-buffer-pool-size=32M")
        .arg("--innodb-log-file-size=8M")
        .arg("--innodb-flush-log-at-trx-commit=2")
        .arg("--character-set-server=utf8mb4")
        .arg("--collation-server=utf8mb4_unicode_ci");
    if as_root {
        cmd.arg("--user=root");
    }
    cmd.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    // The server must not outlive us, even when we are killed before `Drop` runs. The signal
    // follows the spawning thread, so callers keep that thread alive while the server runs.
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("cannot run {}: {e} — {INSTALL_HINT}", server_bin.display()))
}

/// Poll until the server accepts a connection, it exits, or [`STARTUP_TIMEOUT`] passes.
async fn wait_until_ready(
    child: &mut Child,
    base_url: &str,
    log_path: &Path,
) -> Result<(), Startup> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let tail = log_tail(log_path);
                let message = format!(
                    "mariadbd exited during start-up ({status}) — check the log below, or \
                     point {ENV_URL} at a running server{tail}"
                );
                let port_taken =
                    tail.contains("Address already in use") || tail.contains("Bind on TCP/IP port");
                return Err(if port_taken {
                    Startup::PortTaken(message)
                } else {
                    Startup::Failed(message)
                });
            }
            Ok(None) => {}
            Err(e) => return Err(Startup::Failed(format!("cannot watch mariadbd: {e}"))),
        }
        let last_error = match connect_once(base_url).await {
            Ok(conn) => {
                let _ = conn.close().await;
                return Ok(());
            }
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            // The caller's `KillOnDrop` ends the process.
            return Err(Startup::Failed(format!(
                "mariadbd did not accept connections on {base_url} within {} s (last error: \
                 {last_error}) — check the log below, or point {ENV_URL} at a running \
                 server{}",
                STARTUP_TIMEOUT.as_secs(),
                log_tail(log_path)
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A fresh (truncated) log file, as two handles for a child's stdout and stderr.
fn log_files(log_path: &Path) -> Result<(File, File), String> {
    let fail = |e: std::io::Error| format!("cannot create {}: {e}", log_path.display());
    let stdout = File::create(log_path).map_err(fail)?;
    let stderr = stdout.try_clone().map_err(fail)?;
    Ok((stdout, stderr))
}

/// The last lines of a child's log, formatted for appending to an error message.
fn log_tail(log_path: &Path) -> String {
    match std::fs::read(log_path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(LOG_TAIL_LINES);
            format!(
                "\n--- last lines of {} ---\n{}",
                log_path.display(),
                lines[start..].join("\n")
            )
        }
        Err(e) => format!("\n(no log: cannot read {}: {e})", log_path.display()),
    }
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1 for a throw-away mariadbd: {e}"))
}

/// Whether this process runs with effective uid 0 (`mariadbd` then needs `--user=root`).
fn running_as_root() -> bool {
    // /proc/self is owned by the effective uid of the process looking at it.
    std::fs::metadata("/proc/self")
        .map(|meta| meta.uid() == 0)
        .unwrap_or_else(|_| std::env::var("USER").is_ok_and(|user| user == "root"))
}

/// First executable named one of `names` in `PATH`, then in [`EXTRA_BIN_DIRS`].
fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path_dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect())
        .unwrap_or_default();
    let dirs: Vec<PathBuf> = path_dirs
        .into_iter()
        .chain(EXTRA_BIN_DIRS.iter().map(PathBuf::from))
        .collect();
    names.iter().find_map(|name| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

/// Whether `path` is a regular file with an execute bit set.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Split a server URL into (URL without database and query, query string incl. `?`).
fn split_url(url: &str) -> Result<(String, String), String> {
    let Some(scheme_end) = url.find("://") else {
        return Err(format!(
            "{} is not a URL — expected something like {DEFAULT_URL}",
            redact(url)
        ));
    };
    let scheme = &url[..scheme_end];
    if scheme != "mysql" && scheme != "mariadb" {
        return Err(format!(
            "{} has scheme `{scheme}` — expected mysql:// or mariadb://, e.g. {DEFAULT_URL}",
            redact(url)
        ));
    }
    let (without_query, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let authority_start = scheme_end + 3;
    let base = match without_query[authority_start..].find('/') {
        Some(i) => &without_query[..authority_start + i],
        None => without_query,
    };
    Ok((base.to_owned(), query.to_owned()))
}

/// `url` with any password replaced by `***`, for error messages.
fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..authority_start],
            &authority[..colon],
            &url[authority_start + at..]
        ),
        _ => url.to_owned(),
    }
}

/// `{sanitized prefix}_{8 random hex digits}`.
fn database_name(prefix: &str) -> String {
    let mut clean: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_PREFIX_LEN)
        .collect();
    if clean.is_empty() {
        clean.push_str("db");
    }
    format!("{clean}_{:08x}", rand::random::<u32>())
}

/// Whether `name` has the shape [`database_name`] produces.
fn is_generated_name(name: &str) -> bool {
    let Some((prefix, suffix)) = name.rsplit_once('_') else {
        return false;
    };
    !prefix.is_empty()
        && prefix.len() <= MAX_PREFIX_LEN
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && suffix.len() == 8
        && suffix
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}
