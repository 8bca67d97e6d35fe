//! Deliberately misconfigured HTTP servers on 127.0.0.1, one per `corsguard audit` finding class,
//! plus a correctly configured one, one running corsguard's own decision engine, and the broken
//! servers the auditor must survive (a closed port is `test_support::upstream::dead_addr`).
//! Shared by the `audit_*` tests and by the `audit_fixture` example that `scripts/compare-scanners`
//! runs.
//!
//! Each misconfigured server trusts one origin and gets exactly one thing wrong, written the way
//! such bugs are usually written (`startsWith`, `endsWith`, an unescaped regex, echoing headers).

#![allow(dead_code)] // each test binary uses its own subset

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, CACHE_CONTROL, CONTENT_TYPE, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a fixture server does with CORS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Echoes any Origin, with credentials.
    Reflection,
    /// Echoes any Origin; allows credentials only to a logged-in session (`Cookie: session=alice`).
    ReflectionWhenLoggedIn,
    /// Trusts its origin and `null`.
    NullOrigin,
    /// `origin.startsWith(trusted)`.
    PrefixMatch,
    /// `host.endsWith("example.com")`.
    SuffixMatch,
    /// `^http://api.example.com$` as a regex with unescaped dots.
    UnescapedDot,
    /// `startsWith(trusted)` followed by anything but a host character (`[a-z0-9.-]`).
    SpecialCharacters,
    /// Trusts the https origin and its http twin.
    HttpOriginTrusted,
    /// Trusts every subdomain of its host.
    AnySubdomain,
    /// Trusts `*.github.io` and codepen.io besides its own origin.
    ThirdParty,
    /// `Access-Control-Allow-Origin: *`, no credentials.
    Wildcard,
    /// `*` with `Access-Control-Allow-Credentials: true`.
    WildcardWithCredentials,
    /// Exact origin, cacheable for ten minutes by anyone, no `Vary: Origin`.
    MissingVary,
    /// Preflights echo Access-Control-Request-Headers.
    PreflightReflectsHeaders,
    /// Preflights echo Access-Control-Request-Method.
    PreflightAnyMethod,
    /// The application and a proxy both add Access-Control-Allow-Origin.
    MultipleAcao,
    /// `Access-Control-Allow-Credentials: True`.
    InvalidAcac,
    /// Exact origin, fixed preflight lists, `Vary: Origin`: nothing to find.
    Correct,
    /// corsguard's own engine (`Policy::decide` + `CorsHeaders::apply_to`) in front of an app.
    CorsguardEngine,
    /// corsguard's tower `CorsLayer` in front of an axum app.
    CorsguardTower,
}

/// One running fixture server.
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The finding id it should produce, or `correct` / `corsguard-engine`.
    pub name: &'static str,
    /// What it does.
    pub behaviour: Behaviour,
    /// `http://127.0.0.1:PORT/api/me`.
    pub url: String,
    /// The origin it is meant to trust (pass it as `--trusted-origin`).
    pub trusted: &'static str,
}

/// Every fixture: (name, behaviour, trusted origin). Most trust `http://api.example.com`, so that a
/// scanner deriving its probes from the target host (CORScanner) can be pointed at the same
/// servers as `http://api.example.com:PORT/` and be judged fairly.
pub const CASES: &[(&str, Behaviour, &str)] = &[
    ("origin-reflection", Behaviour::Reflection, "http://api.example.com"),
    ("null-origin", Behaviour::NullOrigin, "http://api.example.com"),
    ("prefix-match", Behaviour::PrefixMatch, "http://api.example.com"),
    ("suffix-match", Behaviour::SuffixMatch, "http://api.example.com"),
    ("unescaped-dot", Behaviour::UnescapedDot, "http://api.example.com"),
    ("special-characters", Behaviour::SpecialCharacters, "http://api.example.com"),
    ("http-origin-trusted", Behaviour::HttpOriginTrusted, "https://api.example.com"),
    ("any-subdomain-trusted", Behaviour::AnySubdomain, "http://api.example.com"),
    ("third-party-origin", Behaviour::ThirdParty, "http://api.example.com"),
    ("wildcard-origin", Behaviour::Wildcard, "http://api.example.com"),
    ("wildcard-with-credentials", Behaviour::WildcardWithCredentials, "http://api.example.com"),
    ("missing-vary-origin", Behaviour::MissingVary, "http://api.example.com"),
    ("preflight-reflects-headers", Behaviour::PreflightReflectsHeaders, "http://api.example.com"),
    ("preflight-any-method", Behaviour::PreflightAnyMethod, "http://api.example.com"),
    ("multiple-acao", Behaviour::MultipleAcao, "http://api.example.com"),
    ("invalid-acac", Behaviour::InvalidAcac, "http://api.example.com"),
    ("correct", Behaviour::Correct, "https://app.example.com"),
    ("corsguard-engine", Behaviour::CorsguardEngine, "https://app.example.com"),
    ("corsguard-tower", Behaviour::CorsguardTower, "https://app.example.com"),
];

/// Starts every fixture of [`CASES`] on its own loopback port.
pub async fn start_all() -> Vec<Fixture> {
    let mut fixtures = Vec::new();
    for &(name, behaviour, trusted) in CASES {
        let addr = serve(behaviour, trusted).await;
        fixtures.push(Fixture { name, behaviour, url: format!("http://{addr}/api/me"), trusted });
    }
    fixtures
}

/// Serves one behaviour on 127.0.0.1 with an OS-chosen port, until the runtime ends.
pub async fn serve(behaviour: Behaviour, trusted: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let engine = Arc::new(engine_policy(trusted));
    if behaviour == Behaviour::CorsguardTower {
        let policy = engine_policy(trusted).expect("the fixture policy is valid");
        let app = axum::Router::new()
            .route("/api/me", axum::routing::get(|| async { build(StatusCode::OK, app_headers(), APP_BODY) }))
            .layer(corsguard::tower::CorsLayer::new(policy));
        tokio::spawn(async move { axum::serve(listener, app).await });
        return addr;
    }
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let engine = engine.clone();
            let service = service_fn(move |req: Request<Incoming>| {
                let response = match behaviour {
                    Behaviour::CorsguardEngine => corsguard_engine(&engine, &req),
                    _ => respond(behaviour, trusted, &req),
                };
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn host_of(origin: &str) -> &str {
    origin.split_once("://").map_or("", |(_, rest)| rest)
}

fn scheme_of(origin: &str) -> &str {
    origin.split_once("://").map_or("", |(scheme, _)| scheme)
}

/// Whether the (buggy) allowlist of `behaviour` accepts `origin`.
fn accepts(behaviour: Behaviour, trusted: &str, origin: &str) -> bool {
    let host = host_of(origin);
    let same_scheme = scheme_of(origin) == scheme_of(trusted);
    origin == trusted
        || match behaviour {
            Behaviour::Reflection | Behaviour::ReflectionWhenLoggedIn => true,
            Behaviour::NullOrigin => origin == "null",
            Behaviour::PrefixMatch => origin.starts_with(trusted),
            Behaviour::SuffixMatch => same_scheme && host.ends_with("example.com"),
            Behaviour::UnescapedDot => {
                let pattern = trusted.as_bytes();
                origin.len() == pattern.len()
                    && origin.bytes().zip(pattern).all(|(o, &p)| p == b'.' || o == p)
            }
            Behaviour::SpecialCharacters => origin.strip_prefix(trusted).is_some_and(|rest| {
                rest.bytes().next().is_some_and(|c| !(c.is_ascii_alphanumeric() || c == b'.' || c == b'-'))
            }),
            Behaviour::HttpOriginTrusted => {
                Some(origin) == trusted.strip_prefix("https://").map(|h| format!("http://{h}")).as_deref()
            }
            Behaviour::AnySubdomain => same_scheme && host.ends_with(&format!(".{}", host_of(trusted))),
            Behaviour::ThirdParty => host.ends_with(".github.io") || origin == "https://codepen.io",
            _ => false,
        }
}

fn respond(behaviour: Behaviour, trusted: &str, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    // Every server also has an old path that moved within the site, and a single sign-on path
    // that sends browsers to another site.
    let redirect = match req.uri().path() {
        "/old" => Some((StatusCode::MOVED_PERMANENTLY, "/api/me")),
        "/sso" => Some((StatusCode::FOUND, "https://login.example.com/authorize")),
        _ => None,
    };
    if let Some((status, location)) = redirect {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::LOCATION, HeaderValue::from_static(location));
        return build(status, headers, "");
    }
    let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok());
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut h = HeaderMap::new();
    let set = |h: &mut HeaderMap, name, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.append(name, v);
        }
    };
    let wildcard = matches!(behaviour, Behaviour::Wildcard | Behaviour::WildcardWithCredentials);
    let allowed = origin.filter(|o| accepts(behaviour, trusted, o));
    if wildcard {
        set(&mut h, ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        if behaviour == Behaviour::WildcardWithCredentials {
            set(&mut h, ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
    } else if let Some(o) = allowed {
        set(&mut h, ACCESS_CONTROL_ALLOW_ORIGIN, o);
        if behaviour == Behaviour::MultipleAcao {
            set(&mut h, ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        let logged_in = req.headers().get(http::header::COOKIE).is_some_and(|c| c == "session=alice");
        if behaviour != Behaviour::ReflectionWhenLoggedIn || logged_in {
            let flag = if behaviour == Behaviour::InvalidAcac { "True" } else { "true" };
            set(&mut h, ACCESS_CONTROL_ALLOW_CREDENTIALS, flag);
        }
    }
    if !wildcard && behaviour != Behaviour::MissingVary {
        set(&mut h, VARY, "Origin");
    }
    let (status, body) = if preflight {
        if !(wildcard || allowed.is_some()) {
            return build(StatusCode::FORBIDDEN, HeaderMap::new(), "");
        }
        let asked = |name| req.headers().get(name).and_then(|v: &HeaderValue| v.to_str().ok()).unwrap_or("");
        let methods = if behaviour == Behaviour::PreflightAnyMethod {
            asked(ACCESS_CONTROL_REQUEST_METHOD)
        } else {
            "GET, POST"
        };
        let headers = if behaviour == Behaviour::PreflightReflectsHeaders {
            asked(ACCESS_CONTROL_REQUEST_HEADERS)
        } else {
            "content-type"
        };
        set(&mut h, ACCESS_CONTROL_ALLOW_METHODS, methods);
        if !headers.is_empty() {
            set(&mut h, ACCESS_CONTROL_ALLOW_HEADERS, headers);
        }
        set(&mut h, ACCESS_CONTROL_MAX_AGE, "600");
        (StatusCode::NO_CONTENT, "")
    } else {
        let caching =
            if behaviour == Behaviour::MissingVary { "public, max-age=600" } else { "private, max-age=60" };
        set(&mut h, CACHE_CONTROL, caching);
        set(&mut h, CONTENT_TYPE, "application/json");
        (StatusCode::OK, r#"{"user":"alice","email":"alice@example.com"}"#)
    };
    build(status, h, body)
}

fn build(status: StatusCode, headers: HeaderMap, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// What the application behind corsguard answers: private user data.
const APP_BODY: &str = r#"{"user":"alice","email":"alice@example.com"}"#;

fn app_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, max-age=60"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// The policy the corsguard fixtures enforce: exactly the trusted origin, credentials.
fn engine_policy(trusted: &str) -> Option<corsguard::Policy> {
    let toml = format!(
        "[policy]\nmethods = [\"GET\", \"POST\"]\nallow_headers = [\"Content-Type\"]\ncredentials = true\n\
         max_age = 600\n\n[profiles.production]\norigins = [\"{trusted}\"]\n"
    );
    corsguard::Policy::from_toml(&toml, None).ok()
}

fn corsguard_engine(policy: &Option<corsguard::Policy>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(policy) = policy else {
        return build(StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), "invalid fixture policy");
    };
    let decision = policy.decide(req);
    let mut headers = HeaderMap::new();
    let (status, body) = match decision.status() {
        Some(status) => (status, ""),
        None => {
            headers = app_headers();
            (StatusCode::OK, APP_BODY)
        }
    };
    decision.headers().to_owned().apply_to(&mut headers);
    build(status, headers, body)
}

// ---------------------------------------------------------------------------------------------
// Servers the auditor must survive

/// Accepts connections and never answers.
pub async fn silent() -> SocketAddr {
    raw(|mut stream| async move {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        tokio::time::sleep(Duration::from_secs(120)).await;
    })
    .await
}

/// Answers every request with bytes that are not HTTP.
pub async fn garbage() -> SocketAddr {
    raw(|mut stream| async move {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        let _ = stream.write_all(b"\x00\x01\x02 this is not HTTP at all \xff\xfe\r\n\r\n").await;
    })
    .await
}

/// Answers with a 10 MB header.
pub async fn huge_header() -> SocketAddr {
    raw(|mut stream| async move {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf).await;
        if stream.write_all(b"HTTP/1.1 200 OK\r\nX-Huge: ").await.is_err() {
            return;
        }
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..160 {
            if stream.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"\r\nContent-Length: 0\r\n\r\n").await;
    })
    .await
}

async fn raw<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream));
        }
    });
    addr
}
