//! The conformance table (`crates/test-support/data/conformance.toml`, from the WHATWG Fetch
//! standard's CORS protocol and DESIGN.md) through two of corsguard's three paths: the engine's
//! `Policy::decide` and the tower layer in front of an application. The gateway runs the same
//! table in `crates/corsguard-cli/tests/gateway_conformance.rs`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use corsguard::tower::CorsLayer;
use corsguard::Policy;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use test_support::conformance::{cors_headers, table, Case, Table};
use tower::{service_fn, ServiceBuilder, ServiceExt};

const ORIGIN: &str = "https://app.example.com";

fn policy(table: &Table, case: &Case) -> Policy {
    Policy::from_toml(table.policy_of(case), None).unwrap_or_else(|d| panic!("{}: policy: {d}", case.name))
}

fn named(name: &str) -> Policy {
    Policy::from_toml(&table().policies[name], None).unwrap()
}

fn request(case: &Case) -> Request<()> {
    let mut builder = Request::builder()
        .method(Method::from_bytes(case.method.as_bytes()).unwrap())
        .uri(case.path.as_str());
    for (name, value) in &case.headers {
        builder = builder.header(name, value);
    }
    builder.body(()).unwrap()
}

/// Kind, allowed, forwarded, status, reason code and headers: what `decide` reports.
type Outcome = (String, bool, bool, Option<u16>, String, Vec<(String, String)>);

/// What a case expects, in the shape `decide` reports.
fn wanted(case: &Case) -> Outcome {
    (case.kind.clone(), case.allowed, case.forwarded, case.status, case.reason.clone(), case.expect.clone())
}

#[test]
fn the_table_through_decide() {
    let table = table();
    let mut failures = Vec::new();
    for case in &table.cases {
        let policy = policy(&table, case);
        let req = request(case);
        let d = policy.decide(&req);
        let headers: Vec<(String, String)> = d
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let got = (
            d.kind().as_str().to_owned(),
            d.is_allowed(),
            d.is_forwarded(),
            d.status().map(|s| s.as_u16()),
            d.reason().code().to_owned(),
            headers,
        );
        let want = wanted(case);
        if got != want {
            failures.push(format!("{}\n   got: {got:?}\n  want: {want:?}", case.name));
        }
        // The owned decision, from parts, is the same decision.
        let parts = policy.decide_parts(&case.method, &case.path, case.headers.iter().map(|(n, v)| (n, v)));
        assert_eq!(parts.unwrap(), d.into_owned(), "{}: decide_parts", case.name);
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// The tower layer in front of an application that answers 200 with a header of its own and
/// a stale `Access-Control-Allow-Origin: *`, which the layer must replace.
#[tokio::test]
async fn the_table_through_the_tower_layer() {
    let table = table();
    let mut failures = Vec::new();
    for case in &table.cases {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&calls);
        let app = service_fn(move |_req: Request<()>| {
            seen.fetch_add(1, Ordering::SeqCst);
            async {
                let response = Response::builder()
                    .header("x-app", "1")
                    .header("access-control-allow-origin", "*")
                    .body(String::from("app"))
                    .unwrap();
                Ok::<_, Infallible>(response)
            }
        });
        let service = ServiceBuilder::new().layer(CorsLayer::new(policy(&table, case))).service(app);
        let response = service.oneshot(request(case)).await.unwrap();
        let forwarded = calls.load(Ordering::SeqCst) == 1;
        let status = (!forwarded).then(|| response.status().as_u16());
        let got = (forwarded, status, cors_headers(response.headers()));
        let want = (case.forwarded, case.status, case.expect.clone());
        if got != want {
            failures.push(format!("{}\n   got: {got:?}\n  want: {want:?}", case.name));
        }
        if forwarded {
            assert_eq!(response.status(), StatusCode::OK, "{}", case.name);
            assert_eq!(response.headers()["x-app"], "1", "{}", case.name);
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// `apply_to` against its definition written out plainly: every upstream `Access-Control-*`
/// header removed, the decision's headers inserted, and `Vary` appended unless the upstream's
/// already names every token. Covers the empty-map fast path and the merging path.
#[test]
fn applying_headers_follows_the_plain_definition() {
    fn by_definition(upstream: &HeaderMap, decided: &[(http::HeaderName, http::HeaderValue)]) -> HeaderMap {
        let mut expected = HeaderMap::new();
        for (name, value) in upstream {
            if !name.as_str().starts_with("access-control-") {
                expected.append(name, value.clone());
            }
        }
        for (name, value) in decided {
            if name != "vary" {
                expected.insert(name, value.clone());
                continue;
            }
            let present: Vec<String> = upstream
                .get_all("vary")
                .iter()
                .flat_map(|v| v.to_str().unwrap().split(','))
                .map(|t| t.trim().to_ascii_lowercase())
                .collect();
            let covered = value
                .to_str()
                .unwrap()
                .split(',')
                .all(|t| present.iter().any(|p| p == "*" || *p == t.trim().to_ascii_lowercase()));
            if !covered {
                expected.append(name, value.clone());
            }
        }
        expected
    }
    let table = table();
    for case in &table.cases {
        let policy = policy(&table, case);
        let req = request(case);
        let d = policy.decide(&req);
        let decided: Vec<_> = d.headers().iter().map(|(n, v)| (n, v.clone())).collect();
        // The map corsguard answers with is what `apply_to` puts on an empty one.
        let mut empty = HeaderMap::new();
        d.headers().to_owned().apply_to(&mut empty);
        assert_eq!(d.headers().to_header_map(), empty, "{}", case.name);
        assert_eq!(d.headers().to_owned().into_header_map(), empty, "{}", case.name);
        for upstream_vary in [None, Some("Accept-Encoding"), Some("origin"), Some("*")] {
            for upstream_cors in [false, true] {
                let mut upstream = HeaderMap::new();
                if upstream_cors {
                    upstream.insert("access-control-allow-origin", "*".parse().unwrap());
                    upstream.insert("access-control-max-age", "86400".parse().unwrap());
                }
                if let Some(vary) = upstream_vary {
                    upstream.insert("vary", vary.parse().unwrap());
                }
                let expected = by_definition(&upstream, &decided);
                let mut applied = upstream.clone();
                d.headers().to_owned().apply_to(&mut applied);
                assert_eq!(applied, expected, "{} (upstream {upstream:?})", case.name);
            }
        }
    }
}

#[test]
fn never_a_wildcard_with_credentials() {
    for origins in [vec!["*"], vec!["https://app.example.com", "*"]] {
        let err = Policy::builder().origins(origins).credentials(true).build().unwrap_err();
        assert!(err.iter().any(|d| d.code == "wildcard-with-credentials"), "{err}");
    }
    let err = Policy::builder().origins([ORIGIN]).allow_headers(["*"]).credentials(true).build().unwrap_err();
    assert!(err.iter().any(|d| d.code == "wildcard-headers-with-credentials"), "{err}");
}

#[test]
fn repeated_origin_headers_are_refused() {
    let policy = named("credentialed");
    let mut req = Request::get("/api").body(()).unwrap();
    req.headers_mut().append("origin", ORIGIN.parse().unwrap());
    req.headers_mut().append("origin", ORIGIN.parse().unwrap());
    let d = policy.decide(&req);
    assert!(!d.is_allowed());
    assert_eq!(d.reason().code(), "origin-repeated");
    assert!(d.headers().allow_origin().is_none());
}

#[test]
fn repeated_request_method_is_malformed() {
    let policy = named("credentialed");
    let mut req = Request::options("/api").header("origin", ORIGIN).body(()).unwrap();
    req.headers_mut().append("access-control-request-method", "GET".parse().unwrap());
    req.headers_mut().append("access-control-request-method", "PUT".parse().unwrap());
    assert_eq!(policy.decide(&req).reason().code(), "request-method-malformed");
}

#[test]
fn request_header_budget() {
    let policy = named("public");
    let names = (0..65).map(|i| format!("x-h{i}")).collect::<Vec<_>>().join(",");
    let req = Request::options("/")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", names)
        .body(())
        .unwrap();
    assert_eq!(policy.decide(&req).reason().code(), "request-headers-too-large");
}

#[test]
fn applying_headers_replaces_upstream_cors_and_merges_vary() {
    let policy = named("credentialed");
    let req = Request::get("/api").header("origin", ORIGIN).body(()).unwrap();
    let d = policy.decide(&req);
    let mut response = HeaderMap::new();
    response.insert("access-control-allow-origin", "*".parse().unwrap());
    response.insert("access-control-allow-methods", "TRACE".parse().unwrap());
    response.insert("vary", "Accept-Encoding".parse().unwrap());
    d.headers().to_owned().apply_to(&mut response);
    assert_eq!(response.get_all("access-control-allow-origin").iter().count(), 1);
    assert_eq!(response["access-control-allow-origin"], ORIGIN);
    assert!(response.get("access-control-allow-methods").is_none());
    let vary: Vec<_> = response.get_all("vary").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
    // Applying twice does not add a second Vary: Origin.
    d.headers().to_owned().apply_to(&mut response);
    assert_eq!(response.get_all("vary").iter().count(), 2);
}

#[test]
fn allowed_preflight_is_an_ok_status() {
    // Fetch requires 200-299 for a preflight; corsguard answers 204 No Content.
    let policy = named("credentialed");
    let req = Request::options("/api")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .body(())
        .unwrap();
    let status = policy.decide(&req).status().unwrap();
    assert!(status.is_success());
    assert_eq!(status, StatusCode::NO_CONTENT);
}
