//! Status logic, pure: flap damping per check and aggregation into a component status with the
//! guide's impact (§6.3: one node down does not affect service; all nodes down → the named
//! capability is unavailable).

use serde::Serialize;

/// A check's damped state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Unknown,
    Up,
    Down,
}

/// Flap damping: the reported status changes only after `failure_threshold` consecutive
/// failures or `success_threshold` consecutive successes.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckState {
    pub status: CheckStatus,
    /// When `status` last changed (UTC ms); `None` while unknown.
    pub since_ms: Option<i64>,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub last_latency_ms: Option<f64>,
    pub last_error: Option<String>,
}

impl Default for CheckState {
    fn default() -> Self {
        CheckState {
            status: CheckStatus::Unknown,
            since_ms: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_latency_ms: None,
            last_error: None,
        }
    }
}

impl CheckState {
    /// Records one probe; returns the new status when it changed.
    pub fn observe(
        &mut self,
        ok: bool,
        latency_ms: f64,
        error: Option<String>,
        now_ms: i64,
        failure_threshold: u32,
        success_threshold: u32,
    ) -> Option<CheckStatus> {
        self.last_latency_ms = Some(latency_ms);
        if ok {
            self.consecutive_successes += 1;
            self.consecutive_failures = 0;
            self.last_error = None;
        } else {
            self.consecutive_failures += 1;
            self.consecutive_successes = 0;
            self.last_error = error;
        }
        let next = if ok && self.consecutive_successes >= success_threshold.max(1) {
            CheckStatus::Up
        } else if !ok && self.consecutive_failures >= failure_threshold.max(1) {
            CheckStatus::Down
        } else {
            self.status
        };
        if next != self.status {
            self.status = next;
            self.since_ms = Some(now_ms);
            Some(next)
        } else {
            None
        }
    }
}

/// A component's status — PINNED values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentStatus {
    Up,
    Degraded,
    Down,
    Unknown,
}

impl ComponentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Up => "up",
            ComponentStatus::Degraded => "degraded",
            ComponentStatus::Down => "down",
            ComponentStatus::Unknown => "unknown",
        }
    }
}

/// Aggregates instances (each a list of check statuses): an instance fails when any check is
/// down; all instances failing → down; some → degraded; none failing and something known → up.
pub fn aggregate(instances: &[Vec<CheckStatus>]) -> ComponentStatus {
    let known: Vec<&Vec<CheckStatus>> = instances
        .iter()
        .filter(|i| i.iter().any(|s| *s != CheckStatus::Unknown))
        .collect();
    if known.is_empty() {
        return ComponentStatus::Unknown;
    }
    let failing = instances
        .iter()
        .filter(|i| i.contains(&CheckStatus::Down))
        .count();
    match failing {
        0 if known.len() == instances.len() => ComponentStatus::Up,
        0 => ComponentStatus::Unknown,
        n if n == instances.len() => ComponentStatus::Down,
        _ => ComponentStatus::Degraded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckStatus::{Down, Unknown, Up};

    #[test]
    fn flaps_are_damped() {
        let mut s = CheckState::default();
        assert_eq!(
            s.observe(false, 1.0, Some("refused".into()), 1, 2, 1),
            None,
            "one failure is not down yet"
        );
        assert_eq!(
            s.observe(false, 1.0, Some("refused".into()), 2, 2, 1),
            Some(Down)
        );
        assert_eq!(s.since_ms, Some(2));
        assert_eq!(s.observe(true, 1.0, None, 3, 2, 1), Some(Up));
        assert_eq!(
            s.observe(false, 1.0, None, 4, 2, 1),
            None,
            "a single blip does not flip it"
        );
        assert_eq!(s.observe(true, 1.0, None, 5, 2, 1), None);
        assert_eq!(s.status, Up);
        let mut slow = CheckState::default();
        assert_eq!(slow.observe(true, 1.0, None, 1, 2, 3), None);
        assert_eq!(slow.observe(true, 1.0, None, 2, 2, 3), None);
        assert_eq!(
            slow.observe(true, 1.0, None, 3, 2, 3),
            Some(Up),
            "success_threshold 3"
        );
    }

    #[test]
    fn components_aggregate_as_the_guide_describes() {
        assert_eq!(aggregate(&[]), ComponentStatus::Unknown);
        assert_eq!(
            aggregate(&[vec![Unknown, Unknown]]),
            ComponentStatus::Unknown
        );
        assert_eq!(
            aggregate(&[vec![Up, Up], vec![Up, Up]]),
            ComponentStatus::Up
        );
        assert_eq!(
            aggregate(&[vec![Up, Down], vec![Up, Up]]),
            ComponentStatus::Degraded
        );
        assert_eq!(
            aggregate(&[vec![Down, Up], vec![Up, Down]]),
            ComponentStatus::Down
        );
        assert_eq!(
            aggregate(&[vec![Down], vec![Unknown]]),
            ComponentStatus::Degraded
        );
        assert_eq!(
            aggregate(&[vec![Up], vec![Unknown]]),
            ComponentStatus::Unknown
        );
    }
}
