//! The gateway in front of a real upstream on loopback: decisions, header hygiene, streaming,
//! upstream failures, HTTP/2, WebSocket and TLS.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, StatusCode, Version};
use http_body_util::BodyExt;
use test_support::gateway::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn preflights_are_answered_by_the_gateway_and_never_forwarded() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;

    let ok = gw.client.preflight("/api/items", ALLOWED, "PUT", Some("authorization,content-type")).await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(ok.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(ok.header("access-control-allow-methods"), Some("GET, POST, PUT"));
    assert_eq!(ok.header("access-control-allow-headers"), Some("Content-Type, Authorization"));
    assert_eq!(ok.header("access-control-max-age"), Some("600"));
    assert!(ok.header("vary").unwrap().starts_with("Origin, Access-Control-Request-Method"));

    let method = gw.client.preflight("/api/items", ALLOWED, "DELETE", None).await;
    assert_eq!(method.status, StatusCode::FORBIDDEN);
    assert_eq!(method.cors_header_count(), 0);
    assert_eq!(method.header("corsguard-reason"), Some("method-not-allowed"));

    let header = gw.client.preflight("/api/items", ALLOWED, "GET", Some("x-debug")).await;
    assert_eq!(header.status, StatusCode::FORBIDDEN);
    assert_eq!(header.header("corsguard-reason"), Some("header-not-allowed"));

    let origin = gw.client.preflight("/api/items", FOREIGN, "GET", None).await;
    assert_eq!(origin.status, StatusCode::FORBIDDEN);
    assert_eq!(origin.cors_header_count(), 0);

    assert_eq!(up.hits(), 0, "no preflight may reach the upstream");
}

#[tokio::test]
async fn allowed_requests_get_exactly_one_acao_and_a_merged_vary() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;

    let reply = gw.client.get("/own-cors", Some(ALLOWED)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.all("access-control-allow-origin"), [ALLOWED], "the upstream's `*` is replaced");
    assert_eq!(reply.all("access-control-allow-credentials"), ["true"]);
    assert_eq!(reply.header("access-control-expose-headers"), Some("X-Request-Id"));
    assert!(reply.header("access-control-allow-methods").is_none(), "upstream ACAM stripped");
    assert_eq!(reply.all("vary"), ["Accept-Encoding", "Origin"]);
    assert_eq!(reply.text(), "own");

    // Without Origin the upstream's CORS headers are stripped too, and caches are told the
    // answer depends on Origin.
    let plain = gw.client.get("/own-cors", None).await;
    assert_eq!(plain.cors_header_count(), 0);
    assert_eq!(plain.all("vary"), ["Accept-Encoding", "Origin"]);
    assert_eq!(up.hits(), 2);
}

#[tokio::test]
async fn foreign_origins_read_nothing_and_cannot_post() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;

    let get = gw.client.get("/own-cors", Some(FOREIGN)).await;
    assert_eq!(get.status, StatusCode::OK, "a safe request is forwarded");
    assert_eq!(get.cors_header_count(), 0, "but the browser is not allowed to read it");
    assert_eq!(get.header("corsguard-reason"), Some("origin-not-allowed"));
    assert_eq!(up.hits(), 1);

    let post = gw
        .client
        .try_send(
            Method::POST,
            "/api/items",
            &[("origin", FOREIGN), ("sec-fetch-site", "cross-site"), ("content-type", "text/plain")],
            "delete everything",
        )
        .await
        .unwrap();
    assert_eq!(post.status, StatusCode::FORBIDDEN);
    assert_eq!(post.header("corsguard-reason"), Some("cross-origin-request"));
    assert_eq!(post.cors_header_count(), 0);
    assert_eq!(up.hits(), 1, "the cross-origin POST never reached the upstream");

    // A non-browser client (no Origin, no Sec-Fetch-Site) is not a CSRF vector: forwarded.
    let curl = gw.client.try_send(Method::POST, "/api/items", &[], "x").await.unwrap();
    assert_eq!(curl.status, StatusCode::OK);
    assert_eq!(up.hits(), 2);
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_forwarded_headers_set() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let reply = gw
        .client
        .send(
            Method::GET,
            "/api/items?page=2",
            &[
                ("origin", ALLOWED),
                ("host", "api.localhost:8080"),
                ("connection", "x-hop"),
                ("x-hop", "secret"),
                ("proxy-authorization", "Basic Zm9vOmJhcg=="),
                ("x-forwarded-for", "203.0.113.7"),
                ("authorization", "Bearer t"),
            ],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-request-id"), Some("req-42"));
    let seen = up.last();
    assert_eq!(seen.path, "/api/items");
    let h = |name: &str| seen.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("host").as_deref(), Some("api.localhost:8080"), "Host is passed through");
    assert_eq!(h("x-hop"), None);
    assert_eq!(h("proxy-authorization"), None);
    assert_eq!(h("authorization").as_deref(), Some("Bearer t"));
    assert_eq!(h("x-forwarded-for").as_deref(), Some("203.0.113.7, 127.0.0.1"));
    assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(h("x-forwarded-host").as_deref(), Some("api.localhost:8080"));
    assert_eq!(h("forwarded").as_deref(), Some("for=127.0.0.1;proto=http;host=\"api.localhost:8080\""));
    assert_eq!(h("origin").as_deref(), Some(ALLOWED), "the upstream still sees the Origin");
}

#[tokio::test]
async fn five_megabytes_pass_through_intact_both_ways() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let body = big_body();

    let echoed =
        gw.client.try_send(Method::PUT, "/echo", &[("origin", ALLOWED)], body.clone()).await.unwrap();
    assert_eq!(echoed.status, StatusCode::OK);
    assert_eq!(echoed.header("access-control-allow-origin"), Some(ALLOWED));
    assert!(echoed.body == body, "upload echoed back byte for byte ({} bytes)", echoed.body.len());

    let download = gw.client.get("/big", Some(ALLOWED)).await;
    assert_eq!(download.body.len(), body.len());
    assert!(download.body == body);
}

#[tokio::test]
async fn response_bodies_are_streamed_not_buffered() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let mut body = gw.client.stream("/hold").await.into_body();
    // The upstream holds its last chunk until the first one arrived here; a gateway that
    // buffered whole bodies would never deliver it.
    let first = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("the first chunk arrives while the upstream is still sending")
        .unwrap()
        .unwrap();
    assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"first;"));
    up.release.notify_one();
    let rest = collect_body(body).await.unwrap();
    assert_eq!(rest, Bytes::from_static(b"last"));
}

#[tokio::test]
async fn a_dead_upstream_is_a_502_the_page_can_read() {
    let dead = dead_addr().await;
    let gw = gateway(POLICY, &format!("http://{dead}"), |_| {}).await;

    let allowed = gw.client.get("/api/items", Some(ALLOWED)).await;
    assert_eq!(allowed.status, StatusCode::BAD_GATEWAY);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(allowed.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(allowed.header("vary"), Some("Origin"));

    let foreign = gw.client.get("/api/items", Some(FOREIGN)).await;
    assert_eq!(foreign.status, StatusCode::BAD_GATEWAY);
    assert!(foreign.header("access-control-allow-origin").is_none());

    let metrics = gw.metrics.render();
    assert!(metrics.contains("corsguard_upstream_errors_total{error=\"connect\"} 2"), "{metrics}");
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_with_cors_headers() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |o| o.upstream_timeout = Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let reply = gw.client.get("/slow", Some(ALLOWED)).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    assert!(gw.metrics.render().contains("corsguard_upstream_errors_total{error=\"timeout\"} 1"));
}

#[tokio::test]
async fn resets_and_garbage_from_the_upstream_are_502s() {
    let reset = broken_upstream(b"", true).await;
    let gw = gateway(POLICY, &format!("http://{reset}"), |_| {}).await;
    let reply = gw.client.get("/api/items", Some(ALLOWED)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));

    let garbage = broken_upstream(b"\x16\x03\x01garbage that is not HTTP\r\n\r\n", false).await;
    let gw = gateway(POLICY, &format!("http://{garbage}"), |_| {}).await;
    let reply = gw.client.get("/api/items", Some(ALLOWED)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));

    let silent = broken_upstream(b"", false).await;
    let gw = gateway(POLICY, &format!("http://{silent}"), |_| {}).await;
    let reply = gw.client.get("/api/items", None).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert!(gw.metrics.render().contains("corsguard_upstream_errors_total{error=\"protocol\"} 1"));
}

#[tokio::test]
async fn http2_clients_with_prior_knowledge_are_served() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let h2 = Http::h2c(gw.addr());

    let reply = h2.get("/api/items", Some(ALLOWED)).await;
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    assert_eq!(reply.text(), "ok");
    let seen = up.last();
    assert_eq!(seen.headers.get("host").unwrap(), &gw.addr().to_string(), "the :authority becomes Host");

    let preflight = h2.preflight("/api/items", ALLOWED, "PUT", None).await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);

    let echoed = h2.try_send(Method::POST, "/echo", &[("origin", ALLOWED)], big_body()).await.unwrap();
    assert!(echoed.body == big_body());
}

#[tokio::test]
async fn websocket_upgrades_are_passed_through() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let request = http::Request::get(format!("ws://{}/ws", gw.addr()))
        .header("host", gw.addr().to_string())
        .header("origin", ALLOWED)
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", tokio_tungstenite::tungstenite::handshake::client::generate_key())
        .body(())
        .unwrap();
    let (mut ws, response) = tokio_tungstenite::client_async(request, stream).await.expect("handshake");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    use tokio_tungstenite::tungstenite::Message;
    for text in ["hello", "through the gateway"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(echoed, Message::text(text));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed, Message::binary(vec![0u8, 1, 2, 255]));
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn report_mode_changes_nothing_but_counts_and_logs() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |o| {
        o.mode = corsguard_gateway::proxy::ModeSwitch::new(corsguard_gateway::proxy::Mode::Report)
    })
    .await;

    let preflight = gw.client.preflight("/own-cors", FOREIGN, "DELETE", None).await;
    assert_eq!(preflight.status, StatusCode::OK, "the upstream answered the preflight");
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"), "its headers are kept");
    assert_eq!(up.hits(), 1);

    let post = gw
        .client
        .try_send(Method::POST, "/own-cors", &[("origin", FOREIGN), ("sec-fetch-site", "cross-site")], "x")
        .await
        .unwrap();
    assert_eq!(post.status, StatusCode::OK, "not refused in report mode");
    assert_eq!(up.hits(), 2);
    assert!(post.header("corsguard-reason").is_none());

    let metrics = gw.metrics.render();
    assert!(metrics.contains(
        r#"corsguard_requests_total{kind="preflight",verdict="refused",reason="origin-not-allowed"} 1"#
    ));
    assert!(metrics.contains(
        r#"corsguard_requests_total{kind="actual",verdict="refused",reason="cross-origin-request"} 1"#
    ));
    assert!(metrics.contains("corsguard_report_mode 1"));
}

#[tokio::test]
async fn metrics_count_requests_verdicts_and_latency() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    gw.client.get("/a", Some(ALLOWED)).await;
    gw.client.get("/a", None).await;
    gw.client.preflight("/a", ALLOWED, "PUT", None).await;
    gw.client.preflight("/a", ALLOWED, "PATCH", None).await;
    let text = gw.metrics.render();
    for line in [
        r#"corsguard_requests_total{kind="actual",verdict="allowed",reason="allowed"} 1"#,
        r#"corsguard_requests_total{kind="not_cors",verdict="allowed",reason="no-origin"} 1"#,
        r#"corsguard_requests_total{kind="preflight",verdict="allowed",reason="allowed"} 1"#,
        r#"corsguard_requests_total{kind="preflight",verdict="refused",reason="method-not-allowed"} 1"#,
        r#"corsguard_requests_total{kind="preflight",verdict="refused",reason="origin-not-allowed"} 0"#,
        "corsguard_upstream_response_seconds_count 2",
        r#"corsguard_reloads_total{result="ok"} 0"#,
        r#"corsguard_reloads_total{result="failed"} 0"#,
        "# TYPE corsguard_upstream_response_seconds histogram",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
}

#[tokio::test]
async fn slow_request_headers_are_cut_off() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |o| o.header_timeout = Duration::from_millis(300)).await;
    let mut stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the gateway closed the connection of a client that never finished its headers");
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn a_client_that_never_sends_a_byte_is_disconnected() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |o| o.header_timeout = Duration::from_millis(300)).await;
    // Nothing; half an HTTP/2 preface; and a whole one with its SETTINGS, after which the
    // client acknowledges nothing the gateway sends (a GOAWAY's PING included).
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    for opening in [&b""[..], &preface[..16], &preface[..]] {
        let mut stream = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
        stream.write_all(opening).await.unwrap();
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut buf)).await;
        assert!(
            read.is_ok(),
            "a connection that opened with {opening:?} and stalled is still open after 3 s"
        );
        assert!(started.elapsed() >= Duration::from_millis(250), "closed before the header timeout");
    }
}

/// An HTTP/2 connection to the gateway, driven in the background; `closed` resolves when the
/// gateway ends it.
async fn h2_connection(
    addr: std::net::SocketAddr,
) -> (hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>, tokio::task::JoinHandle<()>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    (sender, tokio::spawn(async move { conn.await.expect("the gateway ends the connection cleanly") }))
}

fn h2_get(path: &str) -> http::Request<http_body_util::Empty<Bytes>> {
    http::Request::get(format!("http://gateway{path}"))
        .header("origin", ALLOWED)
        .body(Default::default())
        .unwrap()
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_and_a_busy_one_is_not() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |o| o.header_timeout = Duration::from_millis(300)).await;

    let (mut busy, busy_closed) = h2_connection(gw.addr()).await;
    let (mut idle, idle_closed) = h2_connection(gw.addr()).await;
    assert_eq!(idle.send_request(h2_get("/api/items")).await.unwrap().status(), StatusCode::OK);
    // One request every 100 ms for 1.5 s: five header timeouts, never one without a request.
    for _ in 0..15 {
        assert_eq!(busy.send_request(h2_get("/api/items")).await.unwrap().status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(idle_closed.is_finished(), "an HTTP/2 connection without requests for 1.5 s is still open");
    assert!(!busy_closed.is_finished(), "a busy HTTP/2 connection was closed");
    // Once the busy one stops, it is closed too (between one and two header timeouts later).
    tokio::time::timeout(Duration::from_secs(2), busy_closed).await.expect("closed once idle").unwrap();
}

#[tokio::test]
async fn a_slow_http2_request_outlasting_the_idle_period_is_answered() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |o| o.header_timeout = Duration::from_millis(300)).await;
    let (mut sender, closed) = h2_connection(gw.addr()).await;
    // `/slow` answers after 2 s, more than six header timeouts.
    let response = sender.send_request(h2_get("/slow")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(collect_body(response.into_body()).await.unwrap(), &b"slow"[..]);
    // Not sent away while the request was in flight: the connection takes the next one.
    assert_eq!(sender.send_request(h2_get("/api/items")).await.unwrap().status(), StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(2), closed).await.expect("closed once idle").unwrap();
}

#[tokio::test]
async fn tls_is_terminated_with_the_configured_certificate() {
    use std::sync::Arc;

    let dir = test_support::tempdir::fresh_dir("corsguard-gw");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let tls = corsguard_gateway::tls::Tls::load(dir.join("cert.pem"), dir.join("key.pem")).unwrap();

    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |o| o.tls = Some(tls)).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = connector.connect(name, tcp).await.expect("TLS handshake with the gateway");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "HTTP/2 is offered over TLS");

    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get("https://localhost/api/items")
        .header("origin", ALLOWED)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], ALLOWED);
    assert_eq!(up.last().headers["x-forwarded-proto"], "https");
    std::fs::remove_dir_all(dir).ok();
}
