//! The reverse proxy: accepts HTTP/1.1 and HTTP/2 (cleartext or TLS), decides every request
//! with the current policy, answers preflights and refusals itself and streams everything else
//! to the upstream through a pool of keep-alive connections. Connections are served by one
//! worker thread per core ([`super::worker`]), each with its own upstream pool
//! ([`super::pool`]).
//!
//! [`start`] takes a bound listener, so tests and embedders can serve on port 0 in-process:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use corsguard::{Policy, PolicyHandle};
//! use corsguard_gateway::proxy::{self, Options, Upstream};
//!
//! let policy = Policy::builder().origins(["https://app.example.com"]).build().expect("valid");
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let upstream = Upstream::parse("http://127.0.0.1:3000").expect("valid URL");
//! let gateway = proxy::start(listener, PolicyHandle::new(policy), Options::new(upstream))?;
//! println!("serving on {}", gateway.local_addr());
//! gateway.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use corsguard::{Action, OwnedCorsHeaders, OwnedDecision, PolicyHandle, Reason, RequestKind};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, TRANSFER_ENCODING};
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::drain::{self, Drain};
use super::forward;
use super::idle::Activity;
use super::metrics::{ClientError, Metrics, UpstreamError};
use super::pool::{Pool, SendError, UpstreamBody};
use super::preflight_cache::PreflightCache;
use super::tls::Tls;
pub use super::upstream::Upstream;
use super::worker::{Accepted, Serve, Workers};

/// The response body: the upstream's, streamed, or a small one the gateway writes itself.
pub type Body = Either<UpstreamBody, Full<Bytes>>;

/// Whether decisions are enforced or only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Preflights answered, refusals refused, CORS headers written by the gateway.
    Enforce,
    /// Decisions computed, logged and counted; traffic flows as the upstream answers.
    Report,
}

impl Mode {
    /// Reads `enforce` or `report`.
    pub fn parse(text: &str) -> Option<Mode> {
        match text {
            "enforce" => Some(Mode::Enforce),
            "report" => Some(Mode::Report),
            _ => None,
        }
    }

    /// `enforce` or `report`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Report => "report",
        }
    }
}

/// What carries requests to the upstream (`upstream_client`).
///
/// Both sit behind [`Pool`](crate::pool): the wire and adversarial tests run against each, and
/// the `framing` fuzz target feeds the same upstream bytes to both and requires the same
/// framing ([`crate::framing`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamClient {
    /// Bodiless requests to an `http://` upstream go through the gateway's own exchange
    /// ([`crate::exchange`]), everything else through hyper's client: the default, with about
    /// a quarter fewer instructions per proxied GET (BENCHMARKS.md).
    #[default]
    Direct,
    /// Every request goes through hyper's client.
    Hyper,
}

impl UpstreamClient {
    /// Reads `direct` or `hyper`.
    pub fn parse(text: &str) -> Option<UpstreamClient> {
        match text {
            "direct" => Some(UpstreamClient::Direct),
            "hyper" => Some(UpstreamClient::Hyper),
            _ => None,
        }
    }

    /// `direct` or `hyper`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamClient::Direct => "direct",
            UpstreamClient::Hyper => "hyper",
        }
    }
}

/// The mode, switchable while serving (a reload can move from `report` to `enforce`).
#[derive(Clone, Debug)]
pub struct ModeSwitch {
    report: Arc<AtomicBool>,
}

impl ModeSwitch {
    /// Starts in `mode`.
    pub fn new(mode: Mode) -> Self {
        ModeSwitch { report: Arc::new(AtomicBool::new(mode == Mode::Report)) }
    }

    /// The current mode.
    pub fn get(&self) -> Mode {
        if self.report.load(Ordering::Relaxed) {
            Mode::Report
        } else {
            Mode::Enforce
        }
    }

    /// Switches every request that starts from now on.
    pub fn set(&self, mode: Mode) {
        self.report.store(mode == Mode::Report, Ordering::Relaxed);
    }
}

/// How the gateway runs; [`Options::new`] has the defaults of the `[gateway]` keys.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where requests go.
    pub upstream: Upstream,
    /// Enforce or report-only; shared with the reloader.
    pub mode: ModeSwitch,
    /// `connect_timeout`: time to open an upstream connection (504 after it).
    pub connect_timeout: Duration,
    /// `header_timeout`: time a client has to send its request headers, which also bounds
    /// idle keep-alive connections and the TLS handshake.
    pub header_timeout: Duration,
    /// `upstream_timeout`: time to wait for the upstream's response headers (504 after it).
    pub upstream_timeout: Duration,
    /// TLS termination, when `tls_cert` and `tls_key` are set.
    pub tls: Option<Tls>,
    /// Where counters go.
    pub metrics: Metrics,
    /// `upstream_max_connections`: upstream connections busy at once, over all workers;
    /// requests beyond it wait for one to come free.
    pub upstream_max_connections: usize,
    /// Worker threads, each with its own event loop and upstream pool; 0 = one per core.
    pub workers: usize,
    /// `upstream_client`: what carries requests to the upstream.
    pub upstream_client: UpstreamClient,
}

/// Default `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default `header_timeout`.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// Default `upstream_timeout`, nginx's `proxy_read_timeout`.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `shutdown_timeout`: under Kubernetes' 30 s grace period, so a drain finishes before
/// SIGKILL.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(25);
/// Default `upstream_max_connections`: far more than a fast upstream needs (a few dozen keep
/// up with 100k requests/s), and enough for that many long-polling or streaming responses.
pub const DEFAULT_UPSTREAM_MAX_CONNECTIONS: usize = 1024;

impl Options {
    /// Enforce mode, the default timeouts, no TLS, fresh metrics.
    pub fn new(upstream: Upstream) -> Self {
        Options {
            upstream,
            mode: ModeSwitch::new(Mode::Enforce),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            tls: None,
            metrics: Metrics::new(),
            upstream_max_connections: DEFAULT_UPSTREAM_MAX_CONNECTIONS,
            workers: 0,
            upstream_client: UpstreamClient::Direct,
        }
    }

    /// The number of worker threads: `workers`, or one per core.
    fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        }
    }
}

/// A running gateway.
#[derive(Debug)]
pub struct Gateway {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Gateway {
    /// The address it serves on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets in-flight requests finish for at most `grace`, and
    /// returns true when every connection finished in time. Idle keep-alive connections are
    /// closed at once; HTTP/2 clients get a GOAWAY.
    pub async fn shutdown(self, grace: Duration) -> bool {
        let _ = self.stop.send(true);
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(_) => true,
            Err(_) => {
                task.abort();
                false
            }
        }
    }
}

/// Starts serving on `listener`: the accept loop runs in the current Tokio runtime, the
/// connections on the gateway's own worker threads.
///
/// Fails when the worker threads cannot be started, or when the upstream is `https://` and no
/// TLS client configuration can be built.
pub fn start(listener: TcpListener, policy: PolicyHandle, options: Options) -> io::Result<Gateway> {
    let addr = listener.local_addr()?;
    options.metrics.set_report_mode(options.mode.get() == Mode::Report);
    let workers = Workers::spawn(workers(policy, &options)?)?;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(accept(listener, workers, stopped));
    Ok(Gateway { addr, stop, task })
}

/// One [`Worker`] per thread, the upstream connection cap split between them.
fn workers(policy: PolicyHandle, options: &Options) -> io::Result<Vec<Worker>> {
    let count = options.worker_count();
    let per_worker = options.upstream_max_connections.div_ceil(count);
    let mut server = auto::Builder::new(TokioExecutor::new());
    server.http1().timer(TokioTimer::new()).header_read_timeout(options.header_timeout);
    server.http2().timer(TokioTimer::new());
    (0..count)
        .map(|_| {
            let shared = Arc::new(Shared {
                policy: policy.clone(),
                pool: Pool::new(
                    &options.upstream,
                    options.upstream_client,
                    options.connect_timeout,
                    per_worker,
                )?,
                preflights: PreflightCache::default(),
                upstream: options.upstream.clone(),
                mode: options.mode.clone(),
                upstream_timeout: options.upstream_timeout,
                metrics: options.metrics.clone(),
            });
            let (tls, header_timeout) = (options.tls.clone(), options.header_timeout);
            Ok(Worker { shared, server: server.clone(), tls, header_timeout })
        })
        .collect()
}

/// Accepts connections until told to stop, hands them to the workers, then lets the workers
/// drain. If this task is aborted, dropping `workers` stops them at once.
async fn accept(listener: TcpListener, mut workers: Workers, mut stopped: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stopped.changed() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted.and_then(|(stream, peer)| Ok((stream.into_std()?, peer))) {
            Ok(accepted) => workers.dispatch(accepted),
            Err(e) if is_per_connection(&e) => debug!(error = %e, "accept failed for one connection"),
            Err(e) => {
                // Out of file descriptors or memory: back off instead of spinning, and
                // keep serving the connections already open.
                warn!(error = %e, "cannot accept connections; retrying in 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    workers.drain().await;
}

struct Shared {
    policy: PolicyHandle,
    pool: Pool,
    preflights: PreflightCache,
    upstream: Upstream,
    mode: ModeSwitch,
    upstream_timeout: Duration,
    metrics: Metrics,
}

/// What one worker thread serves connections with.
struct Worker {
    shared: Arc<Shared>,
    server: auto::Builder<TokioExecutor>,
    tls: Option<Tls>,
    header_timeout: Duration,
}

impl Serve for Worker {
    async fn serve(self, mut connections: mpsc::UnboundedReceiver<Accepted>) {
        let drain = Drain::new();
        while let Some((stream, peer)) = connections.recv().await {
            match TcpStream::from_std(stream) {
                Ok(stream) => self.spawn_connection(stream, peer, drain.connection()),
                Err(e) => debug!(%peer, error = %e, "cannot register a connection"),
            }
        }
        drain.finish().await;
    }
}

impl Worker {
    fn spawn_connection(&self, stream: TcpStream, peer: SocketAddr, shutdown: drain::Connection) {
        let _ = stream.set_nodelay(true);
        let shared = Arc::clone(&self.shared);
        let server = self.server.clone();
        let tls = self.tls.as_ref().map(Tls::acceptor);
        let header_timeout = self.header_timeout;
        tokio::spawn(async move {
            let _open = OpenConnection::new(&shared.metrics);
            match tls {
                None => {
                    let io = TokioIo::new(stream);
                    serve_connection(io, server, shared, peer, "http", header_timeout, shutdown).await
                }
                Some(acceptor) => match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => {
                        let io = TokioIo::new(stream);
                        serve_connection(io, server, shared, peer, "https", header_timeout, shutdown).await
                    }
                    Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
}

async fn serve_connection<I>(
    io: I,
    server: auto::Builder<TokioExecutor>,
    shared: Arc<Shared>,
    peer: SocketAddr,
    proto: &'static str,
    idle_after: Duration,
    mut shutdown: drain::Connection,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let client = forward::Client::new(peer, proto);
    let activity = Arc::new(Activity::default());
    let requests = Arc::clone(&activity);
    let service = service_fn(move |request: Request<Incoming>| {
        let in_flight = requests.request(request.version());
        let handled = shared.handle(request, &client);
        async move {
            let response = match handled {
                Handled::Answered(response) => response,
                Handled::Forwarded(upstream) => upstream.await,
            };
            // Held until the response head is out, or dropped with the request if cancelled.
            drop(in_flight);
            Ok::<_, Infallible>(response)
        }
    });
    let conn = server.serve_connection_with_upgrades(io, service);
    let idle = activity.idle(idle_after);
    let told_to_finish = shutdown.told_to_finish();
    tokio::pin!(conn, idle, told_to_finish);
    let mut closing = Closing::No;
    // A hand-written poll rather than `select!`, whose branch conditions are read once: the
    // idle timer is polled only while it can still fire, not on every wake-up of an HTTP/1.1
    // connection.
    let ended = std::future::poll_fn(|cx| {
        if let Closing::No = closing {
            if told_to_finish.as_mut().poll(cx).is_ready() {
                closing = Closing::Told;
                conn.as_mut().graceful_shutdown();
            } else if activity.watched() && idle.as_mut().poll(cx).is_ready() {
                debug!(%peer, "closing a connection that asked for nothing for too long");
                closing = Closing::Idle(Box::pin(tokio::time::sleep(idle_after)));
                conn.as_mut().graceful_shutdown();
            }
        }
        if let Closing::Idle(deadline) = &mut closing {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        conn.as_mut().poll(cx).map(Some)
    })
    .await;
    match ended {
        Some(Ok(())) => {}
        Some(Err(e)) => debug!(%peer, error = %e, "client connection ended with an error"),
        None => debug!(%peer, "dropped an idle connection that did not finish after its GOAWAY"),
    }
}

/// Where a client connection is on its way out.
enum Closing {
    /// Serving.
    No,
    /// The gateway is draining.
    Told,
    /// Idle for too long. An HTTP/2 GOAWAY waits for the client to answer a PING, which a
    /// client holding sockets on purpose never does: it gets until this deadline.
    Idle(Pin<Box<tokio::time::Sleep>>),
}

/// Errors of `accept` that concern one connection only (the peer gave up early).
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted
    )
}

/// Keeps the open-connections gauge right even when a connection task is cancelled.
struct OpenConnection(Metrics);

impl OpenConnection {
    fn new(metrics: &Metrics) -> Self {
        metrics.connection_opened();
        OpenConnection(metrics.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

/// What the gateway made of a request: its answer, or the wait for the upstream's.
///
/// Deciding and rewriting the request are synchronous, so only the wait for the upstream is a
/// future, and that one is boxed: hyper moves each request's service future into place, and a
/// future with the whole exchange inline would be a couple of kilobytes copied per request
/// (the preflights, answered here, would pay it too).
#[allow(clippy::large_enum_variant)] // boxing the answer would allocate for every preflight
enum Handled<F> {
    Answered(Response<Body>),
    Forwarded(Pin<Box<F>>),
}

impl Shared {
    fn handle(
        self: &Arc<Self>,
        request: Request<Incoming>,
        client: &forward::Client,
    ) -> Handled<impl Future<Output = Response<Body>> + Send + 'static> {
        if request.method() == Method::CONNECT {
            // A reverse proxy never opens tunnels to arbitrary hosts.
            return Handled::Answered(plain(StatusCode::METHOD_NOT_ALLOWED, "CONNECT is not supported\n"));
        }
        if has_repeated_host(&request) {
            // RFC 9112 §3.2: a server must answer 400 to more than one Host. Two of them mean
            // the gateway and the upstream may each read a different one.
            self.metrics.client_error(ClientError::DuplicateHost);
            return Handled::Answered(plain(StatusCode::BAD_REQUEST, "more than one Host header\n"));
        }
        let mode = self.mode.get();
        let policy = self.policy.load();
        // Only a preflight can hit; other requests skip the cache's lock.
        if mode == Mode::Enforce && request.method() == Method::OPTIONS {
            if let Some(headers) = self.preflights.get(&policy, &request) {
                self.metrics.request(RequestKind::Preflight, true, Reason::Allowed);
                let mut response = answer(StatusCode::NO_CONTENT, Bytes::new());
                *response.headers_mut() = headers;
                return Handled::Answered(response);
            }
        }
        let decision = policy.decide(&request).into_owned();
        self.metrics.request(decision.kind(), decision.is_allowed(), decision.reason());
        if !decision.is_allowed() {
            log_refusal(&decision, &request, mode);
        }
        match (mode, decision.action()) {
            (Mode::Enforce, Action::Answer(status)) => {
                if decision.kind() == RequestKind::Preflight && decision.is_allowed() {
                    self.preflights.insert(&policy, &request, decision.headers());
                }
                Handled::Answered(local_answer(status, decision))
            }
            (Mode::Enforce, _) => {
                drop(policy);
                self.forward(request, client, Some(decision.into_headers()))
            }
            (Mode::Report, _) => self.forward(request, client, None),
        }
    }

    /// Sends the request upstream and streams the answer back; `cors` are the decision's
    /// headers, which replace the upstream's CORS headers (none in report mode).
    fn forward(
        self: &Arc<Self>,
        mut request: Request<Incoming>,
        client: &forward::Client,
        cors: Option<OwnedCorsHeaders>,
    ) -> Handled<impl Future<Output = Response<Body>> + Send + 'static> {
        let upgrade = forward::is_websocket_upgrade(&request);
        let client_side = upgrade.then(|| hyper::upgrade::on(&mut request));
        let host = forward::request_host(&request);
        let client_version = request.version();
        // Rewritten in place: the request is large, and each move of it is a copy.
        let Some(uri) = self.upstream.uri_for(std::mem::take(request.uri_mut())) else {
            let text = "the request target cannot be forwarded\n";
            return Handled::Answered(error_answer(StatusCode::BAD_REQUEST, text, cors));
        };
        *request.uri_mut() = uri;
        // The upstream connection is HTTP/1.1 whatever the client spoke.
        *request.version_mut() = Version::HTTP_11;
        let unknown_length = has_body_of_unknown_length(&request);
        let headers = request.headers_mut();
        forward::remove_hop_by_hop(headers, upgrade);
        if unknown_length {
            // The client's own framing went with the hop-by-hop headers. Without one, hyper's
            // client sends a GET, HEAD or DELETE body as no body at all; chunked carries it
            // whatever the method.
            headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        forward::add_forwarded(headers, client, host.as_ref());
        if !headers.contains_key(HOST) {
            // HTTP/1.1 requires a Host: the client's authority, or else the upstream's own.
            if let Some(host) = host.or_else(|| self.upstream.host_header()) {
                headers.insert(HOST, host);
            }
        }
        let outbound = self.pool.prepare(request);
        let shared = Arc::clone(self);
        Handled::Forwarded(Box::pin(async move {
            let started = Instant::now();
            let outcome = tokio::time::timeout(shared.upstream_timeout, shared.pool.send(outbound)).await;
            let mut response = match outcome {
                Ok(Ok(response)) => response,
                Ok(Err(e)) if e.is_client_body() => {
                    // The client's body was malformed (or the client went away mid-body):
                    // the client's error, not the upstream's, and no upstream alert.
                    shared.metrics.client_error(ClientError::RequestBody);
                    debug!(error = %error_chain(&e), "the request body could not be read");
                    return error_answer(StatusCode::BAD_REQUEST, "malformed request body\n", cors);
                }
                Ok(Err(e)) => {
                    let error = classify(&e);
                    shared.metrics.upstream_error(error);
                    warn!(upstream = %shared.upstream, error = %error_chain(&e), cause = error.as_str(), "upstream failed");
                    return match error {
                        UpstreamError::Timeout => {
                            error_answer(StatusCode::GATEWAY_TIMEOUT, "upstream connect timed out\n", cors)
                        }
                        _ => error_answer(StatusCode::BAD_GATEWAY, "upstream unavailable\n", cors),
                    };
                }
                Err(_) => {
                    shared.metrics.upstream_error(UpstreamError::Timeout);
                    let timeout_s = shared.upstream_timeout.as_secs_f64();
                    warn!(upstream = %shared.upstream, timeout_s, "upstream timed out");
                    return error_answer(StatusCode::GATEWAY_TIMEOUT, "upstream timed out\n", cors);
                }
            };
            shared.metrics.upstream_latency(started.elapsed());
            let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
            if switching && !(upgrade && forward::is_websocket_response(&response)) {
                // A switch nobody asked for, or to another protocol than WebSocket, would be a
                // tunnel past the gateway.
                shared.metrics.upstream_error(UpstreamError::Protocol);
                warn!(upstream = %shared.upstream, "the upstream switched protocols without being asked to");
                return error_answer(StatusCode::BAD_GATEWAY, "upstream unavailable\n", cors);
            }
            if let (true, Some(client_side)) = (switching, client_side) {
                tunnel(client_side, hyper::upgrade::on(&mut response));
            }
            if response.headers().contains_key(TRANSFER_ENCODING) {
                // RFC 9112 §6.3: Transfer-Encoding wins, and a Content-Length beside it is
                // removed; left in, it would frame the body for the client (cut short, or
                // never complete) while it was read upstream as chunked.
                response.headers_mut().remove(CONTENT_LENGTH);
            }
            forward::remove_hop_by_hop(response.headers_mut(), switching);
            if let Some(cors) = cors {
                // One source of truth: the upstream's own `Access-Control-*` headers are replaced.
                cors.apply_to(response.headers_mut());
            }
            // An HTTP/1.0 upstream must not downgrade the client's connection.
            *response.version_mut() = client_version;
            response.map(Either::Left)
        }))
    }
}

/// True for a request with two or more `Host` headers.
fn has_repeated_host<B>(request: &Request<B>) -> bool {
    let mut hosts = request.headers().get_all(HOST).iter();
    hosts.next().is_some() && hosts.next().is_some()
}

/// True for a request whose body is not known to be empty and has no length (chunked on
/// HTTP/1.1, DATA frames without `content-length` on HTTP/2).
fn has_body_of_unknown_length(request: &Request<Incoming>) -> bool {
    use hyper::body::Body as _;
    !request.body().is_end_stream() && request.body().size_hint().exact().is_none()
}

/// Copies bytes both ways between the client and the upstream once both sides switched
/// protocols (WebSocket), until either side closes.
fn tunnel(client: hyper::upgrade::OnUpgrade, upstream: hyper::upgrade::OnUpgrade) {
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(e) => return debug!(error = %e, "protocol upgrade failed"),
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            Ok((up, down)) => debug!(bytes_up = up, bytes_down = down, "upgraded connection closed"),
            Err(e) => debug!(error = %e, "upgraded connection ended with an error"),
        }
    });
}

fn log_refusal(decision: &OwnedDecision, request: &Request<Incoming>, mode: Mode) {
    let origin = request.headers().get(ORIGIN).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let action = match (mode, decision.is_forwarded()) {
        (Mode::Report, _) => "reported",
        (Mode::Enforce, false) => "refused",
        (Mode::Enforce, true) => "forwarded without CORS headers",
    };
    info!(
        reason = decision.reason().code(),
        kind = decision.kind().as_str(),
        mode = mode.as_str(),
        action,
        method = %request.method(),
        path = request.uri().path(),
        origin = origin.as_deref().unwrap_or(""),
        "request refused by the CORS policy"
    );
}

/// Classifies an upstream failure: a connect timeout is a 504 like any other wait that ran
/// out, everything else the upstream did (refused, reset, garbage) is a 502.
fn classify(e: &SendError) -> UpstreamError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::TimedOut {
                return UpstreamError::Timeout;
            }
        }
        source = err.source();
    }
    if e.is_connect() {
        UpstreamError::Connect
    } else {
        UpstreamError::Protocol
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

/// 204 or 403 answered by the gateway itself.
fn local_answer(status: StatusCode, decision: OwnedDecision) -> Response<Body> {
    let body = if decision.reason() == Reason::CrossOriginRequest {
        Bytes::from_static(b"cross-origin request refused\n")
    } else {
        Bytes::new()
    };
    let mut response = answer(status, body);
    if status != StatusCode::NO_CONTENT {
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    }
    decision.into_headers().apply_to(response.headers_mut());
    response
}

/// An error the gateway answers for the upstream, with the CORS headers an allowed origin
/// would have got, so the page sees "502" rather than a misleading CORS error.
fn error_answer(status: StatusCode, text: &'static str, cors: Option<OwnedCorsHeaders>) -> Response<Body> {
    let mut response = plain(status, text);
    if let Some(cors) = cors {
        cors.apply_to(response.headers_mut());
    }
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = answer(status, Bytes::from_static(text.as_bytes()));
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// A response the gateway writes itself, headers still to add.
fn answer(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Either::Right(Full::new(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_switch() {
        assert_eq!(Mode::parse("report"), Some(Mode::Report));
        assert_eq!(Mode::parse("Report"), None);
        let switch = ModeSwitch::new(Mode::Report);
        switch.clone().set(Mode::Enforce);
        assert_eq!(switch.get(), Mode::Enforce);
    }
}
