//! The upstream side of one worker: keep-alive HTTP/1.1 connections to the upstream and a cap
//! on how many of them may be busy at once.
//!
//! Without a cap, every request that finds no idle connection opens a new one, so 10,000
//! concurrent clients become 10,000 upstream connections (memory on both sides, and an
//! upstream that queues instead of answering). With the cap, requests beyond it wait in FIFO
//! order for a connection to come free, as in nginx's `keepalive` pools; the wait counts
//! against `upstream_timeout`.
//!
//! The pool is built directly on hyper's connection API: each upstream connection is a
//! [`SendRequest`] handle plus a task driving the connection, and idle handles wait in a stack
//! (the most recently used first, so surplus connections age out). A worker's pool is only
//! used from the worker's own thread, so its lock is never contended.

use std::error::Error as StdError;
use std::fmt;
use std::io;
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
use tokio_rustls::TlsConnector;
use tracing::debug;

use super::proxy::Upstream;

/// How long an idle upstream connection is kept. Shorter than the keep-alive timeouts of
/// common application servers (Node 5 s), so the gateway closes first and never sends a
/// request on a connection the upstream is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// How often idle connections are checked for their age.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

type Sender = SendRequest<Incoming>;

/// Why a request got no response from the upstream.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened (refused, unreachable, `connect_timeout`, TLS).
    Connect(Box<dyn StdError + Send + Sync>),
    /// The connection failed while the request was sent or the response read.
    Request(hyper::Error),
}

impl SendError {
    /// True for a failure to open a connection.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, SendError::Connect(_))
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Connect(_) => f.write_str("cannot connect to the upstream"),
            SendError::Request(_) => f.write_str("the upstream connection failed"),
        }
    }
}

impl StdError for SendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            SendError::Connect(e) => Some(e.as_ref()),
            SendError::Request(e) => Some(e),
        }
    }
}

/// An idle connection and since when it has been idle.
struct Idle {
    sender: Sender,
    since: Instant,
}

/// What the pool and the response bodies it hands out share.
struct Shared {
    idle: Mutex<Vec<Idle>>,
    sweeping: AtomicBool,
}

impl Shared {
    /// Puts a connection whose response has ended back for the next request. Only a
    /// connection that is ready for another request is kept; anything else (an upgraded
    /// connection, a request body the upstream did not read to its end) is closed.
    fn put_back(&self, sender: Sender) {
        if sender.is_ready() {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(Idle { sender, since: Instant::now() });
            }
        }
    }

    /// The most recently used idle connection that is fresh enough, if any.
    fn take(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(Idle { sender, since }) = idle.pop() {
            if since.elapsed() < POOL_IDLE_TIMEOUT && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Closes the connections idle for longer than [`POOL_IDLE_TIMEOUT`]; they are the oldest,
    /// at the bottom of the stack.
    fn sweep(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            let stale = idle.iter().take_while(|i| i.since.elapsed() >= POOL_IDLE_TIMEOUT).count();
            idle.drain(..stale);
        }
    }
}

/// One worker's connections to the upstream.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    /// The upstream's host (a name or an IP address) and port.
    host: String,
    port: u16,
    /// For an `https://` upstream: the TLS client and the name its certificate must have.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
    builder: http1::Builder,
    /// One permit per upstream connection that may be busy at once.
    slots: Arc<Semaphore>,
}

impl Pool {
    /// A pool of at most `max_connections` busy connections (at least one).
    pub(crate) fn new(
        upstream: &Upstream,
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
            shared: Arc::new(Shared { idle: Mutex::new(Vec::new()), sweeping: AtomicBool::new(false) }),
            host,
            port,
            tls,
            connect_timeout,
            builder: http1::Builder::new(),
            slots: Arc::new(Semaphore::new(max_connections)),
        })
    }

    /// Waits for a free connection slot, then sends `request` (origin-form, with a `Host`) on
    /// an idle connection or a new one. The slot is held until the response body has been read
    /// to its end (or dropped), because until then the upstream connection is busy.
    pub(crate) async fn send(
        &self,
        request: http::Request<Incoming>,
    ) -> Result<http::Response<UpstreamBody>, SendError> {
        // The semaphore is never closed, so this cannot fail; without a permit the request
        // would still be sent, only uncounted.
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
        let mut request = request;
        // A connection that was idle may have been closed by the upstream meanwhile; a request
        // it could not even start is sent again on a new connection.
        while let Some(mut sender) = self.shared.take() {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok(self.wrap(response, sender, slot)),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(SendError::Request(e.into_error())),
                },
            }
        }
        // Opening a connection is the rare path, and its future (TCP, TLS, handshake) is large:
        // boxed, it does not bloat every request's future.
        let mut sender = Box::pin(self.connect()).await?;
        match sender.send_request(request).await {
            Ok(response) => Ok(self.wrap(response, sender, slot)),
            Err(e) => Err(SendError::Request(e)),
        }
    }

    fn wrap(
        &self,
        response: http::Response<Incoming>,
        sender: Sender,
        slot: Option<OwnedSemaphorePermit>,
    ) -> http::Response<UpstreamBody> {
        let pool = Arc::downgrade(&self.shared);
        response.map(|body| UpstreamBody { body, connection: Some((sender, pool)), slot })
    }

    /// Opens a new upstream connection (TCP, then TLS for `https://`, within
    /// `connect_timeout`) and spawns the task that drives it.
    async fn connect(&self) -> Result<Sender, SendError> {
        let opened = tokio::time::timeout(self.connect_timeout, async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
            // Requests and responses are written whole; waiting for more would only add latency.
            tcp.set_nodelay(true)?;
            match &self.tls {
                None => self.handshake(TokioIo::new(tcp)).await,
                Some((tls, name)) => {
                    let stream = tls.connect(name.clone(), tcp).await?;
                    self.handshake(TokioIo::new(stream)).await
                }
            }
        })
        .await;
        let sender = match opened {
            Ok(Ok(sender)) => sender,
            Ok(Err(e)) => return Err(SendError::Connect(Box::new(e))),
            Err(_) => {
                let e = io::Error::new(io::ErrorKind::TimedOut, "connecting to the upstream timed out");
                return Err(SendError::Connect(Box::new(e)));
            }
        };
        self.start_sweeping();
        Ok(sender)
    }

    async fn handshake<T>(&self, io: T) -> io::Result<Sender>
    where
        T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, connection) = self.builder.handshake(io).await.map_err(io::Error::other)?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
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

/// A TLS client for an `https://` upstream, verifying against the system's root certificates.
fn tls_connector() -> io::Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A single unparsable system certificate should not take the gateway down.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(io::Error::other("the upstream is https:// but no system root certificate was found"));
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The upstream's response body, streamed, holding its connection and its connection slot
/// until it ends. A body read to its end gives the connection back to the pool; one dropped
/// before that closes it.
pub struct UpstreamBody {
    body: Incoming,
    connection: Option<(Sender, Weak<Shared>)>,
    slot: Option<OwnedSemaphorePermit>,
}

impl UpstreamBody {
    /// Gives the connection back (the response is complete), then the slot.
    fn release(&mut self) {
        if let Some((sender, pool)) = self.connection.take() {
            if let Some(pool) = pool.upgrade() {
                pool.put_back(sender);
            }
        }
        self.slot = None;
    }
}

impl fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpstreamBody").field("body", &self.body).finish_non_exhaustive()
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            // The connection is broken: close it, and let the next request have the slot.
            Poll::Ready(Some(Err(_))) => {
                self.connection = None;
                self.slot = None;
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A server may stop polling once `is_end_stream` says the body is complete; the
        // connection is reusable then. Otherwise dropping the sender closes it.
        if self.connection.is_some() && self.body.is_end_stream() {
            self.release();
        }
    }
}
