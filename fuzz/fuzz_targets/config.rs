//! The policy-file loader and linter, and the gateway's reading of `[gateway]`, on arbitrary
//! text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let diags = corsguard::check_toml(text, None);
    for d in diags.iter().chain(&corsguard_gateway::settings::Settings::check(text)) {
        assert!(!d.message.is_empty() && !d.help.is_empty());
    }
    if let Ok(policy) = corsguard::Policy::from_toml(text, None) {
        let req =
            http::Request::get("/").header("origin", "https://app.example.com").body(()).expect("static");
        let _ = policy.decide(&req);
    }
});
