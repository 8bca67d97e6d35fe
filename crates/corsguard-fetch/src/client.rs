//! A deliberately small HTTP/1.1 client for asking servers about CORS: one connection per
//! exchange, the response head only (bodies are never read), bounded head size, one deadline per
//! exchange, redirects handed back to the caller instead of followed, and errors that say what
//! went wrong in words. `corsguard audit` probes with it; `corsguard explain URL` sends what a
//! browser's `fetch()` would.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;
use url::Url;

/// Largest response head (status line and headers) read from a server. Real CORS responses
/// need a few KiB; anything far beyond is a broken or hostile server, not something to buffer.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields accepted in one response.
const MAX_HEADERS: usize = 256;

/// One request to send: the method, the CORS headers, and anything else the request carries.
#[derive(Clone, Debug, Default)]
pub struct Exchange {
    /// The method: `OPTIONS` for preflights.
    pub method: Method,
    /// The `Origin` header.
    pub origin: String,
    /// `Access-Control-Request-Method`, for preflights.
    pub request_method: Option<String>,
    /// `Access-Control-Request-Headers`, for preflights.
    pub request_headers: Option<String>,
    /// Further headers of this request alone (a page's own headers, its cookies).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body (`Content-Length` is set from it when it is not empty).
    pub body: Bytes,
}

/// The status line and headers of a response.
#[derive(Clone, Debug)]
pub struct Head {
    /// The status code.
    pub status: StatusCode,
    /// Every header field, repeated fields kept apart.
    pub headers: HeaderMap,
}

/// Why an exchange produced no response head.
#[derive(Debug)]
pub enum FetchError {
    /// The host name did not resolve.
    Resolve(String, std::io::Error),
    /// No address accepted the TCP connection.
    Connect(String, std::io::Error),
    /// The deadline passed; the phase says where it was stuck.
    Timeout(Duration, Phase),
    /// The TLS handshake failed.
    Tls(String),
    /// The server's bytes were not an HTTP/1.x response, or too large to be one.
    Http(String),
    /// The request could not be built (a bad header from the command line, say).
    Request(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Resolve(host, e) => write!(f, "cannot resolve host `{host}`: {e}"),
            FetchError::Connect(addr, e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                write!(f, "connection refused by {addr}: is the server running on that port?")
            }
            FetchError::Connect(addr, e) => write!(f, "cannot connect to {addr}: {e}"),
            FetchError::Timeout(limit, phase) => {
                write!(f, "timed out after {}s while {phase}", limit.as_secs_f64())
            }
            FetchError::Tls(msg) => write!(f, "TLS handshake failed: {msg}"),
            FetchError::Http(msg) => f.write_str(msg),
            FetchError::Request(msg) => write!(f, "cannot build the request: {msg}"),
        }
    }
}

/// Where an exchange was when its deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Looking up the host name.
    Resolving,
    /// Opening the TCP connection.
    Connecting,
    /// Doing the TLS handshake.
    Handshaking,
    /// Waiting for the status line and headers.
    Waiting,
}

impl Phase {
    fn from_u8(n: u8) -> Phase {
        match n {
            0 => Phase::Resolving,
            1 => Phase::Connecting,
            2 => Phase::Handshaking,
            _ => Phase::Waiting,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Resolving => "resolving the host name",
            Phase::Connecting => "connecting",
            Phase::Handshaking => "doing the TLS handshake",
            Phase::Waiting => {
                "waiting for the response headers (the server accepted the connection but did not answer)"
            }
        })
    }
}

/// Spreads requests evenly in time: at most one every `interval`, across all targets.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// Settings for a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Deadline for one exchange: resolve, connect, TLS and response head together.
    pub timeout: Duration,
    /// Most exchanges in flight at once, across all targets.
    pub concurrency: usize,
    /// Most requests started per second, across all targets (`None`: no limit).
    pub rate: Option<f64>,
    /// Headers sent with every request (`-H`), e.g. the cookies of a logged-in session.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// A PEM file of certificate authorities trusted beside the platform's roots (a
    /// development CA).
    pub extra_ca: Option<std::path::PathBuf>,
}

impl ClientOptions {
    /// A 10 s deadline, 8 exchanges at once, no rate limit, no extra headers or CA.
    pub fn new(user_agent: impl Into<String>) -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            concurrency: 8,
            rate: None,
            headers: Vec::new(),
            user_agent: user_agent.into(),
            extra_ca: None,
        }
    }
}

/// The probing client, shared by all targets.
pub struct Client {
    timeout: Duration,
    permits: Semaphore,
    pacer: Option<Pacer>,
    headers: Vec<(HeaderName, HeaderValue)>,
    user_agent: HeaderValue,
    tls: Result<tokio_rustls::TlsConnector, String>,
}

impl Client {
    /// A client; `need_tls` loads the platform's root certificates (skipped for http-only runs).
    pub fn new(options: ClientOptions, need_tls: bool) -> Client {
        let tls = if need_tls {
            corsguard_tls::connector_with(options.extra_ca.as_deref())
        } else {
            Err("no https URL was given".to_owned())
        };
        let user_agent = HeaderValue::from_str(&options.user_agent)
            .unwrap_or_else(|_| HeaderValue::from_static(concat!("corsguard/", env!("CARGO_PKG_VERSION"))));
        let pacer = options.rate.filter(|r| *r > 0.0).map(|rate| Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        });
        Client {
            timeout: options.timeout,
            permits: Semaphore::new(options.concurrency.max(1)),
            pacer,
            headers: options.headers,
            user_agent,
            tls,
        }
    }

    /// Sends one request to `url` and returns the response head. The body is never read.
    pub async fn send(&self, url: &Url, exchange: &Exchange) -> Result<Head, FetchError> {
        // The semaphore is never closed, so acquiring only fails if that changes; then run
        // unthrottled rather than not at all.
        let _permit = self.permits.acquire().await.ok();
        if let Some(pacer) = &self.pacer {
            pacer.wait().await;
        }
        let phase = AtomicU8::new(0);
        match tokio::time::timeout(self.timeout, self.send_inner(url, exchange, &phase)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(self.timeout, Phase::from_u8(phase.load(Ordering::Relaxed)))),
        }
    }

    async fn send_inner(&self, url: &Url, exchange: &Exchange, phase: &AtomicU8) -> Result<Head, FetchError> {
        let request = self.build_request(url, exchange)?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(FetchError::Request("the URL has no host".to_owned())),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| FetchError::Resolve(host.clone(), e))?
            .collect();
        phase.store(1, Ordering::Relaxed);
        let mut last = None;
        let mut stream = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some((addr.to_string(), e)),
            }
        }
        let stream = match (stream, last) {
            (Some(s), _) => s,
            (None, Some((addr, e))) => return Err(FetchError::Connect(addr, e)),
            (None, None) => {
                return Err(FetchError::Resolve(host, std::io::Error::other("no address found")));
            }
        };
        // Probes are tiny; Nagle's delay would only slow them down.
        let _ = stream.set_nodelay(true);
        if url.scheme() == "https" {
            phase.store(2, Ordering::Relaxed);
            let connector = self.tls.as_ref().map_err(|e| FetchError::Tls(e.clone()))?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| FetchError::Tls(format!("`{host}` is not a valid TLS server name: {e}")))?;
            let tls = connector.connect(name, stream).await.map_err(describe_tls_error)?;
            phase.store(3, Ordering::Relaxed);
            exchange_http1(tls, request).await
        } else {
            phase.store(3, Ordering::Relaxed);
            exchange_http1(stream, request).await
        }
    }

    fn build_request(&self, url: &Url, exchange: &Exchange) -> Result<Request<Full<Bytes>>, FetchError> {
        let mut target = url.path().to_owned();
        if let Some(query) = url.query() {
            target.push('?');
            target.push_str(query);
        }
        let mut headers = HeaderMap::new();
        let host = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let value =
            |s: &str| HeaderValue::from_str(s).map_err(|e| FetchError::Request(format!("{s:?}: {e}")));
        headers.insert(http::header::HOST, value(&host)?);
        headers.insert(http::header::USER_AGENT, self.user_agent.clone());
        headers.insert(http::header::ACCEPT, HeaderValue::from_static("*/*"));
        // Ask caches for a fresh answer so each probe sees the server's own decision.
        headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        let mut seen: Vec<&HeaderName> = Vec::new();
        for (name, v) in self.headers.iter().chain(&exchange.headers) {
            if seen.contains(&name) {
                headers.append(name.clone(), v.clone());
            } else {
                headers.insert(name.clone(), v.clone());
                seen.push(name);
            }
        }
        if !exchange.origin.is_empty() {
            headers.insert(http::header::ORIGIN, value(&exchange.origin)?);
        }
        if let Some(m) = &exchange.request_method {
            headers.insert(http::header::ACCESS_CONTROL_REQUEST_METHOD, value(m)?);
        }
        if let Some(h) = &exchange.request_headers {
            headers.insert(http::header::ACCESS_CONTROL_REQUEST_HEADERS, value(h)?);
        }
        let mut request = Request::builder()
            .method(exchange.method.clone())
            .uri(target)
            .body(Full::new(exchange.body.clone()))
            .map_err(|e| FetchError::Request(e.to_string()))?;
        *request.headers_mut() = headers;
        Ok(request)
    }
}

/// Aborts the connection task when the exchange is over, so the socket closes without reading
/// the body.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange_http1<S>(io: S, request: Request<Full<Bytes>>) -> Result<Head, FetchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(2 * MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
        .map_err(describe_http_error)?;
    let _connection = AbortOnDrop(tokio::spawn(async move {
        // Its errors reach the caller through `send_request`.
        let _ = connection.await;
    }));
    let response = sender.send_request(request).await.map_err(describe_http_error)?;
    let (parts, _body) = response.into_parts();
    Ok(Head { status: parts.status, headers: parts.headers })
}

fn describe_http_error(e: hyper::Error) -> FetchError {
    let msg = if e.is_parse_too_large() {
        format!(
            "the response head exceeds {} KiB (or {MAX_HEADERS} header fields); refused",
            MAX_HEAD_BYTES / 1024
        )
    } else if e.is_parse() {
        format!("malformed HTTP response: {e}")
    } else if e.is_incomplete_message() || e.is_closed() {
        "the server closed the connection before sending a complete response head".to_owned()
    } else {
        format!("HTTP exchange failed: {e}")
    };
    FetchError::Http(msg)
}

fn describe_tls_error(e: std::io::Error) -> FetchError {
    let inner = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let msg = match inner {
        Some(rustls::Error::InvalidMessage(_)) => {
            format!("{e} (the server did not answer with TLS: is it plain http:// on this port?)")
        }
        Some(rustls::Error::InvalidCertificate(cert)) => {
            format!("the server's certificate was rejected: {cert:?} (checked against the platform's root certificates and any CA file given)")
        }
        _ => e.to_string(),
    };
    FetchError::Tls(msg)
}
