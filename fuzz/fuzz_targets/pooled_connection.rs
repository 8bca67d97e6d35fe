//! One pooled upstream connection of the gateway's own exchange, driven by an upstream byte
//! stream with pauses: several requests over the connection, as the pool makes them, with the
//! invariant that no request is ever answered with bytes meant for another
//! (`corsguard_gateway::replay`).
//!
//! Input: one byte of request kinds (bit k set: request k is HEAD; the low 3 bits of the
//! count byte give up to 8 requests), then turns, each `[len][flags]` followed by `len` bytes
//! that the upstream sends after that request; `flags` bits 0-3 split the bytes into reads of
//! that size (0: whole), bit 7 closes the connection after them.
#![no_main]

use corsguard_gateway::replay::{replay, Reply, Script};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [kinds, count, rest @ ..] = data else { return };
    let requests = (0..=(count & 7)).map(|k| kinds & (1 << k) != 0).collect();
    let mut replies = Vec::new();
    let mut rest = rest;
    while let [len, flags, tail @ ..] = rest {
        let len = (*len as usize).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        let step = match flags & 0x0f {
            0 => bytes.len().max(1),
            step => step as usize,
        };
        let pieces = bytes.chunks(step).map(<[u8]>::to_vec).collect();
        replies.push(Reply { pieces, close: flags & 0x80 != 0 });
        rest = next;
    }
    let outcome = replay(&Script { requests, replies });
    if let Some(violation) = outcome.violation {
        panic!("{violation}");
    }
});
