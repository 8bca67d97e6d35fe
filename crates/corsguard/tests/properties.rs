//! Property tests: no input makes the parsers or the decision panic, and the compiled origin
//! matcher agrees with the plain per-pattern definition.

use corsguard::headers::RequestHeaders;
use corsguard::origin::Origin;
use corsguard::pattern::{OriginMatcher, OriginPattern, PortSpec};
use corsguard::Policy;
use http::{HeaderValue, Request};
use proptest::prelude::*;

fn policy() -> Policy {
    Policy::builder()
        .origins(["https://app.example.com", "https://*.example.org", "http://localhost:*"])
        .methods(["GET", "PUT"])
        .allow_headers(["Content-Type", "X-Custom"])
        .credentials(true)
        .route("/public/", |r| r.origins(["*"]).credentials(false))
        .build()
        .unwrap()
}

/// Bytes that look like origins often enough to reach deep into the parser.
fn origin_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        "(https?|HTTP|ws)://[a-zA-Z0-9.\\-_\\[\\]:@%`/]{0,40}(:[0-9]{0,6})?".prop_map(String::into_bytes),
        "https://[a-z]{1,5}(\\.[a-z]{1,5}){0,4}(:[0-9]{1,5})?".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn origin_parser_never_panics_and_round_trips(bytes in origin_like()) {
        if let Ok(origin) = Origin::parse(&bytes) {
            prop_assert_eq!(origin.as_str().as_bytes(), &bytes[..]);
            prop_assert!(origin.as_str().starts_with(origin.scheme_and_host()));
            // Canonical origins are exactly what the pattern parser also accepts as canonical.
            let parsed = OriginPattern::parse(origin.as_str()).unwrap();
            prop_assert!(!parsed.non_canonical, "{}", origin);
        }
    }

    #[test]
    fn decision_never_panics(
        origin in origin_like(),
        acrm in proptest::collection::vec(any::<u8>(), 0..20),
        acrh in proptest::collection::vec(any::<u8>(), 0..200),
        sfs in proptest::collection::vec(any::<u8>(), 0..12),
        method in prop_oneof![Just("GET"), Just("POST"), Just("OPTIONS"), Just("DELETE"), Just("PATCH")],
        path in prop_oneof![Just("/"), Just("/public/x"), Just("/api")],
    ) {
        let policy = policy();
        let mut req = Request::builder().method(method).uri(path).body(()).unwrap();
        for (name, value) in [
            ("origin", origin),
            ("access-control-request-method", acrm),
            ("access-control-request-headers", acrh),
            ("sec-fetch-site", sfs),
        ] {
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                req.headers_mut().append(name, value);
            }
        }
        let d = policy.decide(&req);
        // Invariants that hold for every request.
        if let Some(acao) = d.headers.allow_origin() {
            prop_assert!(d.allowed);
            prop_assert!(acao == "*" || Some(acao) == req.headers().get("origin"));
        }
        if d.status == Some(http::StatusCode::FORBIDDEN) {
            prop_assert!(!d.allowed && !d.forwarded && d.headers.allow_origin().is_none());
        }
        prop_assert!(d.headers.iter().any(|(n, _)| n == "vary"));
    }

    #[test]
    fn one_pass_header_check_agrees_with_parse_then_test(
        lines in proptest::collection::vec("[a-zA-Z0-9\\- ,\t;]{0,40}", 1..4),
        allowed in proptest::collection::vec("[a-zA-Z\\-]{1,6}", 0..4),
    ) {
        let mut map = http::HeaderMap::new();
        for line in &lines {
            if let Ok(value) = HeaderValue::from_str(line) {
                map.append("access-control-request-headers", value);
            }
        }
        let values = || map.get_all("access-control-request-headers");
        let listed = |name: &[u8]| allowed.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(name));
        let two_pass = RequestHeaders::parse(values()).map(|list| list.names().all(listed));
        prop_assert_eq!(RequestHeaders::check(values(), listed), two_pass);
    }

    #[test]
    fn config_loader_never_panics(text in "\\PC{0,300}") {
        let _ = corsguard::check_toml(&text, None);
        let _ = Policy::from_toml(&text, None);
    }

    #[test]
    fn config_loader_survives_mutations_of_a_real_policy(
        cut in 0usize..1200, insert in "[\\[\\]\"=,.*a-z0-9\\n ]{0,8}"
    ) {
        let base = include_str!("../../../examples/corsguard.toml");
        let mut at = cut.min(base.len());
        while !base.is_char_boundary(at) { at -= 1; }
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        let diags = corsguard::check_toml(&text, None);
        for d in &diags {
            prop_assert!(!d.help.is_empty() && !d.message.is_empty());
        }
        for profile in ["production", "development", "staging", "nope"] {
            let _ = Policy::from_toml(&text, Some(profile));
        }
    }

    #[test]
    fn compiled_matcher_agrees_with_the_naive_one(
        patterns in proptest::collection::vec(pattern(), 0..12),
        origins in proptest::collection::vec(origin(), 1..30),
    ) {
        let matcher = OriginMatcher::new(&patterns);
        for text in &origins {
            let origin = Origin::parse(text.as_bytes()).unwrap();
            let naive = patterns.iter().any(|p| p.matches(&origin));
            prop_assert_eq!(matcher.matches(&origin), naive, "{} against {:?}", text, patterns);
            // The decision's shortcut: an exact hit is always an allowed origin.
            if matcher.contains_exact(text.as_bytes()) {
                prop_assert!(naive);
            }
        }
    }
}

const LABELS: &[&str] = &["a", "b", "app", "example", "com", "org"];

fn host() -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(LABELS), 1..5).prop_map(|l| l.join("."))
}

fn pattern() -> impl Strategy<Value = OriginPattern> {
    let port =
        prop_oneof![Just(PortSpec::Default), Just(PortSpec::Any), (8000u16..8003).prop_map(PortSpec::Port),];
    prop_oneof![
        1 => Just(OriginPattern::Any),
        10 => (prop_oneof![Just("http"), Just("https")], host(), any::<bool>(), port).prop_map(
            |(scheme, host, subdomains, port)| OriginPattern::Host { scheme: scheme.into(), host, subdomains, port }
        ),
    ]
}

fn origin() -> impl Strategy<Value = String> {
    (prop_oneof![Just("http"), Just("https")], host(), proptest::option::of(8000u16..8003)).prop_map(
        |(scheme, host, port)| match port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        },
    )
}
