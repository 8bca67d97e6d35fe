//! The upstream connection cap (`upstream_max_connections`): requests beyond it wait their
//! turn instead of opening more upstream connections, none fails, and idle connections are
//! reused.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use test_support::gateway::*;
use tokio::net::TcpListener;

/// An upstream that takes 150 ms per request and records how many requests it served at once
/// at most, and how many connections it accepted.
#[derive(Clone, Default)]
struct Counting {
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
}

async fn counting_upstream() -> (String, Counting) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Counting::default();
    let shared = state.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            shared.connections.fetch_add(1, Ordering::SeqCst);
            let state = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_request| {
                    let state = state.clone();
                    async move {
                        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(150)).await;
                        state.in_flight.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, state)
}

/// `n` GETs from an allowed origin through the gateway at once, each on its own connection.
async fn concurrent_gets(addr: std::net::SocketAddr, n: usize) -> Vec<Reply> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = Http::new(addr);
            tokio::spawn(async move { client.get("/api/items", Some(ALLOWED)).await })
        })
        .collect();
    let mut replies = Vec::with_capacity(n);
    for task in tasks {
        replies.push(task.await.expect("request task"));
    }
    replies
}

/// The gateway with one worker, so that its whole cap is one pool's.
async fn one_worker_capped_at(url: &str, cap: usize) -> Running {
    gateway(POLICY, url, |options| {
        options.workers = 1;
        options.upstream_max_connections = cap;
    })
    .await
}

#[tokio::test]
async fn requests_beyond_the_cap_wait_and_all_succeed() {
    let (url, upstream) = counting_upstream().await;
    let gw = one_worker_capped_at(&url, 1).await;
    let started = Instant::now();
    for reply in concurrent_gets(gw.addr(), 4).await {
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    }
    assert_eq!(upstream.max_in_flight.load(Ordering::SeqCst), 1, "the cap was exceeded");
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1, "the one connection was not reused");
    assert!(started.elapsed() >= Duration::from_millis(4 * 150), "requests did not queue");
}

#[tokio::test]
async fn a_higher_cap_lets_requests_run_in_parallel() {
    let (url, upstream) = counting_upstream().await;
    let gw = one_worker_capped_at(&url, 4).await;
    for reply in concurrent_gets(gw.addr(), 4).await {
        assert_eq!(reply.status, StatusCode::OK);
    }
    let max = upstream.max_in_flight.load(Ordering::SeqCst);
    assert!((2..=4).contains(&max), "expected parallel upstream requests, saw at most {max}");
    assert!(upstream.connections.load(Ordering::SeqCst) <= 4);
}
