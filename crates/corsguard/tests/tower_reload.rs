//! Replacing the policy of a running axum app while requests are in flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::routing::get;
use axum::Router;
use corsguard::tower::CorsLayer;
use corsguard::{Policy, PolicyHandle};
use test_support::app::serve;
use test_support::http::{Http, Reply};

const A: &str = "https://a.example.com";
const B: &str = "https://b.example.com";

/// Policy text that allows exactly `origin`, with a max-age that tells the two apart.
fn policy_text(origin: &str, max_age: u32) -> String {
    format!(
        "[policy]\norigins = [\"{origin}\"]\nmethods = [\"GET\", \"PUT\"]\nmax_age = {max_age}\n\
         credentials = true\n"
    )
}

fn app() -> Router {
    Router::new().route("/items", get(|| async { "items" }))
}

/// Which policy produced this reply to a request from `origin`: `Some('A')`, `Some('B')`, or
/// None when it matches neither (a torn or failed answer).
fn served_by(reply: &Reply, origin: &str, preflight: bool) -> Option<char> {
    let acao = reply.header("access-control-allow-origin");
    let max_age = reply.header("access-control-max-age");
    let owner = if origin == A { 'A' } else { 'B' };
    let other = if origin == A { 'B' } else { 'A' };
    let expected_max_age = if origin == A { "600" } else { "1200" };
    match (preflight, reply.status, acao) {
        (true, StatusCode::NO_CONTENT, Some(o)) if o == origin && max_age == Some(expected_max_age) => {
            Some(owner)
        }
        (true, StatusCode::FORBIDDEN, None) if max_age.is_none() => Some(other),
        (false, StatusCode::OK, Some(o)) if o == origin && reply.body == "items" => Some(owner),
        (false, StatusCode::OK, None) if reply.body == "items" => Some(other),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_under_concurrent_requests_never_fails_a_request() {
    const TASKS: usize = 8;
    const REQUESTS: usize = 200;
    const RELOADS: usize = 50;

    let first = Policy::from_toml(&policy_text(A, 600), None).expect("valid");
    let (layer, handle) = CorsLayer::reloadable(first);
    let http = Http::new(serve(app().layer(layer)).await);
    let done = Arc::new(AtomicUsize::new(0));

    let clients: Vec<_> = (0..TASKS)
        .map(|task| {
            let (http, done) = (http.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut seen = [0usize; 2];
                for i in 0..REQUESTS {
                    let origin = if (task + i) % 2 == 0 { A } else { B };
                    let preflight = i % 3 == 0;
                    let reply = if preflight {
                        http.preflight("/items", origin, "PUT", None).await
                    } else {
                        http.send(Method::GET, "/items", &[("origin", origin)]).await
                    };
                    match served_by(&reply, origin, preflight) {
                        Some('A') => seen[0] += 1,
                        Some(_) => seen[1] += 1,
                        None => panic!("request {i} of task {task} from {origin}: {reply:?}"),
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                seen
            })
        })
        .collect();

    // Reloads are paced by the traffic, so that all of them land while requests are running.
    let reloader = {
        let (handle, done) = (handle.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let step = TASKS * REQUESTS / (RELOADS + 1);
            for n in 1..=RELOADS {
                while done.load(Ordering::SeqCst) < n * step {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let (origin, max_age) = if n % 2 == 1 { (B, 1200) } else { (A, 600) };
                handle.reload_toml(&policy_text(origin, max_age), None).expect("valid reload");
                // Every few reloads, an invalid one that must change nothing.
                if n % 5 == 0 {
                    let err = handle.reload_toml("[policy]\norigins = [\"*\"]\ncredentials = true\n", None);
                    assert!(err.is_err());
                }
            }
        })
    };

    let mut seen = [0usize; 2];
    for client in clients {
        let [a, b] = client.await.expect("client task");
        seen[0] += a;
        seen[1] += b;
    }
    reloader.await.expect("reloader task");
    assert_eq!(seen[0] + seen[1], TASKS * REQUESTS);
    assert!(seen[0] > 0 && seen[1] > 0, "both policies served traffic: {seen:?}");
    // 50 reloads ended on A.
    let reply = http.send(Method::GET, "/items", &[("origin", A)]).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(A));
}

#[tokio::test]
async fn an_invalid_reload_is_refused_and_the_old_policy_keeps_serving() {
    let (layer, handle) = CorsLayer::reloadable(Policy::from_toml(&policy_text(A, 600), None).unwrap());
    let http = Http::new(serve(app().layer(layer)).await);

    let refused = handle
        .reload_toml("[policy]\norigins = [\"https://app.example.com/\"]\nmethods = [\"TRACE\"]\n", None)
        .expect_err("invalid policy is refused");
    let codes: Vec<_> = refused.iter().map(|d| d.code.as_str()).collect();
    assert!(codes.contains(&"origin-has-path") && codes.contains(&"forbidden-method"), "{codes:?}");

    let reply = http.preflight("/items", A, "PUT", None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("access-control-allow-origin"), Some(A));

    // A valid one takes effect for the next request.
    handle.reload_toml(&policy_text(B, 1200), None).expect("valid");
    let reply = http.preflight("/items", A, "PUT", None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = http.preflight("/items", B, "PUT", None).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(B));
}

#[tokio::test]
async fn layers_sharing_a_handle_reload_together() {
    let handle = PolicyHandle::new(Policy::from_toml(&policy_text(A, 600), None).unwrap());
    let first = Http::new(serve(app().layer(CorsLayer::with_handle(handle.clone()))).await);
    let second = Http::new(serve(app().layer(CorsLayer::from(handle.clone()))).await);
    handle.replace(Policy::from_toml(&policy_text(B, 1200), None).unwrap());
    for http in [first, second] {
        let reply = http.send(Method::GET, "/items", &[("origin", B)]).await;
        assert_eq!(reply.header("access-control-allow-origin"), Some(B));
    }
}
