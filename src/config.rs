//! Typed configuration: built-in defaults → TOML file → `LHC_OPS_<SECTION>__<KEY>` environment
//! overrides, merged as TOML values and deserialised once.
//!
//! Unknown keys are rejected with the key and the place it came from; each bad value gives one
//! line naming the key. Secrets (passwords inside DSNs, tokens) never leave this module in clear
//! text through `Debug` or [`Config::redacted_toml`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::changes::policy::{self, Level};

/// The port of opswareorch that must never be probed (guide §6.4.4).
pub const OPSWAREORCH_FORBIDDEN_PORT: u16 = 1234;

/// Why port 1234 of opswareorch is refused, in the guide's terms.
pub const OPSWAREORCH_1234_REASON: &str = "opswareorch 的 1234 端口只是 Cloudengine Telnet 后端端口，业务上无需使用；每次 Telnet 探测都会新增一个 GC 无法回收的 CommandCompleter 对象，最终 OLD 区占满、频繁 FGC（运维指南 §6.4.4 orch 内存泄漏分析）。请不要探测该端口。";

/// The whole effective configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub targets: TargetsConfig,
    pub fed: FedConfig,
    pub hub_cluster: HubClusterConfig,
    pub probes: ProbesConfig,
    pub components: Vec<ComponentConfig>,
    pub alerts: AlertsConfig,
    pub policy: PolicyConfig,
    pub log: LogConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub public_url: String,
    pub session_idle_minutes: i64,
    pub session_max_hours: i64,
    /// `auto`, `true` or `false`.
    pub secure_cookies: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            session_idle_minutes: 30,
            session_max_hours: 12,
            secure_cookies: "auto".into(),
        }
    }
}

impl ServerConfig {
    /// Whether session cookies carry the `Secure` attribute.
    pub fn cookies_secure(&self) -> bool {
        match self.secure_cookies.as_str() {
            "true" => true,
            "false" => false,
            _ => self.public_url.starts_with("https://"),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub url: Dsn,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: Dsn("sqlite://data/lhc-ops.db".into()),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetsConfig {
    pub lhcconsole: TargetDb,
    pub aks: TargetDb,
}

/// An external MySQL database the console repairs (never our own store).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetDb {
    pub url: Dsn,
    pub read_url: Dsn,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FedConfig {
    pub kubeconfig: String,
    pub context: String,
    pub system_namespace: String,
}

impl Default for FedConfig {
    fn default() -> Self {
        Self {
            kubeconfig: String::new(),
            context: String::new(),
            system_namespace: "kube-federation-system".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HubClusterConfig {
    pub kubeconfig: String,
    pub lks_namespace: String,
}

impl Default for HubClusterConfig {
    fn default() -> Self {
        Self {
            kubeconfig: String::new(),
            lks_namespace: "lks".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbesConfig {
    pub interval_seconds: i64,
    pub timeout_ms: i64,
    pub concurrency: i64,
    pub failure_threshold: i64,
    pub success_threshold: i64,
    /// How long hourly probe aggregates and state transitions are kept.
    pub retention_days: i64,
}

impl Default for ProbesConfig {
    fn default() -> Self {
        Self {
            interval_seconds: 60,
            timeout_ms: 2000,
            concurrency: 256,
            failure_threshold: 2,
            success_threshold: 1,
            retention_days: 31,
        }
    }
}

/// One `[[components]]` entry: replaces the default entry of the same name.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComponentConfig {
    pub name: String,
    pub hosts: Vec<String>,
    pub tcp: Vec<i64>,
    pub http: Vec<HttpCheckConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCheckConfig {
    pub port: i64,
    #[serde(default = "default_http_path")]
    pub path: String,
    #[serde(default = "default_expect_status")]
    pub expect_status: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
}

fn default_http_path() -> String {
    "/".into()
}

fn default_expect_status() -> Vec<i64> {
    vec![200]
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    pub webhook_token: Secret,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    pub approval_ttl_hours: i64,
    pub emergency_review_hours: i64,
    pub levels: BTreeMap<String, String>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            approval_ttl_hours: 24,
            emergency_review_hours: 24,
            levels: BTreeMap::new(),
        }
    }
}

/// Logging: not part of the pinned keys, added so operators can switch to JSON lines.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` or `json`.
    pub format: String,
    /// A `tracing` filter such as `info` or `lhc_ops=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
        }
    }
}

/// A database URL whose password never shows in `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Dsn(pub String);

impl Dsn {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URL with any password replaced by `***`.
    pub fn masked(&self) -> String {
        mask_dsn(&self.0)
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks the password part of a URL; strings that are not URLs are returned unchanged.
pub fn mask_dsn(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_string(),
    }
}

/// A token or password from the configuration: `Debug`/`Display` show only whether it is set.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    fn masked(&self) -> &'static str {
        if self.0.is_empty() { "" } else { "***" }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.masked())
    }
}

/// A configuration problem, already phrased for the operator (one line).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where the configuration came from, for messages and for the `config.loaded` audit entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    Defaults,
    File(PathBuf),
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Defaults => f.write_str("built-in defaults"),
            ConfigSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The loaded configuration plus where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub source: ConfigSource,
}

/// Picks the file: `--config`, then `$LHC_OPS_CONFIG`, then `./lhc-ops.toml` if present.
pub fn resolve_path(cli: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = cli {
        return Some(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("LHC_OPS_CONFIG")
        && !p.is_empty()
    {
        return Some(PathBuf::from(p));
    }
    let local = PathBuf::from("lhc-ops.toml");
    local.exists().then_some(local)
}

/// Loads defaults → file → process environment, and validates.
pub fn load(cli_path: Option<&Path>) -> Result<Loaded, ConfigError> {
    let path = resolve_path(cli_path);
    let file_text =
        match &path {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", p.display()))
            })?),
            None => None,
        };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let source = path
        .map(ConfigSource::File)
        .unwrap_or(ConfigSource::Defaults);
    let config = from_parts(file_text.as_deref(), &source, &env)?;
    Ok(Loaded { config, source })
}

/// Pure core of [`load`]: merges the file text and the environment over the defaults.
pub fn from_parts(
    file_text: Option<&str>,
    source: &ConfigSource,
    env: &[(String, String)],
) -> Result<Config, ConfigError> {
    let mut merged = toml::Value::try_from(Config::default())
        .map_err(|e| ConfigError(format!("internal: defaults do not serialise: {e}")))?;
    let defaults = merged.clone();

    if let Some(text) = file_text {
        let file: toml::Table = toml::from_str(text).map_err(|e| {
            ConfigError(format!(
                "{source}: not valid TOML: {}",
                one_line(&e.to_string())
            ))
        })?;
        check_known_keys(&defaults, &toml::Value::Table(file.clone()), "", &|key| {
            format!("{source}: unknown key `{key}`")
        })?;
        merge(&mut merged, toml::Value::Table(file));
    }

    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("LHC_OPS_") else {
            continue;
        };
        if !rest.contains("__") {
            continue; // LHC_OPS_CONFIG and friends are not overrides
        }
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        let Some(expected) = lookup(&defaults, &path) else {
            return Err(ConfigError(format!(
                "environment variable {name}: unknown key `{}`",
                path.join(".")
            )));
        };
        let value = env_value(raw, expected);
        set_path(&mut merged, &path, value);
    }

    let mut unknown = Vec::new();
    let config: Config = serde_path_to_error::deserialize(serde_ignored::Deserializer::new(
        merged,
        &mut |p: serde_ignored::Path<'_>| unknown.push(p.to_string()),
    ))
    .map_err(|e| {
        ConfigError(format!(
            "{source}: key `{}`: {}",
            e.path(),
            one_line(&e.inner().to_string())
        ))
    })?;
    if let Some(key) = unknown.first() {
        return Err(ConfigError(format!("{source}: unknown key `{key}`")));
    }
    validate(&config).map_err(|e| ConfigError(format!("{source}: {}", e.0)))?;
    Ok(config)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Rejects keys of `given` that the defaults do not have. Tables whose defaults are empty
/// (`policy.levels`) and arrays of tables (`components`) are checked by serde instead.
fn check_known_keys(
    defaults: &toml::Value,
    given: &toml::Value,
    prefix: &str,
    message: &dyn Fn(&str) -> String,
) -> Result<(), ConfigError> {
    let (Some(known), Some(given)) = (defaults.as_table(), given.as_table()) else {
        return Ok(());
    };
    if known.is_empty() {
        return Ok(());
    }
    for (key, value) in given {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match known.get(key) {
            None => return Err(ConfigError(message(&full))),
            Some(d) => check_known_keys(d, value, &full, message)?,
        }
    }
    Ok(())
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_table() && v.is_table() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn lookup<'a>(v: &'a toml::Value, path: &[String]) -> Option<&'a toml::Value> {
    let mut cur = v;
    for seg in path {
        cur = cur.as_table()?.get(seg)?;
    }
    Some(cur)
}

fn set_path(v: &mut toml::Value, path: &[String], value: toml::Value) {
    let mut cur = v;
    for seg in &path[..path.len() - 1] {
        let table = cur.as_table_mut().expect("path checked against defaults");
        cur = table
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    if let Some(t) = cur.as_table_mut() {
        t.insert(path[path.len() - 1].clone(), value);
    }
}

/// Interprets an environment value by the type of the key it overrides: strings stay verbatim,
/// everything else is parsed as a TOML value (so `[1, 2]` and `{ a = "G3" }` work).
fn env_value(raw: &str, expected: &toml::Value) -> toml::Value {
    if expected.is_str() {
        return toml::Value::String(raw.to_string());
    }
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn validate(c: &Config) -> Result<(), ConfigError> {
    let bad = |m: String| Err(ConfigError(m));
    if c.server.listen.parse::<SocketAddr>().is_err() {
        return bad(format!(
            "server.listen: `{}` is not an address:port such as 127.0.0.1:8080",
            c.server.listen
        ));
    }
    if !c.server.public_url.is_empty() {
        match url::Url::parse(&c.server.public_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return bad(format!(
                    "server.public_url: `{}` is not an http(s) URL",
                    c.server.public_url
                ));
            }
        }
    }
    if !matches!(c.server.secure_cookies.as_str(), "auto" | "true" | "false") {
        return bad(format!(
            "server.secure_cookies: must be \"auto\", \"true\" or \"false\" (got `{}`)",
            c.server.secure_cookies
        ));
    }
    positive(
        "server.session_idle_minutes",
        c.server.session_idle_minutes,
        "minutes",
    )?;
    positive(
        "server.session_max_hours",
        c.server.session_max_hours,
        "hours",
    )?;
    if c.server.session_idle_minutes > c.server.session_max_hours * 60 {
        return bad("server.session_idle_minutes: longer than server.session_max_hours".into());
    }

    let store = c.store.url.expose();
    if !(store.starts_with("sqlite:") || store.starts_with("mysql://")) {
        return bad(format!(
            "store.url: `{}` must start with sqlite:// or mysql://",
            c.store.url.masked()
        ));
    }
    if store.starts_with("mysql://") {
        check_mysql_url("store.url", &c.store.url)?;
    }
    for (name, t) in [
        ("lhcconsole", &c.targets.lhcconsole),
        ("aks", &c.targets.aks),
    ] {
        for (key, dsn) in [("url", &t.url), ("read_url", &t.read_url)] {
            if !dsn.is_empty() {
                check_mysql_url(&format!("targets.{name}.{key}"), dsn)?;
            }
        }
    }

    positive(
        "probes.interval_seconds",
        c.probes.interval_seconds,
        "seconds",
    )?;
    positive("probes.timeout_ms", c.probes.timeout_ms, "milliseconds")?;
    positive("probes.concurrency", c.probes.concurrency, "probes")?;
    positive(
        "probes.failure_threshold",
        c.probes.failure_threshold,
        "probes",
    )?;
    positive(
        "probes.success_threshold",
        c.probes.success_threshold,
        "probes",
    )?;
    if c.probes.timeout_ms >= c.probes.interval_seconds * 1000 {
        return bad("probes.timeout_ms: must be shorter than probes.interval_seconds".into());
    }

    for (i, comp) in c.components.iter().enumerate() {
        let at = format!("components[{i}]");
        if comp.name.trim().is_empty() {
            return bad(format!("{at}.name: must not be empty"));
        }
        for p in &comp.tcp {
            port(&format!("{at}.tcp"), *p)?;
        }
        for h in &comp.http {
            port(&format!("{at}.http.port"), h.port)?;
            if !h.path.starts_with('/') {
                return bad(format!("{at}.http.path: `{}` must start with /", h.path));
            }
            for s in &h.expect_status {
                if !(100..=599).contains(s) {
                    return bad(format!(
                        "{at}.http.expect_status: {s} is not an HTTP status"
                    ));
                }
            }
        }
        let forbidden = i64::from(OPSWAREORCH_FORBIDDEN_PORT);
        if comp.name == "opswareorch"
            && (comp.tcp.contains(&forbidden) || comp.http.iter().any(|h| h.port == forbidden))
        {
            return bad(format!(
                "{at}: opswareorch port 1234 must not be probed — {OPSWAREORCH_1234_REASON}"
            ));
        }
        for host in &comp.hosts {
            if host.trim().is_empty() || host.contains(['/', ' ']) {
                return bad(format!(
                    "{at}.hosts: `{host}` is not a host name or address"
                ));
            }
        }
    }

    positive(
        "policy.approval_ttl_hours",
        c.policy.approval_ttl_hours,
        "hours",
    )?;
    positive(
        "policy.emergency_review_hours",
        c.policy.emergency_review_hours,
        "hours",
    )?;
    for (op, level) in &c.policy.levels {
        let Some(default) = policy::default_level(op) else {
            return bad(format!("policy.levels: unknown operation `{op}`"));
        };
        let Some(level) = Level::parse(level) else {
            return bad(format!("policy.levels.{op}: `{level}` is not G1, G2 or G3"));
        };
        if level < default {
            return bad(format!(
                "policy.levels.{op}: {level} would lower the default {default}; levels may only be raised"
            ));
        }
    }
    if !matches!(c.log.format.as_str(), "pretty" | "json") {
        return bad(format!(
            "log.format: must be \"pretty\" or \"json\" (got `{}`)",
            c.log.format
        ));
    }
    Ok(())
}

fn positive(key: &str, v: i64, unit: &str) -> Result<(), ConfigError> {
    if v < 1 {
        return Err(ConfigError(format!(
            "{key}: must be a whole number of {unit} ≥ 1 (got {v})"
        )));
    }
    Ok(())
}

fn port(key: &str, p: i64) -> Result<(), ConfigError> {
    if !(1..=65535).contains(&p) {
        return Err(ConfigError(format!("{key}: {p} is not a port (1–65535)")));
    }
    Ok(())
}

fn check_mysql_url(key: &str, dsn: &Dsn) -> Result<(), ConfigError> {
    match url::Url::parse(dsn.expose()) {
        Ok(u) if u.scheme() == "mysql" && u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        _ => Err(ConfigError(format!(
            "{key}: `{}` is not a mysql://user:password@host:3306/database URL",
            dsn.masked()
        ))),
    }
}

impl Config {
    /// The effective configuration as TOML with every secret masked (for `check-config`).
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        c.store.url = Dsn(c.store.url.masked());
        for t in [&mut c.targets.lhcconsole, &mut c.targets.aks] {
            t.url = Dsn(t.url.masked());
            t.read_url = Dsn(t.read_url.masked());
        }
        c.alerts.webhook_token = Secret(c.alerts.webhook_token.masked().to_string());
        toml::to_string(&c).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }

    /// The level of an operation after `policy.levels` (validated at load to only raise).
    pub fn level_of(&self, operation: &str) -> Option<Level> {
        let default = policy::default_level(operation)?;
        Some(
            self.policy
                .levels
                .get(operation)
                .and_then(|l| Level::parse(l))
                .unwrap_or(default),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Config, ConfigError> {
        from_parts(Some(text), &ConfigSource::File("test.toml".into()), &[])
    }

    fn env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        from_parts(None, &ConfigSource::Defaults, &env)
    }

    #[test]
    fn defaults_are_valid_and_match_the_design() {
        let c = env(&[]).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8080");
        assert_eq!(c.store.url.expose(), "sqlite://data/lhc-ops.db");
        assert_eq!(c.probes.failure_threshold, 2);
        assert_eq!(c.policy.approval_ttl_hours, 24);
        assert_eq!(c.fed.system_namespace, "kube-federation-system");
        assert_eq!(c.hub_cluster.lks_namespace, "lks");
    }

    #[test]
    fn unknown_key_names_the_key_and_file() {
        let e = file("[server]\nlisen = \"x\"\n").unwrap_err().0;
        assert!(e.contains("test.toml") && e.contains("server.lisen"), "{e}");
        let e = file("[nosuch]\na = 1\n").unwrap_err().0;
        assert!(e.contains("`nosuch`"), "{e}");
        let e = file("[[components]]\nname = \"hub\"\nport = 1\n")
            .unwrap_err()
            .0;
        assert!(e.contains("port") && e.contains("test.toml"), "{e}");
    }

    #[test]
    fn env_overrides_file_and_unknown_env_key_is_rejected() {
        let env_vars = vec![(
            "LHC_OPS_SERVER__LISTEN".to_string(),
            "127.0.0.1:9999".to_string(),
        )];
        let c = from_parts(
            Some("[server]\nlisten = \"127.0.0.1:1111\"\n"),
            &ConfigSource::File("f.toml".into()),
            &env_vars,
        )
        .unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9999");
        let c = env(&[
            ("LHC_OPS_PROBES__TIMEOUT_MS", "500"),
            ("LHC_OPS_CONFIG", "ignored"),
        ])
        .unwrap();
        assert_eq!(c.probes.timeout_ms, 500);
        let c = env(&[(
            "LHC_OPS_TARGETS__LHCCONSOLE__URL",
            "mysql://u:p@db:3306/lhc",
        )])
        .unwrap();
        assert_eq!(c.targets.lhcconsole.url.expose(), "mysql://u:p@db:3306/lhc");
        let e = env(&[("LHC_OPS_SERVER__NOPE", "1")]).unwrap_err().0;
        assert!(
            e.contains("LHC_OPS_SERVER__NOPE") && e.contains("server.nope"),
            "{e}"
        );
        let c = env(&[(
            "LHC_OPS_POLICY__LEVELS",
            "{ \"lhc.mutex.release\" = \"G3\" }",
        )])
        .unwrap();
        assert_eq!(c.level_of("lhc.mutex.release"), Some(Level::G3));
    }

    #[test]
    fn bad_values_give_one_clear_line() {
        for (text, needle) in [
            ("[server]\nlisten = \"nonsense\"", "server.listen"),
            (
                "[server]\nsession_idle_minutes = 0",
                "server.session_idle_minutes",
            ),
            (
                "[server]\nsession_idle_minutes = \"ten\"",
                "server.session_idle_minutes",
            ),
            ("[store]\nurl = \"postgres://x\"", "store.url"),
            (
                "[targets.lhcconsole]\nurl = \"not a url\"",
                "targets.lhcconsole.url",
            ),
            ("[probes]\ntimeout_ms = -1", "probes.timeout_ms"),
            (
                "[[components]]\nname = \"hub\"\ntcp = [70000]",
                "components[0].tcp",
            ),
            (
                "[policy]\nlevels = { \"lhc.mutex.release\" = \"G1\" }",
                "lower",
            ),
            (
                "[policy]\nlevels = { \"no.such.op\" = \"G3\" }",
                "unknown operation",
            ),
        ] {
            let e = file(text).unwrap_err().0;
            assert!(e.contains(needle), "{text:?} → {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn opswareorch_port_1234_is_rejected_with_the_guides_reason() {
        for text in [
            "[[components]]\nname = \"opswareorch\"\ntcp = [80, 1234]",
            "[[components]]\nname = \"opswareorch\"\nhttp = [{ port = 1234, path = \"/\" }]",
        ] {
            let e = file(text).unwrap_err().0;
            assert!(
                e.contains("1234") && e.contains("§6.4.4") && e.contains("内存泄漏"),
                "{e}"
            );
        }
        // Other components may use 1234.
        file("[[components]]\nname = \"hub\"\ntcp = [1234]").unwrap();
    }

    #[test]
    fn secrets_are_masked_in_debug_and_check_config() {
        let c = file(
            "[store]\nurl = \"mysql://lhc:s3cr3t@db:3306/lhcops\"\n[alerts]\nwebhook_token = \"tok-123\"\n[targets.aks]\nurl = \"mysql://a:pw-aks@h/aks\"",
        )
        .unwrap();
        let debug = format!("{c:?}");
        let shown = c.redacted_toml();
        for text in [&debug, &shown] {
            assert!(
                !text.contains("s3cr3t") && !text.contains("tok-123") && !text.contains("pw-aks"),
                "{text}"
            );
        }
        assert!(shown.contains("mysql://lhc:***@db:3306/lhcops"), "{shown}");
    }
}
