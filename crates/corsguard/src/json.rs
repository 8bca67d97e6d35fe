//! A decision as JSON: the object `corsguard explain --format json` prints (a contract), which
//! the demo page, the Node package and the Python package return too.

use serde_json::{json, Map, Value};

use crate::Decision;

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
    let headers: Map<String, Value> = decision
        .headers()
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_owned(), Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()))
        })
        .collect();
    json!({
        "kind": decision.kind().as_str(),
        "allowed": decision.is_allowed(),
        "forwarded": decision.is_forwarded(),
        "status": decision.status().map(|s| s.as_u16()),
        "reason": decision.reason().code(),
        "headers": headers,
    })
}
