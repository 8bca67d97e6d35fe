//! Deciding a request must not touch the heap: proved with a counting global allocator.
//! This file is its own test binary so the allocator sees nothing else.

use corsguard::Policy;
use http::Request;

mod alloc_support;

use alloc_support::allocations;

#[test]
fn decisions_make_zero_heap_allocations() {
    let mut origins: Vec<String> = (0..10_000).map(|i| format!("https://app{i}.example.com")).collect();
    origins.push("https://*.tenants.example.org".to_owned());
    origins.push("https://app.example.com".to_owned());
    let policy = Policy::builder()
        .origins(origins)
        .methods(["GET", "POST", "PUT"])
        .allow_headers(["Content-Type", "Authorization"])
        .expose_headers(["X-Request-Id"])
        .credentials(true)
        .route("/public/", |r| r.origins(["*"]).credentials(false))
        .build()
        .unwrap();
    let requests = [
        Request::get("/api").header("origin", "https://app.example.com").body(()).unwrap(),
        Request::get("/api").header("origin", "https://a.b.tenants.example.org").body(()).unwrap(),
        Request::get("/api").header("origin", "https://app.example.com.evil.net").body(()).unwrap(),
        Request::get("/api").header("origin", "null").body(()).unwrap(),
        Request::get("/public/x").header("origin", "https://anyone.example.net").body(()).unwrap(),
        Request::get("/api").body(()).unwrap(),
        Request::post("/api")
            .header("origin", "https://evil.example.net")
            .header("sec-fetch-site", "cross-site")
            .body(())
            .unwrap(),
        Request::delete("/api")
            .header("origin", "https://evil.example.net")
            .header("host", "api")
            .body(())
            .unwrap(),
        Request::options("/api")
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "authorization, content-type")
            .body(())
            .unwrap(),
        Request::options("/api")
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "x-not-allowed")
            .body(())
            .unwrap(),
    ];
    for req in &requests {
        let mut seen = 0;
        let (n, ()) = allocations(|| {
            let d = policy.decide(req);
            seen = d.headers().iter().count() + usize::from(d.is_allowed());
            std::hint::black_box(d.reason().code());
        });
        assert_eq!(n, 0, "{} {:?} allocated {n} time(s)", req.method(), req.headers());
        assert!(seen > 0);
    }
    // The counter works: a Vec allocates.
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))).0 > 0);
}
