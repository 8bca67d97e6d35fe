//! The gateway's own upstream exchange (bodiless requests to an `http://` upstream) against
//! upstreams that answer with exact bytes: every way HTTP/1.1 delimits a body, interim
//! responses, keep-alive reuse, and keep-alive connections the upstream closes while idle.
//! Every case runs against both upstream clients (`upstream_client = "direct"` and `"hyper"`),
//! as `direct::NAME` and `hyper::NAME`.

use test_support::gateway as gateway_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use corsguard_gateway::proxy::UpstreamClient;
use gateway_support::*;
use http::{Method, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// What a scripted upstream does after reading one request head.
struct Answer {
    bytes: Vec<u8>,
    /// Close the connection after writing (without saying so in a header).
    close: bool,
}

/// An upstream on loopback that answers each request head with `script(head)`, counting the
/// connections it accepted and keeping every request head it read.
struct Scripted {
    url: String,
    connections: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

async fn scripted(script: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (connections, heads) = (Arc::new(AtomicUsize::new(0)), Arc::new(Mutex::new(Vec::new())));
    let (accepted, seen, script) = (Arc::clone(&connections), Arc::clone(&heads), Arc::new(script));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let (seen, script) = (Arc::clone(&seen), Arc::clone(&script));
            tokio::spawn(async move {
                let mut pending = Vec::new();
                while let Some(head) = gateway_support::read_head(&mut stream, &mut pending).await {
                    seen.lock().unwrap().push(head.clone());
                    let answer = script(&head);
                    if stream.write_all(&answer.bytes).await.is_err() || answer.close {
                        return;
                    }
                }
            });
        }
    });
    Scripted { url, connections, heads }
}

fn answer(bytes: impl Into<Vec<u8>>) -> Answer {
    Answer { bytes: bytes.into(), close: false }
}

/// Each case as two tests, one per upstream client.
macro_rules! for_both_clients {
    ($($case:ident),* $(,)?) => {
        mod direct {
            use corsguard_gateway::proxy::UpstreamClient;
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(UpstreamClient::Direct).await
                }
            )*
        }
        mod hyper {
            use corsguard_gateway::proxy::UpstreamClient;
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(UpstreamClient::Hyper).await
                }
            )*
        }
    };
}

for_both_clients!(
    keep_alive_connections_are_reused,
    a_keep_alive_connection_the_upstream_closed_while_idle_costs_no_request,
    chunked_bodies_arrive_whole_and_the_connection_stays_usable,
    bodies_delimited_by_closing_arrive_whole,
    head_and_no_content_answers_have_no_body_and_a_head_that_announces_one_closes,
    interim_responses_are_skipped,
    an_upstream_that_says_more_than_its_response_is_not_trusted_with_the_next_request,
    a_body_cut_short_fails_the_response_instead_of_ending_it_quietly,
    malformed_framing_is_a_502_with_cors_headers,
    a_request_the_upstream_began_to_answer_is_not_sent_again,
);

async fn keep_alive_connections_are_reused(client: UpstreamClient) {
    let upstream = scripted(|_| answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")).await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    for _ in 0..20 {
        let reply = gw.client.get("/api/items", Some(ALLOWED)).await;
        assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"));
        assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    }
    // One connection per worker thread at most: requests here come one after another.
    assert!(upstream.connections.load(Ordering::SeqCst) <= 2, "{:?}", upstream.connections);
    let heads = upstream.heads.lock().unwrap();
    assert_eq!(heads.len(), 20);
    assert!(heads[0].starts_with("GET /api/items HTTP/1.1\r\n"), "{}", heads[0]);
    assert!(heads[0].contains("\r\nx-forwarded-for: 127.0.0.1\r\n"), "{}", heads[0]);
}

async fn a_keep_alive_connection_the_upstream_closed_while_idle_costs_no_request(client: UpstreamClient) {
    // Closes after every response without saying so: the next request on the pooled
    // connection finds it closed, and must be sent again on a new one.
    let upstream = scripted(|_| Answer {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
        close: true,
    })
    .await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    for i in 0..20 {
        let reply = gw.client.get("/api/items", Some(ALLOWED)).await;
        assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "ok"), "request {i}");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(upstream.heads.lock().unwrap().len(), 20, "each request reached the upstream once");
}

async fn chunked_bodies_arrive_whole_and_the_connection_stays_usable(client: UpstreamClient) {
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Request-Id: 7\r\n\r\n".to_vec();
    for (i, chunk) in body.chunks(7_919).enumerate() {
        wire.extend_from_slice(
            format!("{:x}{}\r\n", chunk.len(), if i % 2 == 0 { ";ext=1" } else { "" }).as_bytes(),
        );
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\nX-Checksum: 1\r\n\r\n");
    let upstream = scripted(move |_| answer(wire.clone())).await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    for _ in 0..3 {
        let reply = gw.client.get("/big", Some(ALLOWED)).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.body == body, "body of {} bytes differs", reply.body.len());
        assert_eq!(reply.header("access-control-expose-headers"), Some("X-Request-Id"));
    }
    assert!(upstream.connections.load(Ordering::SeqCst) <= 2, "{:?}", upstream.connections);
}

async fn bodies_delimited_by_closing_arrive_whole(client: UpstreamClient) {
    let upstream = scripted(|_| Answer {
        bytes: b"HTTP/1.0 200 OK\r\n\r\nall of it, until the end".to_vec(),
        close: true,
    })
    .await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    for _ in 0..3 {
        let reply = gw.client.get("/legacy", Some(ALLOWED)).await;
        assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "all of it, until the end"));
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3, "a close-delimited body ends its connection");
}

async fn head_and_no_content_answers_have_no_body_and_a_head_that_announces_one_closes(
    client: UpstreamClient,
) {
    let upstream = scripted(|head| match head.split(' ').next() {
        Some("HEAD") => answer("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
        Some("DELETE") => answer("HTTP/1.1 204 No Content\r\n\r\n"),
        _ => answer("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n"),
    })
    .await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    for _ in 0..3 {
        let reply = gw.client.send(Method::HEAD, "/file", &[("origin", ALLOWED)]).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("content-length"), Some("1234"));
        assert!(reply.body.is_empty());
        let reply = gw.client.send(Method::DELETE, "/item", &[]).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        let reply = gw.client.get("/file", Some(ALLOWED)).await;
        assert_eq!((reply.status, reply.header("etag")), (StatusCode::NOT_MODIFIED, Some("\"v1\"")));
    }
    // The 204 and the 304 keep their connection; each HEAD answer, which announces 1234
    // bytes it must not send, closes the one it came on, lest a backend that does send them
    // answer the next request with them. So: one connection per round, plus the first.
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 4);
}

async fn interim_responses_are_skipped(client: UpstreamClient) {
    let upstream = scripted(|_| {
        answer("HTTP/1.1 103 Early Hints\r\nLink: </app.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal")
    })
    .await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    let reply = gw.client.get("/page", Some(ALLOWED)).await;
    assert_eq!((reply.status, reply.text().as_str()), (StatusCode::OK, "final"));
}

async fn an_upstream_that_says_more_than_its_response_is_not_trusted_with_the_next_request(
    client: UpstreamClient,
) {
    // Two responses for one request: the second must not become the answer to the next.
    let upstream = scripted(|head| {
        let n = head.split(' ').nth(1).unwrap_or("?").to_owned();
        answer(format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n{n}HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale", len = n.len()))
    })
    .await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    for path in ["/one", "/two", "/three"] {
        let reply = gw.client.get(path, Some(ALLOWED)).await;
        assert_eq!(reply.text(), path);
    }
}

async fn a_body_cut_short_fails_the_response_instead_of_ending_it_quietly(client: UpstreamClient) {
    let upstream = scripted(|_| Answer {
        bytes: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec(),
        close: true,
    })
    .await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    // The client sees the connection fail, before or after the head, never a short body that
    // looks complete.
    let reply = gw.client.try_send(Method::GET, "/cut", &[], bytes::Bytes::new()).await;
    assert!(reply.is_err(), "{reply:?}");
}

async fn malformed_framing_is_a_502_with_cors_headers(client: UpstreamClient) {
    let upstream =
        scripted(|_| answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")).await;
    let gw = gateway(POLICY, &upstream.url, |o| o.upstream_client = client).await;
    let reply = gw.client.get("/api/items", Some(ALLOWED)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
}

async fn a_request_the_upstream_began_to_answer_is_not_sent_again(client: UpstreamClient) {
    // The second request gets an interim response and then a closed connection: the upstream
    // has seen it, so it must not be sent once more on a new connection.
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    let upstream = scripted(move |_| match count.fetch_add(1, Ordering::SeqCst) {
        1 => Answer { bytes: b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), close: true },
        _ => answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    })
    .await;
    let gw = gateway(POLICY, &upstream.url, |options| {
        options.workers = 1;
        options.upstream_client = client;
    })
    .await;
    assert_eq!(gw.client.get("/first", Some(ALLOWED)).await.status, StatusCode::OK);
    let reply = gw.client.get("/second", Some(ALLOWED)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(upstream.heads.lock().unwrap().len(), 2, "the second request was sent twice");
}
