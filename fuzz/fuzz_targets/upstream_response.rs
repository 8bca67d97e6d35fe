//! The gateway's reading of an upstream response: head parsing and body framing, with the
//! bytes split into reads at a place the input chooses.
#![no_main]

use bytes::BytesMut;
use corsguard_gateway::exchange::{BodyDecoder, Decoded, HeadParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, wire)) = data.split_first() else { return };
    let split = (split as usize).min(wire.len());
    let for_head = split % 2 == 1;
    let mut parser = HeadParser::default();
    let mut buffer = BytesMut::from(&wire[..split]);
    let mut rest = &wire[split..];
    let head = loop {
        match parser.parse(&mut buffer, for_head) {
            Ok(Some(head)) => break head,
            Ok(None) if !rest.is_empty() => {
                buffer.extend_from_slice(rest);
                rest = &[];
            }
            Ok(None) | Err(_) => return,
        }
    };
    assert!(buffer.len() <= wire.len());
    buffer.extend_from_slice(rest);
    let mut decoder = BodyDecoder::new(head.framing);
    let mut body = 0usize;
    loop {
        match decoder.decode(&mut buffer) {
            Ok(Decoded::Data(data)) => {
                assert!(!data.is_empty());
                body += data.len();
            }
            Ok(Decoded::End) => break,
            Ok(Decoded::NeedMore) => {
                if decoder.end_of_input().is_err() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    assert!(body <= wire.len());
});
