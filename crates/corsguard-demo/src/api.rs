//! The demo's sample API: a few JSON endpoints, written the way many backends are (including
//! a careless `Access-Control-Allow-Origin: *` of its own, which the gateway replaces), and a
//! log of every request that reached it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::http::{json_response, Reply};

/// How many requests the log keeps.
const LOG_LEN: usize = 100;

/// What reached the API.
#[derive(Clone, Default)]
pub struct HitLog {
    inner: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    total: u64,
    recent: VecDeque<Value>,
}

impl HitLog {
    fn record(&self, method: &Method, path: &str, origin: Option<&str>) {
        let mut log = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        log.total += 1;
        if log.recent.len() == LOG_LEN {
            log.recent.pop_front();
        }
        let entry = json!({ "method": method.as_str(), "path": path, "origin": origin });
        log.recent.push_back(entry);
    }

    /// `{"total": N, "recent": [...]}`.
    pub fn to_json(&self) -> Value {
        let log = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        json!({ "total": log.total, "recent": log.recent })
    }
}

/// The API's state.
#[derive(Clone, Default)]
pub struct Api {
    /// Every request that reached the API.
    pub hits: HitLog,
    next_id: Arc<AtomicU64>,
}

impl Api {
    /// Answers one request.
    pub async fn answer(self, request: Request<Incoming>) -> Reply {
        let origin = request.headers().get("origin").and_then(|v| v.to_str().ok());
        self.hits.record(request.method(), request.uri().path(), origin);
        let request_id = format!("demo-{}", self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let authorized =
            request.headers().get("authorization").is_some_and(|v| v.as_bytes() == b"Bearer demo-token");
        let path = request.uri().path().to_owned();
        let mut response = match (request.method().clone(), path.as_str()) {
            (Method::GET, "/api/items") => json_response(
                StatusCode::OK,
                json!([{ "id": 1, "name": "apple" }, { "id": 2, "name": "pear" }]),
            ),
            (Method::POST, "/api/items") => {
                json_response(StatusCode::CREATED, json!({ "id": 3, "created": true }))
            }
            (Method::PUT, "/api/items/1") if authorized => {
                json_response(StatusCode::OK, json!({ "id": 1, "updated": true }))
            }
            (Method::PUT, "/api/items/1") => json_response(
                StatusCode::UNAUTHORIZED,
                json!({ "error": "send Authorization: Bearer demo-token" }),
            ),
            (Method::DELETE, "/api/items/1") => {
                let mut r = Response::new(http_body_util::Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            }
            (Method::GET, "/public/status") => json_response(StatusCode::OK, json!({ "status": "ok" })),
            _ => json_response(StatusCode::NOT_FOUND, json!({ "error": "no such endpoint" })),
        };
        let headers = response.headers_mut();
        if let Ok(id) = request_id.parse() {
            headers.insert("x-request-id", id);
        }
        headers.insert("x-internal-trace", http::HeaderValue::from_static("trace-7f3a"));
        // The kind of blanket header backends often send; the gateway replaces it with the
        // policy's answer, so it never reaches a browser.
        headers.insert("access-control-allow-origin", http::HeaderValue::from_static("*"));
        response
    }
}
