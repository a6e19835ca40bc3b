//! Probes against real loopback listeners: open, closed, silent, slow, wrong status, wrong body.

use std::time::Duration;

use lhc_ops::health::inventory::CheckSpec;
use lhc_ops::health::probe::probe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A listener that answers every connection with `response` after `delay` (or never).
async fn server(response: Option<&'static str>, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                match response {
                    Some(r) => {
                        tokio::time::sleep(delay).await;
                        let _ = sock.write_all(r.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            });
        }
    });
    port
}

fn http(port: u16, expect: &[u16], body: Option<&str>) -> CheckSpec {
    CheckSpec::Http {
        port,
        path: "/checkService".into(),
        expect_status: expect.to_vec(),
        body_contains: body.map(String::from),
    }
}

const TIMEOUT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn tcp_open_and_closed() {
    let open = server(Some(""), Duration::ZERO).await;
    let r = probe("127.0.0.1", &CheckSpec::Tcp { port: open }, TIMEOUT).await;
    assert!(r.ok, "{r:?}");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = probe("127.0.0.1", &CheckSpec::Tcp { port: closed }, TIMEOUT).await;
    assert!(!r.ok);
    assert!(r.error.unwrap().contains("refused"));
}

#[tokio::test]
async fn http_status_and_body_checks() {
    let good = server(
        Some("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\npassed:true"),
        Duration::ZERO,
    )
    .await;
    assert!(
        probe(
            "127.0.0.1",
            &http(good, &[200], Some("passed:true")),
            TIMEOUT
        )
        .await
        .ok
    );
    let wrong_body = server(
        Some("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\npassed:false"),
        Duration::ZERO,
    )
    .await;
    let r = probe(
        "127.0.0.1",
        &http(wrong_body, &[200], Some("passed:true")),
        TIMEOUT,
    )
    .await;
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("lacks"),
        "{r:?}"
    );
    let wrong_status = server(
        Some("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"),
        Duration::ZERO,
    )
    .await;
    let r = probe("127.0.0.1", &http(wrong_status, &[200, 302], None), TIMEOUT).await;
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("503"),
        "{r:?}"
    );
    let redirect = server(
        Some("HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n"),
        Duration::ZERO,
    )
    .await;
    assert!(
        probe("127.0.0.1", &http(redirect, &[200, 302], None), TIMEOUT)
            .await
            .ok
    );
    let not_http = server(Some("SSH-2.0-OpenSSH_9.2\r\n"), Duration::ZERO).await;
    let r = probe("127.0.0.1", &http(not_http, &[200], None), TIMEOUT).await;
    assert!(
        !r.ok && r.error.as_deref().unwrap().contains("not an HTTP response"),
        "{r:?}"
    );
}

#[tokio::test]
async fn silent_and_slow_targets_fail_at_the_timeout() {
    let silent = server(None, Duration::ZERO).await;
    let r = probe("127.0.0.1", &http(silent, &[200], None), TIMEOUT).await;
    assert!(
        !r.ok
            && r.error
                .as_deref()
                .unwrap()
                .contains("no answer within 300 ms"),
        "{r:?}"
    );
    let slow = server(
        Some("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        Duration::from_secs(2),
    )
    .await;
    let r = probe("127.0.0.1", &http(slow, &[200], None), TIMEOUT).await;
    assert!(!r.ok, "slower than the timeout counts as failed: {r:?}");
    let r = probe(
        "127.0.0.1",
        &http(slow, &[200], None),
        Duration::from_secs(5),
    )
    .await;
    assert!(r.ok && r.latency_ms >= 2000.0, "{r:?}");
}
