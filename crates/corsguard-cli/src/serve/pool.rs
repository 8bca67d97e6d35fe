//! The upstream side of one worker: a keep-alive HTTP/1.1 client and a cap on the upstream
//! connections it may have busy at once.
//!
//! Without a cap, every request that finds no idle pooled connection opens a new one, so
//! 10,000 concurrent clients become 10,000 upstream connections (memory on both sides, and
//! an upstream that queues instead of answering). With the cap, requests beyond it wait in
//! FIFO order for a connection to come free, as in nginx's `keepalive` pools; the wait counts
//! against `upstream_timeout`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client, Error, ResponseFuture};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::proxy::Upstream;

/// How long an idle upstream connection is kept. Shorter than the keep-alive timeouts of
/// common application servers (Node 5 s), so the gateway closes first and never sends a
/// request on a connection the upstream is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

type UpstreamClient = Client<HttpsConnector<HttpConnector>, Incoming>;

/// One worker's connections to the upstream.
pub(crate) struct Pool {
    client: UpstreamClient,
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
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // Idle connections beyond the cap would only be closed again later.
            .pool_max_idle_per_host(max_connections)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector(upstream, connect_timeout)?);
        Ok(Pool { client, slots: Arc::new(Semaphore::new(max_connections)) })
    }

    /// Waits for a free connection slot, then sends `request`. The slot is held until the
    /// response body has been read to its end (or dropped), because until then the upstream
    /// connection is busy.
    pub(crate) async fn send(
        &self,
        request: http::Request<Incoming>,
    ) -> Result<http::Response<UpstreamBody>, Error> {
        // The semaphore is never closed, so this cannot fail; without a permit the request
        // would still be sent, only uncounted.
        let slot = Arc::clone(&self.slots).acquire_owned().await.ok();
        let sent: ResponseFuture = self.client.request(request);
        let response = sent.await?;
        Ok(response.map(|body| UpstreamBody { body, slot }))
    }
}

fn connector(upstream: &Upstream, connect_timeout: Duration) -> io::Result<HttpsConnector<HttpConnector>> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    http.enforce_http(false);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if upstream.is_https() {
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A single unparsable system certificate should not take the gateway down.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(io::Error::other(
                "the upstream is https:// but no system root certificate was found",
            ));
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

/// The upstream's response body, streamed, holding its connection slot until it ends.
#[derive(Debug)]
pub struct UpstreamBody {
    body: Incoming,
    slot: Option<OwnedSemaphorePermit>,
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None | Some(Err(_))) = polled {
            // The connection is back in the pool (or gone): let the next request have it.
            self.slot = None;
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
