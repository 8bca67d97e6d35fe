//! Shared by the gateway_* tests: a real upstream on loopback (plus broken ones), the gateway
//! started in-process on port 0, and an HTTP client.

#![allow(dead_code)] // each test binary uses its own subset

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use corsguard::{Policy, PolicyHandle};
use corsguard_gateway::metrics::Metrics;
use corsguard_gateway::proxy::{self, Gateway, Options, Upstream as UpstreamUrl};
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The policy most tests use: a development profile (so refusals carry `corsguard-reason`),
/// credentials on, localhost origins.
pub const POLICY: &str = r#"
default_profile = "development"

[policy]
methods        = ["GET", "POST", "PUT"]
allow_headers  = ["Content-Type", "Authorization"]
expose_headers = ["X-Request-Id"]
credentials    = true
max_age        = 600
cross_origin_protection = true

[profiles.development]
origins = ["http://localhost:3000", "http://app.localhost:*"]
"#;

/// An allowed origin of [`POLICY`].
pub const ALLOWED: &str = "http://localhost:3000";
/// An origin [`POLICY`] does not allow.
pub const FOREIGN: &str = "http://evil.localhost:4000";

/// One request as the upstream saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
}

/// A well-behaved upstream that records what reaches it.
#[derive(Clone)]
pub struct Upstream {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Released by the test to let `/hold` answer.
    pub release: Arc<Notify>,
}

impl Upstream {
    /// Requests that reached the upstream so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The last request that reached it.
    pub fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().expect("the upstream saw a request")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the upstream. Routes:
/// - `/echo`: streams the request body back;
/// - `/big`: 5 MiB of a known pattern;
/// - `/slow`: answers after 2 s;
/// - `/hold`: sends one chunk, then waits for [`Upstream::release`] before the last one;
/// - `/own-cors`: sends its own `Access-Control-*` headers and `Vary: Accept-Encoding`;
/// - `/ws`: a WebSocket echo;
/// - anything else: 200 `ok` with `X-Request-Id` and `X-Internal`.
pub async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let up = Upstream {
        addr: listener.local_addr().unwrap(),
        hits: Arc::default(),
        seen: Arc::default(),
        release: Arc::new(Notify::new()),
    };
    let state = up.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.answer(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    up
}

type UpBody = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

fn full(bytes: impl Into<Bytes>) -> UpBody {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// The body `/big` sends and tests send: 5 MiB, not a repeated single byte, so that a
/// reordering or a dropped chunk shows.
pub fn big_body() -> Vec<u8> {
    (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect()
}

impl Upstream {
    async fn answer(&self, mut req: Request<Incoming>) -> Response<UpBody> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().unwrap().push(Seen {
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            headers: req.headers().clone(),
        });
        match req.uri().path() {
            "/echo" => Response::new(req.into_body().boxed()),
            "/big" => Response::new(full(big_body())),
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                Response::new(full("slow"))
            }
            "/hold" => {
                let release = Arc::clone(&self.release);
                let chunks = futures_util::stream::unfold(0u8, move |step| {
                    let release = Arc::clone(&release);
                    async move {
                        let chunk: &'static [u8] = match step {
                            0 => b"first;",
                            1 => {
                                release.notified().await;
                                b"last"
                            }
                            _ => return None,
                        };
                        Some((Ok::<_, hyper::Error>(Frame::data(Bytes::from_static(chunk))), step + 1))
                    }
                });
                Response::new(BodyExt::boxed(StreamBody::new(chunks)))
            }
            "/own-cors" => Response::builder()
                .header("access-control-allow-origin", "*")
                .header("access-control-allow-credentials", "true")
                .header("access-control-allow-methods", "GET, POST, PUT, DELETE, PATCH")
                .header("vary", "Accept-Encoding")
                .body(full("own"))
                .unwrap(),
            "/ws" => websocket_echo(&mut req),
            _ => Response::builder()
                .header("x-request-id", "req-42")
                .header("x-internal", "secret")
                .header("content-type", "text/plain")
                .body(full("ok"))
                .unwrap(),
        }
    }
}

fn websocket_echo(req: &mut Request<Incoming>) -> Response<UpBody> {
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    use tokio_tungstenite::tungstenite::protocol::Role;
    let Some(key) = req.headers().get("sec-websocket-key").cloned() else {
        return Response::builder().status(400).body(full("not a websocket request")).unwrap();
    };
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut ws =
            tokio_tungstenite::WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                .await;
        while let Some(Ok(message)) = ws.next().await {
            if message.is_close() || ws.send(message).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-accept", derive_accept_key(key.as_bytes()))
        .body(full(""))
        .unwrap()
}

/// An address nothing listens on.
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// An upstream that reads a request and answers `reply` bytes, then closes; with `reset`,
/// it closes with a TCP reset instead of answering.
pub async fn broken_upstream(reply: &'static [u8], reset: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                if reset {
                    let _ = stream.set_zero_linger();
                } else {
                    let _ = stream.write_all(reply).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
    addr
}

/// A gateway running in-process.
pub struct Running {
    pub gateway: Gateway,
    pub policy: PolicyHandle,
    pub metrics: Metrics,
    pub client: Http,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.gateway.local_addr()
    }
}

/// Starts the gateway in front of `upstream` with policy `toml`; `tweak` adjusts options.
pub async fn gateway(toml: &str, upstream: &str, tweak: impl FnOnce(&mut Options)) -> Running {
    let policy = PolicyHandle::new(Policy::from_toml(toml, None).expect("valid test policy"));
    let mut options = Options::new(UpstreamUrl::parse(upstream).expect("valid upstream URL"));
    options.upstream_timeout = Duration::from_secs(5);
    tweak(&mut options);
    let metrics = options.metrics.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = proxy::start(listener, policy.clone(), options).expect("gateway starts");
    let client = Http::new(gateway.local_addr());
    Running { gateway, policy, metrics, client }
}

/// A response read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ascii header"))
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.get_all(name).iter().map(|v| v.to_str().expect("ascii header")).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn cors_header_count(&self) -> usize {
        self.headers.keys().filter(|k| k.as_str().starts_with("access-control-")).count()
    }
}

/// An HTTP client with a connection pool (HTTP/1.1, or HTTP/2 with prior knowledge).
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    pub fn new(addr: SocketAddr) -> Self {
        Http { client: Client::builder(TokioExecutor::new()).build_http(), base: format!("http://{addr}") }
    }

    pub fn h2c(addr: SocketAddr) -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).http2_only(true).build_http(),
            base: format!("http://{addr}"),
        }
    }

    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, String> {
        let mut request = Request::builder().method(method).uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).map_err(|e| e.to_string())?;
        let response = self.client.request(request).await.map_err(|e| format!("{e:?}"))?;
        let (parts, body) = response.into_parts();
        let body = collect_body(body).await?;
        Ok(Reply { status: parts.status, version: parts.version, headers: parts.headers, body })
    }

    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.try_send(method, path, headers, Bytes::new()).await.expect("request succeeds")
    }

    pub async fn get(&self, path: &str, origin: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
        self.send(Method::GET, path, &headers).await
    }

    pub async fn preflight(&self, path: &str, origin: &str, method: &str, headers: Option<&str>) -> Reply {
        let mut h = vec![("origin", origin), ("access-control-request-method", method)];
        if let Some(list) = headers {
            h.push(("access-control-request-headers", list));
        }
        self.send(Method::OPTIONS, path, &h).await
    }

    /// The response head only; the body is left to `on_body`.
    pub async fn stream(&self, path: &str) -> Response<Incoming> {
        let request = Request::get(format!("{}{path}", self.base)).body(Full::new(Bytes::new())).unwrap();
        self.client.request(request).await.expect("response head")
    }
}

/// Reads a body to the end.
pub async fn collect_body(body: Incoming) -> Result<Bytes, String> {
    body.collect().await.map(|c| c.to_bytes()).map_err(|e| format!("body: {e:?}"))
}

/// Reads what the peer sends next onto `pending`; false when the stream ended or failed.
pub async fn read_more(stream: &mut (impl AsyncRead + Unpin), pending: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            pending.extend_from_slice(&buf[..n]);
            true
        }
    }
}

/// Reads until `pending` holds a whole message head and takes it off, its blank line
/// included; `None` when the stream ends first.
pub async fn read_head(stream: &mut (impl AsyncRead + Unpin), pending: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end + 4]).into_owned();
            pending.drain(..end + 4);
            return Some(head);
        }
        if !read_more(stream, pending).await {
            return None;
        }
    }
}
