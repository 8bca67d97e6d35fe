//! WebSocket handshakes through the gateway. CORS does not apply to them, but browsers send
//! `Origin`: a handshake from an origin the policy does not allow is refused (403) and never
//! reaches the upstream, so no foreign page can open a credentialed WebSocket to the API.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use test_support::gateway::*;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

/// Opens a WebSocket to the gateway's `/ws` with `origin`; the status it answered with, and
/// the connection when it switched.
async fn open(
    gw: &Running,
    origin: Option<&str>,
) -> (StatusCode, Option<String>, Option<WebSocketStream<TcpStream>>) {
    let stream = TcpStream::connect(gw.addr()).await.expect("connect to the gateway");
    let mut request = http::Request::get(format!("ws://{}/ws", gw.addr()))
        .header("host", gw.addr().to_string())
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", generate_key());
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let request = request.body(()).unwrap();
    let handshake = tokio_tungstenite::client_async(request, stream);
    match tokio::time::timeout(Duration::from_secs(10), handshake).await.expect("the handshake ends in time")
    {
        Ok((ws, response)) => (response.status(), None, Some(ws)),
        Err(WsError::Http(response)) => {
            let reason = response.headers().get("corsguard-reason").map(|v| v.to_str().unwrap().to_owned());
            (response.status(), reason, None)
        }
        Err(e) => panic!("handshake failed without an HTTP answer: {e}"),
    }
}

fn requests_counted(gw: &Running, labels: &str) -> String {
    let text = gw.metrics.render();
    text.lines()
        .find(|l| l.starts_with("corsguard_requests_total{") && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("no series with {labels}:\n{text}"))
        .to_owned()
}

#[tokio::test]
async fn an_allowed_origin_and_a_client_without_origin_get_their_websocket() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    for origin in [Some(ALLOWED), Some("http://app.localhost:8123"), None] {
        let (status, _, ws) = open(&gw, origin).await;
        assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS, "{origin:?}");
        let mut ws = ws.expect("switched");
        let sent = ws.send(Message::text("ping")).await;
        assert!(sent.is_ok(), "{origin:?}");
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("echo in time");
        assert!(matches!(echoed, Some(Ok(_))), "{origin:?}: {echoed:?}");
    }
    assert_eq!(up.hits(), 3);
}

#[tokio::test]
async fn a_handshake_from_an_origin_the_policy_does_not_allow_never_reaches_the_upstream() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    for origin in [
        FOREIGN,
        "null",
        // The prefix trick, and the allowed origin with another scheme or port.
        "http://localhost:3000.evil.localhost",
        "https://localhost:3000",
        "http://localhost:3001",
        // Not canonical, and not an origin at all.
        "HTTP://LOCALHOST:3000",
        "http://localhost:3000/",
    ] {
        let (status, reason, ws) = open(&gw, Some(origin)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(reason.as_deref(), Some("websocket-origin-not-allowed"), "{origin}");
        assert!(ws.is_none());
    }
    assert_eq!(up.hits(), 0, "no refused handshake reached the upstream");
    assert_eq!(
        requests_counted(&gw, r#"kind="actual",verdict="refused",reason="websocket-origin-not-allowed""#),
        "7"
    );
}
