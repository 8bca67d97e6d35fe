//! Per-request cost of the tower middleware, against tower-http's `CorsLayer` with the same
//! policy and against the bare inner service, with 1, 100 and 10,000 allowed origins.
//!
//! Services are driven directly (poll_ready + call + one poll with a no-op waker): no runtime,
//! no network. Each iteration builds the request and drops the response, as a server does; the
//! bare service pays exactly that, so a middleware's added cost is its time minus the bare
//! service's. (Building requests in a batch outside the timed section instead makes the
//! allocator's batch-free work land in the timed section, and the noise swamps the middleware.)
//!
//! Run: `cargo bench -p corsguard --features tower --bench middleware -- --warm-up-time 1 --measurement-time 3`
//!
//! Wall-clock time on a shared machine is noisy, so the same binary also runs a fixed number of
//! requests for an instruction count under callgrind, which load does not change:
//! `CORSGUARD_ICOUNT="allowed_actual corsguard 100 5000" valgrind --tool=callgrind <bench binary>`
//! (scripts/bench-middleware-instructions runs every combination and prints the table).

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use corsguard::tower::CorsLayer;
use corsguard::Policy;
use criterion::{criterion_group, BenchmarkId, Criterion};
use http::header::{
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN,
};
use http::{HeaderName, HeaderValue, Method, Request, Response, Uri};
use tower::{service_fn, Layer, Service};

const ALLOWED: &str = "https://app.example.com";
const DENIED: &str = "https://app.example.com.evil.net";

/// `n` exact origins; the allowed one comes last, where tower-http's linear scan finds it last
/// (a denied origin is scanned in full either way).
fn origins(n: usize) -> Vec<String> {
    let mut list: Vec<String> = (1..n).map(|i| format!("https://app{i}.example.com")).collect();
    list.push(ALLOWED.to_owned());
    list
}

fn corsguard_policy(n: usize) -> Policy {
    Policy::builder()
        .origins(origins(n))
        .methods(["GET", "POST", "PUT"])
        .allow_headers(["Content-Type", "Authorization"])
        .expose_headers(["X-Request-Id"])
        .credentials(true)
        .max_age(600)
        // Production-like: no `corsguard-reason` header on refusals.
        .strict(true)
        .build()
        .expect("benchmark policy is valid")
}

fn tower_http_layer(n: usize) -> tower_http::cors::CorsLayer {
    let list = origins(n).iter().map(|o| HeaderValue::from_str(o).expect("origin")).collect::<Vec<_>>();
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::AllowOrigin::list(list))
        .allow_methods([Method::GET, Method::POST, Method::PUT])
        .allow_headers([CONTENT_TYPE, AUTHORIZATION])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .allow_credentials(true)
        .max_age(Duration::from_secs(600))
}

type Inner = tower::util::ServiceFn<fn(Request<()>) -> Ready<Result<Response<()>, Infallible>>>;

fn inner() -> Inner {
    service_fn(|_request: Request<()>| ready(Ok(Response::new(()))))
}

/// The least any CORS middleware can do for an allowed actual request: no decision at all, just
/// the reflected origin and three fixed headers put on the inner service's response.
fn floor() -> impl Service<Request<()>, Response = Response<()>, Error = Infallible> {
    static TRUE: HeaderValue = HeaderValue::from_static("true");
    static EXPOSE: HeaderValue = HeaderValue::from_static("x-request-id");
    static VARY: HeaderValue = HeaderValue::from_static("origin");
    service_fn(|request: Request<()>| {
        let origin = request.headers().get(ORIGIN).cloned();
        let mut response = Response::new(());
        let headers = response.headers_mut();
        if let Some(origin) = origin {
            headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(http::header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
            headers.insert(http::header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE.clone());
            headers.insert(http::header::VARY, VARY.clone());
        }
        ready(Ok(response))
    })
}

/// One request through `service`, which completes without waiting: every service here does.
fn drive<S>(service: &mut S, request: Request<()>) -> Response<()>
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("no service here waits"),
    }
}

/// A header value as hyper makes it: a slice of the shared read buffer, so cloning it is a
/// reference-count increment (as it is in production), not a copy or a first-clone promotion.
fn shared(value: &'static str) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::copy_from_slice(value.as_bytes()).slice(..)).expect("valid value")
}

fn request(scenario: &str) -> Request<()> {
    let headers: &[(HeaderName, &'static str)] = match scenario {
        "allowed_actual" => &[(ORIGIN, ALLOWED)],
        "allowed_preflight" => &[
            (ORIGIN, ALLOWED),
            (ACCESS_CONTROL_REQUEST_METHOD, "PUT"),
            (ACCESS_CONTROL_REQUEST_HEADERS, "authorization,content-type"),
        ],
        "denied_actual" => &[(ORIGIN, DENIED)],
        _ => unreachable!("unknown scenario"),
    };
    let method = if scenario == "allowed_preflight" { Method::OPTIONS } else { Method::GET };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = Uri::from_static("/api/items");
    request.headers_mut().insert(HOST, shared("api.example.com"));
    for (name, value) in headers {
        request.headers_mut().insert(name.clone(), shared(value));
    }
    request
}

fn bench_service<S>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    scenario: &str,
    mut service: S,
) where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    // Checks the scenario does what its name says before timing it.
    let response = drive(&mut service, request(scenario));
    let acao = response.headers().get("access-control-allow-origin");
    assert_eq!(acao.is_some(), scenario.starts_with("allowed"), "{scenario}: {:?}", response.headers());
    c.bench_function(id, |b| b.iter(|| drive(&mut service, black_box(request(scenario)))));
}

fn middleware(c: &mut Criterion) {
    for scenario in ["allowed_actual", "allowed_preflight", "denied_actual"] {
        let mut group = c.benchmark_group(format!("middleware/{scenario}"));
        // The bare service's cost does not depend on the policy; measured once.
        let mut bare = inner();
        group.bench_function(BenchmarkId::new("bare", 0), |b| {
            b.iter(|| drive(&mut bare, black_box(request(scenario))))
        });
        for n in [1usize, 100, 10_000] {
            let ours = CorsLayer::new(corsguard_policy(n)).layer(inner());
            bench_service(&mut group, BenchmarkId::new("corsguard", n), scenario, ours);
            let (reloadable, _handle) = CorsLayer::reloadable(corsguard_policy(n));
            bench_service(
                &mut group,
                BenchmarkId::new("corsguard_reloadable", n),
                scenario,
                reloadable.layer(inner()),
            );
            let theirs = tower_http_layer(n).layer(inner());
            bench_service(&mut group, BenchmarkId::new("tower_http", n), scenario, theirs);
        }
        group.finish();
    }
}

/// Runs `count` requests of one scenario through one service, for instruction counting:
/// `"<scenario> <bare|corsguard|corsguard_reloadable|tower_http|floor> <origins> <count>"`.
fn instruction_count_run(spec: &str) {
    let parts: Vec<&str> = spec.split_whitespace().collect();
    let [scenario, service, n, count] = parts[..] else {
        panic!("CORSGUARD_ICOUNT wants \"<scenario> <service> <origins> <count>\", got {spec:?}");
    };
    let n: usize = n.parse().expect("origins is a number");
    let count: usize = count.parse().expect("count is a number");
    fn run<S>(mut service: S, scenario: &str, count: usize)
    where
        S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
    {
        for _ in 0..count {
            black_box(drive(&mut service, black_box(request(scenario))));
        }
    }
    match service {
        "bare" => run(inner(), scenario, count),
        "corsguard" => run(CorsLayer::new(corsguard_policy(n)).layer(inner()), scenario, count),
        "corsguard_reloadable" => {
            let (layer, _handle) = CorsLayer::reloadable(corsguard_policy(n));
            run(layer.layer(inner()), scenario, count)
        }
        "tower_http" => run(tower_http_layer(n).layer(inner()), scenario, count),
        "floor" => run(floor(), scenario, count),
        other => panic!("unknown service {other:?}"),
    }
}

criterion_group!(benches, middleware);

fn main() {
    if let Ok(spec) = std::env::var("CORSGUARD_ICOUNT") {
        instruction_count_run(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
