//! The tower middleware against real browsers: headless Chromium and Firefox, a page on one
//! origin calling an axum app on another, and the browser's own CORS checks deciding what the
//! page can read.
//!
//! Origins: the page is `http://app.localhost:PORT` (both engines resolve `*.localhost` to
//! loopback and treat it as trustworthy, and the policy lint accepts loopback http origins with
//! credentials), the API is `http://api.example.test:PORT` and the hostile page
//! `http://evil.example.test:PORT` (mapped to 127.0.0.1 by the harness).

use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::routing::get;
use axum::Router;
use browser_harness::{expect, Browser, Cases, Credentials, Engine, FetchRequest};
use corsguard::tower::CorsLayer;
use corsguard::Policy;
use test_support::app::serve;
use test_support::pages::PageServer;

/// Every request that reached the application, as "METHOD /path".
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn count(&self, entry: &str) -> usize {
        self.0.lock().expect("lock").iter().filter(|e| *e == entry).count()
    }
}

fn app(seen: Seen) -> Router {
    Router::new()
        .route(
            "/api/items",
            get(|| async { ([("x-request-id", "42"), ("x-internal", "secret")], "items") })
                .put(|request: Request| async move {
                    let authorized =
                        request.headers().get("authorization").is_some_and(|v| v == "Bearer t0ken");
                    if authorized {
                        (StatusCode::OK, "saved")
                    } else {
                        (StatusCode::UNAUTHORIZED, "no token")
                    }
                })
                .post(|| async { "posted" })
                .patch(|| async { "patched" }),
        )
        .route("/public/status", get(|| async { "up" }))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let seen = seen.clone();
            async move {
                seen.0.lock().expect("lock").push(format!("{} {}", request.method(), request.uri().path()));
                next.run(request).await
            }
        }))
}

browser_harness::in_every_engine!(enforces_the_policy_served_by_the_middleware);

async fn enforces_the_policy_served_by_the_middleware(engine: Engine) {
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");
    let app_page = PageServer::start("app.localhost").await.expect("page server");
    let evil_page = PageServer::start("evil.example.test").await.expect("page server");

    let policy = Policy::builder()
        .origins([app_page.origin()])
        .methods(["GET", "POST", "PUT"])
        .allow_headers(["Content-Type", "Authorization"])
        .expose_headers(["X-Request-Id"])
        .credentials(true)
        .route("/public/", |r| r.origins(["*"]).credentials(false).methods(["GET"]))
        .build()
        .expect("test policy is valid");
    let seen = Seen::default();
    let api_addr = serve(app(seen.clone()).layer(CorsLayer::new(policy))).await;
    let api = format!("http://api.example.test:{}", api_addr.port());
    let items = format!("{api}/api/items");

    browser.open(&app_page.url()).await.expect("open the app page");
    assert_eq!(browser.origin().await.expect("origin"), app_page.origin());
    let mut cases = Cases::default();

    cases
        .run("credentialed GET is readable, exposed header only", async {
            let request = FetchRequest::get().credentials(Credentials::Include);
            let outcome = browser.fetch(&items, &request).await.map_err(|e| e.to_string())?;
            expect(outcome.ok && outcome.body == "items", "readable response", &outcome)?;
            expect(outcome.header("x-request-id") == Some("42"), "X-Request-Id exposed", &outcome)?;
            expect(outcome.header("x-internal").is_none(), "X-Internal hidden", &outcome)
        })
        .await;

    cases
        .run("preflighted PUT with Authorization is allowed", async {
            let request = FetchRequest::new("PUT")
                .header("Authorization", "Bearer t0ken")
                .header("Content-Type", "application/json")
                .body("{}")
                .credentials(Credentials::Include);
            let outcome = browser.fetch(&items, &request).await.map_err(|e| e.to_string())?;
            expect(outcome.ok && outcome.body == "saved", "PUT went through with its token", &outcome)?;
            // The preflight was answered by the layer: only the PUT itself reached the app.
            let options = seen.count("OPTIONS /api/items");
            expect(options == 0, &format!("preflight never reaches the app (saw {options})"), &outcome)
        })
        .await;

    cases
        .run("an unlisted method is blocked before the request is sent", async {
            let outcome =
                browser.fetch(&items, &FetchRequest::new("PATCH")).await.map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "blocked", &outcome)?;
            expect(seen.count("PATCH /api/items") == 0, "the PATCH never reached the app", &outcome)
        })
        .await;

    cases
        .run("an unlisted request header is blocked", async {
            let request = FetchRequest::get().header("X-Debug", "1");
            let outcome = browser.fetch(&items, &request).await.map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "blocked", &outcome)
        })
        .await;

    cases
        .run("the public route allows any origin, but not with credentials", async {
            let url = format!("{api}/public/status");
            let outcome = browser.fetch(&url, &FetchRequest::get()).await.map_err(|e| e.to_string())?;
            expect(outcome.ok && outcome.body == "up", "readable without credentials", &outcome)?;
            let request = FetchRequest::get().credentials(Credentials::Include);
            let outcome = browser.fetch(&url, &request).await.map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "`*` with credentials is refused by the browser", &outcome)
        })
        .await;

    browser.open(&evil_page.url()).await.expect("open the foreign page");
    cases
        .run("a foreign origin can neither read nor write", async {
            let outcome = browser.fetch(&items, &FetchRequest::get()).await.map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "GET response unreadable", &outcome)?;
            // A "simple" POST needs no preflight, so the browser sends it: cross-origin
            // protection must stop it before the application.
            let posts_before = seen.count("POST /api/items");
            let request = FetchRequest::new("POST").header("Content-Type", "text/plain").body("x");
            let outcome = browser.fetch(&items, &request).await.map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "POST response unreadable", &outcome)?;
            let posts = seen.count("POST /api/items") - posts_before;
            expect(posts == 0, &format!("cross-site POST reached the app {posts} time(s)"), &outcome)
        })
        .await;

    browser.close().await;
    assert!(cases.failures.is_empty(), "failed cases:\n{}", cases.failures.join("\n"));
}
