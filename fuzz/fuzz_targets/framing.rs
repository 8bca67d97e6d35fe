//! The same upstream bytes through both upstream clients (`upstream_client = "direct"` and
//! `"hyper"`): they must read the same response and end its body at the same byte, or both
//! refuse it (`corsguard_gateway::framing`).
#![no_main]

use corsguard_gateway::framing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, wire)) = data.split_first() else { return };
    let for_head = flags & 1 == 1;
    assert_eq!(
        framing::direct(wire, for_head),
        framing::hyper(wire, for_head),
        "HEAD: {for_head}, response: {:?}",
        String::from_utf8_lossy(wire)
    );
});
