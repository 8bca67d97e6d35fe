//! Property tests through the public API: no input makes the parsers or the decision panic,
//! decisions keep their invariants, and cache keys (`Policy::preflight_key`, the Node package's
//! key on `DECISION_HEADERS`) cover every input of a decision.
//! (The compiled matcher and the one-pass header check are held to their plain definitions by
//! the unit tests of `pattern.rs` and `headers.rs`.)

use corsguard::{Action, RequestKind};
use corsguard::{Origin, Policy, DECISION_HEADERS};
use http::{HeaderValue, Request, StatusCode};
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
            // Canonical origins are exactly what the policy accepts without a warning.
            let policy = Policy::builder().origins([origin.as_str()]).build().unwrap();
            prop_assert!(policy.warnings().is_empty(), "{}: {}", origin, policy.warnings());
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
        if let Some(acao) = d.headers().allow_origin() {
            prop_assert!(d.is_allowed());
            prop_assert!(acao == "*" || Some(acao) == req.headers().get("origin"));
        }
        match d.action() {
            Action::Answer(StatusCode::FORBIDDEN) => {
                prop_assert!(!d.is_allowed() && d.headers().allow_origin().is_none());
            }
            Action::Answer(StatusCode::NO_CONTENT) => {
                prop_assert!(d.is_allowed() && d.kind() == RequestKind::Preflight);
            }
            Action::Answer(status) => prop_assert!(false, "unexpected status {}", status),
            Action::Forward => prop_assert!(d.kind() != RequestKind::Preflight),
            _ => prop_assert!(false, "a new action needs its invariants here"),
        }
        prop_assert!(d.headers().iter().any(|(n, _)| n == "vary"));
    }

    /// The gateway caches preflight answers by `Policy::preflight_key`: two preflights with
    /// equal keys must get equal decisions, whatever else they carry.
    #[test]
    fn preflight_keys_cover_every_input(
        a in preflight(), b in preflight(),
    ) {
        let policy = policy();
        let (mut key_a, mut key_b) = (Vec::new(), Vec::new());
        let (ra, rb) = (a.request(), b.request());
        prop_assert!(policy.preflight_key(&ra, &mut key_a) && policy.preflight_key(&rb, &mut key_b));
        if key_a == key_b {
            prop_assert_eq!(policy.decide(&ra), policy.decide(&rb));
        }
    }

    /// The Node package's middleware caches decisions by the method, the route, the authority
    /// and the values of `DECISION_HEADERS`: two requests that agree on those get equal
    /// decisions, whatever other headers they carry, wherever those stand, and whatever the
    /// rest of the path and query are.
    #[test]
    fn decision_headers_cover_every_input(
        core in decision_inputs(),
        noise_a in noise(), noise_b in noise(),
        tail_a in "[a-z0-9/]{0,6}(\\?[a-z=&]{0,6})?", tail_b in "[a-z0-9/]{0,6}(\\?[a-z=&]{0,6})?",
        strict in any::<bool>(),
    ) {
        for policy in [policy(), guarded_policy(strict)] {
            let (ra, rb) = (core.request(&tail_a, &noise_a), core.request(&tail_b, &noise_b));
            prop_assert_eq!(policy.decide(&ra), policy.decide(&rb));
        }
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
}

/// A preflight drawn from few values, so that equal keys come up often, with headers the
/// decision of a preflight must not read (Host, Sec-Fetch-Site, Upgrade, Cookie).
#[derive(Clone, Debug)]
struct Preflight {
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
}

impl Preflight {
    fn request(&self) -> Request<()> {
        let mut request = Request::options(self.path);
        for (name, value) in &self.headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap()
    }
}

fn preflight() -> impl Strategy<Value = Preflight> {
    let origin = prop_oneof![
        Just("https://app.example.com"),
        Just("https://a.example.org"),
        Just("https://evil.example"),
        Just("null"),
    ];
    let extra = proptest::sample::select(vec![
        ("access-control-request-headers", "content-type"),
        ("access-control-request-headers", "x-custom, content-type"),
        ("access-control-request-headers", "authorization"),
        ("access-control-request-private-network", "true"),
        ("access-control-request-method", "DELETE"),
        ("origin", "https://app.example.com"),
        ("host", "app.example.com"),
        ("sec-fetch-site", "same-origin"),
        ("upgrade", "websocket"),
        ("cookie", "a=b"),
    ]);
    (
        prop_oneof![Just("/"), Just("/public/x"), Just("/api")],
        origin,
        prop_oneof![Just("GET"), Just("PUT"), Just("put")],
        proptest::collection::vec(extra, 0..4),
    )
        .prop_map(|(path, origin, method, extra)| {
            let mut headers = vec![("origin", origin), ("access-control-request-method", method)];
            headers.extend(extra);
            Preflight { path, headers }
        })
}

/// A policy that reads every decision header: cross-origin protection (`Sec-Fetch-Site`,
/// `Host`), private network access, WebSocket handshakes (`Upgrade`).
fn guarded_policy(strict: bool) -> Policy {
    Policy::builder()
        .origins(["https://app.example.com", "https://*.example.org"])
        .methods(["GET", "POST", "PUT"])
        .allow_headers(["Content-Type"])
        .private_network(true)
        .cross_origin_protection(true)
        .strict(strict)
        .route("/public/", |r| r.origins(["*"]))
        .build()
        .unwrap()
}

/// What a decision may read: the method, a path that picks the route, and decision headers
/// (repeats and odd cases included), in order.
#[derive(Clone, Debug)]
struct DecisionInputs {
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
}

impl DecisionInputs {
    /// The request with `tail` after the path and `noise` (headers outside
    /// `DECISION_HEADERS`) interleaved with the decision headers at the positions it gives.
    fn request(&self, tail: &str, noise: &[(usize, &'static str, &'static str)]) -> Request<()> {
        let mut request = Request::builder().method(self.method).uri(format!("{}{}", self.path, tail));
        let mut noise = noise.iter().peekable();
        for (i, (name, value)) in self.headers.iter().enumerate() {
            while let Some((_, n, v)) = noise.next_if(|(at, _, _)| *at <= i) {
                request = request.header(*n, *v);
            }
            request = request.header(*name, *value);
        }
        for (_, n, v) in noise {
            request = request.header(*n, *v);
        }
        request.body(()).unwrap()
    }
}

/// Values of every decision header, in several cases of spelling.
fn decision_header_pool() -> Vec<(&'static str, &'static str)> {
    vec![
        ("origin", "https://app.example.com"),
        ("Origin", "https://a.example.org"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "http://api.example.com"),
        ("access-control-request-method", "PUT"),
        ("Access-Control-Request-Method", "DELETE"),
        ("access-control-request-headers", "content-type"),
        ("access-control-request-headers", "x-other"),
        ("access-control-request-private-network", "true"),
        ("sec-fetch-site", "cross-site"),
        ("Sec-Fetch-Site", "same-origin"),
        ("sec-fetch-site", "none"),
        ("upgrade", "websocket"),
        ("Upgrade", "h2c"),
        ("host", "api.example.com"),
        ("Host", "evil.example"),
    ]
}

fn decision_inputs() -> impl Strategy<Value = DecisionInputs> {
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("OPTIONS"), Just("DELETE"), Just("HEAD")],
        prop_oneof![Just("/"), Just("/public/"), Just("/api")],
        proptest::collection::vec(proptest::sample::select(decision_header_pool()), 0..6),
    )
        .prop_map(|(method, path, headers)| DecisionInputs { method, path, headers })
}

/// Headers outside `DECISION_HEADERS`, some of which a careless decision might read.
fn noise_pool() -> Vec<(&'static str, &'static str)> {
    vec![
        ("cookie", "session=1"),
        ("user-agent", "Mozilla/5.0"),
        ("accept", "*/*"),
        ("content-type", "application/json"),
        ("authorization", "Bearer x"),
        ("sec-fetch-mode", "cors"),
        ("connection", "upgrade"),
        ("referer", "https://evil.example/"),
        ("x-forwarded-host", "app.example.com"),
    ]
}

/// Headers no decision reads, each with the position among the decision headers it goes at.
fn noise() -> impl Strategy<Value = Vec<(usize, &'static str, &'static str)>> {
    proptest::collection::vec((0usize..6, proptest::sample::select(noise_pool())), 0..5).prop_map(
        |mut noise| {
            noise.sort_by_key(|(at, _)| *at);
            noise.into_iter().map(|(at, (n, v))| (at, n, v)).collect()
        },
    )
}

/// The pools above split exactly on `DECISION_HEADERS`: every decision header is varied, and
/// no noise header is one.
#[test]
fn the_pools_split_on_decision_headers() {
    let pool = decision_header_pool();
    for (name, _) in &pool {
        assert!(DECISION_HEADERS.contains(&name.to_ascii_lowercase().as_str()), "{name}");
    }
    for name in DECISION_HEADERS {
        assert!(pool.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)), "{name} is not varied");
    }
    for (name, _) in noise_pool() {
        assert!(!DECISION_HEADERS.contains(&name), "{name}");
    }
}
