//! Pages for a real browser to open: one small HTML page on loopback under a chosen host name,
//! so that scripts in it run with a real origin (`http://app.localhost:PORT`) and their
//! requests to an API on another origin are cross-origin, as in production.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves one small HTML page, for every path, on 127.0.0.1 under a chosen host name, so that
/// scripts in it run with the origin `http://HOST:PORT`. Stops when dropped.
#[derive(Debug)]
pub struct PageServer {
    host: String,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// The page served when none is given: enough for scripts to run in.
pub const BLANK_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>page</title>\
                              </head><body>page</body></html>";

impl PageServer {
    /// Serves [`BLANK_PAGE`] as `http://HOST:PORT/`. `host` must resolve to loopback in the
    /// browser: a name under `example.test` listed in `browser_harness::EXAMPLE_TEST_HOSTS`
    /// (the harness maps those, in every engine) or `localhost` and its subdomains.
    pub async fn start(host: &str) -> std::io::Result<PageServer> {
        PageServer::with_html(host, BLANK_PAGE).await
    }

    /// Serves `html` as `http://HOST:PORT/` (and every other path).
    pub async fn with_html(host: &str, html: &str) -> std::io::Result<PageServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let page = Bytes::from(html.to_owned());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let page = page.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_: Request<Incoming>| {
                        let page = page.clone();
                        async move {
                            let mut response = Response::new(Full::new(page));
                            response.headers_mut().insert(
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("text/html; charset=utf-8"),
                            );
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    // A browser closing a keep-alive connection is not an error worth reporting.
                    let _ = conn.await;
                });
            }
        });
        Ok(PageServer { host: host.to_owned(), addr, task })
    }

    /// `http://HOST:PORT/`.
    pub fn url(&self) -> String {
        format!("{}/", self.origin())
    }

    /// `http://HOST:PORT`: the origin of scripts in the page.
    pub fn origin(&self) -> String {
        format!("http://{}:{}", self.host, self.addr.port())
    }

    /// The loopback address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
