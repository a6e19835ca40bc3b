//! Probes: a TCP connect, or an HTTP/1.1 GET whose status must be in a set and whose body may
//! have to contain a string. Every probe is bounded by one timeout covering resolution,
//! connect, request and response, so a black-holed or silent target costs exactly the timeout.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::inventory::CheckSpec;

/// Most of a response body read for `body_contains`.
const MAX_BODY: usize = 64 * 1024;

/// What one probe found.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeResult {
    pub ok: bool,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// Runs one check against one host.
pub async fn probe(host: &str, check: &CheckSpec, timeout: Duration) -> ProbeResult {
    let start = Instant::now();
    let outcome = tokio::time::timeout(timeout, run(host, check)).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(Ok(())) => ProbeResult {
            ok: true,
            latency_ms,
            error: None,
        },
        Ok(Err(e)) => ProbeResult {
            ok: false,
            latency_ms,
            error: Some(e),
        },
        Err(_) => ProbeResult {
            ok: false,
            latency_ms,
            error: Some(format!("no answer within {} ms", timeout.as_millis())),
        },
    }
}

async fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    TcpStream::connect(&addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => format!("port {port} refused the connection"),
        _ => format!("cannot connect to {addr}: {e}"),
    })
}

async fn run(host: &str, check: &CheckSpec) -> Result<(), String> {
    match check {
        CheckSpec::Tcp { port } => connect(host, *port).await.map(|_| ()),
        CheckSpec::Http {
            port,
            path,
            expect_status,
            body_contains,
        } => {
            let mut stream = connect(host, *port).await?;
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: lhc-ops-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            );
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| format!("sending the request failed: {e}"))?;
            let (status, body) = read_response(&mut stream).await?;
            check_response(status, &body, expect_status, body_contains.as_deref())
        }
    }
}

/// Reads the status code and up to [`MAX_BODY`] bytes of body.
async fn read_response(stream: &mut TcpStream) -> Result<(u16, Vec<u8>), String> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the response failed: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_BODY + 16 * 1024 {
            break;
        }
    }
    parse_response(&buf)
}

/// Parses `HTTP/1.x NNN …` and splits off the body (pure, for tests).
pub fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    if raw.is_empty() {
        return Err("the connection closed without a response".into());
    }
    let line_end = raw.iter().position(|b| *b == b'\n').unwrap_or(raw.len());
    let line = String::from_utf8_lossy(&raw[..line_end]);
    let mut parts = line.split_whitespace();
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "not an HTTP response: {:?}",
            line.chars().take(60).collect::<String>()
        ));
    };
    if !version.starts_with("HTTP/") {
        return Err(format!(
            "not an HTTP response: {:?}",
            line.chars().take(60).collect::<String>()
        ));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| format!("bad HTTP status {code:?}"))?;
    let body_start = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(raw.len());
    let body = raw[body_start..].iter().take(MAX_BODY).copied().collect();
    Ok((status, body))
}

/// Whether a response passes (pure, for tests).
pub fn check_response(
    status: u16,
    body: &[u8],
    expect: &[u16],
    body_contains: Option<&str>,
) -> Result<(), String> {
    let expect: &[u16] = if expect.is_empty() { &[200] } else { expect };
    if !expect.contains(&status) {
        return Err(format!("HTTP {status}, expected {expect:?}"));
    }
    if let Some(needle) = body_contains
        && !body
            .windows(needle.len().max(1))
            .any(|w| w == needle.as_bytes())
    {
        return Err(format!("HTTP {status} but the body lacks `{needle}`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_parsed_and_judged() {
        let (s, b) =
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\npassed:true").unwrap();
        assert_eq!((s, b.as_slice()), (200, b"passed:true".as_slice()));
        assert!(check_response(200, &b, &[200], Some("passed:true")).is_ok());
        assert!(
            check_response(200, b"passed:false", &[200], Some("passed:true"))
                .unwrap_err()
                .contains("lacks")
        );
        assert!(
            check_response(500, b"", &[200, 301], None)
                .unwrap_err()
                .contains("HTTP 500")
        );
        assert!(
            check_response(302, b"", &[], None).is_err(),
            "default expects 200"
        );
        assert!(
            parse_response(b"SSH-2.0-OpenSSH\r\n")
                .unwrap_err()
                .contains("not an HTTP response")
        );
        assert!(parse_response(b"").is_err());
    }
}
