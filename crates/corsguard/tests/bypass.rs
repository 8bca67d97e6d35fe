//! The historical CORS allowlist bypasses, each tried as an actual request and as a preflight
//! against a credentialed policy: every one must be refused, with no CORS headers, while the
//! legitimate origins are allowed.

use corsguard::Policy;
use http::Request;

fn policy() -> Policy {
    Policy::builder()
        .profile("production")
        .origins([
            "https://app.example.com",
            "https://*.example.org",
            "https://api.example.net:8443",
            "https://xn--bcher-kva.example",
        ])
        .methods(["GET", "POST", "PUT"])
        .allow_headers(["Content-Type", "Authorization"])
        .credentials(true)
        .build()
        .expect("valid policy")
}

const LEGITIMATE: &[&str] = &[
    "https://app.example.com",
    "https://a.example.org",
    "https://deep.sub.example.org",
    "https://api.example.net:8443",
    "https://xn--bcher-kva.example",
];

/// (class, Origin header bytes).
const BYPASSES: &[(&str, &[u8])] = &[
    ("prefix match", b"https://app.example.com.evil.net"),
    ("prefix match on a pattern", b"https://a.example.org.evil.net"),
    ("suffix match", b"https://evilexample.com"),
    ("suffix match on a pattern's base", b"https://evilexample.org"),
    ("suffix match with a hyphen", b"https://evil-app.example.com"),
    ("unescaped dot", b"https://appxexample.com"),
    ("unescaped dot in a pattern", b"https://aexample.org"),
    ("underscore", b"https://app.example.com_.evil.net"),
    ("backtick", b"https://app.example.com`.evil.net"),
    ("percent-encoded backtick", b"https://app.example.com%60.evil.net"),
    ("other special characters", b"https://app.example.com!.evil.net"),
    ("curly braces", b"https://app.example.com}.evil.net"),
    ("null", b"null"),
    ("Null in another case", b"Null"),
    ("scheme downgrade", b"http://app.example.com"),
    ("scheme downgrade on a pattern", b"http://a.example.org"),
    ("websocket scheme", b"wss://app.example.com"),
    ("other port", b"https://app.example.com:8443"),
    ("missing port", b"https://api.example.net"),
    ("explicit default port", b"https://app.example.com:443"),
    ("trailing slash", b"https://app.example.com/"),
    ("path", b"https://app.example.com/evil"),
    ("trailing dot", b"https://app.example.com."),
    ("query", b"https://app.example.com?x"),
    ("fragment", b"https://app.example.com#x"),
    ("userinfo", b"https://user@app.example.com"),
    ("userinfo hiding the host", b"https://app.example.com@evil.net"),
    ("two origins with a space", b"https://app.example.com https://evil.net"),
    ("two origins with a comma", b"https://app.example.com,https://evil.net"),
    ("uppercase host", b"https://APP.example.com"),
    ("uppercase scheme", b"HTTPS://app.example.com"),
    ("leading whitespace", b" https://app.example.com"),
    ("tab", b"https://app.example.com\t"),
    ("apex of a subdomain pattern", b"https://example.org"),
    ("raw Unicode (IDN not in punycode)", "https://bücher.example".as_bytes()),
    ("homograph in raw Unicode", "https://аpp.example.com".as_bytes()),
    ("homograph in punycode", b"https://xn--pp-8kc.example.com"),
    ("empty", b""),
    ("scheme only", b"https://"),
    ("no scheme", b"app.example.com"),
    ("IPv4 in octal form", b"https://0177.0.0.1"),
    ("obs-text bytes", b"https://app.example.com\xff"),
];

fn actual(origin: &[u8]) -> Request<()> {
    let mut req = Request::get("/api").body(()).unwrap();
    req.headers_mut().insert("origin", http::HeaderValue::from_bytes(origin).unwrap());
    req
}

fn preflight(origin: &[u8]) -> Request<()> {
    let mut req = Request::options("/api")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "authorization")
        .body(())
        .unwrap();
    req.headers_mut().insert("origin", http::HeaderValue::from_bytes(origin).unwrap());
    req
}

#[test]
fn every_bypass_is_refused() {
    let policy = policy();
    let mut leaks = Vec::new();
    for (class, origin) in BYPASSES {
        for (kind, req) in [("actual", actual(origin)), ("preflight", preflight(origin))] {
            let d = policy.decide(&req);
            let cors = d.headers().iter().filter(|(n, _)| n.as_str().starts_with("access-control-")).count();
            if d.is_allowed()
                || cors > 0
                || (kind == "preflight" && d.status() != Some(http::StatusCode::FORBIDDEN))
            {
                leaks.push(format!("{class} ({kind}): {:?} -> {d:?}", String::from_utf8_lossy(origin)));
            }
        }
    }
    assert!(leaks.is_empty(), "bypasses that got through:\n{}", leaks.join("\n"));
}

#[test]
fn repeated_origin_header_is_refused() {
    let policy = policy();
    for req in [actual(b"https://app.example.com"), preflight(b"https://app.example.com")] {
        let mut req = req;
        req.headers_mut().append("origin", "https://app.example.com".parse().unwrap());
        let d = policy.decide(&req);
        assert!(!d.is_allowed());
        assert_eq!(d.reason().code(), "origin-repeated");
        assert!(d.headers().allow_origin().is_none());
    }
}

#[test]
fn legitimate_origins_are_allowed() {
    let policy = policy();
    for origin in LEGITIMATE {
        let req = actual(origin.as_bytes());
        let d = policy.decide(&req);
        assert!(d.is_allowed(), "{origin}: {d:?}");
        assert_eq!(d.headers().allow_origin().unwrap(), origin);
        let req = preflight(origin.as_bytes());
        let d = policy.decide(&req);
        assert!(d.is_allowed(), "{origin} preflight: {d:?}");
        assert_eq!(d.headers().allow_origin().unwrap().as_bytes(), origin.as_bytes());
    }
}

#[test]
fn config_side_bypass_patterns_are_rejected_by_the_linter() {
    // Entries that would open the same holes if accepted.
    for (entry, code) in [
        ("null", "null-origin"),
        ("https://*.com", "public-suffix-wildcard"),
        ("https://*.github.io", "public-suffix-wildcard"),
        ("https://app.example.com/", "origin-has-path"),
        ("https://*example.com", "invalid-origin"),
        ("https://app.example.*", "invalid-origin"),
        ("http://app.example.com", "insecure-origin-with-credentials"),
        ("^https://.*\\.example\\.com$", "invalid-origin"),
    ] {
        let err = Policy::builder().origins([entry]).credentials(true).build().unwrap_err();
        assert!(err.iter().any(|d| d.code == code), "{entry}: expected {code}, got {err}");
    }
}
