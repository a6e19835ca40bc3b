//! The Alertmanager webhook v4 body: parsing and validation of the whole notification before
//! anything is stored (a bad alert anywhere rejects the request with its path), and the mapping
//! of labels to a component and a runbook id (PINNED scheme, DESIGN §8). Pure; no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::health::inventory::canonical_name;

/// Largest webhook body accepted (Alertmanager caps a notification well below this).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The only webhook payload version this endpoint speaks.
pub const VERSION: &str = "4";

/// Longest fingerprint and component kept (indexed columns are `VARCHAR(191)` on MySQL).
pub const MAX_KEY_CHARS: usize = 191;

/// Labels that name the component, in order of preference.
pub const COMPONENT_LABELS: [&str; 3] = ["component", "app", "job"];

/// `firing` or `resolved`, for a notification and for each of its alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn parse(s: &str) -> Option<AlertStatus> {
        match s {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

/// A validated notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub group_key: String,
    pub status: AlertStatus,
    pub receiver: String,
    pub alerts: Vec<Alert>,
}

/// One validated alert with its component and runbook worked out.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub status: AlertStatus,
    pub fingerprint: String,
    /// The `alertname` label (empty when the alert has none).
    pub alertname: String,
    /// The canonical component name (empty when no label names one).
    pub component: String,
    /// The runbook id; `None` when the component is unknown.
    pub runbook: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// UTC milliseconds.
    pub starts_at: i64,
    /// UTC milliseconds; `None` for Alertmanager's zero time (`0001-01-01T00:00:00Z`) or absent.
    pub ends_at: Option<i64>,
    pub generator_url: String,
}

/// Why a body was refused; `message` names the offending field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// `bad_json` (not JSON) or `bad_webhook` (JSON, but not a valid webhook v4 body).
    pub code: &'static str,
    pub message: String,
}

impl Rejection {
    fn invalid(message: String) -> Rejection {
        Rejection {
            code: "bad_webhook",
            message,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNotification {
    version: String,
    #[serde(default)]
    group_key: Option<String>,
    status: String,
    receiver: String,
    alerts: Vec<RawAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAlert {
    status: String,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    starts_at: String,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    fingerprint: String,
}

/// Parses and validates a whole body; nothing of it is usable unless all of it is.
pub fn parse(body: &[u8]) -> Result<Notification, Rejection> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let raw: RawNotification = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let syntax = !matches!(e.inner().classify(), serde_json::error::Category::Data);
        let path = e.path().to_string();
        let inner = e.into_inner();
        Rejection {
            code: if syntax { "bad_json" } else { "bad_webhook" },
            message: if syntax {
                format!("the body is not valid JSON: {inner}")
            } else if path == "." {
                format!("not an Alertmanager webhook v4 body: {inner}")
            } else {
                format!("not an Alertmanager webhook v4 body: `{path}`: {inner}")
            },
        }
    })?;
    de.end().map_err(|e| Rejection {
        code: "bad_json",
        message: format!("the body is not valid JSON: {e}"),
    })?;
    if raw.version != VERSION {
        return Err(Rejection::invalid(format!(
            "unsupported webhook version `{}`: this endpoint speaks Alertmanager webhook version {VERSION}",
            raw.version
        )));
    }
    let status = parse_status("status", &raw.status)?;
    let alerts = raw
        .alerts
        .into_iter()
        .enumerate()
        .map(|(i, a)| alert(i, a))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Notification {
        group_key: raw.group_key.unwrap_or_default(),
        status,
        receiver: raw.receiver,
        alerts,
    })
}

fn parse_status(path: &str, s: &str) -> Result<AlertStatus, Rejection> {
    AlertStatus::parse(s).ok_or_else(|| {
        Rejection::invalid(format!(
            "`{path}`: `{s}` is neither \"firing\" nor \"resolved\""
        ))
    })
}

fn alert(i: usize, a: RawAlert) -> Result<Alert, Rejection> {
    let at = |field: &str| format!("alerts[{i}].{field}");
    let status = parse_status(&at("status"), &a.status)?;
    let fingerprint = a.fingerprint.trim().to_string();
    if fingerprint.is_empty() {
        return Err(Rejection::invalid(format!(
            "`{}`: must not be empty",
            at("fingerprint")
        )));
    }
    if fingerprint.chars().count() > MAX_KEY_CHARS {
        return Err(Rejection::invalid(format!(
            "`{}`: longer than {MAX_KEY_CHARS} characters",
            at("fingerprint")
        )));
    }
    let starts_at = parse_time(&a.starts_at)
        .ok_or_else(|| {
            Rejection::invalid(format!(
                "`{}`: `{}` is not an RFC 3339 time",
                at("startsAt"),
                a.starts_at
            ))
        })?
        .ok_or_else(|| Rejection::invalid(format!("`{}`: must be set", at("startsAt"))))?;
    let ends_at = match a.ends_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => parse_time(s).ok_or_else(|| {
            Rejection::invalid(format!("`{}`: `{s}` is not an RFC 3339 time", at("endsAt")))
        })?,
    };
    let component = component_of(&a.labels);
    if component.chars().count() > MAX_KEY_CHARS {
        return Err(Rejection::invalid(format!(
            "`{}`: the component label is longer than {MAX_KEY_CHARS} characters",
            at("labels")
        )));
    }
    let alertname = a.labels.get("alertname").cloned().unwrap_or_default();
    let runbook = runbook_of(&component, &alertname, &a.labels);
    Ok(Alert {
        status,
        fingerprint,
        alertname,
        component,
        runbook,
        annotations: a.annotations.unwrap_or_default(),
        labels: a.labels,
        starts_at,
        ends_at,
        generator_url: a.generator_url.unwrap_or_default(),
    })
}

/// RFC 3339 to UTC milliseconds: `Some(None)` for Go's zero time, which Alertmanager sends for
/// "not set"; `None` when unparseable.
fn parse_time(s: &str) -> Option<Option<i64>> {
    if s.starts_with("0001-01-01T") {
        return Some(None);
    }
    crate::store::parse_rfc3339_ms(s).map(Some)
}

/// The component an alert is about: the first non-empty of the `component`, `app` and `job`
/// labels, canonicalised (`aks` → `apaks`, …); a name the guide does not know is kept as given.
pub fn component_of(labels: &BTreeMap<String, String>) -> String {
    COMPONENT_LABELS
        .iter()
        .find_map(|k| labels.get(*k).map(|v| v.trim()).filter(|v| !v.is_empty()))
        .map(|v| canonical_name(v).to_string())
        .unwrap_or_default()
}

/// The runbook id (PINNED scheme): `<component>-port-<port>` when a numeric `port` label exists;
/// else `<component>-jvm|cpu|memory|disk` when the alert name mentions jvm / cpu / mem / disk
/// (case-insensitive; jvm first, as JVM alarms usually mention memory too); else
/// `<component>-down`. `None` without a component.
pub fn runbook_of(
    component: &str,
    alertname: &str,
    labels: &BTreeMap<String, String>,
) -> Option<String> {
    if component.is_empty() {
        return None;
    }
    if let Some(port) = labels
        .get("port")
        .and_then(|p| p.trim().parse::<u16>().ok())
    {
        return Some(format!("{component}-port-{port}"));
    }
    let name = alertname.to_ascii_lowercase();
    let topic = [
        ("jvm", "jvm"),
        ("cpu", "cpu"),
        ("mem", "memory"),
        ("disk", "disk"),
    ]
    .iter()
    .find(|(needle, _)| name.contains(needle))
    .map_or("down", |(_, topic)| topic);
    Some(format!("{component}-{topic}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn body(alerts: Value) -> Vec<u8> {
        json!({
            "version": "4", "groupKey": "{}:{alertname=\"PortDown\"}", "status": "firing",
            "receiver": "lhc-ops", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am:9093", "truncatedAlerts": 0, "alerts": alerts,
        })
        .to_string()
        .into_bytes()
    }

    fn firing() -> Value {
        json!({
            "status": "firing",
            "labels": {"alertname": "PortDown", "component": "hub", "port": "5000"},
            "annotations": {"summary": "hub 5000 不通"},
            "startsAt": "2026-12-04T15:05:09.123456789+08:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom:9090/graph",
            "fingerprint": "a1b2c3d4e5f60718",
        })
    }

    #[test]
    fn a_real_alertmanager_body_parses() {
        let n = parse(&body(json!([firing()]))).unwrap();
        assert_eq!(n.status, AlertStatus::Firing);
        assert_eq!(n.receiver, "lhc-ops");
        let a = &n.alerts[0];
        assert_eq!(a.fingerprint, "a1b2c3d4e5f60718");
        assert_eq!(a.alertname, "PortDown");
        assert_eq!(a.component, "hub");
        assert_eq!(a.runbook.as_deref(), Some("hub-port-5000"));
        assert_eq!(
            a.starts_at,
            crate::store::parse_rfc3339_ms("2026-12-04T07:05:09.123Z").unwrap()
        );
        assert_eq!(a.ends_at, None, "Go's zero time means not set");
        assert_eq!(a.annotations["summary"], "hub 5000 不通");
        assert_eq!(a.generator_url, "http://prom:9090/graph");
    }

    #[test]
    fn resolved_alerts_carry_their_end() {
        let mut a = firing();
        a["status"] = json!("resolved");
        a["endsAt"] = json!("2026-12-04T08:00:00Z");
        let n = parse(&body(json!([a]))).unwrap();
        assert_eq!(n.alerts[0].status, AlertStatus::Resolved);
        assert_eq!(
            n.alerts[0].ends_at,
            crate::store::parse_rfc3339_ms("2026-12-04T08:00:00Z")
        );
    }

    #[test]
    fn malformed_json_is_named_as_such() {
        let r = parse(b"{\"version\": \"4\", \"alerts\": [").unwrap_err();
        assert_eq!(r.code, "bad_json");
        assert!(r.message.contains("not valid JSON"), "{}", r.message);
        let r = parse(&[body(json!([])), b" trailing".to_vec()].concat()).unwrap_err();
        assert_eq!(r.code, "bad_json");
    }

    #[test]
    fn missing_fields_are_named_with_their_path() {
        let mut v: Value = serde_json::from_slice(&body(json!([]))).unwrap();
        v.as_object_mut().unwrap().remove("alerts");
        let r = parse(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(r.code, "bad_webhook");
        assert!(
            r.message.contains("missing field `alerts`"),
            "{}",
            r.message
        );

        let mut a = firing();
        a.as_object_mut().unwrap().remove("fingerprint");
        let r = parse(&body(json!([firing(), a]))).unwrap_err();
        assert!(
            r.message.contains("alerts[1]") && r.message.contains("fingerprint"),
            "{}",
            r.message
        );

        let mut a = firing();
        a["labels"]["port"] = json!(5000);
        let r = parse(&body(json!([a]))).unwrap_err();
        assert!(r.message.contains("alerts[0].labels"), "{}", r.message);
    }

    #[test]
    fn bad_values_are_refused_with_the_field() {
        let cases: [(&str, Value, &str); 5] = [
            ("status", json!("pending"), "alerts[0].status"),
            ("startsAt", json!("yesterday"), "alerts[0].startsAt"),
            (
                "startsAt",
                json!("0001-01-01T00:00:00Z"),
                "alerts[0].startsAt",
            ),
            ("endsAt", json!("soon"), "alerts[0].endsAt"),
            ("fingerprint", json!("  "), "alerts[0].fingerprint"),
        ];
        for (field, value, path) in cases {
            let mut a = firing();
            a[field] = value;
            let r = parse(&body(json!([a]))).unwrap_err();
            assert_eq!(r.code, "bad_webhook");
            assert!(r.message.contains(path), "{field}: {}", r.message);
        }
        let mut v: Value = serde_json::from_slice(&body(json!([firing()]))).unwrap();
        v["version"] = json!("3");
        let r = parse(v.to_string().as_bytes()).unwrap_err();
        assert!(r.message.contains("version `3`"), "{}", r.message);
        let mut a = firing();
        a["fingerprint"] = json!("f".repeat(MAX_KEY_CHARS + 1));
        assert!(parse(&body(json!([a]))).is_err());
    }

    #[test]
    fn components_come_from_component_then_app_then_job() {
        assert_eq!(
            component_of(&labels(&[("job", "j"), ("app", "a"), ("component", "c")])),
            "c"
        );
        assert_eq!(component_of(&labels(&[("job", "j"), ("app", "a")])), "a");
        assert_eq!(
            component_of(&labels(&[("job", "j"), ("component", " ")])),
            "j"
        );
        assert_eq!(component_of(&labels(&[("app", "aks")])), "apaks");
        assert_eq!(
            component_of(&labels(&[("component", "aksexecutor")])),
            "apaksexecutor"
        );
        assert_eq!(component_of(&labels(&[("job", "orch")])), "opswareorch");
        assert_eq!(
            component_of(&labels(&[("component", "my-cache")])),
            "my-cache",
            "unknown names are kept as given"
        );
        assert_eq!(component_of(&labels(&[("alertname", "X")])), "");
    }

    #[test]
    fn runbooks_follow_the_pinned_scheme() {
        let none = labels(&[]);
        let port = labels(&[("port", "8080")]);
        assert_eq!(
            runbook_of("apaks", "PortDown", &port).as_deref(),
            Some("apaks-port-8080")
        );
        assert_eq!(
            runbook_of("hub", "HighCPU", &port).as_deref(),
            Some("hub-port-8080"),
            "a port label wins"
        );
        for (name, want) in [
            ("HostHighCpuLoad", "lhc-cpu"),
            ("MemoryUsageHigh", "lhc-memory"),
            ("node_mem_low", "lhc-memory"),
            ("DISKFull", "lhc-disk"),
            ("JvmOldGenFull", "lhc-jvm"),
            ("JvmHeapMemoryHigh", "lhc-jvm"),
            ("InstanceDown", "lhc-down"),
            ("", "lhc-down"),
        ] {
            assert_eq!(
                runbook_of("lhc", name, &none).as_deref(),
                Some(want),
                "{name}"
            );
        }
        assert_eq!(
            runbook_of("lhc", "PortDown", &labels(&[("port", "http")])).as_deref(),
            Some("lhc-down"),
            "a port label that is no port number is ignored"
        );
        assert_eq!(runbook_of("", "PortDown", &port), None);
    }
}
