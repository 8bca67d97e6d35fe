//! The Node package against real browsers: `bindings/node/examples/express.js` (Express behind
//! the `corsguard` middleware) run by node on loopback, pages on two origins in headless
//! Chromium and Firefox, and the browser's own CORS checks deciding what each page can read.
//!
//! Needs the package built first (`npm ci && npm run build:debug` in `bindings/node`, as
//! `scripts/test` does); without it the example exits with the package's message saying so.
//!
//! Origins: the allowed page is `http://app.localhost:PORT` (loopback, trustworthy, accepted
//! with credentials), the foreign one `http://evil.example.test:PORT`, the API
//! `http://api.example.test:PORT` (both mapped to 127.0.0.1 by the harness).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use browser_harness::{expect, Browser, Cases, Credentials, Engine, FetchRequest};
use test_support::pages::PageServer;
use test_support::process::{free_addr, wait_listening, Proc};
use test_support::tempdir::write_file;

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bindings/node")
}

/// The example, serving `policy`, on a free loopback port.
fn start_example(policy: &str) -> (Proc, SocketAddr) {
    let config = write_file("node-browser", "corsguard.toml", policy);
    let addr = free_addr();
    let child = Command::new("node")
        .arg(package_dir().join("examples/express.js"))
        .current_dir(package_dir())
        .env("CORSGUARD_CONFIG", &config)
        .env("PORT", addr.port().to_string())
        .env_remove("CORSGUARD_PROFILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (Node.js is installed by scripts/test's machine)");
    let mut child = Proc(child);
    wait_listening(addr, "node examples/express.js", &mut child.0);
    (child, addr)
}

/// How many orders the example took, asked from the test itself (not a browser).
fn orders(addr: SocketAddr) -> u64 {
    let mut stream = TcpStream::connect(addr).expect("connect to the example");
    write!(stream, "GET /api/orders HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let count = response.split("\"count\":").nth(1).expect("a count in the body");
    count.trim_end_matches(['}', '\n']).parse().expect("a number")
}

browser_harness::in_every_engine!(the_express_example_enforces_the_policy);

async fn the_express_example_enforces_the_policy(engine: Engine) {
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");
    let app_page = PageServer::start("app.localhost").await.expect("page server");
    let evil_page = PageServer::start("evil.example.test").await.expect("page server");
    let policy = format!(
        "[profiles.test]\norigins = [\"{}\"]\nmethods = [\"GET\", \"POST\", \"PUT\"]\n\
         allow_headers = [\"Content-Type\", \"Authorization\"]\nexpose_headers = [\"X-Request-Id\"]\n\
         credentials = true\n",
        app_page.origin()
    );
    let (_example, addr) = start_example(&policy);
    let api = format!("http://api.example.test:{}", addr.port());
    let mut cases = Cases::default();

    browser.open(&app_page.url()).await.expect("open the app page");
    cases
        .run("credentialed GET is readable, with the exposed header", async {
            let request = FetchRequest::get().credentials(Credentials::Include);
            let outcome =
                browser.fetch(&format!("{api}/api/profile"), &request).await.map_err(|e| e.to_string())?;
            expect(outcome.ok && outcome.body.contains("Ada"), "readable", &outcome)?;
            expect(outcome.header("x-request-id") == Some("42"), "X-Request-Id exposed", &outcome)
        })
        .await;
    cases
        .run("preflighted PUT with Authorization goes through", async {
            let request = FetchRequest::new("PUT")
                .header("Authorization", "Bearer t0ken")
                .header("Content-Type", "application/json")
                .body("{\"name\":\"x\"}")
                .credentials(Credentials::Include);
            let outcome =
                browser.fetch(&format!("{api}/api/items/7"), &request).await.map_err(|e| e.to_string())?;
            expect(outcome.ok && outcome.body.contains("\"saved\":true"), "saved with its token", &outcome)
        })
        .await;
    cases
        .run("an unlisted method is blocked", async {
            let outcome = browser
                .fetch(&format!("{api}/api/items/7"), &FetchRequest::new("DELETE"))
                .await
                .map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "blocked", &outcome)
        })
        .await;
    cases
        .run("an unlisted request header is blocked", async {
            let request = FetchRequest::get().header("X-Debug", "1");
            let outcome =
                browser.fetch(&format!("{api}/api/profile"), &request).await.map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "blocked", &outcome)
        })
        .await;
    cases
        .run("the application's 500 is readable by the allowed page", async {
            let request = FetchRequest::get().credentials(Credentials::Include);
            let outcome =
                browser.fetch(&format!("{api}/api/fail"), &request).await.map_err(|e| e.to_string())?;
            expect(!outcome.blocked() && outcome.status == 500, "a readable 500", &outcome)?;
            expect(outcome.body.contains("the database is down"), "the error's body", &outcome)
        })
        .await;
    cases
        .run("the allowed page's simple POST reaches the route", async {
            let before = orders(addr);
            let request = FetchRequest::new("POST").header("Content-Type", "text/plain").body("tea");
            let outcome =
                browser.fetch(&format!("{api}/api/orders"), &request).await.map_err(|e| e.to_string())?;
            expect(outcome.status == 201, "ordered", &outcome)?;
            expect(orders(addr) == before + 1, "one order more", &outcome)
        })
        .await;

    browser.open(&evil_page.url()).await.expect("open the foreign page");
    cases
        .run("a foreign page cannot read, even where the route sets ACAO: *", async {
            let outcome = browser
                .fetch(&format!("{api}/api/legacy"), &FetchRequest::get())
                .await
                .map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "unreadable", &outcome)?;
            let outcome = browser
                .fetch(&format!("{api}/api/profile"), &FetchRequest::get())
                .await
                .map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "unreadable", &outcome)
        })
        .await;
    cases
        .run("a foreign simple POST never reaches the route", async {
            let before = orders(addr);
            let request = FetchRequest::new("POST").header("Content-Type", "text/plain").body("forged");
            let outcome =
                browser.fetch(&format!("{api}/api/orders"), &request).await.map_err(|e| e.to_string())?;
            expect(outcome.blocked(), "unreadable", &outcome)?;
            let taken = orders(addr) - before;
            expect(taken == 0, &format!("the forged POST was taken {taken} time(s)"), &outcome)
        })
        .await;

    browser.close().await;
    assert!(cases.failures.is_empty(), "failed cases ({}):\n{}", engine.name(), cases.failures.join("\n"));
}
