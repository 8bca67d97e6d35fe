//! `corsguard explain URL` against APIs on loopback, each broken (or right) in one of the ways
//! people meet every day, with two real browsers as the oracle: for every case the verdict of
//! `explain` must equal what headless Chromium and headless Firefox do with the same `fetch`
//! from a page on that origin, a blocked verdict must name the expected check, and an allowed
//! one must list the response headers the page's script can read.

use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use browser_harness::{Browser, Credentials, Engine, FetchRequest};
use serde_json::Value;
use test_support::pages::PageServer;

/// What the APIs know: the page's origin (one answer names it as a fixed string) and the
/// second API's address (the target of cross-origin redirects).
#[derive(Clone)]
struct Setup {
    page_origin: String,
    other: String,
}

fn answer(status: u16, headers: &[(&str, &str)]) -> Response {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        response = response.header(*name, *value);
    }
    response.header("content-type", "text/plain").header("x-request-id", "7").body(Body::from("ok")).unwrap()
}

/// Every broken and correct API, by path. `O` below is the request's own `Origin`.
async fn api(State(setup): State<Arc<Setup>>, request: Request) -> Response {
    let origin = request.headers().get("origin").and_then(|o| o.to_str().ok()).unwrap_or("").to_owned();
    let o = origin.as_str();
    let preflight =
        request.method() == "OPTIONS" && request.headers().contains_key("access-control-request-method");
    let path = request.uri().path().to_owned();
    let good_preflight = |methods: &str, headers: &str| {
        answer(
            204,
            &[
                ("access-control-allow-origin", o),
                ("access-control-allow-methods", methods),
                ("access-control-allow-headers", headers),
                ("access-control-max-age", "600"),
                ("vary", "Origin"),
            ],
        )
    };
    let reflect = [("access-control-allow-origin", o), ("vary", "Origin")];
    let with_credentials = [
        ("access-control-allow-origin", o),
        ("access-control-allow-credentials", "true"),
        ("vary", "Origin"),
    ];
    match path.as_str() {
        "/ok/simple" => answer(200, &reflect),
        "/ok/star" => answer(200, &[("access-control-allow-origin", "*")]),
        "/ok/exposed" => answer(
            200,
            &[
                ("access-control-allow-origin", o),
                ("access-control-expose-headers", "X-Request-Id"),
                ("vary", "Origin"),
            ],
        ),
        "/ok/credentials" => answer(200, &with_credentials),
        "/ok/preflight" if preflight => good_preflight("GET, PUT", "Content-Type, X-Token"),
        "/ok/preflight" => answer(200, &reflect),
        "/ok/simple-post" if request.method() == "OPTIONS" => answer(405, &[]),
        "/ok/simple-post" => answer(200, &reflect),
        "/auth-first" if request.headers().contains_key("authorization") => answer(200, &reflect),
        // An authentication layer in front of CORS: the preflight has no credentials.
        "/auth-first" => answer(401, &[("www-authenticate", "Bearer")]),
        "/trailing-slash" => answer(200, &[("access-control-allow-origin", &format!("{o}/"))]),
        "/null" => answer(200, &[("access-control-allow-origin", "null")]),
        "/star-credentials" => {
            answer(200, &[("access-control-allow-origin", "*"), ("access-control-allow-credentials", "true")])
        }
        "/no-acac" => answer(200, &reflect),
        "/acac-capital" => {
            answer(200, &[("access-control-allow-origin", o), ("access-control-allow-credentials", "True")])
        }
        "/method-missing" if preflight => good_preflight("GET, POST", "Content-Type"),
        "/method-missing" => answer(200, &reflect),
        "/method-case" if preflight => good_preflight("PATCH", "Content-Type"),
        "/method-case" => answer(200, &reflect),
        "/header-missing" if preflight => good_preflight("GET, PUT", "Content-Type"),
        "/header-missing" => answer(200, &reflect),
        "/two-acao" => answer(200, &[("access-control-allow-origin", o), ("access-control-allow-origin", o)]),
        "/listed-acao" => {
            answer(200, &[("access-control-allow-origin", &format!("{o}, http://other.example.test"))])
        }
        "/preflight-redirect" if preflight => {
            answer(301, &[("location", "/ok/preflight"), ("access-control-allow-origin", o)])
        }
        "/preflight-redirect" => answer(200, &reflect),
        "/actual-without-acao" if preflight => good_preflight("PUT", "Content-Type"),
        "/actual-without-acao" => answer(200, &[]),
        "/star-methods-credentials" if preflight => answer(
            204,
            &[
                ("access-control-allow-origin", o),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "*"),
            ],
        ),
        "/star-methods-credentials" => answer(200, &with_credentials),
        "/authorization-star" if preflight => answer(
            204,
            &[
                ("access-control-allow-origin", o),
                ("access-control-allow-headers", "*"),
                ("access-control-max-age", "600"),
            ],
        ),
        "/authorization-star" => answer(200, &reflect),
        "/long-max-age" if preflight => answer(
            204,
            &[
                ("access-control-allow-origin", o),
                ("access-control-allow-methods", "PUT"),
                ("access-control-max-age", "86400"),
            ],
        ),
        "/long-max-age" => answer(200, &reflect),
        "/redirect/with-cors" => {
            answer(302, &[("location", "/ok/simple"), ("access-control-allow-origin", o)])
        }
        "/redirect/without-cors" => answer(302, &[("location", "/ok/simple")]),
        "/redirect/to-other-origin" => answer(
            302,
            &[("location", &format!("{}/fixed-origin", setup.other)), ("access-control-allow-origin", o)],
        ),
        "/redirect/to-other-star" => answer(
            302,
            &[("location", &format!("{}/ok/star", setup.other)), ("access-control-allow-origin", o)],
        ),
        // Names the page's origin, whatever the request says: after a cross-origin redirect
        // the browser sends `Origin: null`, which this does not match.
        "/fixed-origin" => answer(200, &[("access-control-allow-origin", setup.page_origin.as_str())]),
        _ => answer(404, &[]),
    }
}

/// One `fetch` a page makes, and what `explain` must say about it.
struct Case {
    name: &'static str,
    path: &'static str,
    method: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Option<&'static str>,
    credentials: bool,
    /// `None`: allowed; else the step and the check that fail.
    blocked: Option<(&'static str, &'static str)>,
    /// A warning `explain` must give (a substring).
    warning: Option<&'static str>,
}

const fn case(name: &'static str, path: &'static str, blocked: Option<(&'static str, &'static str)>) -> Case {
    Case { name, path, method: "GET", headers: &[], body: None, credentials: false, blocked, warning: None }
}

const JSON: &[(&str, &str)] = &[("content-type", "application/json")];

fn cases() -> Vec<Case> {
    vec![
        case("a simple GET, origin reflected", "/ok/simple", None),
        case("a simple GET, ACAO *", "/ok/star", None),
        case("an exposed response header", "/ok/exposed", None),
        Case { credentials: true, ..case("credentials, reflected with ACAC true", "/ok/credentials", None) },
        Case {
            method: "PUT",
            headers: &[("content-type", "application/json"), ("x-token", "1")],
            body: Some("{}"),
            ..case("a preflighted PUT", "/ok/preflight", None)
        },
        Case {
            method: "POST",
            headers: &[("content-type", "text/plain;charset=utf-8")],
            body: Some("hi"),
            ..case("a text/plain POST needs no preflight", "/ok/simple-post", None)
        },
        Case {
            method: "PUT",
            headers: &[("authorization", "Bearer t")],
            ..case(
                "authentication before CORS on OPTIONS",
                "/auth-first",
                Some(("preflight", "preflight-status")),
            )
        },
        case("a trailing slash in ACAO", "/trailing-slash", Some(("actual", "allow-origin-mismatch"))),
        case("null in ACAO", "/null", Some(("actual", "allow-origin-mismatch"))),
        Case {
            credentials: true,
            ..case("* with credentials", "/star-credentials", Some(("actual", "wildcard-with-credentials")))
        },
        Case {
            credentials: true,
            ..case("credentials without ACAC", "/no-acac", Some(("actual", "missing-allow-credentials")))
        },
        Case {
            credentials: true,
            ..case("ACAC: True", "/acac-capital", Some(("actual", "missing-allow-credentials")))
        },
        Case {
            method: "DELETE",
            ..case(
                "a method missing from the preflight",
                "/method-missing",
                Some(("preflight", "method-not-allowed")),
            )
        },
        Case {
            method: "patch",
            headers: JSON,
            body: Some("{}"),
            ..case("patch is not PATCH", "/method-case", Some(("preflight", "method-not-allowed")))
        },
        Case {
            method: "PUT",
            headers: &[("content-type", "application/json"), ("x-token", "1")],
            body: Some("{}"),
            ..case(
                "a header missing from the preflight",
                "/header-missing",
                Some(("preflight", "header-not-allowed")),
            )
        },
        case("two ACAO fields", "/two-acao", Some(("actual", "multiple-allow-origin"))),
        case("a list in ACAO", "/listed-acao", Some(("actual", "multiple-allow-origin"))),
        Case {
            method: "PUT",
            headers: JSON,
            body: Some("{}"),
            ..case("a redirected preflight", "/preflight-redirect", Some(("preflight", "preflight-redirect")))
        },
        Case {
            method: "PUT",
            headers: JSON,
            body: Some("{}"),
            ..case(
                "a good preflight, then an answer without ACAO",
                "/actual-without-acao",
                Some(("actual", "missing-allow-origin")),
            )
        },
        Case {
            method: "DELETE",
            credentials: true,
            ..case(
                "* in Allow-Methods with credentials",
                "/star-methods-credentials",
                Some(("preflight", "method-not-allowed")),
            )
        },
        Case {
            headers: &[("authorization", "Bearer t")],
            warning: Some("`Authorization` is covered only by the `*`"),
            ..case("Authorization under ACAH *", "/authorization-star", None)
        },
        Case {
            method: "PUT",
            warning: Some("Chromium caches a preflight for at most 7200 s"),
            ..case("a day of preflight cache", "/long-max-age", None)
        },
        case("a redirect with CORS headers", "/redirect/with-cors", None),
        case(
            "a redirect without CORS headers",
            "/redirect/without-cors",
            Some(("redirect", "missing-allow-origin")),
        ),
        case(
            "a cross-origin redirect taints the origin",
            "/redirect/to-other-origin",
            Some(("redirect", "allow-origin-mismatch")),
        ),
        case("a cross-origin redirect to a public resource", "/redirect/to-other-star", None),
    ]
}

/// `corsguard explain URL ... --format json`, its exit status and its JSON.
fn explain(url: &str, origin: &str, case: &Case) -> (Option<i32>, Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_corsguard"));
    command.args([
        "explain",
        url,
        "--origin",
        origin,
        "-X",
        case.method,
        "--format",
        "json",
        "--timeout",
        "5",
    ]);
    for (name, value) in case.headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    if let Some(body) = case.body {
        command.args(["-d", body]);
    }
    if case.credentials {
        command.arg("--credentials");
    }
    let out = command.output().expect("run corsguard");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{}: not JSON ({e}): {}", case.name, String::from_utf8_lossy(&out.stderr))
    });
    (out.status.code(), json)
}

fn request(case: &Case) -> FetchRequest {
    let mut request = FetchRequest::new(case.method);
    for (name, value) in case.headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = case.body {
        request = request.body(body);
    }
    if case.credentials {
        request = request.credentials(Credentials::Include);
    }
    request
}

/// The APIs, a page, and each case through `explain` and through `engine`'s `fetch`; returns
/// the failures, one line each.
async fn run_cases(engine: Engine) -> Vec<String> {
    let page = PageServer::start("app.example.test").await.expect("page server");
    let other_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = format!("http://{}", other_listener.local_addr().unwrap());
    let setup = Arc::new(Setup { page_origin: page.origin(), other: other.clone() });
    let app = Router::new().fallback(api).with_state(setup.clone());
    tokio::spawn({
        let app = app.clone();
        async move { axum::serve(other_listener, app).await }
    });
    let api_addr = test_support::app::serve(app).await;
    let browser = Browser::launch_engine(engine).await.expect("the browser starts");
    browser.open(&page.url()).await.expect("open the page");

    let mut failures = Vec::new();
    let mut all = cases();
    let dead = test_support::upstream::dead_addr().await;
    all.push(case("a closed port", "/closed", Some(("actual", "network-error"))));
    for case in &all {
        let base =
            if case.path == "/closed" { format!("http://{dead}") } else { format!("http://{api_addr}") };
        let url = format!("{base}{}", case.path);
        let (status, verdict) = explain(&url, &page.origin(), case);
        let outcome = browser.fetch(&url, &request(case)).await.expect("fetch runs in the page");
        let name = format!("{} [{}]", case.name, engine.name());
        let allowed = verdict["allowed"].as_bool();
        if allowed != Some(!outcome.blocked()) {
            failures.push(format!(
                "{name}: explain says allowed={allowed:?}, the browser {} ({:?}); explain: {verdict}",
                if outcome.blocked() { "blocks it" } else { "allows it" },
                outcome.error
            ));
            continue;
        }
        if status != Some(if outcome.blocked() { 1 } else { 0 }) {
            failures.push(format!("{name}: exit status {status:?} for allowed={allowed:?}"));
        }
        let got = verdict["failed"]
            .as_object()
            .map(|f| (f["step"].as_str().unwrap_or(""), f["check"].as_str().unwrap_or("")));
        if got != case.blocked {
            failures.push(format!("{name}: expected {:?}, explain said {got:?}: {verdict}", case.blocked));
        }
        if !outcome.blocked() {
            let readable: Vec<&str> =
                verdict["readable_headers"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            let seen: Vec<&str> = outcome.headers.keys().map(String::as_str).collect();
            if readable != seen {
                failures.push(format!(
                    "{name}: explain says the page reads {readable:?}, the page read {seen:?}"
                ));
            }
        }
        if let Some(warning) = case.warning {
            let warnings = verdict["warnings"].to_string();
            if !warnings.contains(warning) {
                failures.push(format!("{name}: no warning {warning:?} in {warnings}"));
            }
        }
    }
    browser.close().await;
    failures
}

/// Every case in `engine`: explain's verdict, check and readable headers against the
/// browser's.
async fn explain_agrees_with_the_browser_on_every_case(engine: Engine) {
    let failures = run_cases(engine).await;
    assert!(failures.is_empty(), "{} disagreement(s):\n{}", failures.len(), failures.join("\n"));
}

browser_harness::in_every_engine!(explain_agrees_with_the_browser_on_every_case);

/// `corsguard explain` with `args`: exit status, stdout and stderr.
fn corsguard(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_corsguard")).args(args).output().expect("run corsguard");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn requests_fetch_would_not_send_are_usage_errors() {
    let url = "http://127.0.0.1:9/x";
    let cases: &[(&[&str], &str)] = &[
        (&["explain", url], "--origin is needed"),
        (&["explain", url, "--origin", "app.example.com"], "--origin `app.example.com`"),
        (&["explain", url, "--origin", "https://a.example", "-X", "TRACE"], "refuses the method TRACE"),
        (&["explain", url, "--origin", "https://a.example", "-H", "Host: x"], "`host` is a forbidden header"),
        (
            &["explain", url, "--origin", "https://a.example", "-X", "GET", "-d", "x"],
            "cannot send a body with GET",
        ),
        (&["explain", url, "--origin", "https://a.example", "--config", "corsguard.toml"], "not both"),
        (&["explain", "/api", "--origin", "https://a.example"], "--origin is for a live API"),
        (&["explain", url, "--origin", "https://a.example", "--timeout", "0"], "not a timeout"),
        (
            &["explain", url, "--origin", "https://a.example", "--cacert", "/nonexistent/ca.pem"],
            "cannot read the CA file",
        ),
    ];
    for (args, message) in cases {
        let (status, _, stderr) = corsguard(args);
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_checked_against_the_platform_roots_or_a_development_ca() {
    use test_support::gateway::{gateway, ALLOWED, POLICY};
    let dir = test_support::tempdir::fresh_dir("corsguard-explain-tls");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    let tls = corsguard_gateway::tls::Tls::load(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
    let upstream = test_support::upstream::upstream().await;
    let gw = gateway(POLICY, &upstream.url(), |o| o.tls = Some(tls)).await;
    let url = format!("https://localhost:{}/api/items", gw.addr().port());

    // corsguard's own gateway over TLS, with a certificate no platform trusts: a network error
    // that says so.
    let url1 = url.clone();
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        corsguard(&["explain", url1.as_str(), "--origin", ALLOWED, "--format", "json"])
    })
    .await
    .unwrap();
    let verdict: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("{stderr}"));
    assert_eq!(status, Some(1), "{verdict}");
    assert_eq!(verdict["failed"]["check"], "network-error", "{verdict}");
    assert!(verdict["failed"]["message"].as_str().unwrap().contains("certificate"), "{verdict}");

    // With the certificate as a development CA, the request goes through and is allowed.
    let ca = dir.join("cert.pem").display().to_string();
    let url2 = url.clone();
    let (status, stdout, _) = tokio::task::spawn_blocking(move || {
        corsguard(&[
            "explain",
            url2.as_str(),
            "--origin",
            ALLOWED,
            "--cacert",
            ca.as_str(),
            "--format",
            "json",
        ])
    })
    .await
    .unwrap();
    let verdict: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!((status, verdict["allowed"].as_bool()), (Some(0), Some(true)), "{verdict}");
    assert_eq!(verdict["steps"][0]["received"]["headers"]["access-control-allow-origin"], ALLOWED);
}
