//! The native half of the `corsguard` npm package: the engine's policy, decision and header
//! writer behind napi. `index.js` and `fastify.js` hold the JavaScript half (the middleware,
//! the Fastify plugin, `PolicyError`), which only moves strings between Node and these
//! functions: every decision and every CORS header comes from the engine, as in the gateway.
//!
//! A policy here never changes: a reload builds a new one, which `index.js` swaps in, so that
//! the calls a request makes ([`NativePolicy::handle`] when it arrives, [`apply`] when the
//! response's head is written and the application set CORS headers of its own) see the same
//! policy. `apply` decides the request again rather than keeping the first decision in a
//! JavaScript object: a decision is a pure function of the policy and the request, and costs
//! less than the napi object that would hold it. For the same reason the middleware keeps a
//! [`Verdict`] for every distinct input ([`decision_headers`]), and a repeated request does not
//! cross into the addon at all.
//!
//! Every export is `catch_unwind`: whatever a request or a policy file holds, a panic becomes
//! a JavaScript exception, never an abort of the Node process.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::borrow::Cow;

use corsguard::{Action, Diagnostics, OwnedDecision, Policy, Reason};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use napi::bindgen_prelude::Either;
use napi_derive::napi;
use serde_json::{json, Value};

/// A validated policy.
#[napi]
pub struct NativePolicy {
    policy: Policy,
}

/// A request's decision as the middleware applies it: forward it to the application, or answer
/// it here (a preflight's 204, a refusal's 403, a 400 for a request the engine cannot read),
/// and the headers that go on the response when it has none of [`rewrite_scope`] (otherwise
/// [`NativePolicy::apply`] says what they become). A verdict is a function of what
/// [`NativePolicy::handle`] was given, so the middleware may keep it for an equal request.
#[napi(object)]
pub struct Verdict {
    /// True when the application is to be called.
    pub forward: bool,
    /// The status of an answer; 0 when forwarding.
    pub status: u32,
    /// The answer's body, empty but for a cross-origin refusal or a malformed request; a
    /// non-empty one is `text/plain; charset=utf-8`.
    pub body: String,
    /// The headers, in [`NativePolicy::apply`]'s format.
    pub headers: String,
}

/// Builds a policy from policy-file text; `path` names the file in diagnostics. An invalid
/// file gives `{message, diagnostics, errors, warnings}` (the human text and `corsguard check
/// --format json`'s object) instead of a policy.
#[napi(catch_unwind)]
pub fn compile(text: String, profile: Option<String>, path: String) -> Either<NativePolicy, Value> {
    match Policy::from_toml(&text, profile.as_deref()) {
        Ok(policy) => Either::A(NativePolicy { policy }),
        Err(diags) => Either::B(failure(&diags, &text, &path)),
    }
}

/// [`compile`] for the file at `path`; an unreadable file is refused like an invalid one (a
/// `parse-error`, as `corsguard check` reports it).
#[napi(catch_unwind)]
pub fn compile_file(path: String, profile: Option<String>) -> Either<NativePolicy, Value> {
    match std::fs::read_to_string(&path) {
        Ok(text) => compile(text, profile, path),
        Err(_) => match Policy::from_file(&path, profile.as_deref()) {
            // Readable after all (it changed in between): the engine's answer is the one.
            Ok(policy) => Either::A(NativePolicy { policy }),
            Err(diags) => Either::B(failure(&diags, "", &path)),
        },
    }
}

/// Panics, so that the test suite can show that a panic inside the addon reaches JavaScript
/// as an exception and leaves the process running.
#[napi(catch_unwind, js_name = "_panicForTests")]
pub fn panic_for_tests() {
    panic!("a panic inside the corsguard addon");
}

#[napi]
impl NativePolicy {
    /// The profile the policy was built from.
    #[napi(catch_unwind, getter)]
    pub fn profile(&self) -> String {
        self.policy.profile().to_owned()
    }

    /// The policy's warnings, as entries of `corsguard check --format json`.
    #[napi(catch_unwind, getter)]
    pub fn warnings(&self) -> Value {
        corsguard::json::diagnostics(self.policy.warnings())["diagnostics"].take()
    }

    /// The object `corsguard explain --format json` prints for this request. `headers`
    /// alternates names and values, as Node's `rawHeaders`.
    #[napi(catch_unwind)]
    pub fn decide(&self, method: String, url: String, headers: Vec<String>) -> napi::Result<Value> {
        let decision = self
            .policy
            .decide_parts(&method, &url, pairs(&headers))
            .map_err(|e| napi::Error::from_reason(e.to_string()))?;
        Ok(corsguard::json::owned_decision(&decision))
    }

    /// A request as a middleware sees it: its [`Verdict`]. `headers` are names and values
    /// joined with line feeds (one string crosses into Rust faster than a list, and Node's
    /// parsers never let a line feed into a header); the middleware gives only those of
    /// [`decision_headers`], the only ones a decision reads.
    #[napi(catch_unwind)]
    pub fn handle(&self, method: String, url: String, headers: String) -> Verdict {
        let Ok(decision) = self.decide_joined(&method, &url, &headers) else {
            // Node's parser lets little through that the engine refuses; what it does is a
            // request no server can read, answered as hyper answers it in the gateway.
            return answer(StatusCode::BAD_REQUEST, "malformed request\n", String::new());
        };
        let action = decision.action();
        let refused_cross_origin = decision.reason() == Reason::CrossOriginRequest;
        let headers = rewrite(&HeaderMap::new(), &decision.into_headers().into_header_map());
        match action {
            Action::Forward => Verdict { forward: true, status: 0, body: String::new(), headers },
            // The same answer as the gateway's (crates/corsguard-gateway/src/proxy.rs,
            // `local_answer`).
            Action::Answer(status) => {
                let body = if refused_cross_origin { "cross-origin request refused\n" } else { "" };
                answer(status, body, headers)
            }
            // `Action` may grow; an unknown action is safest answered as a refusal.
            _ => answer(StatusCode::FORBIDDEN, "", headers),
        }
    }

    /// The path prefixes of the policy's `[[routes]]`, in match order: the first a request's
    /// path starts with picks its rules, as [`corsguard::Policy::route_for`] does.
    #[napi(catch_unwind, getter)]
    pub fn route_prefixes(&self) -> Vec<String> {
        self.policy.routes().filter_map(|route| route.prefix()).map(str::to_owned).collect()
    }

    /// What the response headers of the request (`method`, `url`, `headers` as [`handle`]
    /// takes them) must become so that they carry the decision's headers exactly as
    /// [`corsguard::OwnedCorsHeaders::apply_to`] writes them: the application's
    /// `Access-Control-*` headers replaced, `Vary` merged.
    ///
    /// `response` is names and values joined with line feeds; so is the answer, in which
    /// `:name` removes a header and a name followed by a value sets it (a name with several
    /// values comes once per value, in a row). Headers the rewrite leaves alone are not in it.
    ///
    /// [`handle`]: NativePolicy::handle
    #[napi(catch_unwind)]
    pub fn apply(&self, method: String, url: String, headers: String, response: String) -> String {
        let mut before = HeaderMap::new();
        for (name, value) in joined_pairs(&response) {
            // Node checks names and values on setHeader; a pair it let through that `http`
            // does not read is left as the application set it.
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&name), HeaderValue::from_bytes(&value)) {
                before.append(name, value);
            }
        }
        let mut after = before.clone();
        if let Ok(decision) = self.decide_joined(&method, &url, &headers) {
            decision.into_headers().apply_to(&mut after);
        }
        rewrite(&before, &after)
    }
}

impl NativePolicy {
    fn decide_joined(
        &self,
        method: &str,
        url: &str,
        headers: &str,
    ) -> Result<OwnedDecision, corsguard::RequestError> {
        self.policy.decide_parts(method, url, joined_pairs(headers))
    }
}

fn answer(status: StatusCode, body: &str, headers: String) -> Verdict {
    Verdict { forward: false, status: status.as_u16().into(), body: body.into(), headers }
}

/// The request headers a decision reads ([`corsguard::DECISION_HEADERS`]): requests with the
/// same method, route and values of these, in order, get the same [`Verdict`].
#[napi(catch_unwind)]
pub fn decision_headers() -> Vec<String> {
    corsguard::DECISION_HEADERS.iter().map(|&name| name.to_owned()).collect()
}

/// The response headers that [`corsguard::OwnedCorsHeaders::apply_to`] reads or writes: names
/// starting with the first entry, and the others. A response with none of them needs no
/// rewrite beyond what [`NativePolicy::handle`] returns; the middleware checks that before it
/// calls [`NativePolicy::apply`].
#[napi(catch_unwind)]
pub fn rewrite_scope() -> Vec<String> {
    vec!["access-control-".into(), "vary".into(), "corsguard-reason".into()]
}

/// `after` as a rewrite of `before`, in [`NativePolicy::apply`]'s format.
fn rewrite(before: &HeaderMap, after: &HeaderMap) -> String {
    let mut out = String::new();
    let token = |out: &mut String, text: &str| {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(text);
    };
    for name in before.keys() {
        if !after.contains_key(name) {
            token(&mut out, ":");
            out.push_str(name.as_str());
        }
    }
    for name in after.keys() {
        if !before.get_all(name).iter().eq(after.get_all(name).iter()) {
            for value in after.get_all(name) {
                token(&mut out, name.as_str());
                token(&mut out, &latin1_string(value.as_bytes()));
            }
        }
    }
    out
}

/// The failure object of [`compile`] and [`compile_file`].
fn failure(diags: &Diagnostics, text: &str, path: &str) -> Value {
    let mut object = corsguard::json::diagnostics(diags);
    object["message"] = json!(corsguard::render::human(diags, text, path, false));
    object
}

/// Name-value pairs from Node's alternating list, as the bytes Node read off the wire (Node
/// decodes header bytes as Latin-1, one character per byte).
fn pairs(flat: &[String]) -> impl Iterator<Item = (Cow<'_, [u8]>, Cow<'_, [u8]>)> + '_ {
    flat.chunks_exact(2).map(|pair| (latin1_bytes(&pair[0]), latin1_bytes(&pair[1])))
}

/// The pairs of a list of names and values joined with line feeds.
fn joined_pairs(joined: &str) -> impl Iterator<Item = (Cow<'_, [u8]>, Cow<'_, [u8]>)> + '_ {
    let mut tokens = joined.split('\n');
    std::iter::from_fn(move || Some((latin1_bytes(tokens.next()?), latin1_bytes(tokens.next()?))))
}

fn latin1_bytes(text: &str) -> Cow<'_, [u8]> {
    if text.is_ascii() {
        return Cow::Borrowed(text.as_bytes());
    }
    // A character above U+00FF was not read off the wire; it cannot be a header byte, and
    // DEL is one that `http` refuses too, so the pair is refused as malformed.
    Cow::Owned(text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(0x7f)).collect())
}

fn latin1_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}
