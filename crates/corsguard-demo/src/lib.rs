//! `corsguard demo`: a sample API, a sample front end on another origin, and the gateway
//! between them, all on loopback, so that a newcomer can watch a policy at work in a browser.
//!
//! - the page, `http://127.0.0.1:PAGE/`, is a trusted origin (`http://127.0.0.1:*`);
//! - the gateway, `http://localhost:GATEWAY`, enforces `examples/demo.toml` in front of
//! - the sample API, on a random loopback port;
//! - an untrusted page, `http://localhost:FOREIGN/`, embedded in the first one, tries the
//!   same API from an origin the policy does not list.
//!
//! The page runs a series of requests and fills a live table with what the browser allowed or
//! blocked, the reason code from the policy (asked from the page's own `/explain` endpoint,
//! same-origin, because a blocked `fetch` tells a script nothing) and whether the request
//! reached the API at all.

#![warn(missing_docs)]

mod api;
mod http;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use bytes::Bytes;
use corsguard::{Policy, PolicyHandle};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::api::Api;
use self::http::{html_response, json_response, serve, text_response, Reply};
use corsguard_gateway::proxy::{self, Gateway, Options, Upstream};

/// The demo's policy, also at examples/demo.toml.
pub const POLICY: &str = include_str!("../../../examples/demo.toml");
const PAGE: &str = include_str!("page.html");
const FOREIGN_PAGE: &str = include_str!("foreign.html");

/// A running demo.
pub struct Demo {
    /// The trusted front end: open this.
    pub page_url: String,
    /// The gateway, as the page calls it.
    pub gateway_url: String,
    /// The untrusted page.
    pub foreign_url: String,
    /// The sample API, behind the gateway.
    pub api_url: String,
    gateway: Gateway,
    tasks: Vec<JoinHandle<()>>,
}

impl Demo {
    /// Starts everything on 127.0.0.1 with the given ports (0 = any free port).
    pub async fn start(page_port: u16, gateway_port: u16, foreign_port: u16) -> io::Result<Demo> {
        let bind = |port: u16| TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        let api_listener = bind(0).await?;
        let gateway_listener =
            bind(gateway_port).await.map_err(|e| in_use(e, "--gateway-port", gateway_port))?;
        let page_listener = bind(page_port).await.map_err(|e| in_use(e, "--page-port", page_port))?;
        let foreign_listener =
            bind(foreign_port).await.map_err(|e| in_use(e, "--foreign-port", foreign_port))?;

        let api_url = format!("http://{}", api_listener.local_addr()?);
        let gateway_url = format!("http://localhost:{}", gateway_listener.local_addr()?.port());
        let page_origin = format!("http://127.0.0.1:{}", page_listener.local_addr()?.port());
        let foreign_origin = format!("http://localhost:{}", foreign_listener.local_addr()?.port());

        let policy = Policy::from_toml(POLICY, None)
            .map_err(|d| io::Error::other(format!("the built-in demo policy is invalid: {d:?}")))?;
        let handle = PolicyHandle::new(policy);
        let upstream = Upstream::parse(&api_url).map_err(io::Error::other)?;
        let mut options = Options::new(upstream);
        options.upstream_timeout = Duration::from_secs(10);
        let gateway = proxy::start(gateway_listener, handle.clone(), options)?;

        let api = Api::default();
        let mut tasks = vec![serve(api_listener, {
            let api = api.clone();
            move |request| api.clone().answer(request)
        })];
        let config = json!({
            "gateway": gateway_url,
            "page": page_origin,
            "foreign": foreign_origin,
        })
        .to_string();
        let site =
            Site { policy: handle, api, config, gateway_host: gateway_url["http://".len()..].to_owned() };
        tasks.push(serve(page_listener, {
            let site = site.clone();
            move |request| site.clone().page(request)
        }));
        tasks.push(serve(foreign_listener, move |request| site.clone().foreign(request)));

        Ok(Demo {
            page_url: format!("{page_origin}/"),
            gateway_url,
            foreign_url: format!("{foreign_origin}/"),
            api_url,
            gateway,
            tasks,
        })
    }

    /// Stops everything.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.gateway.shutdown(Duration::from_secs(2)).await;
    }
}

fn in_use(e: io::Error, flag: &str, port: u16) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "cannot listen on 127.0.0.1:{port} ({e}); pick another port with {flag} PORT (0 = any free port)"
        ),
    )
}

/// The two front-end origins and their same-origin helpers.
#[derive(Clone)]
struct Site {
    policy: PolicyHandle,
    api: Api,
    config: String,
    gateway_host: String,
}

impl Site {
    /// The trusted page, its `/explain` and `/hits` endpoints and the policy text.
    async fn page(self, request: Request<Incoming>) -> Reply {
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/") => html_response(PAGE.replace("{{CONFIG}}", &self.config)),
            (&Method::GET, "/hits") => json_response(StatusCode::OK, self.api.hits.to_json()),
            (&Method::GET, "/policy") => text_response(StatusCode::OK, POLICY),
            (&Method::POST, "/explain") => self.explain(request).await,
            _ => text_response(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// The untrusted page.
    async fn foreign(self, request: Request<Incoming>) -> Reply {
        match (request.method(), request.uri().path()) {
            (&Method::GET, "/") => html_response(FOREIGN_PAGE.replace("{{CONFIG}}", &self.config)),
            _ => text_response(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// `{"method", "path", "headers": {...}}` in, the decision out (as `corsguard explain
    /// --format json` prints it), for the request as it reaches the gateway.
    async fn explain(self, request: Request<Incoming>) -> Reply {
        let body = match Limited::new(request.into_body(), 16 * 1024).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return json_response(StatusCode::PAYLOAD_TOO_LARGE, json!({ "error": "body over 16 KiB" }))
            }
        };
        match simulated_request(&body, &self.gateway_host) {
            Ok(simulated) => {
                let policy = self.policy.load();
                json_response(StatusCode::OK, corsguard::json::decision(&policy.decide(&simulated)))
            }
            Err(message) => json_response(StatusCode::BAD_REQUEST, json!({ "error": message })),
        }
    }
}

fn simulated_request(body: &Bytes, host: &str) -> Result<Request<()>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let method = value["method"].as_str().unwrap_or("GET");
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| format!("`{method}` is not a method"))?;
    let path = value["path"].as_str().unwrap_or("/");
    if !path.starts_with('/') {
        return Err("the path must start with /".into());
    }
    let mut builder = Request::builder().method(method).uri(path).header("host", host);
    if let Some(headers) = value["headers"].as_object() {
        for (name, value) in headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("bad header name `{name}`"))?;
            let value =
                value.as_str().and_then(|v| HeaderValue::from_str(v).ok()).ok_or("bad header value")?;
            builder = builder.header(name, value);
        }
    }
    builder.body(()).map_err(|e| e.to_string())
}
