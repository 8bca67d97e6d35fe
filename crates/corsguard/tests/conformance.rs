//! A table-driven conformance suite built from the WHATWG Fetch standard's CORS protocol
//! (CORS check, CORS-preflight fetch, safelisted methods and headers) and corsguard's decision
//! semantics in DESIGN.md.

use corsguard::{Policy, PolicyBuilder, RequestKind};
use http::{HeaderMap, Method, Request, StatusCode};

/// One request and what must come of it.
struct Case {
    name: &'static str,
    policy: fn() -> PolicyBuilder,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    kind: RequestKind,
    allowed: bool,
    forwarded: bool,
    status: Option<u16>,
    reason: &'static str,
    /// Exactly the response headers corsguard adds (lowercase names).
    expect: &'static [(&'static str, &'static str)],
}

const ORIGIN: &str = "https://app.example.com";
const PREFLIGHT_VARY: (&str, &str) =
    ("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");

fn credentialed() -> PolicyBuilder {
    Policy::builder()
        .profile("production")
        .origins([ORIGIN, "https://*.example.org"])
        .methods(["GET", "POST", "PUT", "PATCH"])
        .allow_headers(["Content-Type", "Authorization", "X-Custom"])
        .expose_headers(["X-Request-Id"])
        .credentials(true)
        .max_age(7200)
}

fn public() -> PolicyBuilder {
    Policy::builder().origins(["*"]).methods(["GET", "POST"]).allow_headers(["*"])
}

fn defaults() -> PolicyBuilder {
    Policy::builder().profile("development").origins([ORIGIN])
}

fn private_network() -> PolicyBuilder {
    defaults().private_network(true)
}

fn no_protection() -> PolicyBuilder {
    defaults().cross_origin_protection(false)
}

fn with_routes() -> PolicyBuilder {
    credentialed().route("/public/", |r| r.origins(["*"]).credentials(false).methods(["GET"]))
}

fn preflight_ok_headers() -> &'static [(&'static str, &'static str)] {
    &[
        ("access-control-allow-origin", ORIGIN),
        ("access-control-allow-credentials", "true"),
        ("access-control-allow-methods", "GET, POST, PUT, PATCH"),
        ("access-control-allow-headers", "Content-Type, Authorization, X-Custom"),
        ("access-control-max-age", "7200"),
        PREFLIGHT_VARY,
    ]
}

/// A WebSocket handshake under [`defaults`]; `headers` come first, so an `upgrade` there is
/// the one read.
fn websocket(name: &'static str, headers: &'static [(&'static str, &'static str)], passes: bool) -> Case {
    let origin = headers.iter().any(|(n, _)| *n == "origin");
    let extra: &'static [(&'static str, &'static str)] =
        &[("connection", "Upgrade"), ("upgrade", "websocket")];
    let headers: &'static [(&'static str, &'static str)] = Box::leak(
        headers
            .iter()
            .chain(extra.iter().filter(|(n, _)| !headers.iter().any(|(m, _)| m == n)))
            .copied()
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let (reason, expect): (&str, &'static [(&str, &str)]) = match (origin, passes) {
        (false, _) => ("no-origin", &[("vary", "Origin")]),
        (true, true) if headers.iter().any(|(n, _)| *n == "sec-fetch-site") => {
            ("same-origin", &[("vary", "Origin")])
        }
        (true, true) => ("allowed", &[("access-control-allow-origin", ORIGIN), ("vary", "Origin")]),
        (true, false) => (
            "websocket-origin-not-allowed",
            &[("vary", "Origin"), ("corsguard-reason", "websocket-origin-not-allowed")],
        ),
    };
    Case {
        name,
        policy: defaults,
        method: "GET",
        path: "/ws",
        headers,
        kind: if origin { RequestKind::Actual } else { RequestKind::NotCors },
        allowed: passes,
        forwarded: passes,
        status: (!passes).then_some(403),
        reason,
        expect,
    }
}

fn cases() -> Vec<Case> {
    let refused_preflight = |name, headers, reason| Case {
        name,
        policy: credentialed,
        method: "OPTIONS",
        path: "/api",
        headers,
        kind: RequestKind::Preflight,
        allowed: false,
        forwarded: false,
        status: Some(403),
        reason,
        expect: &[PREFLIGHT_VARY],
    };
    vec![
        // --- The CORS check (Fetch 4.9): ACAO is the exact origin, ACAC exactly `true`.
        Case {
            name: "actual request from an allowed origin gets ACAO byte-equal to Origin and ACAC",
            policy: credentialed,
            method: "GET",
            path: "/api",
            headers: &[("origin", ORIGIN)],
            kind: RequestKind::Actual,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "allowed",
            expect: &[
                ("access-control-allow-origin", ORIGIN),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", "X-Request-Id"),
                ("vary", "Origin"),
            ],
        },
        Case {
            name: "subdomain pattern admits a subdomain, echoing its exact origin",
            policy: credentialed,
            method: "GET",
            path: "/api",
            headers: &[("origin", "https://a.b.example.org")],
            kind: RequestKind::Actual,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "allowed",
            expect: &[
                ("access-control-allow-origin", "https://a.b.example.org"),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", "X-Request-Id"),
                ("vary", "Origin"),
            ],
        },
        Case {
            name: "without credentials a `*` policy answers `*` and no ACAC",
            policy: public,
            method: "GET",
            path: "/",
            headers: &[("origin", "https://anyone.example.net")],
            kind: RequestKind::Actual,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "allowed",
            expect: &[("access-control-allow-origin", "*"), ("vary", "Origin")],
        },
        Case {
            name: "a refused actual request gets no CORS headers, only Vary (strict: no reason header)",
            policy: credentialed,
            method: "GET",
            path: "/api",
            headers: &[("origin", "https://evil.example.net")],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: true,
            status: None,
            reason: "origin-not-allowed",
            expect: &[("vary", "Origin")],
        },
        Case {
            name: "non-strict profiles show the reason in corsguard-reason",
            policy: defaults,
            method: "GET",
            path: "/api",
            headers: &[("origin", "https://evil.example.net")],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: true,
            status: None,
            reason: "origin-not-allowed",
            expect: &[("vary", "Origin"), ("corsguard-reason", "origin-not-allowed")],
        },
        Case {
            name: "no Origin: not CORS, passed through with Vary: Origin",
            policy: credentialed,
            method: "GET",
            path: "/api",
            headers: &[],
            kind: RequestKind::NotCors,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "no-origin",
            expect: &[("vary", "Origin")],
        },
        Case {
            name: "an actual request with a method not in `methods` gets no CORS headers",
            policy: credentialed,
            method: "DELETE",
            path: "/api",
            headers: &[("origin", ORIGIN), ("sec-fetch-site", "same-site")],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: false,
            status: Some(403),
            reason: "cross-origin-request",
            expect: &[("vary", "Origin")],
        },
        // --- CORS-preflight fetch (Fetch 4.8).
        Case {
            name: "allowed preflight: 204 with every header",
            policy: credentialed,
            method: "OPTIONS",
            path: "/api",
            headers: &[
                ("origin", ORIGIN),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "authorization,content-type"),
            ],
            kind: RequestKind::Preflight,
            allowed: true,
            forwarded: false,
            status: Some(204),
            reason: "allowed",
            expect: preflight_ok_headers(),
        },
        Case {
            name: "request headers are matched case-insensitively",
            policy: credentialed,
            method: "OPTIONS",
            path: "/api",
            headers: &[
                ("origin", ORIGIN),
                ("access-control-request-method", "PATCH"),
                ("access-control-request-headers", "X-CUSTOM, content-TYPE"),
            ],
            kind: RequestKind::Preflight,
            allowed: true,
            forwarded: false,
            status: Some(204),
            reason: "allowed",
            expect: preflight_ok_headers(),
        },
        Case {
            name: "a preflight without Access-Control-Request-Headers is fine",
            policy: credentialed,
            method: "OPTIONS",
            path: "/api",
            headers: &[("origin", ORIGIN), ("access-control-request-method", "PUT")],
            kind: RequestKind::Preflight,
            allowed: true,
            forwarded: false,
            status: Some(204),
            reason: "allowed",
            expect: preflight_ok_headers(),
        },
        refused_preflight(
            "methods are case-sensitive: `patch` is not `PATCH`",
            &[("origin", ORIGIN), ("access-control-request-method", "patch")],
            "method-not-allowed",
        ),
        refused_preflight(
            "a method not listed is refused",
            &[("origin", ORIGIN), ("access-control-request-method", "DELETE")],
            "method-not-allowed",
        ),
        refused_preflight(
            "a header not listed is refused",
            &[
                ("origin", ORIGIN),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "content-type,x-other"),
            ],
            "header-not-allowed",
        ),
        refused_preflight(
            "a header list with a space inside a name is malformed",
            &[
                ("origin", ORIGIN),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "header name"),
            ],
            "request-headers-malformed",
        ),
        refused_preflight(
            "a method token with a space is malformed",
            &[("origin", ORIGIN), ("access-control-request-method", "Bad method")],
            "request-method-malformed",
        ),
        refused_preflight(
            "a foreign origin is refused before anything else",
            &[("origin", "https://evil.example.net"), ("access-control-request-method", "GET")],
            "origin-not-allowed",
        ),
        refused_preflight(
            "`null` is never allowed",
            &[("origin", "null"), ("access-control-request-method", "GET")],
            "origin-null",
        ),
        Case {
            name: "`*` in allow_headers covers custom headers and answers `*`",
            policy: public,
            method: "OPTIONS",
            path: "/",
            headers: &[
                ("origin", "https://anyone.example.net"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "x-anything,content-type"),
            ],
            kind: RequestKind::Preflight,
            allowed: true,
            forwarded: false,
            status: Some(204),
            reason: "allowed",
            expect: &[
                ("access-control-allow-origin", "*"),
                ("access-control-allow-methods", "GET, POST"),
                ("access-control-allow-headers", "*"),
                ("access-control-max-age", "600"),
                PREFLIGHT_VARY,
            ],
        },
        Case {
            name: "`*` in allow_headers never covers Authorization (Fetch)",
            policy: public,
            method: "OPTIONS",
            path: "/",
            headers: &[
                ("origin", "https://anyone.example.net"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ],
            kind: RequestKind::Preflight,
            allowed: false,
            forwarded: false,
            status: Some(403),
            reason: "header-not-allowed",
            expect: &[PREFLIGHT_VARY, ("corsguard-reason", "header-not-allowed")],
        },
        Case {
            name: "default methods are the safelisted ones: PUT needs listing",
            policy: defaults,
            method: "OPTIONS",
            path: "/",
            headers: &[("origin", ORIGIN), ("access-control-request-method", "PUT")],
            kind: RequestKind::Preflight,
            allowed: false,
            forwarded: false,
            status: Some(403),
            reason: "method-not-allowed",
            expect: &[PREFLIGHT_VARY, ("corsguard-reason", "method-not-allowed")],
        },
        Case {
            name: "an OPTIONS without Access-Control-Request-Method is an actual request",
            policy: defaults,
            method: "OPTIONS",
            path: "/",
            headers: &[("origin", ORIGIN)],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: true,
            status: None,
            reason: "method-not-allowed",
            expect: &[("vary", "Origin"), ("corsguard-reason", "method-not-allowed")],
        },
        // --- Private Network Access.
        Case {
            name: "PNA preflight answered when enabled",
            policy: private_network,
            method: "OPTIONS",
            path: "/",
            headers: &[
                ("origin", ORIGIN),
                ("access-control-request-method", "GET"),
                ("access-control-request-private-network", "true"),
            ],
            kind: RequestKind::Preflight,
            allowed: true,
            forwarded: false,
            status: Some(204),
            reason: "allowed",
            expect: &[
                ("access-control-allow-origin", ORIGIN),
                ("access-control-allow-methods", "GET, HEAD, POST"),
                ("access-control-max-age", "600"),
                ("access-control-allow-private-network", "true"),
                (
                    "vary",
                    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, \
                     Access-Control-Request-Private-Network",
                ),
            ],
        },
        Case {
            // Embedded Chromium runtimes still send it; Chrome's Local Network Access sends
            // nothing. Asking is no reason to refuse, and nothing is granted.
            name: "PNA preflight answered without ACAPN when private_network is off",
            policy: defaults,
            method: "OPTIONS",
            path: "/",
            headers: &[
                ("origin", ORIGIN),
                ("access-control-request-method", "GET"),
                ("access-control-request-private-network", "true"),
            ],
            kind: RequestKind::Preflight,
            allowed: true,
            forwarded: false,
            status: Some(204),
            reason: "allowed",
            expect: &[
                ("access-control-allow-origin", ORIGIN),
                ("access-control-allow-methods", "GET, HEAD, POST"),
                ("access-control-max-age", "600"),
                PREFLIGHT_VARY,
            ],
        },
        // --- WebSocket handshakes: CORS does not apply, the origin is checked all the same.
        websocket("WebSocket handshake from an allowed origin is forwarded", &[("origin", ORIGIN)], true),
        websocket("WebSocket handshake without Origin (not a browser) passes", &[], true),
        websocket(
            "WebSocket handshake from a foreign origin is refused",
            &[("origin", "https://evil.example.net")],
            false,
        ),
        websocket("WebSocket handshake from null is refused", &[("origin", "null")], false),
        websocket(
            "WebSocket handshake from a prefix-trick origin is refused",
            &[("origin", "https://app.example.com.evil.net")],
            false,
        ),
        websocket(
            "WebSocket handshake from the http:// twin is refused",
            &[("origin", "http://app.example.com")],
            false,
        ),
        websocket(
            "WebSocket handshake spelled Upgrade: WebSocket is refused from a foreign origin",
            &[("origin", "https://evil.example.net"), ("upgrade", "WebSocket")],
            false,
        ),
        websocket(
            "WebSocket listed after another upgrade token is refused from a foreign origin",
            &[("origin", "https://evil.example.net"), ("upgrade", "foo, websocket")],
            false,
        ),
        websocket(
            "WebSocket handshake from the page's own origin passes",
            &[("origin", "https://api.example.com"), ("sec-fetch-site", "same-origin")],
            true,
        ),
        // --- Cross-origin protection (Go's CrossOriginProtection algorithm).
        Case {
            name: "cross-site POST from an unlisted origin is refused and not forwarded",
            policy: defaults,
            method: "POST",
            path: "/",
            headers: &[("origin", "https://evil.example.net"), ("sec-fetch-site", "cross-site")],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: false,
            status: Some(403),
            reason: "cross-origin-request",
            expect: &[("vary", "Origin"), ("corsguard-reason", "cross-origin-request")],
        },
        Case {
            name: "same-origin POST passes (Sec-Fetch-Site)",
            policy: defaults,
            method: "POST",
            path: "/",
            headers: &[("origin", "https://api.example.com"), ("sec-fetch-site", "same-origin")],
            kind: RequestKind::Actual,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "same-origin",
            expect: &[("vary", "Origin")],
        },
        Case {
            name: "Sec-Fetch-Site: none (user typed the URL) passes",
            policy: defaults,
            method: "POST",
            path: "/",
            headers: &[("origin", "https://api.example.com"), ("sec-fetch-site", "none")],
            kind: RequestKind::Actual,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "same-origin",
            expect: &[("vary", "Origin")],
        },
        Case {
            name: "old browsers: Origin host equal to Host passes",
            policy: defaults,
            method: "DELETE",
            path: "/",
            headers: &[("origin", "https://api.example.com:8443"), ("host", "api.example.com:8443")],
            kind: RequestKind::Actual,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "same-origin",
            expect: &[("vary", "Origin")],
        },
        Case {
            name: "old browsers: Origin host different from Host is refused",
            policy: defaults,
            method: "PUT",
            path: "/",
            headers: &[("origin", "https://evil.example.net"), ("host", "api.example.com")],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: false,
            status: Some(403),
            reason: "cross-origin-request",
            expect: &[("vary", "Origin"), ("corsguard-reason", "cross-origin-request")],
        },
        Case {
            name: "a non-browser client (neither Origin nor Sec-Fetch-Site) passes",
            policy: defaults,
            method: "POST",
            path: "/",
            headers: &[("host", "api.example.com")],
            kind: RequestKind::NotCors,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "no-origin",
            expect: &[("vary", "Origin")],
        },
        Case {
            name: "Sec-Fetch-Site: cross-site without Origin is still refused for unsafe methods",
            policy: defaults,
            method: "POST",
            path: "/",
            headers: &[("sec-fetch-site", "cross-site")],
            kind: RequestKind::NotCors,
            allowed: false,
            forwarded: false,
            status: Some(403),
            reason: "cross-origin-request",
            expect: &[("vary", "Origin"), ("corsguard-reason", "cross-origin-request")],
        },
        Case {
            name: "safe methods are never refused by cross-origin protection",
            policy: defaults,
            method: "GET",
            path: "/",
            headers: &[("origin", "https://evil.example.net"), ("sec-fetch-site", "cross-site")],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: true,
            status: None,
            reason: "origin-not-allowed",
            expect: &[("vary", "Origin"), ("corsguard-reason", "origin-not-allowed")],
        },
        Case {
            name: "an allowed origin's POST is forwarded with CORS headers",
            policy: defaults,
            method: "POST",
            path: "/",
            headers: &[("origin", ORIGIN), ("sec-fetch-site", "cross-site")],
            kind: RequestKind::Actual,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "allowed",
            expect: &[("access-control-allow-origin", ORIGIN), ("vary", "Origin")],
        },
        Case {
            name: "cross_origin_protection = false forwards the cross-site POST",
            policy: no_protection,
            method: "POST",
            path: "/",
            headers: &[("origin", "https://evil.example.net"), ("sec-fetch-site", "cross-site")],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: true,
            status: None,
            reason: "origin-not-allowed",
            expect: &[("vary", "Origin"), ("corsguard-reason", "origin-not-allowed")],
        },
        // --- Routes.
        Case {
            name: "a route's keys replace the profile's",
            policy: with_routes,
            method: "GET",
            path: "/public/logo.png",
            headers: &[("origin", "https://anyone.example.net")],
            kind: RequestKind::Actual,
            allowed: true,
            forwarded: true,
            status: None,
            reason: "allowed",
            expect: &[
                ("access-control-allow-origin", "*"),
                ("access-control-expose-headers", "X-Request-Id"),
                ("vary", "Origin"),
            ],
        },
        Case {
            name: "outside the route the profile applies",
            policy: with_routes,
            method: "GET",
            path: "/publicity",
            headers: &[("origin", "https://anyone.example.net")],
            kind: RequestKind::Actual,
            allowed: false,
            forwarded: true,
            status: None,
            reason: "origin-not-allowed",
            expect: &[("vary", "Origin")],
        },
    ]
}

fn request(case: &Case) -> Request<()> {
    let mut builder =
        Request::builder().method(Method::from_bytes(case.method.as_bytes()).unwrap()).uri(case.path);
    for (name, value) in case.headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap()
}

#[test]
fn fetch_conformance_table() {
    let mut failures = Vec::new();
    for case in cases() {
        let policy = (case.policy)().build().unwrap_or_else(|d| panic!("{}: policy: {d}", case.name));
        let req = request(&case);
        let d = policy.decide(&req);
        let headers: Vec<(String, String)> =
            d.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
        let expect: Vec<(String, String)> =
            case.expect.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        let got = (d.kind, d.allowed, d.forwarded, d.status.map(|s| s.as_u16()), d.reason.code(), headers);
        let want = (case.kind, case.allowed, case.forwarded, case.status, case.reason, expect);
        if got != want {
            failures.push(format!("{}\n   got: {got:?}\n  want: {want:?}", case.name));
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
    for case in cases() {
        let policy = (case.policy)().build().unwrap();
        let req = request(&case);
        let d = policy.decide(&req);
        let decided: Vec<_> = d.headers.iter().map(|(n, v)| (n, v.clone())).collect();
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
                let mut borrowed = upstream.clone();
                d.headers.apply_to(&mut borrowed);
                assert_eq!(borrowed, expected, "{} (upstream {upstream:?})", case.name);
                let mut owned = upstream;
                d.headers.to_owned_headers().apply_to(&mut owned);
                assert_eq!(owned, expected, "{} owned (Vary {upstream_vary:?})", case.name);
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
    let policy = credentialed().build().unwrap();
    let mut req = Request::get("/api").body(()).unwrap();
    req.headers_mut().append("origin", ORIGIN.parse().unwrap());
    req.headers_mut().append("origin", ORIGIN.parse().unwrap());
    let d = policy.decide(&req);
    assert!(!d.allowed);
    assert_eq!(d.reason.code(), "origin-repeated");
    assert!(d.headers.allow_origin().is_none());
}

#[test]
fn repeated_request_method_is_malformed() {
    let policy = credentialed().build().unwrap();
    let mut req = Request::options("/api").header("origin", ORIGIN).body(()).unwrap();
    req.headers_mut().append("access-control-request-method", "GET".parse().unwrap());
    req.headers_mut().append("access-control-request-method", "PUT".parse().unwrap());
    assert_eq!(policy.decide(&req).reason.code(), "request-method-malformed");
}

#[test]
fn request_header_budget() {
    let policy = public().build().unwrap();
    let names = (0..65).map(|i| format!("x-h{i}")).collect::<Vec<_>>().join(",");
    let req = Request::options("/")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", names)
        .body(())
        .unwrap();
    assert_eq!(policy.decide(&req).reason.code(), "request-headers-too-large");
}

#[test]
fn applying_headers_replaces_upstream_cors_and_merges_vary() {
    let policy = credentialed().build().unwrap();
    let req = Request::get("/api").header("origin", ORIGIN).body(()).unwrap();
    let d = policy.decide(&req);
    let mut response = HeaderMap::new();
    response.insert("access-control-allow-origin", "*".parse().unwrap());
    response.insert("access-control-allow-methods", "TRACE".parse().unwrap());
    response.insert("vary", "Accept-Encoding".parse().unwrap());
    d.headers.apply_to(&mut response);
    assert_eq!(response.get_all("access-control-allow-origin").iter().count(), 1);
    assert_eq!(response["access-control-allow-origin"], ORIGIN);
    assert!(response.get("access-control-allow-methods").is_none());
    let vary: Vec<_> = response.get_all("vary").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
    // Applying twice does not add a second Vary: Origin.
    d.headers.apply_to(&mut response);
    assert_eq!(response.get_all("vary").iter().count(), 2);
}

#[test]
fn allowed_preflight_is_an_ok_status() {
    // Fetch requires 200-299 for a preflight; corsguard answers 204 No Content.
    let policy = credentialed().build().unwrap();
    let req = Request::options("/api")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "GET")
        .body(())
        .unwrap();
    let status = policy.decide(&req).status.unwrap();
    assert!(status.is_success());
    assert_eq!(status, StatusCode::NO_CONTENT);
}
