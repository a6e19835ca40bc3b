//! A real headless browser for integration tests.
//!
//! [`Browser::start`] spawns a private `chromedriver` on a free loopback port;
//! [`Browser::session`] opens a fresh headless Chromium session through it,
//! driven with [`fantoccini`]. Every session gets its own empty profile
//! directory, so cookies (logins) never leak from one session to another,
//! and every session asks for Chinese pages (`Accept-Language: zh-CN`) unless
//! a test changes that itself.
//!
//! Close sessions with [`fantoccini::Client::close`] when done. Dropping the
//! [`Browser`] asks chromedriver to shut down (which quits any browsers still
//! open), kills it if it does not, and then removes the profile directories.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`.

#![allow(
    dead_code,
    reason = "every test binary compiles this module but may use only part of it"
)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use tempfile::TempDir;

/// What to tell people who lack the browser.
const INSTALL_HINT: &str = "install them with `apt-get install chromium chromium-driver`";
/// How long chromedriver may take to answer `/status`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long chromedriver may take to exit after `/shutdown`.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Ports tried when a freshly picked free port was taken in the meantime.
const PORT_ATTEMPTS: usize = 3;
/// Lines of the chromedriver log quoted in panics.
const LOG_TAIL_LINES: usize = 25;

/// Chromium command-line switches used for every session (plus `--user-data-dir`).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
    "--lang=zh-CN",
];

/// A running `chromedriver` that hands out isolated headless Chromium sessions.
#[derive(Debug)]
pub struct Browser {
    /// The chromedriver process.
    chromedriver: Child,
    /// The loopback port chromedriver listens on.
    port: u16,
    /// The Chromium binary sessions run.
    chromium: PathBuf,
    /// Holds `chromedriver.log`.
    log_dir: TempDir,
    /// One profile (`--user-data-dir`) per session, removed when the browser is dropped.
    profiles: Mutex<Vec<TempDir>>,
}

impl Browser {
    /// Spawn `chromedriver --port=<free port>` (from `/usr/bin/chromedriver` or `PATH`) and
    /// wait until its `/status` answers (at most ~20 s).
    ///
    /// # Panics
    ///
    /// When chromedriver or Chromium is not installed (the message names
    /// `apt-get install chromium chromium-driver`), or chromedriver does not come up.
    pub async fn start() -> Browser {
        let chromedriver =
            find_binary("/usr/bin/chromedriver", &["chromedriver"]).unwrap_or_else(|| {
                panic!(
                    "chromedriver is not installed (looked at /usr/bin/chromedriver and in \
                     PATH) — {INSTALL_HINT}"
                )
            });
        let chromium = find_binary("/usr/bin/chromium", &["chromium", "chromium-browser"])
            .unwrap_or_else(|| {
                panic!(
                    "chromium is not installed (looked at /usr/bin/chromium and in PATH) — \
                     {INSTALL_HINT}"
                )
            });
        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let log_dir = tempfile::Builder::new()
                .prefix("lhc-ops-chromedriver-")
                .tempdir()
                .unwrap_or_else(|e| {
                    panic!("cannot create a temporary directory for chromedriver: {e}")
                });
            let log_path = log_dir.path().join("chromedriver.log");
            let log = std::fs::File::create(&log_path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
            let log_err = log
                .try_clone()
                .unwrap_or_else(|e| panic!("cannot duplicate {}: {e}", log_path.display()));
            let child = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {}: {e} — {INSTALL_HINT}",
                        chromedriver.display()
                    )
                });
            // Built before waiting, so that `Drop` cleans up even if this future is cancelled.
            let mut browser = Browser {
                chromedriver: child,
                port,
                chromium: chromium.clone(),
                log_dir,
                profiles: Mutex::new(Vec::new()),
            };
            match browser.wait_until_ready().await {
                Ok(()) => return browser,
                // Most likely the port was taken in the meantime: try another one.
                Err(e) => last_error = e,
            }
        }
        panic!("{last_error}");
    }

    /// A new, isolated headless Chromium session with its own empty profile directory,
    /// so cookies are not shared between sessions. Pages are requested with
    /// `Accept-Language: zh-CN`.
    ///
    /// # Panics
    ///
    /// When chromedriver cannot start the session (the message quotes its log).
    pub async fn session(&self) -> Client {
        let profile = tempfile::Builder::new()
            .prefix("lhc-ops-chromium-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a Chromium profile directory: {e}"));
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|&arg| arg.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": args,
                "prefs": { "intl": { "accept_languages": "zh-CN" } },
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("json! of an object literal is an object")
        };
        self.profiles
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(profile);

        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver on port {} could not start a {} session: {e}{}",
                    self.port,
                    self.chromium.display(),
                    self.log_tail()
                )
            })
    }

    /// Poll `/status` until chromedriver is ready, it exits, or [`STARTUP_TIMEOUT`] passes.
    async fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.chromedriver.try_wait() {
                return Err(format!(
                    "chromedriver exited during start-up ({status}) — {INSTALL_HINT}, or check \
                     the log{}",
                    self.log_tail()
                ));
            }
            let port = self.port;
            let answer = tokio::task::spawn_blocking(move || http_get(port, "/status"))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            if matches!(&answer, Ok(response) if response.contains("\"ready\":true")) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let answer = match answer {
                    Ok(response) => response,
                    Err(e) => e.to_string(),
                };
                return Err(format!(
                    "chromedriver on port {port} is not ready after {} s (last answer to \
                     /status: {answer}){}",
                    STARTUP_TIMEOUT.as_secs(),
                    self.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stop chromedriver: `/shutdown` quits the browsers it started; kill it if it lingers.
    fn stop(&mut self) {
        if matches!(self.chromedriver.try_wait(), Ok(None)) {
            let _ = http_get(self.port, "/shutdown");
            let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
            while matches!(self.chromedriver.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }

    /// The last lines of `chromedriver.log`, formatted for appending to a message.
    fn log_tail(&self) -> String {
        let path = self.log_dir.path().join("chromedriver.log");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let lines: Vec<&str> = text.lines().collect();
                let start = lines.len().saturating_sub(LOG_TAIL_LINES);
                format!(
                    "\n--- last lines of {} ---\n{}",
                    path.display(),
                    lines[start..].join("\n")
                )
            }
            Err(e) => format!("\n(no log: cannot read {}: {e})", path.display()),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop();
        // The profile directories go after the browsers using them have quit.
    }
}

/// A minimal blocking HTTP/1.1 GET against chromedriver on `127.0.0.1:port`; returns the
/// raw response. Reads up to `Content-Length`, because chromedriver keeps the connection
/// open despite `Connection: close`.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        if response_complete(&response) {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// Whether `response` holds the headers and a body as long as its `Content-Length`.
fn response_complete(response: &[u8]) -> bool {
    let Some(header_end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let headers = String::from_utf8_lossy(&response[..header_end]);
    let content_length = headers.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse::<usize>().ok()
        } else {
            None
        }
    });
    content_length.is_some_and(|len| response.len() >= header_end + 4 + len)
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("cannot find a free port on 127.0.0.1 for chromedriver: {e}"))
}

/// `preferred` if it is executable, else the first of `names` found in `PATH`.
fn find_binary(preferred: &str, names: &[&str]) -> Option<PathBuf> {
    if is_executable(Path::new(preferred)) {
        return Some(PathBuf::from(preferred));
    }
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    names.iter().find_map(|name| {
        dirs.iter()
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

/// Whether `path` is (or links to) a regular file with an execute bit set.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Waits (up to 10 s) for an element matching `css`.
pub async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
}

/// Fills and submits the login form.
pub async fn submit_login(c: &Client, base: &str, name: &str, password: &str) {
    use fantoccini::Locator;
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
pub async fn screenshot(c: &Client, name: &str) {
    if let Ok(dir) = std::env::var("LHC_OPS_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}
