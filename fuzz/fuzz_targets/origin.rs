//! The Origin parser and the full decision, on arbitrary Origin bytes.
#![no_main]

use std::sync::OnceLock;

use corsguard::Origin;
use corsguard::Policy;
use libfuzzer_sys::fuzz_target;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::builder()
            .origins(["https://app.example.com", "https://*.example.org", "http://localhost:*"])
            .credentials(true)
            .build()
            .expect("fuzz policy is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(origin) = Origin::parse(data) {
        assert_eq!(origin.as_str().as_bytes(), data);
    }
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let mut req = http::Request::new(());
        req.headers_mut().insert("origin", value);
        let decision = policy().decide(&req);
        if let Some(acao) = decision.headers().allow_origin() {
            assert_eq!(acao.as_bytes(), data);
        }
    }
});
