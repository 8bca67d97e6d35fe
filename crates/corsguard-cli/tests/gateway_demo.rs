//! `corsguard demo` in a real browser: the page fills its live table, every row shows the
//! outcome the policy promises, and the screenshot is a real rendering.

use std::time::{Duration, Instant};

use browser_harness::{Browser, Engine};
use corsguard_demo::Demo;
use serde_json::Value;

browser_harness::in_every_engine!(the_demo_page_shows_the_policy_at_work);

async fn the_demo_page_shows_the_policy_at_work(engine: Engine) {
    let demo = Demo::start(0, 0, 0).await.expect("the demo starts on free ports");
    assert!(demo.page_url.starts_with("http://127.0.0.1:"));
    assert!(demo.gateway_url.starts_with("http://localhost:"));
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");
    browser.client().set_window_size(1280, 1400).await.unwrap();
    browser.open(&demo.page_url).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done =
            browser.client().execute("return document.body.dataset.done || '';", vec![]).await.unwrap();
        if done == "true" {
            break;
        }
        assert!(Instant::now() < deadline, "the demo page did not finish its requests");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let rows = browser
        .client()
        .execute(
            "return [...document.querySelectorAll('#results tbody tr')].map(r => ({...r.dataset}));",
            vec![],
        )
        .await
        .unwrap();
    let rows = rows.as_array().expect("rows").clone();
    let row = |id: &str| -> Value {
        rows.iter().find(|r| r["test"] == id).cloned().unwrap_or_else(|| panic!("no row {id}: {rows:?}"))
    };
    // (test, browser outcome, policy reason, reached the API)
    let expected = [
        ("get", "allowed", "allowed", "yes"),
        ("credentials", "allowed", "allowed", "yes"),
        ("put-auth", "allowed", "allowed", "yes"),
        ("exposed", "allowed", "allowed", "yes"),
        ("delete", "blocked", "method-not-allowed", "no"),
        ("header", "blocked", "header-not-allowed", "no"),
        ("public", "allowed", "allowed", "yes"),
        ("public-credentials", "blocked", "allowed", "yes"),
        ("foreign-get", "blocked", "origin-not-allowed", "yes"),
        ("foreign-post", "blocked", "cross-origin-request", "no"),
    ];
    assert_eq!(rows.len(), expected.len(), "{rows:?}");
    for (id, outcome, reason, reached) in expected {
        let r = row(id);
        assert_eq!(r["outcome"], outcome, "{id}: {r}");
        assert_eq!(r["expected"], outcome, "{id}: {r}");
        assert_eq!(r["reason"], reason, "{id}: {r}");
        assert_eq!(r["reached"], reached, "{id}: {r}");
    }
    let readable: Value = serde_json::from_str(row("exposed")["readable"].as_str().unwrap()).unwrap();
    assert!(readable["X-Request-Id"].as_str().unwrap().starts_with("demo-"), "{readable}");
    assert!(readable["X-Internal-Trace"].is_null(), "{readable}");
    let summary = browser
        .client()
        .execute("return document.getElementById('summary').textContent;", vec![])
        .await
        .unwrap();
    assert_eq!(summary, "10 of 10 requests behaved as the policy says.");

    let png = browser.client().screenshot().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 800 && height >= 600, "{width}x{height}");
    // A blank or single-colour page compresses to a few kilobytes; a rendered table with text
    // and coloured badges does not.
    assert!(png.len() > 40_000, "the screenshot is a real rendering ({} bytes)", png.len());
    let out = std::env::temp_dir().join(format!("corsguard-demo-{}.png", engine.name()));
    std::fs::write(&out, &png).unwrap();

    browser.close().await;
    demo.stop().await;
}
