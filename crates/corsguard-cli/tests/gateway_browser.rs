//! Real browsers (Chromium and Firefox) through the gateway: pages on two origins, the gateway
//! on a third, a real upstream behind it. What matters is what a page's script can and cannot do.

use browser_harness::{Browser, Credentials, Engine, FetchRequest};
use test_support::gateway::*;
use test_support::pages::PageServer;

/// The gateway as the browser reaches it: `http://api.localhost:PORT` (both engines resolve
/// `*.localhost` to loopback, and treat it as potentially trustworthy, so credentialed
/// requests are allowed by the policy's lint).
fn api_url(gw: &Running) -> String {
    format!("http://api.localhost:{}", gw.addr().port())
}

browser_harness::in_every_engine!(
    a_browser_sees_the_policy_through_the_gateway,
    a_page_sees_the_real_502_when_the_upstream_is_down,
    only_the_allowed_page_can_open_a_websocket_through_the_gateway,
);

async fn a_browser_sees_the_policy_through_the_gateway(engine: Engine) {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let api = api_url(&gw);
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");

    // The trusted page: http://app.localhost:PORT matches `http://app.localhost:*`.
    let app = PageServer::start("app.localhost").await.unwrap();
    browser.open(&app.url()).await.unwrap();
    assert_eq!(browser.origin().await.unwrap(), app.origin());

    let get = FetchRequest::get().credentials(Credentials::Include);
    let outcome = browser.fetch(&format!("{api}/api/items"), &get).await.unwrap();
    assert!(outcome.ok, "credentialed GET from the allowed origin: {outcome:?}");
    assert_eq!(outcome.body, "ok");
    assert_eq!(outcome.header("x-request-id"), Some("req-42"), "an exposed header is readable");
    assert_eq!(outcome.header("x-internal"), None, "an unexposed one is not");
    assert_eq!(up.last().headers["origin"], app.origin().as_str());

    let put = FetchRequest::new("PUT")
        .header("Authorization", "Bearer t0ken")
        .header("Content-Type", "application/json")
        .body("{\"name\":\"pear\"}")
        .credentials(Credentials::Include);
    let hits = up.hits();
    let outcome = browser.fetch(&format!("{api}/echo"), &put).await.unwrap();
    assert!(outcome.ok, "preflighted PUT with Authorization: {outcome:?}");
    assert_eq!(outcome.body, "{\"name\":\"pear\"}");
    assert_eq!(up.hits(), hits + 1, "only the PUT reached the upstream; the gateway answered the preflight");
    assert_eq!(up.last().method, http::Method::PUT);
    assert_eq!(up.last().headers["authorization"], "Bearer t0ken");

    let hits = up.hits();
    let delete = browser.fetch(&format!("{api}/api/items/1"), &FetchRequest::new("DELETE")).await.unwrap();
    assert!(delete.blocked(), "DELETE is not in methods: {delete:?}");
    let header = browser
        .fetch(&format!("{api}/api/items"), &FetchRequest::get().header("X-Debug", "1"))
        .await
        .unwrap();
    assert!(header.blocked(), "X-Debug is not in allow_headers: {header:?}");
    assert_eq!(up.hits(), hits, "refused preflights never reach the upstream");

    // A foreign page: http://evil.localhost:PORT is not listed.
    let evil = PageServer::start("evil.localhost").await.unwrap();
    browser.open(&evil.url()).await.unwrap();
    let hits = up.hits();
    let read = browser.fetch(&format!("{api}/api/items"), &FetchRequest::get()).await.unwrap();
    assert!(read.blocked(), "a foreign origin cannot read: {read:?}");
    assert_eq!(up.hits(), hits + 1, "a safe request still reaches the server: CORS only hides the answer");

    let post = FetchRequest::new("POST").header("Content-Type", "text/plain").body("transfer=all");
    let outcome = browser.fetch(&format!("{api}/api/items"), &post).await.unwrap();
    assert!(outcome.blocked(), "{outcome:?}");
    assert_eq!(up.hits(), hits + 1, "the foreign simple POST never reached the upstream");

    browser.close().await;
}

async fn a_page_sees_the_real_502_when_the_upstream_is_down(engine: Engine) {
    let dead = dead_addr().await;
    let gw = gateway(POLICY, &format!("http://{dead}"), |_| {}).await;
    let api = api_url(&gw);
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");
    let app = PageServer::start("app.localhost").await.unwrap();
    browser.open(&app.url()).await.unwrap();

    let outcome = browser
        .fetch(&format!("{api}/api/items"), &FetchRequest::get().credentials(Credentials::Include))
        .await
        .unwrap();
    assert!(!outcome.blocked(), "not a misleading CORS error: {outcome:?}");
    assert_eq!(outcome.status, 502);
    assert_eq!(outcome.body, "upstream unavailable\n");

    browser.close().await;
}

async fn only_the_allowed_page_can_open_a_websocket_through_the_gateway(engine: Engine) {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let ws_url = format!("ws://api.localhost:{}/ws", gw.addr().port());
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");

    let app = PageServer::start("app.localhost").await.unwrap();
    browser.open(&app.url()).await.unwrap();
    let outcome = browser.websocket(&ws_url, "hello from the app").await.unwrap();
    assert!(outcome.opened, "the allowed page's socket opens: {outcome:?}");
    assert_eq!(outcome.echo.as_deref(), Some("hello from the app"));
    assert_eq!(up.hits(), 1);
    assert_eq!(up.last().headers["origin"], app.origin().as_str());

    // The foreign page's handshake carries its own Origin; the gateway refuses it, so the
    // socket never opens and the upstream never sees it.
    let evil = PageServer::start("evil.localhost").await.unwrap();
    browser.open(&evil.url()).await.unwrap();
    let outcome = browser.websocket(&ws_url, "hijack").await.unwrap();
    assert!(!outcome.opened, "the foreign page's socket must not open: {outcome:?}");
    assert_eq!(outcome.echo, None);
    assert_eq!(up.hits(), 1, "the foreign handshake never reached the upstream");

    browser.close().await;
}
