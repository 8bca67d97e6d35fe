//! Upstreams on loopback for a proxy under test: a well-behaved one that records what reaches
//! it, broken ones that reset or answer garbage, and an address nothing listens on.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// One request as the upstream saw it, so that tests can check what a proxy forwarded.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
}

/// A well-behaved upstream that records what reaches it, so that tests can tell a request the
/// proxy answered itself from one it forwarded.
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

    /// `http://ADDR`, as a proxy's upstream URL.
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

/// A loopback address nothing listens on (bound and released at once), for a dead upstream or
/// a closed port: connecting to it is refused.
pub async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    listener.local_addr().expect("local addr")
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
