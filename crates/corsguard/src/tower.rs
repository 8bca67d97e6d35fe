//! Tower middleware: a corsguard [`Policy`] for axum, hyper, tonic and any other
//! [`tower`](https://docs.rs/tower) stack, in one line.
//!
//! ```
//! # async fn doc() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{routing::get, Router};
//! use corsguard::{tower::CorsLayer, Policy};
//!
//! let policy = Policy::builder()
//!     .origins(["https://app.example.com"])
//!     .methods(["GET", "POST", "PUT"])
//!     .allow_headers(["Content-Type", "Authorization"])
//!     .credentials(true)
//!     .build()?;
//! let app: Router = Router::new().route("/api/items", get(|| async { "[]" })).layer(CorsLayer::new(policy));
//! # Ok(()) }
//! ```
//!
//! Every request gets the decision of [`Policy::decide`], applied as the gateway applies it:
//!
//! - **Preflights** are answered by the layer itself (204 when allowed, 403 when refused) and
//!   never reach the inner service, so authentication layers placed inside it never see them.
//! - **Unsafe cross-origin requests from untrusted origins** (cross-origin protection) are
//!   answered 403 by the layer, without calling the inner service.
//! - **Every other request** goes to the inner service, and its response, whatever its status,
//!   gets the policy's headers: any `Access-Control-*` header the inner service set is replaced
//!   (one source of truth), and `Vary` is appended to, never overwritten.
//!
//! For a policy that changes without a restart, build the layer with
//! [`CorsLayer::reloadable`] and keep the [`PolicyHandle`].
//!
//! The layer costs one decision (no allocation) and the insertion of the response headers per
//! request; it never boxes a future. It is not a security boundary: see the crate docs.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{HeaderMap, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::cors_headers::OwnedCorsHeaders;
use crate::decision::Action;
use crate::policy::Policy;
use crate::reload::PolicyHandle;

/// Applies a corsguard [`Policy`] to every request of the wrapped service.
///
/// ```
/// use corsguard::{tower::CorsLayer, Policy};
/// use http::{Request, Response, StatusCode};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = Policy::builder().origins(["https://app.example.com"]).methods(["GET", "PUT"]).build()?;
/// let service = ServiceBuilder::new()
///     .layer(CorsLayer::new(policy))
///     .service(service_fn(|_req: Request<()>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(String::from("hello")))
///     }));
///
/// let preflight = Request::options("/items/1")
///     .header("origin", "https://app.example.com")
///     .header("access-control-request-method", "PUT")
///     .body(())?;
/// let response = service.clone().oneshot(preflight).await?;
/// assert_eq!(response.status(), StatusCode::NO_CONTENT);
/// assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
///
/// let get = Request::get("/items/1").header("origin", "https://app.example.com").body(())?;
/// let response = service.oneshot(get).await?;
/// assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example.com");
/// assert_eq!(response.headers()["vary"], "Origin");
/// assert_eq!(response.into_body(), "hello");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct CorsLayer {
    source: Source,
}

impl CorsLayer {
    /// Serves `policy`, fixed for the life of the layer.
    pub fn new(policy: Policy) -> Self {
        CorsLayer { source: Source::Fixed(Arc::new(policy)) }
    }

    /// Serves `policy` and returns the handle that replaces it while the service runs.
    ///
    /// ```
    /// use corsguard::{tower::CorsLayer, Policy};
    ///
    /// let (layer, handle) = CorsLayer::reloadable(Policy::builder().origins(["https://a.example.com"]).build()?);
    /// // ... Router::new().layer(layer) ...
    ///
    /// // Later, e.g. on SIGHUP or a file change: an invalid file is refused and the old
    /// // policy keeps serving.
    /// match handle.reload_toml("[policy]\norigins = [\"https://b.example.com\"]\n", None) {
    ///     Ok(policy) => println!("now serving profile {}", policy.profile()),
    ///     Err(diagnostics) => eprintln!("kept the old policy:\n{diagnostics}"),
    /// }
    /// assert_eq!(layer.policy().rules().origins()[0].to_string(), "https://b.example.com");
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn reloadable(policy: Policy) -> (Self, PolicyHandle) {
        let handle = PolicyHandle::new(policy);
        (CorsLayer::with_handle(handle.clone()), handle)
    }

    /// Serves whatever policy `handle` holds at the time of each request: several layers (or a
    /// layer and the gateway) can share one handle.
    pub fn with_handle(handle: PolicyHandle) -> Self {
        CorsLayer { source: Source::Live(handle) }
    }

    /// The policy this layer serves now.
    pub fn policy(&self) -> Arc<Policy> {
        self.source.current()
    }
}

impl From<Policy> for CorsLayer {
    fn from(policy: Policy) -> Self {
        CorsLayer::new(policy)
    }
}

impl From<PolicyHandle> for CorsLayer {
    fn from(handle: PolicyHandle) -> Self {
        CorsLayer::with_handle(handle)
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors { inner, source: self.source.clone() }
    }
}

/// Where a layer reads its policy. A fixed policy skips even arc-swap's few atomic operations.
#[derive(Clone)]
enum Source {
    Fixed(Arc<Policy>),
    Live(PolicyHandle),
}

impl Source {
    fn current(&self) -> Arc<Policy> {
        match self {
            Source::Fixed(policy) => Arc::clone(policy),
            Source::Live(handle) => handle.current(),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Fixed(policy) => f.debug_tuple("Fixed").field(&policy.profile()).finish(),
            Source::Live(handle) => f.debug_tuple("Live").field(handle).finish(),
        }
    }
}

/// The middleware service built by [`CorsLayer`]: see the [module docs](self) for what it does
/// to each request.
#[derive(Clone, Debug)]
#[must_use]
pub struct Cors<S> {
    inner: S,
    source: Source,
}

impl<S> Cors<S> {
    /// Wraps `inner` with a fixed `policy` (the same as `CorsLayer::new(policy).layer(inner)`).
    pub fn new(inner: S, policy: Policy) -> Self {
        CorsLayer::new(policy).layer(inner)
    }

    /// The policy this service serves now.
    pub fn policy(&self) -> Arc<Policy> {
        self.source.current()
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Cors<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match &self.source {
            Source::Fixed(policy) => dispatch(policy, &mut self.inner, request),
            // The guard lives only for this synchronous call: the future owns what it needs.
            Source::Live(handle) => dispatch(&handle.load(), &mut self.inner, request),
        }
    }
}

fn dispatch<S, ReqBody, ResBody>(
    policy: &Policy,
    inner: &mut S,
    request: Request<ReqBody>,
) -> ResponseFuture<S::Future>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    let decision = policy.decide(&request);
    match decision.action() {
        Action::Forward => {
            // The decision borrows the request, which the inner service takes: keep owned copies.
            let headers = decision.headers().to_owned();
            ResponseFuture { kind: Kind::Forwarded { future: inner.call(request), headers } }
        }
        Action::Answer(status) => {
            let headers = decision.headers().to_header_map();
            ResponseFuture { kind: Kind::Answered { status, headers } }
        }
    }
}

pin_project! {
    /// The response future of [`Cors`]: the inner service's, or the layer's own answer.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Forwarded {
            #[pin]
            future: F,
            headers: OwnedCorsHeaders,
        },
        Answered {
            status: StatusCode,
            headers: HeaderMap,
        },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Forwarded { future, headers } => {
                let mut response = ready!(future.poll(cx))?;
                headers.move_to(response.headers_mut());
                Poll::Ready(Ok(response))
            }
            KindProj::Answered { status, headers } => {
                let mut response = Response::new(B::default());
                *response.status_mut() = *status;
                *response.headers_mut() = mem::take(headers);
                Poll::Ready(Ok(response))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Forwarded { .. } => "Forwarded",
            Kind::Answered { .. } => "Answered",
        };
        f.debug_struct("ResponseFuture").field("kind", &kind).finish_non_exhaustive()
    }
}
