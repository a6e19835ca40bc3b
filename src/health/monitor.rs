//! The monitor: live state of every check of every instance, the scheduler that probes them
//! spread over the interval with jitter and bounded concurrency, and the persistence of state
//! transitions (the only per-probe data written to the store) so history survives restarts.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sqlx::Row;
use tokio::sync::Semaphore;

use super::inventory::{CheckSpec, ComponentSpec};
use super::probe::{ProbeResult, probe};
use super::status::{CheckState, CheckStatus, ComponentStatus, aggregate};
use crate::config::ProbesConfig;
use crate::store::{Store, now_ms};

/// Latency samples kept per check for the sparkline.
pub const RECENT_SAMPLES: usize = 30;

/// One check of one instance.
#[derive(Clone, Debug, Default)]
pub struct Slot {
    pub state: CheckState,
    /// Recent latencies (ms), `None` for failed probes; oldest first.
    pub recent: VecDeque<Option<f64>>,
    /// The hour being accumulated.
    pub hour: Option<HourAgg>,
    /// (successes, samples) of the stored hours of the last 24 h and 7 d.
    pub stored_day: (i64, i64),
    pub stored_week: (i64, i64),
}

/// Samples of one check within one clock hour.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HourAgg {
    pub start_ms: i64,
    pub samples: i64,
    pub successes: i64,
    /// Latencies of successful probes (capped), for p50 / p95.
    pub latencies: Vec<f64>,
}

const HOUR_MS: i64 = 3_600_000;
/// Latencies kept per hour for percentiles: every sample of a 6 s interval or slower; faster
/// intervals keep the first 600 of the hour.
const MAX_HOUR_LATENCIES: usize = 600;

impl HourAgg {
    fn clone_counts(&self) -> HourAgg {
        HourAgg {
            start_ms: self.start_ms,
            samples: self.samples,
            successes: self.successes,
            latencies: Vec::new(),
        }
    }

    /// The `q` quantile (0..=1) of the latencies, nearest rank.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut v = self.latencies.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        Some(v[rank - 1])
    }
}

impl Slot {
    /// A copy without the current hour's latency samples.
    pub fn light(&self) -> Slot {
        Slot {
            state: self.state.clone(),
            recent: self.recent.clone(),
            hour: self.hour.as_ref().map(|h| HourAgg {
                latencies: Vec::new(),
                ..h.clone_counts()
            }),
            stored_day: self.stored_day,
            stored_week: self.stored_week,
        }
    }

    /// Uptime percentage over the stored hours plus the current one, `None` without samples.
    pub fn uptime(&self, stored: (i64, i64)) -> Option<f64> {
        let (mut ok, mut n) = stored;
        if let Some(h) = &self.hour {
            ok += h.successes;
            n += h.samples;
        }
        (n > 0).then(|| ok as f64 * 100.0 / n as f64)
    }
}

/// A point-in-time copy of one component, for pages and the API.
#[derive(Clone, Debug)]
pub struct ComponentView {
    pub spec: ComponentSpec,
    pub status: ComponentStatus,
    /// `[host][check]`.
    pub slots: Vec<Vec<Slot>>,
}

/// Live health of the inventory.
#[derive(Debug)]
pub struct Monitor {
    inventory: Vec<ComponentSpec>,
    slots: Mutex<Vec<Vec<Vec<Slot>>>>,
    settings: ProbesConfig,
}

/// Identifies one check of one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub component: usize,
    pub host: usize,
    pub check: usize,
}

impl Monitor {
    pub fn new(inventory: Vec<ComponentSpec>, settings: ProbesConfig) -> Monitor {
        let slots = inventory
            .iter()
            .map(|c| {
                c.hosts
                    .iter()
                    .map(|_| vec![Slot::default(); c.checks.len()])
                    .collect()
            })
            .collect();
        Monitor {
            inventory,
            slots: Mutex::new(slots),
            settings,
        }
    }

    pub fn inventory(&self) -> &[ComponentSpec] {
        &self.inventory
    }

    /// Every probe target.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for (ci, c) in self.inventory.iter().enumerate() {
            for hi in 0..c.hosts.len() {
                for ki in 0..c.checks.len() {
                    out.push(Target {
                        component: ci,
                        host: hi,
                        check: ki,
                    });
                }
            }
        }
        out
    }

    fn describe(&self, t: Target) -> (&str, &str, &CheckSpec) {
        let c = &self.inventory[t.component];
        (&c.name, &c.hosts[t.host], &c.checks[t.check])
    }

    /// Records a result; returns the new status when the check changed state, and the hour
    /// aggregate that this sample closed (to be stored).
    pub fn record(
        &self,
        t: Target,
        r: &ProbeResult,
        now: i64,
    ) -> (Option<CheckStatus>, Option<HourAgg>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = &mut slots[t.component][t.host][t.check];
        if slot.recent.len() == RECENT_SAMPLES {
            slot.recent.pop_front();
        }
        slot.recent.push_back(r.ok.then_some(r.latency_ms));
        let hour_start = now - now.rem_euclid(HOUR_MS);
        let closed = match &slot.hour {
            Some(h) if h.start_ms != hour_start => slot.hour.take(),
            _ => None,
        };
        if let Some(c) = &closed {
            slot.stored_day.0 += c.successes;
            slot.stored_day.1 += c.samples;
            slot.stored_week.0 += c.successes;
            slot.stored_week.1 += c.samples;
        }
        let agg = slot.hour.get_or_insert_with(|| HourAgg {
            start_ms: hour_start,
            ..Default::default()
        });
        agg.samples += 1;
        if r.ok {
            agg.successes += 1;
            if agg.latencies.len() < MAX_HOUR_LATENCIES {
                agg.latencies.push(r.latency_ms);
            }
        }
        let changed = slot.state.observe(
            r.ok,
            r.latency_ms,
            r.error.clone(),
            now,
            self.settings.failure_threshold.max(1) as u32,
            self.settings.success_threshold.max(1) as u32,
        );
        (changed, closed)
    }

    fn status_of(&self, t: Target) -> CheckStatus {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())[t.component][t.host][t.check]
            .state
            .status
    }

    /// A copy of every component with its aggregated status.
    pub fn snapshot(&self) -> Vec<ComponentView> {
        // Copied under the lock without the hour's latency list (the pages do not need it), so
        // a render never holds up the probes for long.
        let slots: Vec<Vec<Vec<Slot>>> = {
            let guard = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            guard
                .iter()
                .map(|hosts| {
                    hosts
                        .iter()
                        .map(|checks| checks.iter().map(Slot::light).collect())
                        .collect()
                })
                .collect()
        };
        self.inventory
            .iter()
            .zip(slots)
            .map(|(spec, slots)| {
                let statuses: Vec<Vec<CheckStatus>> = slots
                    .iter()
                    .map(|h| h.iter().map(|s| s.state.status).collect())
                    .collect();
                ComponentView {
                    status: aggregate(&statuses),
                    spec: spec.clone(),
                    slots,
                }
            })
            .collect()
    }

    /// Probes one target and records the result (persisting a transition).
    pub async fn probe_target(&self, store: &Store, t: Target) -> ProbeResult {
        let (component, host, check) = self.describe(t);
        let timeout = Duration::from_millis(self.settings.timeout_ms.max(1) as u64);
        let result = probe(host, check, timeout).await;
        let now = now_ms();
        let before = self.status_of(t);
        let (changed, closed) = self.record(t, &result, now);
        if let Some(status) = changed
            && let Err(e) = persist_transition(
                store,
                (before, status),
                component,
                host,
                check,
                result.error.as_deref(),
                now,
            )
            .await
        {
            tracing::warn!(error.message = %e, component, host, "could not store a probe state change");
        }
        if let Some(hour) = closed
            && let Err(e) = persist_hour(store, component, host, check, &hour).await
        {
            tracing::warn!(error.message = %e, component, host, "could not store an hourly probe aggregate");
        }
        result
    }

    /// Probes every check of one component now ("probe now", G1).
    pub async fn probe_component(&self, store: &Store, component: usize) -> Vec<ProbeResult> {
        let targets: Vec<Target> = self
            .targets()
            .into_iter()
            .filter(|t| t.component == component)
            .collect();
        let mut out = Vec::new();
        for t in targets {
            out.push(self.probe_target(store, t).await);
        }
        out
    }

    /// Restores each check's last stored state (status and since) after a restart.
    pub async fn restore(&self, store: &Store) -> sqlx::Result<usize> {
        let rows = sqlx::query(
            "SELECT t.component, t.host, t.kind, t.port, t.status, t.at, t.error FROM probe_transitions t \
             JOIN (SELECT component, host, kind, port, MAX(id) AS id FROM probe_transitions GROUP BY component, host, kind, port) last \
             ON last.id = t.id",
        )
        .fetch_all(store.pool())
        .await?;
        let mut restored = 0;
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for r in rows {
            let (component, host, kind, port): (String, String, String, i64) = (
                r.try_get("component")?,
                r.try_get("host")?,
                r.try_get("kind")?,
                r.try_get("port")?,
            );
            let Some((ci, hi, ki)) = self.locate(&component, &host, &kind, port) else {
                continue;
            };
            let status: String = r.try_get("status")?;
            let slot = &mut slots[ci][hi][ki];
            slot.state.status = if status == "up" {
                CheckStatus::Up
            } else {
                CheckStatus::Down
            };
            slot.state.since_ms = Some(r.try_get("at")?);
            slot.state.last_error = r.try_get("error")?;
            restored += 1;
        }
        Ok(restored)
    }

    /// Loads the stored 24 h / 7 d sums of every check (at start; later hours add in memory).
    pub async fn restore_uptime(&self, store: &Store, now: i64) -> sqlx::Result<()> {
        let rows = sqlx::query(
            "SELECT component, host, kind, port, \
                    SUM(CASE WHEN hour >= ? THEN successes ELSE 0 END) AS day_ok, \
                    SUM(CASE WHEN hour >= ? THEN samples ELSE 0 END) AS day_n, \
                    SUM(successes) AS week_ok, SUM(samples) AS week_n \
               FROM probe_hourly WHERE hour >= ? GROUP BY component, host, kind, port",
        )
        .bind(now - 24 * HOUR_MS)
        .bind(now - 24 * HOUR_MS)
        .bind(now - 7 * 24 * HOUR_MS)
        .fetch_all(store.pool())
        .await?;
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        for r in rows {
            let (component, host, kind, port): (String, String, String, i64) = (
                r.try_get("component")?,
                r.try_get("host")?,
                r.try_get("kind")?,
                r.try_get("port")?,
            );
            let Some((ci, hi, ki)) = self.locate(&component, &host, &kind, port) else {
                continue;
            };
            let num = |col: &str| -> sqlx::Result<i64> {
                Ok(r.try_get::<Option<i64>, _>(col)?.unwrap_or(0))
            };
            let slot = &mut slots[ci][hi][ki];
            slot.stored_day = (num("day_ok")?, num("day_n")?);
            slot.stored_week = (num("week_ok")?, num("week_n")?);
        }
        Ok(())
    }

    fn locate(
        &self,
        component: &str,
        host: &str,
        kind: &str,
        port: i64,
    ) -> Option<(usize, usize, usize)> {
        let ci = self.inventory.iter().position(|c| c.name == component)?;
        let c = &self.inventory[ci];
        let hi = c.hosts.iter().position(|h| h == host)?;
        let ki = c
            .checks
            .iter()
            .position(|k| k.kind() == kind && i64::from(k.port()) == port)?;
        Some((ci, hi, ki))
    }

    /// Where in the interval a target is probed: a stable spread by hash, plus jitter.
    pub fn offset(&self, t: Target, jitter_ms: u64) -> Duration {
        let interval_ms = (self.settings.interval_seconds.max(1) as u64) * 1000;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let (c, host, check) = self.describe(t);
        (c, host, check.port(), check.kind()).hash(&mut h);
        // Every probe must also finish inside the interval, with a tenth of it to spare for
        // stalls: starts are spread over interval − timeout − interval/10.
        let spread = interval_ms
            .saturating_sub(self.settings.timeout_ms.max(0) as u64)
            .saturating_sub(interval_ms / 10)
            .max(1);
        Duration::from_millis((h.finish() % spread + jitter_ms) % spread)
    }

    /// Runs forever: each interval, every target is probed at its offset, at most
    /// `probes.concurrency` at a time; a slow target only holds its own permit.
    pub async fn run(self: Arc<Self>, store: Store) {
        let interval = Duration::from_secs(self.settings.interval_seconds.max(1) as u64);
        let permits = Arc::new(Semaphore::new(self.settings.concurrency.max(1) as usize));
        let mut sweep: u64 = 0;
        loop {
            let started = tokio::time::Instant::now();
            for t in self.targets() {
                let jitter = (sweep.wrapping_mul(7919) + t.check as u64 * 131) % 997;
                let at = started + self.offset(t, jitter);
                let (me, store, permits) = (self.clone(), store.clone(), permits.clone());
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    let Ok(_permit) = permits.acquire_owned().await else {
                        return;
                    };
                    me.probe_target(&store, t).await;
                });
            }
            sweep += 1;
            tokio::time::sleep_until(started + interval).await;
        }
    }
}

/// Stores a closed hour of one check.
async fn persist_hour(
    store: &Store,
    component: &str,
    host: &str,
    check: &CheckSpec,
    h: &HourAgg,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO probe_hourly (component, host, kind, port, hour, samples, successes, p50_ms, p95_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(component)
    .bind(host)
    .bind(check.kind())
    .bind(i64::from(check.port()))
    .bind(h.start_ms)
    .bind(h.samples)
    .bind(h.successes)
    .bind(h.quantile(0.5))
    .bind(h.quantile(0.95))
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Deletes hourly aggregates and transitions older than the retention (housekeeping).
pub async fn prune(store: &Store, retention_days: i64, now: i64) -> sqlx::Result<u64> {
    let before = now - retention_days * 24 * HOUR_MS;
    let a = sqlx::query("DELETE FROM probe_hourly WHERE hour < ?")
        .bind(before)
        .execute(store.pool())
        .await?
        .rows_affected();
    let b = sqlx::query("DELETE FROM probe_transitions WHERE at < ?")
        .bind(before)
        .execute(store.pool())
        .await?
        .rows_affected();
    Ok(a + b)
}

/// Stores one state change of one check.
async fn persist_transition(
    store: &Store,
    (before, status): (CheckStatus, CheckStatus),
    component: &str,
    host: &str,
    check: &CheckSpec,
    error: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    let status_text = match status {
        CheckStatus::Up => "up",
        CheckStatus::Down => "down",
        CheckStatus::Unknown => "unknown",
    };
    let mut tx = store.begin().await?;
    sqlx::query("INSERT INTO probe_transitions (component, host, kind, port, status, at, error) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(component)
        .bind(host)
        .bind(check.kind())
        .bind(i64::from(check.port()))
        .bind(status_text)
        .bind(now)
        .bind(error)
        .execute(&mut *tx)
        .await?;
    // The first result after a start is a discovery, not an event: stored for history, audited
    // only when an up check goes down or a down one comes back.
    if before == CheckStatus::Unknown {
        return tx.commit().await;
    }
    let subject = format!("{component}/{host}:{}", check.port());
    crate::audit::append(
        &mut tx,
        crate::audit::Event {
            actor: crate::audit::SYSTEM,
            action: "probe.state_changed",
            subject: &subject,
            details: json!({"kind": check.kind(), "status": status_text, "error": error}),
        },
    )
    .await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(hosts: &[&str]) -> Monitor {
        let spec = ComponentSpec {
            name: "hub".into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            checks: vec![CheckSpec::Tcp { port: 80 }, CheckSpec::Tcp { port: 5000 }],
            impact_down: ("镜像服务无法使用".into(), "registry unavailable".into()),
        };
        Monitor::new(vec![spec], ProbesConfig::default())
    }

    #[test]
    fn offsets_spread_over_the_interval() {
        let m = monitor(&["a", "b", "c", "d"]);
        let offsets: Vec<Duration> = m.targets().into_iter().map(|t| m.offset(t, 0)).collect();
        assert_eq!(offsets.len(), 8);
        assert!(
            offsets.iter().all(|o| *o < Duration::from_secs(58)),
            "{offsets:?}"
        );
        let distinct: std::collections::BTreeSet<_> = offsets.iter().collect();
        assert!(distinct.len() > 4, "not all at once: {offsets:?}");
    }

    #[test]
    fn results_update_status_and_sparkline() {
        let m = monitor(&["a", "b"]);
        let ok = ProbeResult {
            ok: true,
            latency_ms: 1.5,
            error: None,
        };
        let bad = ProbeResult {
            ok: false,
            latency_ms: 2000.0,
            error: Some("refused".into()),
        };
        for t in m.targets() {
            assert_eq!(m.record(t, &ok, 1).0, Some(CheckStatus::Up));
        }
        assert_eq!(m.snapshot()[0].status, ComponentStatus::Up);
        let t = m.targets()[0];
        m.record(t, &bad, 2);
        assert_eq!(
            m.record(t, &bad, 3).0,
            Some(CheckStatus::Down),
            "failure_threshold 2"
        );
        let snap = m.snapshot();
        assert_eq!(snap[0].status, ComponentStatus::Degraded);
        assert_eq!(snap[0].slots[0][0].recent, [Some(1.5), None, None]);
        assert!((snap[0].slots[0][0].uptime((0, 0)).unwrap() - 100.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn an_hour_closes_into_an_aggregate() {
        let m = monitor(&["a"]);
        let t = m.targets()[0];
        let hour = 3_600_000;
        for (i, ms) in [10.0, 20.0, 30.0, 40.0].iter().enumerate() {
            let (_, closed) = m.record(
                t,
                &ProbeResult {
                    ok: true,
                    latency_ms: *ms,
                    error: None,
                },
                5 * hour + i as i64,
            );
            assert!(closed.is_none());
        }
        m.record(
            t,
            &ProbeResult {
                ok: false,
                latency_ms: 2000.0,
                error: None,
            },
            5 * hour + 10,
        );
        let (_, closed) = m.record(
            t,
            &ProbeResult {
                ok: true,
                latency_ms: 1.0,
                error: None,
            },
            6 * hour,
        );
        let closed = closed.expect("the next hour closes the previous one");
        assert_eq!(
            (closed.start_ms, closed.samples, closed.successes),
            (5 * hour, 5, 4)
        );
        assert_eq!(
            (closed.quantile(0.5), closed.quantile(0.95)),
            (Some(20.0), Some(40.0))
        );
        let slot = &m.snapshot()[0].slots[0][0];
        assert_eq!(slot.stored_day, (4, 5));
        assert!((slot.uptime(slot.stored_day).unwrap() - 500.0 / 6.0).abs() < 1e-9);
    }
}
