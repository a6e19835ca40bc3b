//! The component inventory: the guide's port table (§5.2/§5.3, DESIGN §8) with the http checks
//! the guide asks for, the impact of a component being down (§6.3), and the `[[components]]`
//! configuration merged over it. Pure data; no I/O.

use serde::Serialize;

use crate::config::{ComponentConfig, OPSWAREORCH_FORBIDDEN_PORT};

/// One check of one port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CheckSpec {
    Tcp {
        port: u16,
    },
    Http {
        port: u16,
        path: String,
        expect_status: Vec<u16>,
        body_contains: Option<String>,
    },
}

impl CheckSpec {
    pub fn port(&self) -> u16 {
        match self {
            CheckSpec::Tcp { port } | CheckSpec::Http { port, .. } => *port,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Tcp { .. } => "tcp",
            CheckSpec::Http { .. } => "http",
        }
    }
}

/// A component: its hosts (from the configuration) and checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentSpec {
    pub name: String,
    pub hosts: Vec<String>,
    pub checks: Vec<CheckSpec>,
    /// What is unavailable when every instance is down, zh-CN and en.
    pub impact_down: (String, String),
}

fn tcp(ports: &[u16]) -> Vec<CheckSpec> {
    ports.iter().map(|p| CheckSpec::Tcp { port: *p }).collect()
}

fn http(port: u16, path: &str, expect: &[u16], body: Option<&str>) -> CheckSpec {
    CheckSpec::Http {
        port,
        path: path.into(),
        expect_status: expect.to_vec(),
        body_contains: body.map(String::from),
    }
}

/// Statuses a web front answers with when it is up (redirects to login, auth challenges).
const WEB_UP: &[u16] = &[200, 301, 302, 401];

/// The default inventory (hosts empty until configured).
pub fn defaults() -> Vec<ComponentSpec> {
    let c = |name: &str, checks: Vec<CheckSpec>, zh: &str, en: &str| ComponentSpec {
        name: name.into(),
        hosts: Vec::new(),
        checks,
        impact_down: (zh.into(), en.into()),
    };
    vec![
        c(
            "apaks",
            tcp(&[2022, 80, 8080, 8341, 12200]),
            "容器服务无法使用",
            "the container service is unavailable",
        ),
        c(
            "apaksexecutor",
            tcp(&[2022, 8080, 12200]),
            "容器构建服务无法使用",
            "the container image build service is unavailable",
        ),
        c(
            "hub",
            vec![
                http(80, "/", WEB_UP, None),
                http(5000, "/v2/", WEB_UP, None),
                tcp(&[8082]).remove(0),
            ],
            "镜像服务无法使用（无法拉取、推送镜像，harbor 管理端不可访问）",
            "the image registry is unavailable (no pull/push, no harbor UI)",
        ),
        c(
            "metaservice",
            tcp(&[2022, 8341, 12200, 8888]),
            "CAFE 整个服务无法使用，CAFE 页面无法登录",
            "all of CAFE is unavailable; the CAFE console cannot be logged into",
        ),
        c(
            "lhc",
            [
                vec![http(80, "/", WEB_UP, None)],
                tcp(&[8080, 2022, 8341, 12200]),
            ]
            .concat(),
            "负载均衡服务无法使用，应用服务的发布部署无法进行",
            "load balancing is unavailable and application services cannot be released",
        ),
        c(
            "fedapiserver",
            tcp(&[6443]),
            "联邦层数据无法读写：LHC、opswarecore 等无法操作联邦资源",
            "federation data cannot be read or written: LHC, opswarecore and others cannot act on federated resources",
        ),
        c(
            "fedcontroller",
            tcp(&[8080]),
            "联邦资源不再向各集群分发，状态不再回流",
            "federated resources are no longer propagated to clusters, and status no longer flows back",
        ),
        c(
            "kubecontroller",
            tcp(&[10252]),
            "联邦层命名空间生命周期管理与垃圾回收停止",
            "namespace lifecycle and garbage collection of the federation layer stop",
        ),
        c(
            "appcore",
            tcp(&[2022, 80, 12200]),
            "应用管理能力不可用",
            "application management is unavailable",
        ),
        c(
            "acprovisioncore",
            tcp(&[2022, 8341, 12200]),
            "资源开通能力不可用",
            "resource provisioning is unavailable",
        ),
        c(
            "iaasconnector",
            tcp(&[2022, 8341, 12200]),
            "与底层 IaaS 的对接不可用",
            "the connection to the underlying IaaS is unavailable",
        ),
        c(
            "opswareorch",
            [
                tcp(&[80, 2022, 8341, 12200]),
                vec![http(9500, "/checkService", &[200], Some("passed:true"))],
            ]
            .concat(),
            "发布编排不可用，发布单无法推进",
            "release orchestration is unavailable; release plans cannot proceed",
        ),
        c(
            "ldccore",
            tcp(&[80, 2022, 12200]),
            "单元化流量规则与容灾规则无法管理和推送",
            "unit traffic rules and disaster-recovery rules cannot be managed or pushed",
        ),
        c(
            "opswarecore",
            Vec::new(),
            "多集群运维管控的原子能力不可用",
            "the multi-cluster operations primitives are unavailable",
        ),
    ]
}

/// Other names the guide uses for a component.
pub fn canonical_name(name: &str) -> &str {
    match name {
        "aks" => "apaks",
        "aksexecutor" => "apaksexecutor",
        "orch" => "opswareorch",
        other => other,
    }
}

/// The defaults with each `[[components]]` entry replacing the default of the same name
/// (unlisted defaults remain with no hosts). Port 1234 of opswareorch never gets a check, even
/// if the configuration validation were bypassed (guide §6.4.4).
pub fn from_config(configured: &[ComponentConfig]) -> Vec<ComponentSpec> {
    let mut all = defaults();
    for cfg in configured {
        let name = canonical_name(&cfg.name).to_string();
        let default = all.iter().position(|c| c.name == name);
        let mut checks: Vec<CheckSpec> = cfg
            .tcp
            .iter()
            .filter_map(|p| u16::try_from(*p).ok())
            .map(|port| CheckSpec::Tcp { port })
            .collect();
        checks.extend(cfg.http.iter().filter_map(|h| {
            Some(CheckSpec::Http {
                port: u16::try_from(h.port).ok()?,
                path: h.path.clone(),
                expect_status: h
                    .expect_status
                    .iter()
                    .filter_map(|s| u16::try_from(*s).ok())
                    .collect(),
                body_contains: h.body_contains.clone(),
            })
        }));
        // An entry that names only hosts keeps the guide's checks.
        if checks.is_empty()
            && let Some(i) = default
        {
            checks = all[i].checks.clone();
        }
        // An http check replaces a tcp check of the same port.
        let http_ports: Vec<u16> = checks
            .iter()
            .filter(|c| c.kind() == "http")
            .map(CheckSpec::port)
            .collect();
        checks.retain(|c| c.kind() == "http" || !http_ports.contains(&c.port()));
        if name == "opswareorch" {
            checks.retain(|c| c.port() != OPSWAREORCH_FORBIDDEN_PORT);
        }
        let impact_down = default
            .map(|i| all[i].impact_down.clone())
            .unwrap_or_else(|| {
                (
                    format!("{name} 提供的能力不可用"),
                    format!("what {name} provides is unavailable"),
                )
            });
        let spec = ComponentSpec {
            name,
            hosts: cfg.hosts.clone(),
            checks,
            impact_down,
        };
        match default {
            Some(i) => all[i] = spec,
            None => all.push(spec),
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(spec: &ComponentSpec) -> Vec<u16> {
        let mut p: Vec<u16> = spec.checks.iter().map(CheckSpec::port).collect();
        p.sort();
        p
    }

    fn get<'a>(all: &'a [ComponentSpec], name: &str) -> &'a ComponentSpec {
        all.iter().find(|c| c.name == name).unwrap()
    }

    #[test]
    fn defaults_carry_every_port_of_the_guide() {
        let all = defaults();
        assert_eq!(ports(get(&all, "apaks")), [80, 2022, 8080, 8341, 12200]);
        assert_eq!(ports(get(&all, "apaksexecutor")), [2022, 8080, 12200]);
        assert_eq!(ports(get(&all, "hub")), [80, 5000, 8082]);
        assert_eq!(ports(get(&all, "metaservice")), [2022, 8341, 8888, 12200]);
        assert_eq!(ports(get(&all, "lhc")), [80, 2022, 8080, 8341, 12200]);
        assert_eq!(ports(get(&all, "fedapiserver")), [6443]);
        assert_eq!(ports(get(&all, "fedcontroller")), [8080]);
        assert_eq!(ports(get(&all, "kubecontroller")), [10252]);
        assert_eq!(ports(get(&all, "appcore")), [80, 2022, 12200]);
        assert_eq!(ports(get(&all, "acprovisioncore")), [2022, 8341, 12200]);
        assert_eq!(ports(get(&all, "iaasconnector")), [2022, 8341, 12200]);
        assert_eq!(
            ports(get(&all, "opswareorch")),
            [80, 2022, 8341, 9500, 12200]
        );
        assert_eq!(ports(get(&all, "ldccore")), [80, 2022, 12200]);
        assert!(
            all.iter().all(|c| c.hosts.is_empty()),
            "no hosts until configured"
        );
    }

    #[test]
    fn http_checks_where_the_guide_says_http() {
        let all = defaults();
        let kinds = |name| {
            get(&all, name)
                .checks
                .iter()
                .filter(|c| c.kind() == "http")
                .map(CheckSpec::port)
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds("hub"), [80, 5000]);
        assert_eq!(kinds("lhc"), [80]);
        let orch = get(&all, "opswareorch")
            .checks
            .iter()
            .find(|c| c.port() == 9500)
            .unwrap();
        assert_eq!(
            orch,
            &CheckSpec::Http {
                port: 9500,
                path: "/checkService".into(),
                expect_status: vec![200],
                body_contains: Some("passed:true".into())
            }
        );
    }

    #[test]
    fn never_port_1234_on_opswareorch() {
        assert!(
            defaults()
                .iter()
                .all(|c| c.name != "opswareorch" || c.checks.iter().all(|k| k.port() != 1234))
        );
        let cfg = ComponentConfig {
            name: "opswareorch".into(),
            hosts: vec!["10.0.0.5".into()],
            tcp: vec![80, 1234],
            http: vec![],
        };
        let merged = from_config(&[cfg]);
        assert_eq!(ports(get(&merged, "opswareorch")), [80]);
    }

    #[test]
    fn configured_entries_replace_defaults_by_name() {
        let cfg = vec![
            ComponentConfig {
                name: "aks".into(),
                hosts: vec!["10.0.0.11".into(), "10.0.0.12".into()],
                tcp: vec![],
                http: vec![],
            },
            ComponentConfig {
                name: "hub".into(),
                hosts: vec!["10.0.0.20".into()],
                tcp: vec![80, 5000],
                http: vec![],
            },
            ComponentConfig {
                name: "custom".into(),
                hosts: vec!["h".into()],
                tcp: vec![9],
                http: vec![],
            },
        ];
        let merged = from_config(&cfg);
        let apaks = get(&merged, "apaks");
        assert_eq!(apaks.hosts, ["10.0.0.11", "10.0.0.12"]);
        assert_eq!(
            ports(apaks),
            [80, 2022, 8080, 8341, 12200],
            "hosts only: the guide's checks stay"
        );
        assert_eq!(ports(get(&merged, "hub")), [80, 5000]);
        assert!(get(&merged, "hub").checks.iter().all(|c| c.kind() == "tcp"));
        assert_eq!(get(&merged, "custom").hosts, ["h"]);
        assert!(
            get(&merged, "lhc").hosts.is_empty(),
            "unlisted defaults remain without hosts"
        );
        assert_eq!(merged.len(), defaults().len() + 1);
    }
}
