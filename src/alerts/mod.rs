//! Alarm intake (DESIGN §8): the Alertmanager webhook creates and resolves incidents keyed by
//! fingerprint, maps labels to a component and a runbook id, and keeps every notification.
//! [`webhook`] parses and validates (pure), [`incidents`] is the repository, [`routes`] the
//! webhook and JSON API, [`pages`] the `/incidents` page.

pub mod incidents;
pub mod pages;
pub mod routes;
pub mod webhook;

use serde_json::json;

use crate::audit::{self, Event};
use crate::store::{Store, now_ms};
use incidents::{IncidentState, Outcome, Received};
use webhook::{AlertStatus, Notification};

/// What one notification did (the webhook's response body).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Alerts in the notification.
    pub received: usize,
    pub opened: usize,
    pub updated: usize,
    pub resolved: usize,
    /// Late or repeated notifications about episodes already resolved (recorded, no change).
    #[serde(skip)]
    pub stale: usize,
}

impl Counts {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Opened => self.opened += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Resolved => self.resolved += 1,
            Outcome::Stale => self.stale += 1,
        }
    }
}

/// Most fingerprints named in one `alert.received` audit entry.
const AUDITED_FINGERPRINTS: usize = 50;

/// Applies a validated notification in one store transaction: every incident change, every
/// event and the `alert.received` audit entry commit together or not at all.
pub async fn intake(store: &Store, n: &Notification, address: &str) -> sqlx::Result<Counts> {
    let now = now_ms();
    let received = Received {
        receiver: &n.receiver,
        group_key: &n.group_key,
        at: now,
    };
    let mut counts = Counts {
        received: n.alerts.len(),
        ..Counts::default()
    };
    let mut tx = store.begin().await?;
    for a in &n.alerts {
        let latest = incidents::latest(&mut tx, &a.fingerprint).await?;
        let open = latest.as_ref().filter(|i| i.state == IncidentState::Open);
        // The same episode (same start) already resolved: a late or repeated notification.
        let done_before = latest
            .as_ref()
            .filter(|i| i.state == IncidentState::Resolved && i.started_at == a.starts_at);
        let (id, outcome) = match (a.status, open, done_before) {
            (AlertStatus::Firing, Some(i), _) => {
                incidents::update(&mut tx, i.id, a, None, now).await?;
                (i.id, Outcome::Updated)
            }
            (AlertStatus::Resolved, Some(i), _) => {
                let ended = a.ends_at.unwrap_or(now);
                incidents::update(&mut tx, i.id, a, Some(ended), now).await?;
                (i.id, Outcome::Resolved)
            }
            (_, None, Some(i)) => (i.id, Outcome::Stale),
            (AlertStatus::Firing, None, None) => (
                incidents::insert(&mut tx, a, IncidentState::Open, now).await?,
                Outcome::Opened,
            ),
            // The firing notification never arrived (console down, receiver added later):
            // the incident is recorded as it ended.
            (AlertStatus::Resolved, None, None) => (
                incidents::insert(&mut tx, a, IncidentState::Resolved, now).await?,
                Outcome::Resolved,
            ),
        };
        incidents::insert_event(&mut tx, id, a, outcome, received).await?;
        counts.add(outcome);
    }
    let fingerprints: Vec<&str> = n
        .alerts
        .iter()
        .take(AUDITED_FINGERPRINTS)
        .map(|a| a.fingerprint.as_str())
        .collect();
    audit::append(
        &mut tx,
        Event {
            actor: audit::SYSTEM,
            action: "alert.received",
            subject: &n.receiver,
            details: json!({
                "source": "alertmanager",
                "status": n.status.as_str(),
                "group_key": n.group_key,
                "received": counts.received,
                "opened": counts.opened,
                "updated": counts.updated,
                "resolved": counts.resolved,
                "stale": counts.stale,
                "fingerprints": fingerprints,
                "address": address,
            }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(counts)
}
