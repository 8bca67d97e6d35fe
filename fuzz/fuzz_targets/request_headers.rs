//! The budgeted Access-Control-Request-Headers parser, through a full preflight decision: no
//! panic, and nothing over the budget is ever judged name by name.
#![no_main]

use std::sync::OnceLock;

use corsguard::limits::{MAX_REQUEST_HEADERS_LEN, MAX_REQUEST_HEADER_NAMES};
use corsguard::{Policy, Reason};
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::builder()
            .origins(["https://app.example.com"])
            .allow_headers(["Content-Type", "X-Custom"])
            .build()
            .expect("fuzz policy is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = http::HeaderValue::from_bytes(data) else { return };
    let mut req = http::Request::options("/").body(()).expect("static request");
    req.headers_mut().insert("origin", http::HeaderValue::from_static("https://app.example.com"));
    req.headers_mut().insert("access-control-request-method", http::HeaderValue::from_static("GET"));
    req.headers_mut().insert("access-control-request-headers", value);
    let decision = policy().decide(&req);
    if !matches!(decision.reason(), Reason::RequestHeadersMalformed | Reason::RequestHeadersTooLarge) {
        // Whatever got past the parser is within its budget.
        let names = data.split(|&b| b == b',').filter(|n| !n.trim_ascii().is_empty()).count();
        assert!(data.len() <= MAX_REQUEST_HEADERS_LEN);
        assert!(names <= MAX_REQUEST_HEADER_NAMES);
    }
});
