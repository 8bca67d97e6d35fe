//! The middleware's per-request heap use, counted with a counting global allocator: the
//! response header map's own allocations, and for an allowed origin one copy of the origin it
//! echoes (the decision allocates nothing, the future is not boxed, reading a reloadable policy
//! takes no allocation). Its own test binary, so the allocator sees nothing else.

use std::convert::Infallible;
use std::future::{ready, Future};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use corsguard::tower::CorsLayer;
use corsguard::Policy;
use http::{HeaderValue, Method, Request, Response};
use tower::{service_fn, Layer, Service};

mod alloc_support;

use alloc_support::allocations;

/// As hyper parses them: slices of a shared buffer, so a clone is a reference count.
fn shared(value: &'static str) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::copy_from_slice(value.as_bytes()).slice(..)).unwrap()
}

fn request(method: Method, headers: &[(&'static str, &'static str)]) -> Request<()> {
    let mut request = Request::builder().method(method).uri("/api/items").body(()).unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, shared(value));
    }
    request
}

fn drive<S>(service: &mut S, request: Request<()>) -> Response<()>
where
    S: Service<Request<()>, Response = Response<()>, Error = Infallible>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("the inner service is always ready"),
    }
}

fn policy() -> Policy {
    Policy::builder()
        .origins(["https://app.example.com"])
        .methods(["GET", "PUT"])
        .allow_headers(["Content-Type", "Authorization"])
        .expose_headers(["X-Request-Id"])
        .credentials(true)
        .strict(true)
        .build()
        .unwrap()
}

/// A request's name, method and headers, how many headers its response gets, and whether
/// the response echoes the origin.
type Case = (&'static str, Method, &'static [(&'static str, &'static str)], usize, bool);

/// A HeaderMap's first insert allocates its index table and its entry vector: two allocations,
/// the floor for any response that gets headers.
const HEADER_MAP: usize = 2;
/// An echoed origin is copied rather than shared with the request: sharing would keep the
/// server's receive buffer referenced, and hyper replaces a buffer still referenced when it
/// next reads (8 KiB) instead of reusing it. Everything else must be free.
const ECHOED_ORIGIN: usize = 1;

#[test]
fn a_request_costs_no_allocation_beyond_the_response_header_map() {
    let inner = || service_fn(|_: Request<()>| ready(Ok::<_, Infallible>(Response::new(()))));
    let (reloadable, _handle) = CorsLayer::reloadable(policy());
    let mut services = [CorsLayer::new(policy()).layer(inner()), reloadable.layer(inner())];
    let cases: [Case; 4] = [
        ("allowed actual", Method::GET, &[("origin", "https://app.example.com")], 4, true),
        (
            "allowed preflight",
            Method::OPTIONS,
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "PUT"),
                ("access-control-request-headers", "authorization"),
            ],
            6,
            true,
        ),
        ("denied actual", Method::GET, &[("origin", "https://evil.example.net")], 1, false),
        ("not CORS", Method::GET, &[], 1, false),
    ];
    for service in &mut services {
        // Once per policy, not per request: the first clone of each of the policy's header
        // values turns it into a shared buffer, and arc-swap sets up its thread-local state.
        for (_, method, headers, _, _) in &cases {
            drive(service, request(method.clone(), headers));
        }
        for (name, method, headers, header_count, echoes) in &cases {
            let req = request(method.clone(), headers);
            let (count, response) = allocations(|| drive(service, req));
            assert_eq!(response.headers().len(), *header_count, "{name}: {:?}", response.headers());
            let expected = HEADER_MAP + if *echoes { ECHOED_ORIGIN } else { 0 };
            assert_eq!(count, expected, "{name}: allocations per request");
        }
    }
}
