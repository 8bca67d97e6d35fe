//! `fetch()` from a page on an origin, run against a live API step by step: the preflight when
//! Fetch needs one, the actual request, redirects (each hop checked, the origin tainted to
//! `null` after a cross-origin one), and the verdict with the check that failed.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, CONTENT_ENCODING,
    CONTENT_LANGUAGE, CONTENT_LOCATION, CONTENT_TYPE, COOKIE, LOCATION, VARY,
};
use http::{HeaderMap, Method};
use serde_json::{json, Map, Value};
use url::Url;

use crate::check::{self, Check, Failure};
use crate::client::{Client, Exchange, Head};
use crate::safelist;

/// Redirects `fetch()` follows before it gives up (Fetch's limit).
pub const MAX_REDIRECTS: usize = 20;

/// What the page asks `fetch()` for.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PageRequest {
    /// The API's URL.
    pub url: Url,
    /// The page's origin, serialized (`https://app.example.com`).
    pub origin: String,
    /// The method as the page writes it (normalised as `fetch()` normalises it).
    pub method: String,
    /// The headers the page sets, and `Cookie` standing for the browser's cookie jar.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
    /// `credentials: 'include'`.
    pub credentials: bool,
}

impl PageRequest {
    /// A `GET` without headers, body or credentials.
    pub fn get(url: Url, origin: impl Into<String>) -> Self {
        PageRequest {
            url,
            origin: origin.into(),
            method: "GET".to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
            credentials: false,
        }
    }
}

/// Which part of the exchange a step or a failure belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// The `OPTIONS` request the browser sends first.
    Preflight,
    /// The page's own request.
    Actual,
    /// A request the browser made by following a redirect.
    Redirect,
}

impl Stage {
    /// `preflight`, `actual` or `redirect`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Preflight => "preflight",
            Stage::Actual => "actual",
            Stage::Redirect => "redirect",
        }
    }
}

/// One request sent and what came back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Step {
    /// Preflight, actual request or a followed redirect.
    pub stage: Stage,
    /// The method sent.
    pub method: String,
    /// The URL sent to.
    pub url: Url,
    /// The headers sent that matter to CORS (`Origin`, `Access-Control-Request-*`, the page's).
    pub sent: Vec<(String, String)>,
    /// The status and headers received; `None` after a network error.
    pub received: Option<Answer>,
}

/// A response's status line and headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Lowercase names; repeated fields joined with `, `, as `fetch` joins them.
    pub headers: BTreeMap<String, String>,
}

impl Answer {
    fn from_head(head: &Head) -> Answer {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &head.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        Answer { status: head.status.as_u16(), headers }
    }

    fn json(&self) -> Value {
        json!({ "status": self.status, "headers": self.headers })
    }
}

/// Why the browser blocks the request: the stage and the failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    /// Where it failed.
    pub stage: Stage,
    /// The check, its message and its fix.
    pub failure: Failure,
}

/// What the browser does with the page's request, and why.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Verdict {
    /// The URL asked for.
    pub url: Url,
    /// The page's origin.
    pub origin: String,
    /// `None` when the page can read the response.
    pub blocked: Option<Blocked>,
    /// The first preflight's answer, when one was sent.
    pub preflight: Option<Answer>,
    /// Response headers the page's script can read (when allowed).
    pub readable_headers: Vec<String>,
    /// Things that work now but are fragile, or where browsers differ.
    pub warnings: Vec<String>,
    /// Every request sent, in order.
    pub steps: Vec<Step>,
}

impl Verdict {
    /// True when the page can read the response.
    pub fn allowed(&self) -> bool {
        self.blocked.is_none()
    }

    /// The object `corsguard explain URL --format json` prints (a contract): `url`, `origin`,
    /// `allowed`, `preflight` (`null` or status and headers), `failed` (`null` or step, check,
    /// message, help), `readable_headers`, `warnings`; and `steps`, every request sent.
    pub fn to_json(&self) -> Value {
        let failed = self.blocked.as_ref().map_or(Value::Null, |b| {
            json!({
                "step": b.stage.as_str(),
                "check": b.failure.check.code(),
                "message": b.failure.message,
                "help": b.failure.help,
            })
        });
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let sent: Map<String, Value> = s.sent.iter().map(|(n, v)| (n.clone(), json!(v))).collect();
                json!({
                    "step": s.stage.as_str(),
                    "method": s.method,
                    "url": s.url.as_str(),
                    "sent": sent,
                    "received": s.received.as_ref().map_or(Value::Null, Answer::json),
                })
            })
            .collect();
        json!({
            "url": self.url.as_str(),
            "origin": self.origin,
            "allowed": self.allowed(),
            "preflight": self.preflight.as_ref().map_or(Value::Null, Answer::json),
            "failed": failed,
            "readable_headers": self.readable_headers,
            "warnings": self.warnings,
            "steps": steps,
        })
    }
}

/// A request `fetch()` would refuse to build: a usage error, not a verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsendable(pub String);

/// Headers a request body brings along, dropped when a redirect turns the request into a GET
/// (Fetch's "request-body-header name").
const BODY_HEADERS: [HeaderName; 4] = [CONTENT_ENCODING, CONTENT_LANGUAGE, CONTENT_LOCATION, CONTENT_TYPE];

/// Runs the page's request against the live API as `fetch()` would.
pub async fn explain(client: &Client, request: PageRequest) -> Result<Verdict, Unsendable> {
    let page_origin = request.origin.clone();
    let mut method = safelist::normalize_method(&request.method);
    if safelist::is_forbidden_method(&method) {
        return Err(Unsendable(format!("fetch() refuses the method {method}: browsers never send it")));
    }
    if Method::from_bytes(method.as_bytes()).is_err() {
        return Err(Unsendable(format!("`{method}` is not a method name")));
    }
    let mut warnings = Vec::new();
    let mut author = Vec::new();
    let mut cookies = Vec::new();
    for (name, value) in request.headers {
        if name == COOKIE {
            cookies.push(value);
        } else if safelist::is_forbidden_request_header(&name, value.as_bytes()) {
            return Err(Unsendable(format!(
                "`{name}` is a forbidden header: the browser sets it itself and fetch() drops it \
                 (--origin sets Origin; Cookie stands for the browser's cookies)"
            )));
        } else {
            author.push((name, value));
        }
    }
    if !cookies.is_empty() && !request.credentials {
        warnings.push(
            "a Cookie was given but not --credentials: a cross-origin fetch() sends cookies only with \
             credentials: 'include', so it was not sent"
                .to_owned(),
        );
        cookies.clear();
    }
    let mut verdict = Verdict {
        url: request.url.clone(),
        origin: page_origin.clone(),
        blocked: None,
        preflight: None,
        readable_headers: Vec::new(),
        warnings,
        steps: Vec::new(),
    };
    let mut url = request.url;
    let mut body = request.body;
    let mut cors = false;
    let mut tainted = false;
    for hop in 0..=MAX_REDIRECTS {
        let stage = if hop == 0 { Stage::Actual } else { Stage::Redirect };
        // Once a request needed CORS it stays a CORS request, even back on the page's origin.
        cors |= url.origin().ascii_serialization() != page_origin;
        let origin = if tainted { "null".to_owned() } else { page_origin.clone() };
        let unsafe_names = safelist::unsafe_header_names(
            author.iter().map(|(n, v): &(HeaderName, HeaderValue)| (n, v.as_bytes())),
        );
        if cors && (!safelist::is_safelisted_method(&method) || !unsafe_names.is_empty()) {
            if let Err(failure) =
                preflight(client, &url, &origin, &method, &unsafe_names, request.credentials, &mut verdict)
                    .await
            {
                verdict.blocked = Some(Blocked { stage: Stage::Preflight, failure });
                return Ok(verdict);
            }
        }

        let mut sent = vec![];
        let send_origin = cors || !matches!(method.as_str(), "GET" | "HEAD");
        if send_origin {
            sent.push(("origin".to_owned(), origin.clone()));
        }
        sent.extend(
            author
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())),
        );
        let mut headers = author.clone();
        headers.extend(cookies.iter().map(|c| (COOKIE, c.clone())));
        if !cookies.is_empty() {
            sent.push(("cookie".to_owned(), "(as given)".to_owned()));
        }
        let exchange = Exchange {
            method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
            origin: if send_origin { origin.clone() } else { String::new() },
            request_method: None,
            request_headers: None,
            headers,
            body: body.clone(),
        };
        let head = match client.send(&url, &exchange).await {
            Ok(head) => head,
            Err(e) => {
                verdict.steps.push(Step {
                    stage,
                    method: method.clone(),
                    url: url.clone(),
                    sent,
                    received: None,
                });
                verdict.blocked = Some(Blocked { stage, failure: network_error(&e.to_string()) });
                return Ok(verdict);
            }
        };
        let answer = Answer::from_head(&head);
        verdict.steps.push(Step {
            stage,
            method: method.clone(),
            url: url.clone(),
            sent,
            received: Some(answer),
        });
        let location = head.headers.get(LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned);
        let redirect = matches!(head.status.as_u16(), 301 | 302 | 303 | 307 | 308) && location.is_some();
        if cors {
            if let Err(failure) = check::cors_check(&head.headers, &origin, request.credentials) {
                // A redirect's own response is checked too; its failure is the redirect's.
                let stage = if redirect { Stage::Redirect } else { stage };
                verdict.blocked = Some(Blocked { stage, failure });
                return Ok(verdict);
            }
        }
        let Some(location) = location.filter(|_| redirect) else {
            verdict.readable_headers = if cors {
                check::readable_headers(&head.headers, request.credentials)
            } else {
                let mut names: Vec<String> = head.headers.keys().map(|n| n.as_str().to_owned()).collect();
                names.retain(|n| n != "set-cookie" && n != "set-cookie2");
                names.dedup();
                names
            };
            if !cors {
                verdict.warnings.push(format!(
                    "{} is on the page's own origin: CORS does not apply, and the page reads the response",
                    url.origin().ascii_serialization()
                ));
            } else {
                note_vary(&head.headers, &mut verdict.warnings);
            }
            return Ok(verdict);
        };
        let next = match url.join(&location) {
            Ok(next) if matches!(next.scheme(), "http" | "https") => next,
            Ok(next) => {
                verdict.blocked = Some(Blocked {
                    stage: Stage::Redirect,
                    failure: Failure::new(
                        Check::RedirectNotAllowed,
                        format!(
                            "Redirect location '{next}' has a disallowed scheme for cross-origin requests."
                        ),
                        "redirect only to http:// or https:// URLs",
                    ),
                });
                return Ok(verdict);
            }
            Err(e) => {
                verdict.blocked = Some(Blocked {
                    stage: Stage::Redirect,
                    failure: Failure::new(
                        Check::RedirectNotAllowed,
                        format!("Redirect location '{location}' is not a valid URL ({e})."),
                        "send a valid absolute or relative URL in Location",
                    ),
                });
                return Ok(verdict);
            }
        };
        if cors && (!next.username().is_empty() || next.password().is_some()) {
            verdict.blocked = Some(Blocked {
                stage: Stage::Redirect,
                failure: Failure::new(
                    Check::RedirectNotAllowed,
                    format!(
                        "Redirect location '{next}' contains a username and password, which is disallowed for \
                         cross-origin requests."
                    ),
                    "remove the credentials from the Location URL",
                ),
            });
            return Ok(verdict);
        }
        if hop == MAX_REDIRECTS {
            break;
        }
        // 303, and 301/302 after a POST, turn the request into a GET without its body.
        let status = head.status.as_u16();
        if (status == 303 && !matches!(method.as_str(), "GET" | "HEAD"))
            || (matches!(status, 301 | 302) && method == "POST")
        {
            method = "GET".to_owned();
            body = Bytes::new();
            author.retain(|(name, _)| !BODY_HEADERS.contains(name));
        }
        // Fetch taints the origin when a request already cross-origin to the page is sent to
        // yet another origin.
        if cors && next.origin() != url.origin() && url.origin().ascii_serialization() != page_origin {
            tainted = true;
        }
        url = next;
    }
    verdict.blocked = Some(Blocked {
        stage: Stage::Redirect,
        failure: Failure::new(
            Check::RedirectNotAllowed,
            format!("More than {MAX_REDIRECTS} redirects (net::ERR_TOO_MANY_REDIRECTS)."),
            "the redirects loop or chain too far: point the page at the final URL",
        ),
    });
    Ok(verdict)
}

/// Sends the preflight and applies its checks; adds the step and warnings to `verdict`.
async fn preflight(
    client: &Client,
    url: &Url,
    origin: &str,
    method: &str,
    unsafe_names: &[String],
    credentials: bool,
    verdict: &mut Verdict,
) -> Result<(), Failure> {
    let request_headers = (!unsafe_names.is_empty()).then(|| unsafe_names.join(","));
    let mut sent = vec![
        ("origin".to_owned(), origin.to_owned()),
        ("access-control-request-method".to_owned(), method.to_owned()),
    ];
    if let Some(names) = &request_headers {
        sent.push(("access-control-request-headers".to_owned(), names.clone()));
    }
    // A preflight never carries credentials, whatever the request's mode.
    let exchange = Exchange {
        method: Method::OPTIONS,
        origin: origin.to_owned(),
        request_method: Some(method.to_owned()),
        request_headers,
        ..Exchange::default()
    };
    let result = client.send(url, &exchange).await;
    let step = |received| Step {
        stage: Stage::Preflight,
        method: "OPTIONS".to_owned(),
        url: url.clone(),
        sent,
        received,
    };
    let head = match result {
        Ok(head) => head,
        Err(e) => {
            verdict.steps.push(step(None));
            return Err(network_error(&e.to_string()));
        }
    };
    let answer = Answer::from_head(&head);
    verdict.steps.push(step(Some(answer.clone())));
    if verdict.preflight.is_none() {
        verdict.preflight = Some(answer);
    }
    let location = head.headers.get(LOCATION).and_then(|l| l.to_str().ok());
    // Redirects and other statuses first: they are the cause when the CORS headers are missing
    // too (an authentication layer answering 401 writes no CORS headers).
    check::preflight_status(head.status.as_u16(), location)?;
    check::cors_check(&head.headers, origin, credentials)?;
    let warnings = check::preflight_lists(&head.headers, method, unsafe_names, credentials)?;
    verdict.warnings.extend(warnings);
    note_max_age(&head.headers, &mut verdict.warnings);
    Ok(())
}

fn network_error(cause: &str) -> Failure {
    Failure::new(
        Check::NetworkError,
        format!("TypeError: Failed to fetch ({cause})"),
        "the request got no response at all, so no CORS header could help: check the URL, that the server \
         runs and listens there, and its TLS certificate",
    )
}

/// How browsers cache this preflight, where they differ.
fn note_max_age(headers: &HeaderMap, warnings: &mut Vec<String>) {
    let max_age = headers.get(ACCESS_CONTROL_MAX_AGE).and_then(|v| v.to_str().ok()).map(str::trim);
    match max_age.map(str::parse::<u64>) {
        None => warnings.push(
            "no Access-Control-Max-Age: browsers cache this preflight for 5 seconds only, so most requests \
             pay for a preflight; send e.g. `Access-Control-Max-Age: 600`"
                .to_owned(),
        ),
        Some(Ok(seconds)) if seconds > 7200 => warnings.push(format!(
            "Access-Control-Max-Age: {seconds}: Chromium caches a preflight for at most 7200 s, Firefox for \
             at most 86400 s{}",
            if seconds > 86_400 {
                " (both cap this value)"
            } else {
                " (Chromium caps this value, Firefox does not)"
            }
        )),
        Some(Ok(_)) => {}
        Some(Err(_)) => warnings.push(format!(
            "Access-Control-Max-Age: {} is not a number of seconds: browsers ignore it and cache for 5 s",
            max_age.unwrap_or_default()
        )),
    }
}

/// A reflected origin without `Vary: Origin` lets a shared cache serve one origin's answer to
/// another.
fn note_vary(headers: &HeaderMap, warnings: &mut Vec<String>) {
    let reflected = headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_some_and(|v| v.as_bytes() != b"*");
    let varies = headers
        .get_all(VARY)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(b"origin") || item.trim_ascii() == b"*");
    if reflected && !varies {
        warnings.push(
            "Access-Control-Allow-Origin names an origin but the response has no `Vary: Origin`: a shared \
             cache may serve this answer to a page on another origin, which the browser then blocks"
                .to_owned(),
        );
    }
}
