//! The tower middleware in a real axum app over real HTTP: preflights answered without the
//! application, CORS headers on every forwarded response, Vary merged, Access-Control-* from the
//! application replaced, per-route policies, cross-origin protection.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use corsguard::tower::CorsLayer;
use corsguard::Policy;
use test_support::app::{serve, Calls};
use test_support::http::Http;

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://app.example.com.evil.net";

fn policy(strict: bool) -> Policy {
    Policy::builder()
        .origins([APP, "https://*.staging.example.com"])
        .methods(["GET", "POST", "PUT", "DELETE"])
        .allow_headers(["Content-Type", "Authorization"])
        .expose_headers(["X-Request-Id"])
        .credentials(true)
        .max_age(7200)
        .strict(strict)
        .route("/public/", |r| r.origins(["*"]).credentials(false).methods(["GET", "HEAD"]))
        .build()
        .expect("test policy is valid")
}

/// The application: counts every request that reaches it, and demands a token under
/// `/api/private/` as an authentication layer would.
fn app(calls: Calls) -> Router {
    Router::new()
        .route(
            "/api/items",
            get(|| async { ([("x-request-id", "42"), ("x-internal", "secret")], "items") })
                .put(|| async { "updated" })
                .post(|| async { (StatusCode::CREATED, "created") })
                .delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route("/api/private/me", get(|| async { "me" }).put(|| async { "saved" }))
        .route("/api/error", get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }))
        .route("/api/vary", get(|| async { ([(header::VARY, "Accept-Encoding")], "varies") }))
        .route("/api/vary-origin", get(|| async { ([(header::VARY, "origin")], "varies") }))
        .route(
            "/api/sneaky",
            get(|| async {
                (
                    [
                        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                        (header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"),
                        (header::ACCESS_CONTROL_ALLOW_METHODS, "*"),
                        (header::ACCESS_CONTROL_EXPOSE_HEADERS, "*"),
                    ],
                    "sneaky",
                )
            }),
        )
        .route("/public/logo", get(|| async { "logo" }).post(|| async { "posted" }))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let calls = calls.clone();
            async move {
                calls.hit();
                let authorized = request.headers().get(header::AUTHORIZATION)
                    == Some(&HeaderValue::from_static("Bearer ok"));
                if request.uri().path().starts_with("/api/private/") && !authorized {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let response: Response = next.run(request).await;
                response
            }
        }))
}

async fn start(strict: bool) -> (Http, Calls) {
    let calls = Calls::default();
    let addr = serve(app(calls.clone()).layer(CorsLayer::new(policy(strict)))).await;
    (Http::new(addr), calls)
}

#[tokio::test]
async fn allowed_preflight_is_answered_204_without_reaching_the_application_or_its_auth() {
    let (http, calls) = start(false).await;
    let reply = http.preflight("/api/private/me", APP, "PUT", Some("authorization,content-type")).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(reply.header("access-control-allow-methods"), Some("GET, POST, PUT, DELETE"));
    assert_eq!(reply.header("access-control-allow-headers"), Some("Content-Type, Authorization"));
    assert_eq!(reply.header("access-control-max-age"), Some("7200"));
    assert_eq!(
        reply.header("vary"),
        Some("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
    );
    assert_eq!(reply.body, "");
    // A subdomain pattern, and a route without auth: same answer, still no call.
    let reply = http.preflight("/api/items", "https://pr-7.staging.example.com", "DELETE", None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("access-control-allow-origin"), Some("https://pr-7.staging.example.com"));
    assert_eq!(calls.get(), 0, "preflights never reach the application");

    // The actual request that follows does reach it, and auth applies to it.
    let reply = http.send(Method::PUT, "/api/private/me", &[("origin", APP)]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP), "the browser can read the 401");
    assert_eq!(calls.get(), 1);
}

#[tokio::test]
async fn refused_preflights_are_answered_403_without_cors_headers() {
    let (http, calls) = start(false).await;
    let cases = [
        (EVIL, "PUT", None, "origin-not-allowed"),
        ("null", "PUT", None, "origin-null"),
        ("https://APP.example.com", "PUT", None, "origin-not-canonical"),
        (APP, "PATCH", None, "method-not-allowed"),
        (APP, "put", None, "method-not-allowed"),
        (APP, "PUT", Some("content-type,x-debug"), "header-not-allowed"),
        (APP, "PUT", Some("content type"), "request-headers-malformed"),
    ];
    for (origin, method, headers, reason) in cases {
        let reply = http.preflight("/api/items", origin, method, headers).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{origin} {method} {headers:?}");
        assert!(!reply.has_cors_headers(), "{origin} {method} {headers:?}: {:?}", reply.headers);
        assert_eq!(reply.header("corsguard-reason"), Some(reason));
        assert_eq!(
            reply.header("vary"),
            Some("Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
        );
    }
    assert_eq!(calls.get(), 0);

    // A strict profile refuses the same way but does not say why.
    let (http, calls) = start(true).await;
    let reply = http.preflight("/api/items", EVIL, "PUT", None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.header("corsguard-reason"), None);
    assert_eq!(calls.get(), 0);
}

#[tokio::test]
async fn allowed_actual_request_gets_credentials_and_exposed_headers() {
    let (http, calls) = start(true).await;
    let reply = http.send(Method::GET, "/api/items", &[("origin", APP), ("cookie", "session=1")]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "items");
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(reply.header("access-control-expose-headers"), Some("X-Request-Id"));
    assert_eq!(reply.header("access-control-allow-methods"), None, "preflight-only header");
    assert_eq!(reply.header("vary"), Some("Origin"));
    assert_eq!(reply.header("x-request-id"), Some("42"));

    let reply = http.send(Method::POST, "/api/items", &[("origin", APP)]).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn denied_and_non_cors_requests_are_forwarded_without_cors_headers() {
    let (http, calls) = start(false).await;
    let reply = http.send(Method::GET, "/api/items", &[("origin", EVIL)]).await;
    assert_eq!(reply.status, StatusCode::OK, "CORS hides the response from scripts; it does not block GET");
    assert!(!reply.has_cors_headers());
    assert_eq!(reply.header("vary"), Some("Origin"));
    assert_eq!(reply.header("corsguard-reason"), Some("origin-not-allowed"));

    let reply = http.send(Method::GET, "/api/items", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(!reply.has_cors_headers());
    assert_eq!(reply.header("vary"), Some("Origin"), "caches must not mix variants");

    // A plain OPTIONS (no Access-Control-Request-Method) is not a preflight: the app answers.
    let reply = http.send(Method::OPTIONS, "/api/items", &[("origin", APP)]).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(calls.get(), 3);
}

#[tokio::test]
async fn application_errors_still_carry_cors_headers() {
    let (http, _) = start(true).await;
    let reply = http.send(Method::GET, "/api/error", &[("origin", APP)]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.body, "boom");
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(reply.header("access-control-allow-credentials"), Some("true"));
    let reply = http.send(Method::GET, "/api/nowhere", &[("origin", APP)]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
}

#[tokio::test]
async fn vary_is_appended_to_the_applications_never_overwritten_or_duplicated() {
    let (http, _) = start(true).await;
    let reply = http.send(Method::GET, "/api/vary", &[("origin", APP)]).await;
    assert_eq!(reply.all("vary"), ["Accept-Encoding", "Origin"]);
    let reply = http.send(Method::GET, "/api/vary", &[]).await;
    assert_eq!(reply.all("vary"), ["Accept-Encoding", "Origin"]);
    let reply = http.send(Method::GET, "/api/vary-origin", &[("origin", APP)]).await;
    assert_eq!(reply.all("vary"), ["origin"], "already varies on Origin (names are case-insensitive)");
}

#[tokio::test]
async fn access_control_headers_set_by_the_application_are_replaced_by_the_policys() {
    let (http, _) = start(true).await;
    let reply = http.send(Method::GET, "/api/sneaky", &[("origin", APP)]).await;
    assert_eq!(reply.all("access-control-allow-origin"), [APP]);
    assert_eq!(reply.all("access-control-allow-credentials"), ["true"]);
    assert_eq!(reply.all("access-control-expose-headers"), ["X-Request-Id"]);
    assert_eq!(reply.header("access-control-allow-methods"), None);

    // For an origin the policy refuses, the application's wildcard must not leak through.
    let reply = http.send(Method::GET, "/api/sneaky", &[("origin", EVIL)]).await;
    assert_eq!(reply.body, "sneaky");
    assert!(!reply.has_cors_headers(), "{:?}", reply.headers);
}

#[tokio::test]
async fn routes_have_their_own_policy() {
    let (http, calls) = start(true).await;
    // /public/ allows any origin, without credentials: `*`.
    let reply = http.send(Method::GET, "/public/logo", &[("origin", "https://anyone.example.org")]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(reply.header("access-control-allow-credentials"), None);
    let reply = http.preflight("/public/logo", "https://anyone.example.org", "GET", None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("access-control-allow-methods"), Some("GET, HEAD"));
    // Its method list is its own: PUT is allowed under /api/ but not here.
    let reply = http.preflight("/public/logo", APP, "PUT", None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // And the profile's rules still hold outside the route.
    let reply = http.send(Method::GET, "/api/items", &[("origin", "https://anyone.example.org")]).await;
    assert_eq!(reply.header("access-control-allow-origin"), None);
    let reply = http.preflight("/api/items", APP, "PUT", None).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(calls.get(), 2);
}

#[tokio::test]
async fn cross_origin_unsafe_requests_from_untrusted_origins_are_refused_before_the_application() {
    let (http, calls) = start(false).await;
    let reply =
        http.send(Method::POST, "/api/items", &[("origin", EVIL), ("sec-fetch-site", "cross-site")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.header("corsguard-reason"), Some("cross-origin-request"));
    assert!(!reply.has_cors_headers());
    let reply = http.send(Method::DELETE, "/api/items", &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "Sec-Fetch-Site alone is enough");
    // A route that allows any origin still guards methods it does not allow.
    let reply = http.send(Method::POST, "/public/logo", &[("origin", EVIL)]).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(calls.get(), 0);

    // Same-origin browsers and non-browser clients (neither header) pass.
    let reply = http.send(Method::POST, "/api/items", &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let reply = http.send(Method::POST, "/api/items", &[]).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    // Trusted origins pass with CORS headers.
    let reply =
        http.send(Method::DELETE, "/api/items", &[("origin", APP), ("sec-fetch-site", "cross-site")]).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(reply.header("access-control-allow-origin"), Some(APP));
    assert_eq!(calls.get(), 3);
}

#[tokio::test]
async fn malformed_and_repeated_origins_are_never_allowed() {
    let (http, _) = start(true).await;
    for origin in ["https://app.example.com/", "https://user@app.example.com", "app.example.com", "*"] {
        let reply = http.send(Method::GET, "/api/items", &[("origin", origin)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{origin}");
        assert!(!reply.has_cors_headers(), "{origin}");
    }
    let reply = http.send(Method::GET, "/api/items", &[("origin", APP), ("origin", APP)]).await;
    assert!(!reply.has_cors_headers());
}

#[tokio::test]
async fn websocket_handshakes_from_untrusted_origins_never_reach_the_application() {
    let (http, calls) = start(false).await;
    let upgrade = [("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-version", "13")];
    for origin in [EVIL, "null", "https://evil.example.net", "http://app.example.com"] {
        let headers: Vec<_> = upgrade.iter().copied().chain([("origin", origin)]).collect();
        let reply = http.send(Method::GET, "/api/items", &headers).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(reply.header("corsguard-reason"), Some("websocket-origin-not-allowed"), "{origin}");
        assert!(!reply.has_cors_headers(), "{origin}");
    }
    assert_eq!(calls.get(), 0, "no refused handshake reached the application");
    // The trusted origin, and a client that is no browser (no Origin), reach it.
    let headers: Vec<_> = upgrade.iter().copied().chain([("origin", APP)]).collect();
    http.send(Method::GET, "/api/items", &headers).await;
    http.send(Method::GET, "/api/items", &upgrade).await;
    assert_eq!(calls.get(), 2);
}
