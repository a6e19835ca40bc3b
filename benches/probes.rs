//! Prober figures on this machine: one scheduler sweep over 5,000 loopback endpoints, then the
//! same 4,500 TCP targets through our prober and through Debian's Prometheus blackbox exporter.
//!
//! Endpoints: 50 addresses 127.0.1.1–127.0.1.50 × 100 ports each, served by a child process (this
//! same binary re-executed with [`ENDPOINTS_ARG`]) so that the server side's CPU is not counted
//! in ours (nor in the exporter's). Of each address's 100 ports, 90 accept and close (probed with
//! TCP checks) and 10 are "black-holed": they accept the connection and read the request but
//! never send a byte back, probed with HTTP checks, so each costs the full 2 s timeout. (A TCP
//! connect check succeeds as soon as the handshake completes, so it cannot be black-holed on
//! loopback without dropping SYNs, which needs a firewall rule; this bench does not touch one.)
//!
//! Inventory: 50 components × 1 host × 100 checks (90 tcp + 10 http), probes config
//! `interval_seconds = 60, timeout_ms = 2000, concurrency = 256` (other fields default).
//!
//! 1. One sweep as `Monitor::run` does it: each target spawned to sleep until
//!    `started + monitor.offset(t, jitter)` (the same jitter formula, sweep 0), then take a permit
//!    of the 256-permit semaphore, then `probe_target` (which records and persists transitions to
//!    a SQLite store on a temp file). FAIL (exit 1) if the sweep does not end within the 60 s
//!    interval or the ok / timeout counts are off.
//! 2. a) The 4,500 TCP targets as fast as the semaphore allows (no schedule spread), same
//!    monitor (already up: no transitions to persist), 3 rounds — our TCP probes per CPU-second;
//!    b) the same on a fresh monitor, where all 4,500 checks turn up and are persisted.
//! 3. The same 4,500 TCP targets through `GET /probe?module=tcp_connect&target=…` of
//!    `prometheus-blackbox-exporter` (Debian package) at the same concurrency, 3 rounds; its CPU
//!    from `/proc/<pid>/stat` — its probes per CPU-second and the ratio to 2a.
//! 4. `Monitor::snapshot` cost for 5,000 slots as the hourly aggregates fill up (720 and 3,600
//!    samples per slot, synthetic `record` calls), and 4b: the 2a run again while two tasks take
//!    snapshots back to back, with a 1 ms ticker measuring timer lateness.
//!
//! Loopback only; every wait is bounded; the child process and the exporter are killed at the end.
//! Run: `cargo bench --bench probes`.

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::body::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lhc_ops::config::{Dsn, ProbesConfig};
use lhc_ops::health::inventory::{CheckSpec, ComponentSpec};
use lhc_ops::health::monitor::{Monitor, Target};
use lhc_ops::health::probe::ProbeResult;
use lhc_ops::store::Store;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

/// argv[1] that makes this binary serve the endpoints instead of benchmarking.
const ENDPOINTS_ARG: &str = "__lhc_ops_bench_endpoints";
const ADDRESSES: u8 = 50;
const PORTS_PER_ADDRESS: usize = 100;
/// Every tenth port is black-holed (an HTTP check that never gets an answer).
const SILENT_EVERY: usize = 10;
const INTERVAL_S: i64 = 60;
const TIMEOUT_MS: i64 = 2000;
const CONCURRENCY: i64 = 256;
/// File descriptors wanted: the child holds 5,000 listeners plus accepted sockets.
const NOFILE_NEEDED: u64 = 8192;
/// The child serves at most this long, whatever happens to the parent.
const CHILD_LIFETIME: Duration = Duration::from_secs(600);
const EXPORTER_PACKAGE: &str = "prometheus-blackbox-exporter";
/// Rounds of the back-to-back TCP runs (ours and the exporter's), added up for the comparison.
const ROUNDS: u32 = 3;

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(ENDPOINTS_ARG) {
        return match serve_endpoints() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("endpoint server failed: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
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
    match runtime.block_on(run()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("\nbenchmark FAILED (see FAIL above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("\nbenchmark FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoint server (child process).

/// Binds every endpoint, prints `L <ip> <port> <close|silent>` per endpoint then `READY`, and
/// serves until standard input closes or [`CHILD_LIFETIME`] passes.
fn serve_endpoints() -> anyhow::Result<()> {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut out = std::io::stdout().lock();
        for a in 1..=ADDRESSES {
            let ip = Ipv4Addr::new(127, 0, 1, a);
            for k in 0..PORTS_PER_ADDRESS {
                let silent = k % SILENT_EVERY == SILENT_EVERY - 1;
                let listener = tokio::net::TcpListener::bind((ip, 0))
                    .await
                    .with_context(|| format!("binding {ip}:0"))?;
                let port = listener.local_addr()?.port();
                writeln!(
                    out,
                    "L {ip} {port} {}",
                    if silent { "silent" } else { "close" }
                )?;
                tokio::spawn(async move {
                    loop {
                        let Ok((mut sock, _)) = listener.accept().await else {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        if silent {
                            // Read the request and whatever follows until the prober gives up
                            // and closes; never answer.
                            tokio::spawn(async move {
                                let mut buf = [0u8; 1024];
                                let _ = tokio::time::timeout(Duration::from_secs(30), async {
                                    while let Ok(n) = sock.read(&mut buf).await {
                                        if n == 0 {
                                            break;
                                        }
                                    }
                                })
                                .await;
                            });
                        } else {
                            drop(sock);
                        }
                    }
                });
            }
        }
        writeln!(out, "READY")?;
        out.flush()?;
        drop(out);
        tokio::time::sleep(CHILD_LIFETIME).await;
        anyhow::Ok(())
    })
}

/// One endpoint as the child reported it.
#[derive(Clone, Debug)]
struct Endpoint {
    ip: Ipv4Addr,
    port: u16,
    silent: bool,
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(Child, &'static str);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        eprintln!("({} pid {} stopped)", self.1, self.0.id());
    }
}

fn start_endpoints() -> anyhow::Result<(KillOnDrop, Vec<Endpoint>)> {
    let exe = std::env::current_exe().context("locating the bench binary")?;
    let mut child = Command::new(exe)
        .arg(ENDPOINTS_ARG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the endpoint server child")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let guard = KillOnDrop(child, "endpoint server");
    let mut endpoints = Vec::new();
    // The child binds 5,000 sockets and prints as it goes; it ends itself after CHILD_LIFETIME,
    // so this read is bounded.
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the endpoint list")?;
        if line == "READY" {
            return Ok((guard, endpoints));
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            f.len() == 4 && f[0] == "L",
            "unexpected line from the child: {line:?}"
        );
        endpoints.push(Endpoint {
            ip: f[1].parse()?,
            port: f[2].parse()?,
            silent: f[3] == "silent",
        });
    }
    bail!(
        "the endpoint server exited before it was ready ({} endpoints bound)",
        endpoints.len()
    )
}

// ---------------------------------------------------------------------------------------------
// Process figures.

fn nofile_limit() -> anyhow::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) };
    ensure!(rc == 0, "getrlimit(RLIMIT_NOFILE) failed");
    Ok((r.rlim_cur, r.rlim_max))
}

/// Prints RLIMIT_NOFILE and raises the soft limit to [`NOFILE_NEEDED`] if needed and allowed.
fn ensure_nofile() -> anyhow::Result<()> {
    let (soft, hard) = nofile_limit()?;
    println!("RLIMIT_NOFILE: soft {soft}, hard {hard} (needed {NOFILE_NEEDED})");
    if soft >= NOFILE_NEEDED {
        return Ok(());
    }
    ensure!(
        hard >= NOFILE_NEEDED,
        "RLIMIT_NOFILE hard limit {hard} is below the {NOFILE_NEEDED} descriptors this bench needs \
         (5,000 listeners + their connections): raise it (ulimit -Hn) and run again"
    );
    let r = libc::rlimit {
        rlim_cur: NOFILE_NEEDED,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the struct we own.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) };
    ensure!(
        rc == 0,
        "setrlimit(RLIMIT_NOFILE, {NOFILE_NEEDED}) failed: {}",
        std::io::Error::last_os_error()
    );
    println!("raised the soft RLIMIT_NOFILE to {NOFILE_NEEDED}");
    Ok(())
}

/// User + system CPU time of this process.
fn cpu_self() -> Duration {
    // SAFETY: zeroed rusage is a valid value; getrusage fills it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// utime + stime of another process, from `/proc/<pid>/stat`.
fn cpu_of(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc/<pid>/stat")?;
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).context("no utime")?.parse::<u64>()?
        + f.get(12).context("no stime")?.parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_secs_f64(ticks as f64 / hz as f64))
}

/// A `Vm…` line of `/proc/<pid>/status`, e.g. `VmHWM`.
fn vm(pid: &str, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l[key.len() + 1..].trim().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

/// What one probe of the sweep did.
struct Sample {
    target: Target,
    /// Scheduled start, from the sweep start.
    scheduled: Duration,
    /// Timer wake-up − scheduled start.
    wake_late: Duration,
    /// Actual start (permit taken, `probe_target` called) − scheduled start.
    lateness: Duration,
    /// Start of the probe, from the sweep start.
    began: Duration,
    /// End of `probe_target` (recorded and persisted), from the sweep start.
    completed: Duration,
    result: ProbeResult,
}

fn inventory(endpoints: &[Endpoint]) -> Vec<ComponentSpec> {
    let mut by_ip: Vec<(Ipv4Addr, Vec<&Endpoint>)> = Vec::new();
    for e in endpoints {
        match by_ip.iter_mut().find(|(ip, _)| *ip == e.ip) {
            Some((_, v)) => v.push(e),
            None => by_ip.push((e.ip, vec![e])),
        }
    }
    by_ip
        .into_iter()
        .enumerate()
        .map(|(i, (ip, eps))| ComponentSpec {
            name: format!("bench-c{:02}", i + 1),
            hosts: vec![ip.to_string()],
            checks: eps
                .iter()
                .map(|e| {
                    if e.silent {
                        CheckSpec::Http {
                            port: e.port,
                            path: "/".into(),
                            expect_status: vec![200],
                            body_contains: None,
                        }
                    } else {
                        CheckSpec::Tcp { port: e.port }
                    }
                })
                .collect(),
            impact_down: ("基准测试组件不可用".into(), "bench component down".into()),
        })
        .collect()
}

async fn run() -> anyhow::Result<bool> {
    println!("== lhc-ops prober benchmark ==");
    println!(
        "machine: nproc = {}; build: {} (debug_assertions {}); tokio multi-thread runtime",
        nproc(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        if cfg!(debug_assertions) { "on" } else { "off" }
    );
    ensure_nofile()?;

    let t = Instant::now();
    let (endpoints_child, endpoints) = start_endpoints()?;
    let silent = endpoints.iter().filter(|e| e.silent).count();
    ensure!(
        endpoints.len() == usize::from(ADDRESSES) * PORTS_PER_ADDRESS,
        "the child bound {} endpoints, expected {}",
        endpoints.len(),
        usize::from(ADDRESSES) * PORTS_PER_ADDRESS
    );
    println!(
        "endpoints: {} on 127.0.1.1–127.0.1.{ADDRESSES} × {PORTS_PER_ADDRESS} ports, served by a child process (pid {}), bound in {}",
        endpoints.len(),
        endpoints_child.0.id(),
        ms(t.elapsed())
    );
    println!(
        "  {} accept-and-close endpoints probed by TCP checks; {silent} black-holed endpoints \
         (accept the connection, read the request, never answer) probed by HTTP checks — each costs the full timeout",
        endpoints.len() - silent
    );

    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let store_url = Dsn(format!(
        "sqlite://{}",
        dir.path().join("lhc-ops.db").display()
    ));
    let store = Store::open_migrated(&store_url)
        .await
        .context("opening the SQLite store")?;
    let settings = ProbesConfig {
        interval_seconds: INTERVAL_S,
        timeout_ms: TIMEOUT_MS,
        concurrency: CONCURRENCY,
        ..ProbesConfig::default()
    };
    let inv = inventory(&endpoints);
    println!(
        "inventory: {} components × 1 host × {PORTS_PER_ADDRESS} checks ({} tcp + {} http each); \
         probes: interval {INTERVAL_S} s, timeout {TIMEOUT_MS} ms, concurrency {CONCURRENCY}, failure_threshold {}, success_threshold {}; store: SQLite temp file",
        inv.len(),
        PORTS_PER_ADDRESS - PORTS_PER_ADDRESS / SILENT_EVERY,
        PORTS_PER_ADDRESS / SILENT_EVERY,
        settings.failure_threshold,
        settings.success_threshold,
    );
    let monitor = Arc::new(Monitor::new(inv, settings));

    let mut pass = sweep(&monitor, &store).await?;
    let (ours, ok) = fast_tcp(&monitor, &store).await?;
    pass &= ok;
    let theirs = exporter(&endpoints, dir.path()).await?;
    pass &= theirs.ok == theirs.probes;

    println!(
        "\n-- comparison: TCP connect probes of the same 4,500 targets, concurrency {CONCURRENCY}, {ROUNDS} rounds each, summed --"
    );
    println!(
        "{:<34} {:>9} {:>10} {:>12} {:>14}",
        "", "wall", "CPU", "probes/s", "probes/CPU-s"
    );
    for (name, r) in [
        ("lhc-ops probe_target", &ours),
        ("blackbox exporter /probe", &theirs),
    ] {
        println!(
            "{:<34} {:>9} {:>10} {:>12.0} {:>14.0}",
            name,
            secs(r.wall),
            secs(r.cpu),
            r.probes as f64 / r.wall.as_secs_f64(),
            r.per_cpu_s()
        );
    }
    println!(
        "ratio (lhc-ops TCP probes per CPU-second ÷ exporter's): {:.2}",
        ours.per_cpu_s() / theirs.per_cpu_s()
    );
    println!(
        "(ours: this process's CPU, probing in-process; exporter: its own process's CPU serving /probe over HTTP, \
         our HTTP client's CPU not counted; the endpoints' CPU is in neither)"
    );

    pass &= snapshot_cost(&monitor, &store, &ours).await?;
    println!(
        "\nendpoint server child: CPU {} over the whole run, VmHWM {}",
        cpu_of(endpoints_child.0.id()).map_or("?".into(), secs),
        vm(&endpoints_child.0.id().to_string(), "VmHWM:")
    );
    drop(endpoints_child);
    if pass {
        println!("\nRESULT: PASS");
    } else {
        println!("\nRESULT: FAIL");
    }
    Ok(pass)
}

/// Part 1: one sweep as the scheduler runs it.
async fn sweep(monitor: &Arc<Monitor>, store: &Store) -> anyhow::Result<bool> {
    println!(
        "\n-- 1. one scheduler sweep of {} targets (as Monitor::run, sweep 0) --",
        monitor.targets().len()
    );
    let interval = Duration::from_secs(INTERVAL_S as u64);
    let permits = Arc::new(Semaphore::new(CONCURRENCY as usize));
    let sweep_no: u64 = 0;
    let cpu0 = cpu_self();
    let started = tokio::time::Instant::now();
    let mut handles = Vec::new();
    let mut last_offset = Duration::ZERO;
    for t in monitor.targets() {
        let jitter = (sweep_no.wrapping_mul(7919) + t.check as u64 * 131) % 997;
        let offset = monitor.offset(t, jitter);
        last_offset = last_offset.max(offset);
        let at = started + offset;
        let (me, store, permits) = (monitor.clone(), store.clone(), permits.clone());
        handles.push(tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            let woke = tokio::time::Instant::now();
            let _permit = permits.acquire_owned().await.ok()?;
            let began = tokio::time::Instant::now();
            let result = me.probe_target(&store, t).await;
            let completed = tokio::time::Instant::now();
            Some(Sample {
                target: t,
                scheduled: offset,
                wake_late: woke.saturating_duration_since(at),
                lateness: began.saturating_duration_since(at),
                began: began - started,
                completed: completed - started,
                result,
            })
        }));
    }
    let spawn_time = started.elapsed();
    let n = handles.len();
    let collect = async {
        let mut out = Vec::with_capacity(n);
        for h in handles {
            if let Some(s) = h.await.context("a probe task panicked")? {
                out.push(s);
            }
        }
        anyhow::Ok(out)
    };
    let samples = tokio::time::timeout(interval + Duration::from_secs(30), collect)
        .await
        .context("the sweep did not finish within interval + 30 s")??;
    let cpu = cpu_self() - cpu0;
    ensure!(
        samples.len() == n,
        "{} of {n} probes ran (semaphore closed?)",
        samples.len()
    );
    let wall = samples
        .iter()
        .map(|s| s.completed)
        .max()
        .unwrap_or_default();

    let is_tcp = |t: Target| monitor.inventory()[t.component].checks[t.check].kind() == "tcp";
    let tcp_ok = samples
        .iter()
        .filter(|s| is_tcp(s.target) && s.result.ok)
        .count();
    let tcp_n = samples.iter().filter(|s| is_tcp(s.target)).count();
    let http_n = n - tcp_n;
    let http_timeouts = samples
        .iter()
        .filter(|s| !is_tcp(s.target) && !s.result.ok)
        .filter(|s| {
            s.result
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("no answer within"))
        })
        .count();
    let http_ok = samples
        .iter()
        .filter(|s| !is_tcp(s.target) && s.result.ok)
        .count();
    let ok = samples.iter().filter(|s| s.result.ok).count();
    let mut errors: Vec<(String, usize)> = Vec::new();
    for s in samples.iter().filter(|s| !s.result.ok) {
        let e = s.result.error.clone().unwrap_or_default();
        match errors.iter_mut().find(|(k, _)| *k == e) {
            Some((_, c)) => *c += 1,
            None => errors.push((e, 1)),
        }
    }

    let late: Vec<Duration> = samples.iter().map(|s| s.lateness).collect();
    let wake: Vec<Duration> = samples.iter().map(|s| s.wake_late).collect();
    let ok_latency: Vec<Duration> = samples
        .iter()
        .filter(|s| s.result.ok)
        .map(|s| Duration::from_secs_f64(s.result.latency_ms / 1000.0))
        .collect();
    // Peak number of probes in flight, from the start and end times.
    let mut events: Vec<(Duration, i32)> = samples
        .iter()
        .flat_map(|s| [(s.began, 1), (s.completed, -1)])
        .collect();
    events.sort();
    let (mut in_flight, mut peak) = (0, 0);
    for (_, d) in events {
        in_flight += d;
        peak = peak.max(in_flight);
    }
    let last_black_hole = samples
        .iter()
        .filter(|s| !is_tcp(s.target))
        .map(|s| s.scheduled)
        .max()
        .unwrap_or_default();

    let transitions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM probe_transitions")
        .fetch_one(store.pool())
        .await?;
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'probe.state_changed'")
            .fetch_one(store.pool())
            .await
            .unwrap_or(-1);

    println!(
        "spawned {n} tasks in {}; latest scheduled start {} (spread = interval − timeout − interval/10 = {} s); latest black-holed start {}",
        ms(spawn_time),
        secs(last_offset),
        INTERVAL_S - TIMEOUT_MS / 1000 - INTERVAL_S / 10,
        secs(last_black_hole)
    );
    let within = wall < interval;
    println!(
        "sweep wall time (sweep start → last probe_target returned): {} — {} (interval {INTERVAL_S} s)",
        secs(wall),
        if within {
            "PASS, within the interval"
        } else {
            "FAIL, longer than the interval"
        }
    );
    println!(
        "CPU (getrusage RUSAGE_SELF utime+stime) during the sweep: {} → {:.0} probes per CPU-second; \
         {:.1} probes per wall-second per core ({n} / {} / {} cores; bounded by the schedule, not the CPU)",
        secs(cpu),
        n as f64 / cpu.as_secs_f64(),
        n as f64 / wall.as_secs_f64() / nproc() as f64,
        secs(wall),
        nproc()
    );
    println!("{}", Stats::header());
    println!(
        "{}",
        Stats::of("lateness (start − scheduled)", &late).line()
    );
    println!("{}", Stats::of("  of which timer wake-up", &wake).line());
    println!("{}", Stats::of("latency of ok probes", &ok_latency).line());
    println!(
        "late by more than 10 ms: {}, more than 100 ms: {}; peak probes in flight {peak} of {CONCURRENCY} permits",
        late.iter()
            .filter(|d| **d > Duration::from_millis(10))
            .count(),
        late.iter()
            .filter(|d| **d > Duration::from_millis(100))
            .count(),
    );
    println!(
        "results: {ok} ok, {} failed — tcp {tcp_ok}/{tcp_n} ok; http (black-holed) {http_timeouts}/{http_n} timed out, {http_ok} ok",
        n - ok
    );
    for (e, c) in &errors {
        println!("  {c:>5} × {e}");
    }
    println!(
        "store: {transitions} state transitions persisted during the sweep ({audited} probe.state_changed audit entries) — \
         the first sweep turns every tcp check unknown → up (success_threshold 1); black-holed ones need 2 failures"
    );
    println!("peak RSS (VmHWM) after the sweep: {}", vm("self", "VmHWM:"));

    let counts_ok =
        tcp_ok * 100 >= tcp_n * 99 && http_timeouts * 100 >= http_n * 99 && http_ok == 0;
    if !counts_ok {
        println!(
            "FAIL: expected ≈ {tcp_n} ok TCP probes and ≈ {http_n} timeouts, got {tcp_ok} and {http_timeouts} ({http_ok} black-holed ok)"
        );
    }
    Ok(within && counts_ok)
}

/// Throughput of one run over the TCP targets.
struct Throughput {
    probes: usize,
    ok: usize,
    wall: Duration,
    cpu: Duration,
    /// Duration of each probe (`probe_target`, or the exporter's HTTP round trip).
    durations: Vec<Duration>,
}

impl Throughput {
    /// Several rounds as one: counts and times added up.
    fn total(rounds: Vec<Throughput>) -> Throughput {
        let mut t = Throughput {
            probes: 0,
            ok: 0,
            wall: Duration::ZERO,
            cpu: Duration::ZERO,
            durations: Vec::new(),
        };
        for r in rounds {
            t.probes += r.probes;
            t.ok += r.ok;
            t.wall += r.wall;
            t.cpu += r.cpu;
            t.durations.extend(r.durations);
        }
        t
    }

    fn per_cpu_s(&self) -> f64 {
        self.probes as f64 / self.cpu.as_secs_f64().max(1e-9)
    }
}

fn tcp_targets(monitor: &Monitor) -> Vec<Target> {
    monitor
        .targets()
        .into_iter()
        .filter(|t| monitor.inventory()[t.component].checks[t.check].kind() == "tcp")
        .collect()
}

async fn transitions(store: &Store) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM probe_transitions")
        .fetch_one(store.pool())
        .await?)
}

/// The TCP targets through `probe_target`, all spawned at once, at most [`CONCURRENCY`] in
/// flight; also the number of transitions persisted meanwhile.
async fn tcp_run(monitor: &Arc<Monitor>, store: &Store) -> anyhow::Result<(Throughput, i64)> {
    let targets = tcp_targets(monitor);
    let permits = Arc::new(Semaphore::new(CONCURRENCY as usize));
    let before = transitions(store).await?;
    let cpu0 = cpu_self();
    let t0 = Instant::now();
    let handles: Vec<_> = targets
        .iter()
        .map(|t| {
            let (me, store, permits, t) = (monitor.clone(), store.clone(), permits.clone(), *t);
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.ok()?;
                let began = Instant::now();
                let ok = me.probe_target(&store, t).await.ok;
                Some((ok, began.elapsed()))
            })
        })
        .collect();
    let n = handles.len();
    let collect = async {
        let (mut ok, mut durations) = (0, Vec::with_capacity(n));
        for h in handles {
            if let Some((good, d)) = h.await.context("a probe task panicked")? {
                ok += usize::from(good);
                durations.push(d);
            }
        }
        anyhow::Ok((ok, durations))
    };
    let (ok, durations) = tokio::time::timeout(Duration::from_secs(60), collect)
        .await
        .context("the TCP run did not finish within 60 s")??;
    let r = Throughput {
        probes: n,
        ok,
        wall: t0.elapsed(),
        cpu: cpu_self() - cpu0,
        durations,
    };
    Ok((r, transitions(store).await? - before))
}

fn print_run(r: &Throughput, persisted: i64) {
    let n = r.probes;
    println!(
        "{}/{n} ok in {} wall, {} CPU → {:.0} probes/s, {:.0} probes per CPU-second, {:.0} probes per wall-second per core; \
         {persisted} transitions persisted",
        r.ok,
        secs(r.wall),
        secs(r.cpu),
        n as f64 / r.wall.as_secs_f64(),
        r.per_cpu_s(),
        n as f64 / r.wall.as_secs_f64() / nproc() as f64,
    );
    println!(
        "{}",
        Stats::of("  probe_target duration", &r.durations).line()
    );
    if r.ok != n {
        println!("FAIL: {} TCP probes failed", n - r.ok);
    }
}

/// Part 2: the TCP targets as fast as the semaphore allows (checks already up: nothing to
/// persist), then the same on a fresh monitor (every check turns unknown → up: 4,500
/// transitions persisted), which is what the first sweep after a start or a mass recovery costs.
async fn fast_tcp(monitor: &Arc<Monitor>, store: &Store) -> anyhow::Result<(Throughput, bool)> {
    println!(
        "\n-- 2. lhc-ops: the {} TCP targets back to back, concurrency {CONCURRENCY}, no schedule spread --",
        tcp_targets(monitor).len()
    );
    println!("a) same monitor, checks already up (steady state), {ROUNDS} rounds:");
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let (r, persisted) = tcp_run(monitor, store).await?;
        print_run(&r, persisted);
        rounds.push(r);
    }
    let r = Throughput::total(rounds);
    println!(
        "all rounds: {}/{} ok, {:.0} probes per CPU-second",
        r.ok,
        r.probes,
        r.per_cpu_s()
    );
    let mut pass = r.ok == r.probes;
    println!(
        "b) fresh monitor, every check unknown → up (first sweep after a start / mass recovery):"
    );
    let settings = ProbesConfig {
        interval_seconds: INTERVAL_S,
        timeout_ms: TIMEOUT_MS,
        concurrency: CONCURRENCY,
        ..ProbesConfig::default()
    };
    let fresh = Arc::new(Monitor::new(monitor.inventory().to_vec(), settings));
    let (b, persisted) = tcp_run(&fresh, store).await?;
    print_run(&b, persisted);
    pass &= b.ok == b.probes;
    println!(
        "  persisting a transition (own BEGIN IMMEDIATE transaction; audited only for up↔down) costs ≈ {:.2} ms CPU each",
        (b.cpu.saturating_sub(r.cpu / ROUNDS)).as_secs_f64() * 1000.0 / persisted.max(1) as f64
    );
    Ok((r, pass))
}

/// Part 3: the same TCP targets through the blackbox exporter.
async fn exporter(endpoints: &[Endpoint], dir: &std::path::Path) -> anyhow::Result<Throughput> {
    let targets: Vec<String> = endpoints
        .iter()
        .filter(|e| !e.silent)
        .map(|e| format!("{}:{}", e.ip, e.port))
        .collect();
    println!(
        "\n-- 3. {EXPORTER_PACKAGE}: the same {} TCP targets via GET /probe?module=tcp_connect, concurrency {CONCURRENCY} --",
        targets.len()
    );
    let bin = [
        "/usr/bin/prometheus-blackbox-exporter",
        "/usr/local/bin/prometheus-blackbox-exporter",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .with_context(|| {
        format!(
            "the blackbox exporter binary is missing: install Debian's package {EXPORTER_PACKAGE} \
                 (apt-get install -y {EXPORTER_PACKAGE})"
        )
    })?;
    let version = Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(if o.stdout.is_empty() {
                &o.stderr
            } else {
                &o.stdout
            })
            .to_string();
            text.lines().next().unwrap_or("").to_string()
        })
        .unwrap_or_default();
    let config = dir.join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  tcp_connect:\n    prober: tcp\n    timeout: 2s\n    tcp:\n      preferred_ip_protocol: ip4\n",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(dir.join("blackbox.log"))?;
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {bin}"))?;
    let guard = KillOnDrop(child, "blackbox exporter");
    let pid = guard.0.id();
    println!(
        "{bin} ({version}), pid {pid}, on 127.0.0.1:{port}, module tcp_connect (timeout 2s, ip4)"
    );

    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CONCURRENCY as usize)
        .build_http();
    let base = format!("http://127.0.0.1:{port}");
    let get = {
        let client = client.clone();
        move |path: String| {
            let client = client.clone();
            async move {
                let uri: axum::http::Uri = path.parse()?;
                let resp = tokio::time::timeout(Duration::from_secs(10), async {
                    let resp = client.get(uri).await?;
                    let status = resp.status();
                    let body = resp.into_body().collect().await?.to_bytes();
                    anyhow::Ok((status, body))
                })
                .await
                .context("no answer from the exporter within 10 s")??;
                anyhow::Ok(resp)
            }
        }
    };
    // Ready when /-/healthy answers (bounded: 10 s).
    let ready_by = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok((s, _)) = get(format!("{base}/-/healthy")).await
            && s.is_success()
        {
            break;
        }
        ensure!(
            Instant::now() < ready_by,
            "the exporter did not answer /-/healthy within 10 s (log: {})",
            std::fs::read_to_string(dir.join("blackbox.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One warm-up probe, not counted.
    let (s, body) = get(format!(
        "{base}/probe?module=tcp_connect&target={}",
        targets[0]
    ))
    .await?;
    ensure!(
        s.is_success() && contains(&body, b"probe_success 1"),
        "warm-up probe through the exporter failed: {s} {}",
        String::from_utf8_lossy(&body)
    );

    let mut rounds = Vec::new();
    for round in 1..=ROUNDS {
        let permits = Arc::new(Semaphore::new(CONCURRENCY as usize));
        let cpu0 = cpu_of(pid)?;
        let client_cpu0 = cpu_self();
        let t0 = Instant::now();
        let handles: Vec<_> = targets
            .iter()
            .map(|target| {
                let (get, permits) = (get.clone(), permits.clone());
                let path = format!("{base}/probe?module=tcp_connect&target={target}");
                tokio::spawn(async move {
                    let _permit = permits.acquire_owned().await.ok()?;
                    let began = Instant::now();
                    let r = get(path).await;
                    let took = began.elapsed();
                    match r {
                        Ok((s, body)) => Some((
                            Ok(s.is_success() && contains(&body, b"probe_success 1")),
                            took,
                        )),
                        Err(e) => Some((Err(format!("{e:#}")), took)),
                    }
                })
            })
            .collect();
        let n = handles.len();
        let collect = async {
            let (mut ok, mut errors, mut durations) = (0, Vec::new(), Vec::with_capacity(n));
            for h in handles {
                match h.await.context("a request task panicked")? {
                    Some((Ok(good), d)) => {
                        ok += usize::from(good);
                        durations.push(d);
                    }
                    Some((Err(e), d)) => {
                        errors.push(e);
                        durations.push(d);
                    }
                    None => errors.push("semaphore closed".into()),
                }
            }
            anyhow::Ok((ok, errors, durations))
        };
        let (ok, errors, durations) = tokio::time::timeout(Duration::from_secs(120), collect)
            .await
            .context("the exporter run did not finish within 120 s")??;
        let wall = t0.elapsed();
        let cpu = cpu_of(pid)? - cpu0;
        let client_cpu = cpu_self() - client_cpu0;
        let r = Throughput {
            probes: n,
            ok,
            wall,
            cpu,
            durations,
        };
        println!(
            "round {round}: {ok}/{n} probe_success 1 in {} wall; exporter CPU (/proc/{pid}/stat utime+stime) {} → {:.0} probes/s, \
             {:.0} probes per CPU-second; our HTTP client used {} CPU (not counted)",
            secs(wall),
            secs(cpu),
            n as f64 / wall.as_secs_f64(),
            r.per_cpu_s(),
            secs(client_cpu),
        );
        if let Some(e) = errors.first() {
            println!("  {} request errors, first: {e}", errors.len());
        }
        if ok != n {
            println!(
                "FAIL: {} probes through the exporter did not succeed",
                n - ok
            );
        }
        rounds.push(r);
    }
    let r = Throughput::total(rounds);
    println!(
        "all rounds: {}/{} ok, {:.0} probes per CPU-second; exporter VmHWM {}",
        r.ok,
        r.probes,
        r.per_cpu_s(),
        vm(&pid.to_string(), "VmHWM:")
    );
    println!("{}", Stats::header());
    println!(
        "{}",
        Stats::of("GET /probe round trip", &r.durations).line()
    );
    drop(guard);
    Ok(r)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Part 4: what `Monitor::snapshot` (every /health render and API call) costs as the hourly
/// aggregates fill.
async fn snapshot_cost(
    monitor: &Arc<Monitor>,
    store: &Store,
    baseline: &Throughput,
) -> anyhow::Result<bool> {
    let slots = monitor.targets().len();
    println!(
        "\n-- 4. Monitor::snapshot of {slots} slots (copied under the mutex without the hour's latency list) --"
    );
    let time = |m: &Monitor| {
        let mut v = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let s = m.snapshot();
            v.push(t.elapsed());
            std::hint::black_box(s);
        }
        v
    };
    println!("{}", Stats::header());
    println!(
        "{}",
        Stats::of("after the sweeps (≤2 samples/h)", &time(monitor)).line()
    );
    // Samples per hour and slot at a 5 s interval (720) and the cap, a 1 s interval (3600).
    let ok = ProbeResult {
        ok: true,
        latency_ms: 0.2,
        error: None,
    };
    let targets = monitor.targets();
    let now = lhc_ops::store::now_ms();
    let mut filled = 2;
    for per_hour in [720usize, 3600] {
        let t = Instant::now();
        for _ in filled..per_hour {
            for t in &targets {
                monitor.record(*t, &ok, now);
            }
        }
        filled = per_hour;
        let fill = t.elapsed();
        println!(
            "{}",
            Stats::of(&format!("{per_hour} samples/h per slot"), &time(monitor)).line()
        );
        println!(
            "  (≈ {:.0} MiB of latencies offered, at most 600 kept per slot and none copied by snapshot; filling took {})",
            (per_hour * slots * 8) as f64 / (1024.0 * 1024.0),
            secs(fill)
        );
    }

    // The TCP run again while two tasks on the runtime take snapshots back to back (two
    // /health viewers, or htmx refreshes), and a 1 ms ticker measures how late timers fire.
    println!(
        "4b. the {} TCP targets back to back (as in 2a) while 2 tasks call snapshot() back to back (3600 samples/h per slot):",
        tcp_targets(monitor).len()
    );
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs(60);
    let hammers: Vec<_> = (0..2)
        .map(|_| {
            let (m, stop) = (monitor.clone(), stop.clone());
            tokio::spawn(async move {
                let mut took = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline
                {
                    let t = Instant::now();
                    std::hint::black_box(m.snapshot());
                    took.push(t.elapsed());
                    tokio::task::yield_now().await;
                }
                took
            })
        })
        .collect();
    let ticker = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut late = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let due = tokio::time::Instant::now() + Duration::from_millis(1);
                tokio::time::sleep_until(due).await;
                late.push(tokio::time::Instant::now().saturating_duration_since(due));
            }
            late
        })
    };
    // Let the hammers get going first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let run = tcp_run(monitor, store).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut took = Vec::new();
    for h in hammers {
        took.extend(h.await.unwrap_or_default());
    }
    let late = ticker.await.unwrap_or_default();
    let (r, _) = run?;
    println!(
        "{}/{} ok in {} wall (2a: {} per round), {} CPU (2a: {} per round)",
        r.ok,
        r.probes,
        secs(r.wall),
        secs(baseline.wall / ROUNDS),
        secs(r.cpu),
        secs(baseline.cpu / ROUNDS)
    );
    println!("{}", Stats::header());
    println!(
        "{}",
        Stats::of("probe_target, 2a (no snapshots)", &baseline.durations).line()
    );
    println!(
        "{}",
        Stats::of("probe_target, with snapshots", &r.durations).line()
    );
    println!("{}", Stats::of("snapshot() meanwhile", &took).line());
    println!(
        "{}",
        Stats::of("1 ms timer lateness meanwhile", &late).line()
    );
    if r.ok != r.probes {
        println!(
            "FAIL: {} TCP probes failed under snapshot load",
            r.probes - r.ok
        );
    }
    println!("peak RSS (VmHWM) at the end: {}", vm("self", "VmHWM:"));
    Ok(r.ok == r.probes)
}

/// Percentiles (nearest rank).
struct Stats {
    name: String,
    n: usize,
    p50: Duration,
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
            p99: rank(0.99),
            max: s.last().copied().unwrap_or_default(),
            mean: sum / u32::try_from(s.len().max(1)).unwrap_or(u32::MAX),
        }
    }

    fn header() -> String {
        format!(
            "{:<34} {:>5} {:>10} {:>10} {:>10} {:>10}",
            "", "n", "p50", "p99", "max", "mean"
        )
    }

    fn line(&self) -> String {
        format!(
            "{:<34} {:>5} {:>10} {:>10} {:>10} {:>10}",
            self.name,
            self.n,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            ms(self.mean)
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}
