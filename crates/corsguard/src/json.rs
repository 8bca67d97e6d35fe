//! A decision as JSON: the object `corsguard explain --format json` prints (a contract), which
//! the demo page, the Node package and the Python package return too.

use serde_json::{json, Map, Value};

use http::{HeaderName, HeaderValue};

use crate::{Decision, OwnedDecision};

/// `{"kind","allowed","forwarded","status","reason","headers":{lowercase name: value}}`.
///
/// ```
/// use corsguard::Policy;
///
/// let policy = Policy::from_toml("[profiles.p]\norigins = [\"https://app.example.com\"]", None)?;
/// let request = http::Request::get("/").header("origin", "https://app.example.com").body(()).unwrap();
/// let json = corsguard::json::decision(&policy.decide(&request));
/// assert_eq!(json["reason"], "allowed");
/// assert_eq!(json["headers"]["access-control-allow-origin"], "https://app.example.com");
/// # Ok::<(), corsguard::Diagnostics>(())
/// ```
pub fn decision(decision: &Decision<'_>) -> Value {
    object(
        decision.kind().as_str(),
        decision.is_allowed(),
        decision.is_forwarded(),
        decision.status().map(|s| s.as_u16()),
        decision.reason().code(),
        decision.headers().iter(),
    )
}

/// The same object for an [`OwnedDecision`], as [`crate::Policy::decide_parts`] returns it (the
/// Node and Python packages' `decide`).
///
/// ```
/// use corsguard::Policy;
///
/// let policy = Policy::from_toml("[profiles.p]\norigins = [\"https://app.example.com\"]", None)?;
/// let decision = policy.decide_parts("DELETE", "/", [("origin", "https://evil.example")]).unwrap();
/// let json = corsguard::json::owned_decision(&decision);
/// assert_eq!((json["allowed"].as_bool(), json["status"].as_u64()), (Some(false), Some(403)));
/// # Ok::<(), corsguard::Diagnostics>(())
/// ```
pub fn owned_decision(decision: &OwnedDecision) -> Value {
    object(
        decision.kind().as_str(),
        decision.is_allowed(),
        decision.is_forwarded(),
        decision.status().map(|s| s.as_u16()),
        decision.reason().code(),
        decision.headers().iter(),
    )
}

fn object<'h>(
    kind: &str,
    allowed: bool,
    forwarded: bool,
    status: Option<u16>,
    reason: &str,
    headers: impl Iterator<Item = (HeaderName, &'h HeaderValue)>,
) -> Value {
    let headers: Map<String, Value> = headers
        .map(|(name, value)| {
            (name.as_str().to_owned(), Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()))
        })
        .collect();
    json!({
        "kind": kind,
        "allowed": allowed,
        "forwarded": forwarded,
        "status": status,
        "reason": reason,
        "headers": headers,
    })
}
