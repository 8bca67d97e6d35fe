//! One upstream response read by both upstream clients ([`UpstreamClient`]), for the tests and
//! the `framing` fuzz target that hold them to the same framing.
//!
//! Where two HTTP/1.1 parsers in one proxy disagree on where a response ends, the bytes one
//! of them leaves over are read as the answer to the next client's request (response
//! desynchronisation). The direct exchange must therefore end every body exactly where hyper's
//! client ends it, or refuse the response where hyper refuses it. Both readers here are the
//! gateway's own code paths without sockets: the direct one is [`HeadParser`] and
//! [`BodyDecoder`], the hyper one is hyper's client connection with the gateway's settings,
//! and each judges a switch of protocols as the gateway does (refused: nobody asked for one).
//!
//! [`UpstreamClient`]: crate::proxy::UpstreamClient

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::exchange::{BodyDecoder, Decoded, HeadParser};

/// What a client made of the bytes: the response it read, or `None` when it refused them
/// before a response (a malformed or incomplete head).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Framed {
    /// The final status (interim responses skipped).
    pub status: u16,
    /// The body as the client delivered it, without chunk framing or trailers.
    pub body: Vec<u8>,
    /// True when the body ended as its framing says; false when it failed part way (cut
    /// short or malformed), after the bytes in `body`.
    pub complete: bool,
}

/// The upstream's bytes, then the end of the connection, read by the direct exchange.
/// `for_head` says the request was `HEAD`.
pub fn direct(wire: &[u8], for_head: bool) -> Option<Framed> {
    let mut buffer = BytesMut::from(wire);
    let head = HeadParser::default().parse(&mut buffer, for_head).ok()??;
    let mut decoder = BodyDecoder::new(head.framing);
    let mut body = Vec::new();
    let complete = loop {
        match decoder.decode(&mut buffer) {
            Ok(Decoded::Data(data)) => body.extend_from_slice(&data),
            Ok(Decoded::End) => break true,
            // Everything has been read: the connection's end decides.
            Ok(Decoded::NeedMore) => break decoder.end_of_input().is_ok(),
            Err(_) => break false,
        }
    };
    Some(Framed { status: head.parts.status.as_u16(), body, complete })
}

/// The same bytes read by hyper's client, configured as the gateway configures it.
pub fn hyper(wire: &[u8], for_head: bool) -> Option<Framed> {
    let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
    runtime.block_on(async {
        let io = TokioIo::new(Wire { input: Bytes::copy_from_slice(wire), written: false, reader: None });
        let (mut send, connection) =
            crate::pool::client_builder().handshake::<_, Empty<Bytes>>(io).await.ok()?;
        let method = if for_head { Method::HEAD } else { Method::GET };
        let request =
            Request::builder().method(method).uri("/").header("host", "upstream").body(Empty::new()).ok()?;
        let exchange = async move {
            let response = send.send_request(request).await.ok()?;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                return None;
            }
            let status = response.status().as_u16();
            let mut incoming = response.into_body();
            let mut body = Vec::new();
            let complete = loop {
                match incoming.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            body.extend_from_slice(&data);
                        }
                    }
                    Some(Err(_)) => break false,
                    None => break true,
                }
            };
            Some(Framed { status, body, complete })
        };
        let (framed, _) = tokio::join!(exchange, connection);
        framed
    })
}

/// A connection that answers with fixed bytes once the request has been written, then
/// closes.
struct Wire {
    input: Bytes,
    written: bool,
    reader: Option<Waker>,
}

impl AsyncRead for Wire {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // An upstream answers a request; bytes before it would be a different case (an idle
        // connection that spoke), which the pool's idle check covers.
        if !self.written {
            self.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let take = self.input.len().min(buf.remaining());
        let chunk = self.input.split_to(take);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Wire {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        self.written = true;
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::{direct, hyper, Framed};

    /// Responses that delimit their bodies in every way HTTP/1.1 allows, and in the ways
    /// desynchronisation attacks use.
    const CASES: &[&str] = &[
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nuntil the end",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nuntil the end",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\nuntil the end",
        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nokextra",
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
        "HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 999 Odd\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 2000 Odd\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "garbage\r\n\r\n",
        "",
    ];

    #[test]
    fn both_clients_frame_every_case_alike() {
        for case in CASES {
            for for_head in [false, true] {
                let (direct, hyper) = (direct(case.as_bytes(), for_head), hyper(case.as_bytes(), for_head));
                assert_eq!(direct, hyper, "HEAD: {for_head}, response: {case:?}");
            }
        }
    }

    #[test]
    fn a_body_is_framed_by_its_length_not_by_what_follows() {
        let framed = direct(CASES[1].as_bytes(), false);
        assert_eq!(framed, Some(Framed { status: 200, body: b"hello".to_vec(), complete: true }));
    }

    proptest::proptest! {
        /// Random framing headers, bodies and chunk layouts: wherever one client reads a
        /// response, the other reads the same.
        #[test]
        fn random_framings_are_read_alike(
            version in proptest::sample::select(vec!["HTTP/1.1", "HTTP/1.0"]),
            status in proptest::sample::select(vec![200u16, 204, 304, 404, 100]),
            length in proptest::option::of(proptest::sample::select(vec!["0", "3", "5", "5, 5", "5, 3", " 7 ", "x"])),
            encoding in proptest::option::of(proptest::sample::select(vec!["chunked", "gzip", "gzip, chunked", "chunked, gzip", "CHUNKED", "identity"])),
            connection in proptest::option::of(proptest::sample::select(vec!["close", "keep-alive"])),
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..9), 0..4),
            chunked_body in proptest::bool::ANY,
            tail in proptest::sample::select(vec!["", "\r\n", "0\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n", "junk"]),
            for_head in proptest::bool::ANY,
        ) {
            let mut wire = format!("{version} {status} X\r\n");
            if let Some(length) = length {
                wire.push_str(&format!("Content-Length: {length}\r\n"));
            }
            if let Some(encoding) = encoding {
                wire.push_str(&format!("Transfer-Encoding: {encoding}\r\n"));
            }
            if let Some(connection) = connection {
                wire.push_str(&format!("Connection: {connection}\r\n"));
            }
            let mut wire = format!("{wire}\r\n").into_bytes();
            for chunk in &chunks {
                if chunked_body {
                    wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    wire.extend_from_slice(chunk);
                    wire.extend_from_slice(b"\r\n");
                } else {
                    wire.extend_from_slice(chunk);
                }
            }
            wire.extend_from_slice(tail.as_bytes());
            proptest::prop_assert_eq!(direct(&wire, for_head), hyper(&wire, for_head), "{:?}", String::from_utf8_lossy(&wire));
        }
    }
}
