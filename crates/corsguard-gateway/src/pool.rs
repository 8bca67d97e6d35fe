//! The upstream side of one worker: keep-alive HTTP/1.1 connections to the upstream and a cap
//! on how many of them may be busy at once.
//!
//! Without a cap, every request that finds no idle connection opens a new one, so 10,000
//! concurrent clients become 10,000 upstream connections (memory on both sides, and an
//! upstream that queues instead of answering). With the cap, requests beyond it wait in FIFO
//! order for a connection to come free, as in nginx's `keepalive` pools; the wait counts
//! against `upstream_timeout`.
//!
//! A request without a body to a plain `http://` upstream (nearly every proxied request) is
//! carried by [`super::exchange`] on a connection the pool keeps itself. Everything else
//! (request bodies, protocol upgrades, `https://` upstreams) goes through hyper's connection
//! API: each such connection is a [`SendRequest`] handle plus a task driving it. Idle
//! connections of either kind wait in a stack (the most recently used first, so surplus
//! connections age out). A worker's pool is only used from the worker's own thread, so its
//! locks are never contended.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::error::Elapsed;
use tokio_rustls::TlsConnector;
use tracing::debug;

use super::exchange::{self, BodyDecoder, Head, RequestHead};
use super::proxy::UpstreamClient;
use super::upstream::Upstream;

/// How long an idle upstream connection is kept. Shorter than the keep-alive timeouts of
/// common application servers (Node 5 s), so the gateway closes first and never sends a
/// request on a connection the upstream is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// How often idle connections are checked for their age.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A connection driven by hyper's client: the handle requests are sent through, and the
/// socket itself (a second descriptor of it) to look at while the connection is idle.
struct Sender {
    send: SendRequest<Incoming>,
    socket: OwnedFd,
}

impl Sender {
    /// True when the upstream sent nothing and did not close since the last response ended,
    /// asked of the kernel as for [`exchange::IdleConnection::reuse`]. hyper's own connection
    /// task drops a connection that turns readable while idle, but only once the event loop
    /// has told it; the worker runs that task on this same thread, so a byte hyper has read is
    /// a closed handle here, and a byte it has not read yet is seen by this peek.
    fn is_quiet(&self) -> bool {
        exchange::socket_is_quiet(&self.socket)
    }
}

/// Why a request got no response from the upstream.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened (refused, unreachable, `connect_timeout`, TLS).
    Connect(Box<dyn StdError + Send + Sync>),
    /// The connection failed while the request was sent or the response read.
    Request(hyper::Error),
    /// The same, for a request carried by [`super::exchange`].
    Exchange(io::Error),
}

impl SendError {
    /// True for a failure to open a connection.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect(_))
    }

    /// True when what failed was reading the client's request body as it was streamed (hyper
    /// calls an error of the body it was given a user error): malformed chunked framing, or
    /// a client that went away mid-body. The upstream did nothing wrong.
    pub(crate) fn is_client_body(&self) -> bool {
        matches!(self, SendError::Request(e) if e.is_user())
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Connect(_) => f.write_str("cannot connect to the upstream"),
            SendError::Request(_) | SendError::Exchange(_) => f.write_str("the upstream connection failed"),
        }
    }
}

impl StdError for SendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SendError::Connect(e) => Some(e.as_ref()),
            SendError::Request(e) => Some(e),
            SendError::Exchange(e) => Some(e),
        }
    }
}

/// An idle connection and since when it has been idle.
struct Idle<C> {
    connection: C,
    since: Instant,
}

/// What the pool and the response bodies it hands out share.
struct Shared {
    idle: Mutex<Vec<Idle<Sender>>>,
    idle_direct: Mutex<Vec<Idle<exchange::IdleConnection>>>,
    sweeping: AtomicBool,
}

impl Shared {
    /// Puts a connection whose response has ended back for the next request. Only a
    /// connection that is ready for another request is kept; anything else (an upgraded
    /// connection, a request body the upstream did not read to its end) is closed.
    fn put_back(&self, sender: Sender) {
        if sender.send.is_ready() {
            push(&self.idle, sender);
        }
    }

    /// The same for a connection of [`super::exchange`] whose response has ended: kept only
    /// under the rules of [`exchange::Connection::into_idle`].
    fn put_back_direct(&self, connection: exchange::Connection, keep_alive: bool, body_done: bool) {
        if let Some(idle) = connection.into_idle(keep_alive, body_done) {
            push(&self.idle_direct, idle);
        }
    }

    /// The most recently used idle connection that is fresh enough, if any.
    fn take(&self) -> Option<Sender> {
        take(&self.idle, |sender| (!sender.send.is_closed() && sender.is_quiet()).then_some(sender))
    }

    /// The same for [`super::exchange`]: a connection on which the upstream sent anything or
    /// that it closed while idle is dropped here ([`exchange::IdleConnection::reuse`]). One
    /// it closes after this look fails before any byte of a response, and the request is
    /// then sent again (see [`exchange::Failure`]).
    fn take_direct(&self) -> Option<exchange::Connection> {
        take(&self.idle_direct, exchange::IdleConnection::reuse)
    }

    /// Closes the connections idle for longer than [`POOL_IDLE_TIMEOUT`]; they are the oldest,
    /// at the bottom of the stacks.
    fn sweep(&self) {
        sweep(&self.idle);
        sweep(&self.idle_direct);
    }
}

/// Pops idle connections, most recently used first, until one is fresh and `usable` gives it
/// back ready; the others are dropped (closed).
fn take<C, T>(stack: &Mutex<Vec<Idle<C>>>, usable: impl Fn(C) -> Option<T>) -> Option<T> {
    let mut idle = stack.lock().ok()?;
    while let Some(Idle { connection, since }) = idle.pop() {
        if since.elapsed() < POOL_IDLE_TIMEOUT {
            if let Some(ready) = usable(connection) {
                return Some(ready);
            }
        }
    }
    None
}

fn push<C>(stack: &Mutex<Vec<Idle<C>>>, connection: C) {
    if let Ok(mut idle) = stack.lock() {
        idle.push(Idle { connection, since: Instant::now() });
    }
}

fn sweep<C>(stack: &Mutex<Vec<Idle<C>>>) {
    if let Ok(mut idle) = stack.lock() {
        let stale = idle.iter().take_while(|i| i.since.elapsed() >= POOL_IDLE_TIMEOUT).count();
        idle.drain(..stale);
    }
}

/// A request as [`Pool::prepare`] readied it.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // moved once, into the boxed upstream future
pub(crate) enum Outbound {
    /// Bodiless, to a plain-TCP upstream: carried by [`super::exchange`].
    Head(RequestHead),
    /// Everything else: carried by hyper's client.
    Request(http::Request<Incoming>),
}

/// One worker's connections to the upstream.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    /// The upstream's host (a name or an IP address) and port.
    host: String,
    port: u16,
    /// For an `https://` upstream: the TLS client and the name its certificate must have.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Bodiless requests go through [`super::exchange`]: `upstream_client = "direct"` and a
    /// plain-TCP upstream.
    direct: bool,
    connect_timeout: Duration,
    builder: http1::Builder,
    /// One permit per upstream connection that may be busy at once.
    slots: Arc<Semaphore>,
}

impl Pool {
    /// A pool of at most `max_connections` busy connections (at least one).
    pub(crate) fn new(
        upstream: &Upstream,
        client: UpstreamClient,
        connect_timeout: Duration,
        max_connections: usize,
    ) -> io::Result<Pool> {
        let max_connections = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        let (host, port) = upstream.host_and_port();
        let tls = if upstream.is_https() {
            let name = ServerName::try_from(host.clone()).map_err(io::Error::other)?;
            Some((tls_connector()?, name))
        } else {
            None
        };
        Ok(Pool {
            shared: Arc::new(Shared {
                idle: Mutex::new(Vec::new()),
                idle_direct: Mutex::new(Vec::new()),
                sweeping: AtomicBool::new(false),
            }),
            host,
            port,
            direct: client == UpstreamClient::Direct && tls.is_none(),
            tls,
            connect_timeout,
            builder: client_builder(),
            slots: Arc::new(Semaphore::new(max_connections)),
        })
    }

    /// Readies `request` (origin-form, with a `Host`) for [`Pool::send`]: this is the seam
    /// between the two upstream clients. With the direct one, a bodiless request to a
    /// plain-TCP upstream is written out for [`super::exchange`] at once, and the request let
    /// go; everything else goes to hyper's client.
    pub(crate) fn prepare(&self, request: http::Request<Incoming>) -> Outbound {
        if self.direct && exchange::is_bodiless(&request) {
            Outbound::Head(RequestHead::new(&request))
        } else {
            Outbound::Request(request)
        }
    }

    /// Waits for a free connection slot, then sends the request on an idle connection or a
    /// new one. The slot is held until the response body has been read to its end (or
    /// dropped), because until then the upstream connection is busy.
    pub(crate) async fn send(&self, outbound: Outbound) -> Result<http::Response<UpstreamBody>, SendError> {
        // The semaphore is never closed, so this cannot fail; without a permit the request
        // would still be sent, only uncounted.
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
        let mut request = match outbound {
            Outbound::Head(head) => return self.exchange(&head, slot).await,
            Outbound::Request(request) => request,
        };
        let for_head = request.method() == http::Method::HEAD;
        // A connection that was idle may have been closed by the upstream meanwhile; a request
        // it could not even start is sent again on a new connection.
        while let Some(mut sender) = self.shared.take() {
            if sender.send.ready().await.is_err() {
                continue;
            }
            match sender.send.try_send_request(request).await {
                Ok(response) => return Ok(self.wrap(response, sender, slot, for_head)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Request(e.into_error())),
                },
            }
        }
        // Opening a connection is the rare path, and its future (TCP, TLS, handshake) is large:
        // boxed, it does not bloat every request's future.
        let mut sender = Box::pin(self.connect()).await?;
        match sender.send.send_request(request).await {
            Ok(response) => Ok(self.wrap(response, sender, slot, for_head)),
            Err(e) => Err(SendError::Request(e)),
        }
    }

    /// Carries a bodiless request with [`super::exchange`], on an idle connection or a new
    /// one. An idle connection the upstream closed meanwhile fails before any byte of a
    /// response; the request then goes again on the next one, and at worst on a new one.
    async fn exchange(
        &self,
        request: &RequestHead,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<http::Response<UpstreamBody>, SendError> {
        loop {
            let (mut connection, reused) = match self.shared.take_direct() {
                Some(connection) => (connection, true),
                None => (Box::pin(self.connect_direct()).await?, false),
            };
            match connection.exchange(request).await {
                Ok(head) => return Ok(self.wrap_direct(head, connection, slot)),
                Err(failure) if reused && failure.nothing_received => continue,
                Err(failure) => return Err(SendError::Exchange(failure.error)),
            }
        }
    }

    fn wrap(
        &self,
        response: http::Response<Incoming>,
        sender: Sender,
        slot: Option<OwnedSemaphorePermit>,
        for_head: bool,
    ) -> http::Response<UpstreamBody> {
        // A connection whose response was framed in a way no well-behaved upstream frames one
        // is not given back: dropping its handle closes it once this response is done.
        let connection = (!exchange::untrusted_framing(for_head, response.status(), response.headers()))
            .then(|| (sender, Arc::downgrade(&self.shared)));
        response.map(|body| UpstreamBody { inner: Inner::Hyper { body, connection }, slot })
    }

    fn wrap_direct(
        &self,
        head: Head,
        mut connection: exchange::Connection,
        slot: Option<OwnedSemaphorePermit>,
    ) -> http::Response<UpstreamBody> {
        let mut decoder = BodyDecoder::new(head.framing);
        let body = match connection.take_buffered_body(&mut decoder) {
            // The whole body came with the head: the connection is free before the response
            // is even written, and so is its slot.
            Some(whole) => {
                self.shared.put_back_direct(connection, head.keep_alive, true);
                UpstreamBody { inner: Inner::Whole((!whole.is_empty()).then_some(whole)), slot: None }
            }
            None => {
                let pool = Arc::downgrade(&self.shared);
                let connection = Some(DirectConnection { connection, keep_alive: head.keep_alive, pool });
                UpstreamBody { inner: Inner::Direct { decoder, connection }, slot }
            }
        };
        http::Response::from_parts(head.parts, body)
    }

    /// Opens a new upstream connection (TCP, then TLS for `https://`, within
    /// `connect_timeout`) and spawns the task that drives it.
    async fn connect(&self) -> Result<Sender, SendError> {
        let opened = tokio::time::timeout(self.connect_timeout, async {
            let tcp = self.open_tcp().await?;
            let socket = tcp.as_fd().try_clone_to_owned()?;
            match &self.tls {
                None => self.handshake(TokioIo::new(tcp), socket).await,
                Some((tls, name)) => {
                    let stream = tls.connect(name.clone(), tcp).await?;
                    self.handshake(TokioIo::new(stream), socket).await
                }
            }
        })
        .await;
        let sender = connected(opened)?;
        self.start_sweeping();
        Ok(sender)
    }

    /// Opens a new plain-TCP connection for [`super::exchange`], within `connect_timeout`.
    async fn connect_direct(&self) -> Result<exchange::Connection, SendError> {
        let tcp = connected(tokio::time::timeout(self.connect_timeout, self.open_tcp()).await)?;
        self.start_sweeping();
        Ok(exchange::Connection::new(tcp))
    }

    async fn open_tcp(&self) -> io::Result<TcpStream> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
        // Requests and responses are written whole; waiting for more would only add latency.
        tcp.set_nodelay(true)?;
        Ok(tcp)
    }

    async fn handshake<T>(&self, io: T, socket: OwnedFd) -> io::Result<Sender>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (send, connection) = self.builder.handshake(io).await.map_err(io::Error::other)?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(Sender { send, socket })
    }

    /// Starts the task that closes stale idle connections, once, on the worker's runtime.
    fn start_sweeping(&self) {
        if self.shared.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let shared: Weak<Shared> = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(SWEEP_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                match shared.upgrade() {
                    Some(shared) => shared.sweep(),
                    None => return,
                }
            }
        });
    }
}

/// The outcome of opening a connection within `connect_timeout`.
fn connected<T>(opened: Result<io::Result<T>, Elapsed>) -> Result<T, SendError> {
    match opened {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(SendError::Connect(Box::new(e))),
        Err(_) => {
            let e = io::Error::new(io::ErrorKind::TimedOut, "connecting to the upstream timed out");
            Err(SendError::Connect(Box::new(e)))
        }
    }
}

/// hyper's client connection settings, the same for the gateway and for
/// [`crate::framing`]: a response head is held to the limit the direct exchange sets
/// ([`exchange::MAX_HEAD_LEN`]), so that both refuse the same heads.
pub(crate) fn client_builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.max_buf_size(exchange::MAX_HEAD_LEN);
    builder
}

/// A TLS client for an `https://` upstream ([`corsguard_tls`]).
fn tls_connector() -> io::Result<TlsConnector> {
    corsguard_tls::connector().map_err(|e| io::Error::other(format!("the upstream is https:// but {e}")))
}

/// The upstream's response body, streamed, holding its connection and its connection slot
/// until it ends. A body read to its end gives the connection back to the pool; one dropped
/// before that closes it.
pub struct UpstreamBody {
    inner: Inner,
    slot: Option<OwnedSemaphorePermit>,
}

enum Inner {
    /// From hyper's client, with the connection to give back once the body ends.
    Hyper { body: Incoming, connection: Option<(Sender, Weak<Shared>)> },
    /// Read from a connection of [`super::exchange`].
    Direct { decoder: BodyDecoder, connection: Option<DirectConnection> },
    /// A body that arrived whole with the head; `None` once taken (or when empty).
    Whole(Option<Bytes>),
}

struct DirectConnection {
    connection: exchange::Connection,
    keep_alive: bool,
    pool: Weak<Shared>,
}

impl UpstreamBody {
    /// Gives the connection back (the response is complete), then the slot.
    fn release(&mut self) {
        match &mut self.inner {
            Inner::Hyper { connection, .. } => {
                if let Some((sender, pool)) = connection.take() {
                    if let Some(pool) = pool.upgrade() {
                        pool.put_back(sender);
                    }
                }
            }
            Inner::Direct { decoder, connection } => {
                if let Some(DirectConnection { connection, keep_alive, pool }) = connection.take() {
                    if let Some(pool) = pool.upgrade() {
                        pool.put_back_direct(connection, keep_alive, decoder.is_done());
                    }
                }
            }
            Inner::Whole(_) => {}
        }
        self.slot = None;
    }

    /// The connection is broken: close it, and let the next request have the slot.
    fn abandon(&mut self) {
        match &mut self.inner {
            Inner::Hyper { connection, .. } => *connection = None,
            Inner::Direct { connection, .. } => *connection = None,
            Inner::Whole(_) => {}
        }
        self.slot = None;
    }
}

impl fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Hyper { body, .. } => {
                f.debug_struct("UpstreamBody").field("body", body).finish_non_exhaustive()
            }
            Inner::Direct { decoder, .. } => {
                f.debug_struct("UpstreamBody").field("decoder", decoder).finish_non_exhaustive()
            }
            Inner::Whole(whole) => f.debug_struct("UpstreamBody").field("whole", whole).finish(),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = Box<dyn StdError + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled: Poll<Option<Result<Frame<Bytes>, Self::Error>>> = match &mut self.inner {
            // Trailer fields are read past, not forwarded, as the direct exchange does; the
            // body then ends (and its connection is given back) when hyper says it has.
            Inner::Hyper { body, .. } => loop {
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) if frame.is_trailers() => continue,
                    polled => break polled.map(|frame| frame.map(|f| f.map_err(Into::into))),
                }
            },
            Inner::Direct { decoder, connection } => match connection.as_mut() {
                None => Poll::Ready(None),
                Some(direct) => match direct.connection.poll_body(decoder, cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Ok(data)) => Poll::Ready(data.map(|data| Ok(Frame::data(data)))),
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e.into()))),
                },
            },
            Inner::Whole(whole) => Poll::Ready(whole.take().map(|data| Ok(Frame::data(data)))),
        };
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Err(_))) => self.abandon(),
            // The last piece of a body read by this gateway frees the connection at once:
            // a server may stop polling when `is_end_stream` says there is no more.
            Poll::Ready(Some(Ok(_))) if self.is_end_stream() => self.release(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Hyper { body, .. } => body.is_end_stream(),
            Inner::Direct { decoder, .. } => decoder.is_done(),
            Inner::Whole(whole) => whole.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Hyper { body, .. } => body.size_hint(),
            Inner::Direct { decoder, .. } => {
                decoder.remaining().map_or_else(SizeHint::default, SizeHint::with_exact)
            }
            Inner::Whole(whole) => SizeHint::with_exact(whole.as_ref().map_or(0, |w| w.len() as u64)),
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A server may stop polling once `is_end_stream` says the body is complete; the
        // connection is reusable then. Otherwise dropping it closes it.
        if self.is_end_stream() {
            self.release();
        }
    }
}
