//! Real browsers (Chromium and Firefox) against the Python package: the example FastAPI
//! application (bindings/python/examples/fastapi_app.py) behind `corsguard.CorsMiddleware` in
//! uvicorn, pages on two origins. The same cases the gateway's browser test holds it to.
//!
//! The package must be installed first: scripts/test builds it into its virtual environment
//! before the cargo tests, and this test runs that environment's interpreter
//! (`CORSGUARD_PYTHON`, default `target/python-venv/bin/python`).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use browser_harness::{Browser, Credentials, Engine, FetchRequest};
use test_support::pages::PageServer;
use test_support::process::{free_addr, wait_listening, Proc};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example application on a loopback port, and the URL the browser reaches it at
/// (`*.localhost` is loopback in both engines, and potentially trustworthy, so the policy's
/// credentialed `http://app.localhost:*` passes its lint).
fn example_app() -> (Proc, u16) {
    let python = std::env::var_os("CORSGUARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/python-venv/bin/python"));
    let addr = free_addr();
    let mut child = Command::new(&python)
        .arg(repo().join("bindings/python/examples/fastapi_app.py"))
        .args(["--port", &addr.port().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{}: {e} (scripts/test builds the Python package first)", python.display())
        });
    wait_listening(addr, "the example FastAPI application", &mut child);
    (Proc(child), addr.port())
}

async fn hits(browser: &Browser, api: &str) -> u64 {
    // Read from the allowed page: /hits is a plain GET the policy lets it read.
    let outcome = browser.fetch(&format!("{api}/hits"), &FetchRequest::get()).await.unwrap();
    assert!(outcome.ok, "{outcome:?}");
    let count = outcome.body.trim_start_matches("{\"count\":").trim_end_matches('}');
    count.parse().unwrap_or_else(|_| panic!("/hits: {}", outcome.body))
}

async fn a_browser_sees_the_policy_through_the_asgi_middleware(engine: Engine) {
    let (_app, port) = example_app();
    let api = format!("http://api.localhost:{port}");
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");

    let app = PageServer::start("app.localhost").await.unwrap();
    browser.open(&app.url()).await.unwrap();
    let get = FetchRequest::get().credentials(Credentials::Include);
    let outcome = browser.fetch(&format!("{api}/api/items"), &get).await.unwrap();
    assert!(outcome.ok, "credentialed GET from the allowed origin, despite the app's stale `*`: {outcome:?}");
    assert_eq!(outcome.body, "[\"apple\",\"pear\"]");
    assert_eq!(outcome.header("x-request-id"), Some("req-42"), "an exposed header is readable");
    assert_eq!(outcome.header("x-internal"), None, "an unexposed one is not");

    let before = hits(&browser, &api).await;
    let put = FetchRequest::new("PUT")
        .header("Authorization", "Bearer t0ken")
        .header("Content-Type", "application/json")
        .body("{\"name\":\"pear\"}")
        .credentials(Credentials::Include);
    let outcome = browser.fetch(&format!("{api}/echo"), &put).await.unwrap();
    assert!(outcome.ok, "preflighted PUT with Authorization: {outcome:?}");
    assert_eq!(outcome.body, "{\"name\":\"pear\"}");
    assert_eq!(
        hits(&browser, &api).await,
        before + 1,
        "the middleware answered the preflight; only the PUT ran"
    );

    let before = hits(&browser, &api).await;
    let delete = browser.fetch(&format!("{api}/api/items"), &FetchRequest::new("DELETE")).await.unwrap();
    assert!(delete.blocked(), "DELETE is not in methods: {delete:?}");
    let header = browser
        .fetch(&format!("{api}/api/items"), &FetchRequest::get().header("X-Debug", "1"))
        .await
        .unwrap();
    assert!(header.blocked(), "X-Debug is not in allow_headers: {header:?}");
    assert_eq!(hits(&browser, &api).await, before, "refused preflights never reach the application");

    let boom = browser.fetch(&format!("{api}/boom"), &get).await.unwrap();
    assert!(!boom.blocked(), "an exception is a readable 500, not a CORS error: {boom:?}");
    assert_eq!(boom.status, 500);

    let evil = PageServer::start("evil.localhost").await.unwrap();
    browser.open(&evil.url()).await.unwrap();
    let read = browser.fetch(&format!("{api}/api/items"), &FetchRequest::get()).await.unwrap();
    assert!(read.blocked(), "a foreign origin cannot read: {read:?}");
    let post = FetchRequest::new("POST").header("Content-Type", "text/plain").body("transfer=all");
    let outcome = browser.fetch(&format!("{api}/api/items"), &post).await.unwrap();
    assert!(outcome.blocked(), "{outcome:?}");

    // Back on the allowed page: the foreign GET ran (CORS only hides the answer), the foreign
    // simple POST did not (cross-origin protection refused it before the application).
    browser.open(&app.url()).await.unwrap();
    assert_eq!(
        hits(&browser, &api).await,
        before + 2,
        "the 500 and the foreign GET ran; the foreign POST did not"
    );

    browser.close().await;
}

async fn only_the_allowed_page_can_open_a_websocket(engine: Engine) {
    let (_app, port) = example_app();
    let ws_url = format!("ws://api.localhost:{port}/ws");
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");

    let app = PageServer::start("app.localhost").await.unwrap();
    browser.open(&app.url()).await.unwrap();
    let outcome = browser.websocket(&ws_url, "hello from the app").await.unwrap();
    assert!(outcome.opened, "the allowed page's socket opens: {outcome:?}");
    assert_eq!(outcome.echo.as_deref(), Some("hello from the app"));

    let evil = PageServer::start("evil.localhost").await.unwrap();
    browser.open(&evil.url()).await.unwrap();
    let outcome = browser.websocket(&ws_url, "hijack").await.unwrap();
    assert!(!outcome.opened, "the foreign page's socket must not open: {outcome:?}");
    assert_eq!(outcome.echo, None);

    browser.close().await;
}

browser_harness::in_every_engine!(
    a_browser_sees_the_policy_through_the_asgi_middleware,
    only_the_allowed_page_can_open_a_websocket
);
