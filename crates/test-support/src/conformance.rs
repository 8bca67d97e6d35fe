//! The conformance table, `data/conformance.toml`: named policy files, and cases that each send
//! one request under one of them and say exactly what must come of it.
//!
//! One place to add a case; every adapter's test runs the whole table (`decide` and the tower
//! layer in `crates/corsguard/tests/conformance.rs`, the gateway in
//! `crates/corsguard-cli/tests/gateway_conformance.rs`, the Node package in
//! `bindings/node/test/conformance.test.js`).

use std::collections::BTreeMap;

use http::HeaderMap;
use serde::Deserialize;

/// The whole table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Policy files by name, as a user would write them.
    pub policies: BTreeMap<String, String>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// One request and what must come of it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows, for failure messages.
    pub name: String,
    /// The name of the policy it runs under.
    pub policy: String,
    /// The request method, as sent (case matters).
    pub method: String,
    /// The request path.
    pub path: String,
    /// The request headers, in order, repeated names included.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// `preflight`, `actual` or `not_cors`.
    pub kind: String,
    /// Whether the request gets what it asked for.
    pub allowed: bool,
    /// Whether it reaches the application.
    pub forwarded: bool,
    /// The status corsguard answers with itself, when it does not forward.
    pub status: Option<u16>,
    /// The reason code.
    pub reason: String,
    /// Exactly the CORS and `Vary` headers corsguard puts on the response, lowercase names,
    /// in corsguard's order.
    #[serde(default)]
    pub expect: Vec<(String, String)>,
}

/// The table, parsed; a broken data file fails the test that loads it, with the parser's
/// message.
pub fn table() -> Table {
    toml::from_str(include_str!("../data/conformance.toml"))
        .unwrap_or_else(|e| panic!("data/conformance.toml: {e}"))
}

impl Table {
    /// The policy-file text of `case`.
    pub fn policy_of(&self, case: &Case) -> &str {
        self.policies
            .get(&case.policy)
            .unwrap_or_else(|| panic!("{}: no policy `{}`", case.name, case.policy))
    }
}

impl Case {
    /// The first value of the request header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The headers of a response that a case's `expect` lists: the CORS headers, `Vary` and
/// `corsguard-reason`, in order, as the table writes them.
pub fn cors_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            name.starts_with("access-control-") || name == "vary" || name == "corsguard-reason"
        })
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}
