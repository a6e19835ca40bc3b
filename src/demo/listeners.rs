//! Loopback stand-ins for the CAFE components' ports in the demo, so a new user sees up,
//! degraded and down states. Each component gets two instances, 127.0.0.1 and 127.0.0.2, on
//! ephemeral ports. Deliberately: hub's second instance has port 5000 closed (degraded),
//! opswareorch's second instance accepts :9500 but never answers (black-holed, degraded),
//! ldccore has nothing listening (down). Loopback only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::{ComponentConfig, HttpCheckConfig};
use crate::health::inventory::{self, CheckSpec};

const HOSTS: [Ipv4Addr; 2] = [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2)];

/// How a stand-in port behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    /// Answers HTTP 200 with `passed:true` (also fine for TCP checks).
    Serve,
    /// Accepts connections and never answers.
    BlackHole,
    /// Nothing listens.
    Closed,
}

fn behaviour(component: &str, instance: usize, check: &CheckSpec) -> Behaviour {
    match (component, instance, check.port()) {
        ("ldccore", _, _) => Behaviour::Closed,
        ("hub", 1, 5000) => Behaviour::Closed,
        ("opswareorch", 1, 9500) => Behaviour::BlackHole,
        _ => Behaviour::Serve,
    }
}

async fn serve(listener: TcpListener, behaviour: Behaviour) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            if behaviour == Behaviour::BlackHole {
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                return;
            }
            let mut buf = [0u8; 2048];
            let _ =
                tokio::time::timeout(std::time::Duration::from_secs(2), sock.read(&mut buf)).await;
            let body = "passed:true";
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        });
    }
}

/// Binds the stand-ins; returns the `[[components]]` entries pointing at them and the tasks.
pub async fn spawn() -> std::io::Result<(Vec<ComponentConfig>, Vec<JoinHandle<()>>)> {
    let mut configs = Vec::new();
    let mut tasks = Vec::new();
    for spec in inventory::defaults()
        .into_iter()
        .filter(|c| !c.checks.is_empty())
    {
        let mut tcp = Vec::new();
        let mut http = Vec::new();
        for check in &spec.checks {
            // One ephemeral port per check, the same on both instance addresses.
            let first = TcpListener::bind(SocketAddr::new(IpAddr::V4(HOSTS[0]), 0)).await?;
            let port = first.local_addr()?.port();
            let mut listeners = vec![(0, first)];
            if let Ok(second) = TcpListener::bind(SocketAddr::new(IpAddr::V4(HOSTS[1]), port)).await
            {
                listeners.push((1, second));
            }
            for (instance, listener) in listeners {
                match behaviour(&spec.name, instance, check) {
                    Behaviour::Closed => drop(listener),
                    b => tasks.push(tokio::spawn(serve(listener, b))),
                }
            }
            match check {
                CheckSpec::Tcp { .. } => tcp.push(i64::from(port)),
                CheckSpec::Http {
                    path,
                    expect_status,
                    body_contains,
                    ..
                } => http.push(HttpCheckConfig {
                    port: i64::from(port),
                    path: path.clone(),
                    expect_status: expect_status.iter().map(|s| i64::from(*s)).collect(),
                    body_contains: body_contains.clone(),
                }),
            }
        }
        configs.push(ComponentConfig {
            name: spec.name,
            hosts: HOSTS.iter().map(|h| h.to_string()).collect(),
            tcp,
            http,
        });
    }
    Ok((configs, tasks))
}
