//! A decision as the JSON that `corsguard explain --format json` prints (a contract) and the
//! demo page reads.

use corsguard::Decision;
use serde_json::{json, Map, Value};

/// `{"kind","allowed","forwarded","status","reason","headers":{lowercase name: value}}`.
pub fn to_json(decision: &Decision<'_>) -> Value {
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
