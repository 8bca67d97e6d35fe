//! Cost of one decision with 1, 100 and 10,000 allowed origins.
//!
//! Run: `cargo bench -p corsguard --bench decision`

use corsguard::Policy;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::Request;
use std::hint::black_box;

fn policy(origins: usize) -> Policy {
    // Half exact origins, half subdomain patterns, so both lookups are exercised.
    let mut list: Vec<String> = (0..origins / 2).map(|i| format!("https://app{i}.example.com")).collect();
    list.extend((origins / 2..origins).map(|i| format!("https://*.tenant{i}.example.net")));
    list.push("https://app.example.com".to_owned());
    Policy::builder()
        .origins(list)
        .methods(["GET", "POST", "PUT"])
        .allow_headers(["Content-Type", "Authorization"])
        .credentials(true)
        .build()
        .expect("benchmark policy is valid")
}

fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    let preflight = Request::options("/api/items")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "authorization,content-type")
        .body(())
        .unwrap();
    let actual = Request::get("/api/items").header("origin", "https://app.example.com").body(()).unwrap();
    let denied =
        Request::get("/api/items").header("origin", "https://app.example.com.evil.net").body(()).unwrap();
    for n in [1usize, 100, 10_000] {
        let policy = policy(n);
        for (name, request) in
            [("allowed_preflight", &preflight), ("allowed_actual", &actual), ("denied_actual", &denied)]
        {
            group.bench_with_input(BenchmarkId::new(name, n), request, |b, req| {
                b.iter(|| black_box(policy.decide(black_box(req))).is_allowed())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
