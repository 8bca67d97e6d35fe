//! The native half of the `corsguard` npm package: the engine's policy, decision and header
//! writer behind napi. `index.js` and `fastify.js` hold the JavaScript half (the middleware,
//! the Fastify plugin, `PolicyError`), which only moves strings between Node and these
//! functions: every decision and every CORS header comes from the engine, as in the gateway.
//!
//! Every export is `catch_unwind`: whatever a request or a policy file holds, a panic becomes
//! a JavaScript exception, never an abort of the Node process.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use corsguard::{Action, Diagnostics, OwnedCorsHeaders, Policy, PolicyHandle, Reason};
use http::{HeaderMap, HeaderName, HeaderValue};
use napi::bindgen_prelude::{Either, External};
use napi_derive::napi;
use serde_json::{json, Value};

/// A policy being served, swapped whole on reload (the engine's [`PolicyHandle`]).
#[napi]
pub struct NativePolicy {
    handle: PolicyHandle,
}

/// What corsguard answers itself, without calling the application: a preflight's 204, a
/// refusal's 403, or a 400 for a request the engine cannot read. Its headers go on through
/// [`apply`], as the application's would, so that headers an earlier middleware set are
/// treated alike.
#[napi(object, object_from_js = false)]
pub struct Answer {
    /// The status code.
    pub status: u32,
    /// The body, empty but for a cross-origin refusal or a malformed request; a non-empty
    /// one is `text/plain; charset=utf-8`.
    pub body: String,
    /// The decision's headers.
    pub cors: External<OwnedCorsHeaders>,
}

/// How to turn the application's response headers into the policy's: remove these names, then
/// set each name of `set` to the values listed for it.
#[napi(object)]
pub struct Rewrite {
    /// Lowercase names to remove.
    pub remove: Vec<String>,
    /// Lowercase names and values, alternating; a name repeats for each of its values.
    pub set: Vec<String>,
}

/// Builds a policy from policy-file text; `path` names the file in diagnostics. An invalid
/// file gives `{message, diagnostics, errors, warnings}` (the human text and `corsguard check
/// --format json`'s object) instead of a policy.
#[napi(catch_unwind)]
pub fn compile(text: String, profile: Option<String>, path: String) -> Either<NativePolicy, Value> {
    match Policy::from_toml(&text, profile.as_deref()) {
        Ok(policy) => Either::A(NativePolicy { handle: PolicyHandle::new(policy) }),
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
            Ok(policy) => Either::A(NativePolicy { handle: PolicyHandle::new(policy) }),
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
    /// Serves the policy `text` from now on, or, if it is invalid, keeps the current one and
    /// returns the failure object of [`compile`].
    #[napi(catch_unwind)]
    pub fn reload(&self, text: String, profile: Option<String>, path: String) -> Option<Value> {
        self.handle.reload_toml(&text, profile.as_deref()).err().map(|diags| failure(&diags, &text, &path))
    }

    /// [`NativePolicy::reload`] from the file at `path`.
    #[napi(catch_unwind)]
    pub fn reload_file(&self, path: String, profile: Option<String>) -> Option<Value> {
        match std::fs::read_to_string(&path) {
            Ok(text) => self.reload(text, profile, path),
            Err(_) => self
                .handle
                .reload_file(&path, profile.as_deref())
                .err()
                .map(|diags| failure(&diags, "", &path)),
        }
    }

    /// The profile the current policy was built from.
    #[napi(catch_unwind, getter)]
    pub fn profile(&self) -> String {
        self.handle.load().profile().to_owned()
    }

    /// The current policy's warnings, as entries of `corsguard check --format json`.
    #[napi(catch_unwind, getter)]
    pub fn warnings(&self) -> Value {
        corsguard::json::diagnostics(self.handle.load().warnings())["diagnostics"].take()
    }

    /// The object `corsguard explain --format json` prints for this request. `headers`
    /// alternates names and values, as Node's `rawHeaders`.
    #[napi(catch_unwind)]
    pub fn decide(&self, method: String, url: String, headers: Vec<String>) -> napi::Result<Value> {
        let policy = self.handle.load();
        let decision = policy
            .decide_parts(&method, &url, pairs(&headers))
            .map_err(|e| napi::Error::from_reason(e.to_string()))?;
        Ok(corsguard::json::owned_decision(&decision))
    }

    /// A request as a middleware sees it: either the [`Answer`] to send without calling the
    /// application, or the headers to put on the application's response (through
    /// [`apply`]).
    #[napi(catch_unwind)]
    pub fn handle(
        &self,
        method: String,
        url: String,
        headers: Vec<String>,
    ) -> Either<Answer, External<OwnedCorsHeaders>> {
        let decision = match self.handle.load().decide_parts(&method, &url, pairs(&headers)) {
            Ok(decision) => decision,
            // Node's parser lets little through that the engine refuses; what it does is a
            // request no server can read, answered as hyper answers it in the gateway.
            Err(_) => {
                return Either::A(Answer {
                    status: 400,
                    body: "malformed request\n".into(),
                    cors: External::new(OwnedCorsHeaders::default()),
                })
            }
        };
        match decision.action() {
            Action::Forward => Either::B(External::new(decision.into_headers())),
            Action::Answer(status) => {
                // The same answer as the gateway's (crates/corsguard-gateway/src/proxy.rs,
                // `local_answer`).
                let body = if decision.reason() == Reason::CrossOriginRequest {
                    "cross-origin request refused\n"
                } else {
                    ""
                };
                let cors = External::new(decision.into_headers());
                Either::A(Answer { status: status.as_u16().into(), body: body.into(), cors })
            }
            // `Action` may grow; an unknown action is safest answered as a refusal.
            _ => Either::A(Answer {
                status: 403,
                body: String::new(),
                cors: External::new(OwnedCorsHeaders::default()),
            }),
        }
    }
}

/// What the application's response headers (`response`, alternating names and values) must
/// become so that they carry `cors` exactly as [`OwnedCorsHeaders::apply_to`] writes them:
/// its `Access-Control-*` headers replaced, `Vary` merged.
#[napi(catch_unwind)]
pub fn apply(cors: &External<OwnedCorsHeaders>, response: Vec<String>) -> Rewrite {
    let mut before = HeaderMap::new();
    for (name, value) in pairs(&response) {
        // Node checks names and values on setHeader; a pair it let through that `http` does
        // not read is left as the application set it.
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&name), HeaderValue::from_bytes(&value)) {
            before.append(name, value);
        }
    }
    let mut after = before.clone();
    (**cors).clone().apply_to(&mut after);
    let mut rewrite = Rewrite { remove: Vec::new(), set: Vec::new() };
    for name in before.keys() {
        if !after.contains_key(name) {
            rewrite.remove.push(name.as_str().to_owned());
        }
    }
    for name in after.keys() {
        if !before.get_all(name).iter().eq(after.get_all(name).iter()) {
            for value in after.get_all(name) {
                rewrite.set.push(name.as_str().to_owned());
                rewrite.set.push(latin1_string(value.as_bytes()));
            }
        }
    }
    rewrite
}

/// The failure object of [`compile`] and [`NativePolicy::reload`].
fn failure(diags: &Diagnostics, text: &str, path: &str) -> Value {
    let mut object = corsguard::json::diagnostics(diags);
    object["message"] = json!(corsguard::render::human(diags, text, path, false));
    object
}

/// Name-value pairs from Node's alternating list, as the bytes Node read off the wire (Node
/// decodes header bytes as Latin-1, one character per byte).
fn pairs(flat: &[String]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    flat.chunks_exact(2).map(|pair| (latin1_bytes(&pair[0]), latin1_bytes(&pair[1])))
}

fn latin1_bytes(text: &str) -> Vec<u8> {
    if text.is_ascii() {
        return text.as_bytes().to_vec();
    }
    // A character above U+00FF was not read off the wire; it cannot be a header byte, and
    // DEL is one that `http` refuses too, so the pair is refused as malformed.
    text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(0x7f)).collect()
}

fn latin1_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}
