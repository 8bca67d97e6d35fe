//! Decisions and diagnostics as JSON: the objects `corsguard explain --format json` and
//! `corsguard check --format json` print (contracts), which the demo page and the Node and
//! Python packages return too.

use serde_json::{json, Map, Value};

use http::{HeaderName, HeaderValue};

use crate::{Decision, Diagnostic, Diagnostics, OwnedDecision};

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

/// `{"code","severity","message","profile","line","column","help"}`: one entry of `corsguard
/// check --format json`'s `diagnostics` (a contract).
pub fn diagnostic(d: &Diagnostic) -> Value {
    json!({
        "code": d.code.as_str(),
        "severity": d.severity.as_str(),
        "message": d.message,
        "profile": d.profile,
        "line": d.location.map(|l| l.0),
        "column": d.location.map(|l| l.1),
        "help": d.help,
    })
}

/// `{"diagnostics":[...],"errors":N,"warnings":N}`, what `corsguard check --format json` prints.
///
/// ```
/// let diags = corsguard::Policy::from_toml("[profiles.p]\norigins = [\"null\"]", None).unwrap_err();
/// let json = corsguard::json::diagnostics(&diags);
/// assert_eq!(json["diagnostics"][0]["code"], "null-origin");
/// assert_eq!((json["errors"].as_u64(), json["diagnostics"][0]["line"].as_u64()), (Some(1), Some(2)));
/// ```
pub fn diagnostics(diags: &Diagnostics) -> Value {
    let items: Vec<Value> = diags.iter().map(diagnostic).collect();
    json!({ "diagnostics": items, "errors": diags.errors(), "warnings": diags.warnings() })
}
