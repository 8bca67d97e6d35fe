//! An HTTP client for talking to a server under test over a real loopback socket, so that what
//! the tests see is what went over the wire, not what a service returned in memory.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// A response read to the end, so that assertions can look at every header and the whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The value of a single-valued header, or None; a non-ASCII value fails the test.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("ascii header"))
    }

    /// Every value of a header, in order: repeated CORS headers are bugs the tests look for.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.get_all(name).iter().map(|v| v.to_str().expect("ascii header")).collect()
    }

    /// The body as text, lossily: bodies under test are short ASCII answers.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// How many `Access-Control-*` headers came back: a refusal must carry none.
    pub fn cors_header_count(&self) -> usize {
        self.headers.keys().filter(|k| k.as_str().starts_with("access-control-")).count()
    }

    /// True when any `Access-Control-*` header is present.
    pub fn has_cors_headers(&self) -> bool {
        self.cors_header_count() > 0
    }
}

/// An HTTP client with a connection pool (HTTP/1.1, or HTTP/2 with prior knowledge), bound to
/// one server, so that tests name paths rather than URLs.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Http {
    /// An HTTP/1.1 client for `http://ADDR`.
    pub fn new(addr: SocketAddr) -> Self {
        Http { client: Client::builder(TokioExecutor::new()).build_http(), base: format!("http://{addr}") }
    }

    /// An HTTP/2 client with prior knowledge (h2c) for `http://ADDR`.
    pub fn h2c(addr: SocketAddr) -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).http2_only(true).build_http(),
            base: format!("http://{addr}"),
        }
    }

    /// Sends a request and reads the whole response; a failed exchange is an `Err` with its
    /// reason, for the tests that expect one.
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

    /// Sends a request without a body; a failed exchange fails the test.
    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.try_send(method, path, headers, Bytes::new()).await.expect("request succeeds")
    }

    /// A GET, with an `Origin` when given one.
    pub async fn get(&self, path: &str, origin: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
        self.send(Method::GET, path, &headers).await
    }

    /// A CORS preflight: `OPTIONS` with `Origin`, `Access-Control-Request-Method` and, when
    /// given, `Access-Control-Request-Headers`.
    pub async fn preflight(&self, path: &str, origin: &str, method: &str, headers: Option<&str>) -> Reply {
        let mut h = vec![("origin", origin), ("access-control-request-method", method)];
        if let Some(list) = headers {
            h.push(("access-control-request-headers", list));
        }
        self.send(Method::OPTIONS, path, &h).await
    }

    /// The response head only; the body is left to the caller, for tests of streaming.
    pub async fn stream(&self, path: &str) -> Response<Incoming> {
        let request = Request::get(format!("{}{path}", self.base)).body(Full::new(Bytes::new())).unwrap();
        self.client.request(request).await.expect("response head")
    }
}

/// Reads a body to the end.
pub async fn collect_body(body: Incoming) -> Result<Bytes, String> {
    body.collect().await.map(|c| c.to_bytes()).map_err(|e| format!("body: {e:?}"))
}
