//! Property tests through the public API: no input makes the parsers or the decision panic,
//! decisions keep their invariants, and preflight cache keys cover every input of a preflight.
//! (The compiled matcher and the one-pass header check are held to their plain definitions by
//! the unit tests of `pattern.rs` and `headers.rs`.)

use corsguard::{Action, RequestKind};
use corsguard::{Origin, Policy};
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
