//! What the gateway does with requests that are malformed, ambiguous or asking for a tunnel:
//! each is written byte for byte on a raw connection, so nothing in a client library can tidy
//! it first.

use std::net::SocketAddr;
use std::time::Duration;

use test_support::gateway::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` (which should carry `Connection: close`) and reads the answer to its end.
async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect to the gateway");
        stream.write_all(request).await.expect("send");
        let mut answer = Vec::new();
        // A reset after the answer (the gateway closing a connection it did not read to the
        // end) still leaves the answer read so far.
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    };
    tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("the gateway answers in time")
}

fn status_of(answer: &str) -> &str {
    answer.split(' ').nth(1).unwrap_or("")
}

/// The body of a whole HTTP/1.1 answer, chunked or not.
fn body_of(answer: &str) -> String {
    let (head, mut rest) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return rest.to_owned();
    }
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

fn metric(gw: &Running, series: &str) -> String {
    let text = gw.metrics.render();
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .to_owned()
}

#[tokio::test]
async fn two_host_headers_are_refused_with_400_and_never_forwarded() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    for request in [
        &b"GET /x HTTP/1.1\r\nHost: a.localhost\r\nHost: b.localhost\r\nConnection: close\r\n\r\n"[..],
        b"GET /x HTTP/1.1\r\nHost: a.localhost\r\nhost: a.localhost\r\nConnection: close\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    ] {
        let answer = raw(gw.addr(), request).await;
        assert_eq!(status_of(&answer), "400", "{answer}");
    }
    assert_eq!(up.hits(), 0, "no such request reaches the upstream");
    assert_eq!(metric(&gw, r#"corsguard_client_errors_total{error="duplicate_host"}"#), "3");
    // One Host is fine.
    let answer = raw(gw.addr(), b"GET /x HTTP/1.1\r\nHost: a.localhost\r\nConnection: close\r\n\r\n").await;
    assert_eq!(status_of(&answer), "200", "{answer}");
}

#[tokio::test]
async fn a_malformed_request_body_is_the_clients_error_not_the_upstreams() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    for request in [
        // Not a chunk size.
        &b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"[..],
        // A chunk longer than its size.
        b"PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
    ] {
        let answer = raw(gw.addr(), request).await;
        assert_eq!(status_of(&answer), "400", "{answer}");
        assert!(answer.contains("malformed request body"), "{answer}");
    }
    assert_eq!(metric(&gw, r#"corsguard_client_errors_total{error="request_body"}"#), "2");
    for cause in ["connect", "timeout", "protocol"] {
        let series = format!("corsguard_upstream_errors_total{{error=\"{cause}\"}}");
        assert_eq!(metric(&gw, &series), "0", "a client's bad body trips no upstream alert");
    }
}

#[tokio::test]
async fn a_body_is_forwarded_whatever_the_method() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    for (method, framing) in [
        ("GET", "chunked"),
        ("GET", "length"),
        ("DELETE", "chunked"),
        ("DELETE", "length"),
        ("OPTIONS", "chunked"),
        ("POST", "chunked"),
    ] {
        let request = match framing {
            "chunked" => format!(
                "{method} /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
                 5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            ),
            _ => format!(
                "{method} /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world"
            ),
        };
        let answer = raw(gw.addr(), request.as_bytes()).await;
        assert_eq!(status_of(&answer), "200", "{method} {framing}: {answer}");
        assert_eq!(body_of(&answer), "hello world", "{method} {framing}: {answer}");
        assert_eq!(up.last().method.as_str(), method);
    }
}

const H2C_UPGRADE: &[u8] = b"GET /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n\
Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nConnection: close\r\n\r\n";

#[tokio::test]
async fn an_h2c_upgrade_reaches_the_upstream_as_plain_http11() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let answer = raw(gw.addr(), H2C_UPGRADE).await;
    assert_eq!(status_of(&answer), "200", "{answer}");
    let seen = up.last();
    assert_eq!(seen.path, "/plain");
    for name in ["upgrade", "http2-settings", "connection"] {
        assert!(seen.headers.get(name).is_none(), "{name} reached the upstream: {:?}", seen.headers);
    }
    // With a body (hyper's client path) too.
    let with_body = b"POST /echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\
Content-Length: 2\r\nConnection: close\r\n\r\nhi";
    let answer = raw(gw.addr(), with_body).await;
    assert_eq!(status_of(&answer), "200", "{answer}");
    assert!(up.last().headers.get("upgrade").is_none());
    // Only a lone `websocket` passes as an upgrade; a list with another token does not.
    let mixed = b"GET /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket, h2c\r\n\
Connection: close\r\n\r\n";
    let answer = raw(gw.addr(), mixed).await;
    assert_eq!(status_of(&answer), "200", "{answer}");
    assert!(up.last().headers.get("upgrade").is_none());
}

#[tokio::test]
async fn an_upstream_that_switches_protocols_unasked_gets_no_tunnel() {
    let switching: &'static [u8] =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n\
\x00\x00\x12\x04\x00\x00\x00\x00\x00";
    let up = broken_upstream(switching, false).await;
    let gw = gateway(POLICY, &format!("http://{up}"), |_| {}).await;
    // Bodiless (the gateway's own exchange), with a body (hyper's client), and a WebSocket
    // handshake that the upstream answers with another protocol.
    for request in [
        H2C_UPGRADE,
        b"POST /x HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade, close\r\nContent-Length: 2\r\n\r\nhi",
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ] {
        let answer = raw(gw.addr(), request).await;
        assert_eq!(status_of(&answer), "502", "{answer}");
        assert!(!answer.contains("101"), "{answer}");
    }
}
