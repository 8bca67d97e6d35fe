//! Replays a scripted upstream through the life of one pooled connection of the gateway's own
//! exchange ([`super::exchange`]), without a socket, so that a fuzz target and property tests
//! can drive it with any byte stream the upstream might send.
//!
//! The script says which bytes the upstream sends after which request. Bytes sent after
//! request `k` have all arrived before request `k + 1` could be sent (the upstream paused), so
//! the invariant is exact: **no request is sent while bytes meant for an earlier one wait
//! unread, and no byte that arrived before a request was sent is read as part of its answer.**
//! The connection goes through the same calls the pool makes: [`Connection::exchange`], the
//! body, [`Connection::into_idle`] and [`IdleConnection::reuse`].
//!
//! (A byte that arrives after the gateway's last look and before its request reaches the
//! upstream cannot be told from an answer by any HTTP/1.1 client; hyper and nginx share that
//! limit, and the script cannot express it.)

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::exchange::{BodyDecoder, Connection, IdleConnection, RequestHead, Transport};

/// What the upstream does after one request: the bytes it sends, in the pieces it sends them,
/// and whether it then closes the connection.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// The pieces, each delivered by a read of its own.
    pub pieces: Vec<Vec<u8>>,
    /// The upstream closes after the last piece.
    pub close: bool,
}

/// The requests the gateway sends (`true` for HEAD, `false` for GET) and, for each, what the
/// upstream sends after it. Requests past the end of `replies` get silence.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// One entry per request.
    pub requests: Vec<bool>,
    /// `replies[k]` is sent after request `k`.
    pub replies: Vec<Reply>,
}

/// The answer one request got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its whole body.
    pub body: Vec<u8>,
}

/// How a replay ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The answers the requests got, in order, until the connection was given up (as the pool
    /// would: refused for reuse, failed, or timed out); later requests would go to another
    /// connection.
    pub answers: Vec<Answer>,
    /// A breach of the invariant, described; `None` when there was none.
    pub violation: Option<String>,
}

/// Runs `script`.
pub fn replay(script: &Script) -> Outcome {
    let state = Rc::new(RefCell::new(Wire::new(script)));
    let mut answers = Vec::new();
    let mut connection = Some(Connection::new(Scripted(Rc::clone(&state))));
    let mut idle: Option<IdleConnection<Scripted>> = None;
    for &for_head in &script.requests {
        let Some(mut current) = connection.take().or_else(|| idle.take().and_then(IdleConnection::reuse))
        else {
            break;
        };
        let Some((answer, keep_alive, body_done)) = exchange(&mut current, for_head) else { break };
        answers.push(answer);
        match current.into_idle(keep_alive, body_done) {
            Some(next) => idle = Some(next),
            None => break,
        }
    }
    let violation = state.borrow_mut().violation.take();
    Outcome { answers, violation }
}

/// One request and its whole answer on `connection`, or `None` where the pool would drop the
/// connection (an error, or an upstream that stops sending: a timeout).
fn exchange(connection: &mut Connection<Scripted>, for_head: bool) -> Option<(Answer, bool, bool)> {
    let method = if for_head { Method::HEAD } else { Method::GET };
    let request = Request::builder().method(method).uri("/").header("host", "upstream").body(()).ok()?;
    let head = RequestHead::new(&request);
    let mut cx = Context::from_waker(Waker::noop());
    let head = match pin!(connection.exchange(&head)).poll(&mut cx) {
        Poll::Ready(Ok(head)) => head,
        Poll::Ready(Err(_)) | Poll::Pending => return None,
    };
    let mut decoder = BodyDecoder::new(head.framing);
    let mut body = Vec::new();
    if let Some(whole) = connection.take_buffered_body(&mut decoder) {
        body.extend_from_slice(&whole);
    } else {
        loop {
            match connection.poll_body(&mut decoder, &mut cx) {
                Poll::Ready(Ok(Some(data))) => body.extend_from_slice(&data),
                Poll::Ready(Ok(None)) => break,
                Poll::Ready(Err(_)) | Poll::Pending => return None,
            }
        }
    }
    let answer = Answer { status: head.parts.status, body };
    Some((answer, head.keep_alive, decoder.is_done()))
}

/// The upstream's side of the connection as the script plays it.
struct Wire {
    /// Pieces not yet read, each with the request it answers.
    pending: VecDeque<(usize, Bytes)>,
    /// After which request the upstream closes, if it does.
    closes_after: Option<usize>,
    /// Requests written so far.
    written: usize,
    violation: Option<String>,
}

impl Wire {
    fn new(script: &Script) -> Wire {
        let mut pending = VecDeque::new();
        let mut closes_after = None;
        for (k, reply) in script.replies.iter().enumerate() {
            pending
                .extend(reply.pieces.iter().filter(|p| !p.is_empty()).map(|p| (k, Bytes::from(p.clone()))));
            if reply.close {
                closes_after = Some(k);
                break;
            }
        }
        Wire { pending, closes_after, written: 0, violation: None }
    }

    /// True when the upstream's next piece, or its closing, has arrived: it follows a request
    /// already written.
    fn readable(&self) -> bool {
        match self.pending.front() {
            Some((k, _)) => *k < self.written,
            None => self.closes_after.is_some_and(|k| k < self.written),
        }
    }

    fn breach(&mut self, what: String) {
        self.violation.get_or_insert(what);
    }
}

/// The connection's transport, reading from and writing to the shared [`Wire`].
struct Scripted(Rc<RefCell<Wire>>);

impl AsyncRead for Scripted {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut wire = self.0.borrow_mut();
        if !wire.readable() {
            // Nothing more comes until another request is sent: in the gateway, a wait that
            // ends with `upstream_timeout`.
            return Poll::Pending;
        }
        let written = wire.written;
        let Some((k, mut piece)) = wire.pending.pop_front() else {
            return Poll::Ready(Ok(())); // closed
        };
        if k + 1 < written {
            wire.breach(format!(
                "bytes sent after request {k} were read after request {} was sent",
                written - 1
            ));
        }
        let take = piece.len().min(buf.remaining());
        buf.put_slice(&piece.split_to(take));
        if !piece.is_empty() {
            wire.pending.push_front((k, piece));
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut wire = self.0.borrow_mut();
        if wire.readable() {
            let k = wire.written;
            wire.breach(format!("request {k} was sent on a connection with unread bytes from the upstream"));
        }
        // The exchange writes each request head with one `write_all`, taken whole here.
        wire.written += 1;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Transport for Scripted {
    fn is_quiet(&self) -> bool {
        !self.0.borrow().readable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(body: &str) -> Vec<u8> {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    fn reply(bytes: Vec<u8>) -> Reply {
        Reply { pieces: vec![bytes], close: false }
    }

    #[test]
    fn an_honest_upstream_answers_every_request_on_one_connection() {
        let script = Script {
            requests: vec![false, true, false],
            replies: vec![
                reply(ok("one")),
                reply(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
                reply(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nthr\r\n2\r\nee\r\n0\r\n\r\n"
                        .to_vec(),
                ),
            ],
        };
        let outcome = replay(&script);
        assert_eq!(outcome.violation, None);
        let bodies: Vec<&[u8]> = outcome.answers.iter().map(|a| &a.body[..]).collect();
        assert_eq!(bodies, [&b"one"[..], b"", b"three"]);
    }

    #[test]
    fn a_late_second_response_is_never_the_next_answer() {
        // After request 0 the upstream sends its answer and then, later, a second one.
        let script = Script {
            requests: vec![false, false],
            replies: vec![Reply { pieces: vec![ok("mine"), ok("poison")], close: false }, reply(ok("yours"))],
        };
        let outcome = replay(&script);
        assert_eq!(outcome.violation, None);
        assert_eq!(outcome.answers, [Answer { status: StatusCode::OK, body: b"mine".to_vec() }]);
    }

    #[test]
    fn the_harness_sees_a_pool_that_skips_the_idle_check() {
        // The same script, with the connection reused as it was before the idle check: the
        // poison is read as the second answer, and the replay says so.
        let script = Script {
            requests: vec![false, false],
            replies: vec![Reply { pieces: vec![ok("mine"), ok("poison")], close: false }, reply(ok("yours"))],
        };
        let state = Rc::new(RefCell::new(Wire::new(&script)));
        let mut connection = Connection::new(Scripted(Rc::clone(&state)));
        let (first, ..) = exchange(&mut connection, false).unwrap();
        let (second, ..) = exchange(&mut connection, false).unwrap();
        assert_eq!((first.body, second.body), (b"mine".to_vec(), b"poison".to_vec()));
        assert!(state.borrow().violation.is_some());
    }

    /// Responses an upstream may send, honest and not.
    fn response() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            "[a-z]{0,12}".prop_map(|b| ok(&b)),
            Just(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
            Just(b"HTTP/1.1 204 No Content\r\nContent-Length: 6\r\n\r\npoison".to_vec()),
            Just(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 6\r\n\r\n".to_vec()),
            Just(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec()),
            Just(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec()),
            Just(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec()),
            Just(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
            Just(b"junk\r\n".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..24),
        ]
    }

    /// One upstream turn: a few responses, split into pieces anywhere.
    fn turn() -> impl Strategy<Value = Reply> {
        (proptest::collection::vec(response(), 0..3), 1usize..9, proptest::bool::weighted(0.1)).prop_map(
            |(responses, step, close)| {
                let bytes = responses.concat();
                Reply { pieces: bytes.chunks(step).map(<[u8]>::to_vec).collect(), close }
            },
        )
    }

    proptest! {
        #[test]
        fn no_request_is_answered_with_bytes_meant_for_another(
            requests in proptest::collection::vec(any::<bool>(), 1..6),
            replies in proptest::collection::vec(turn(), 0..6),
        ) {
            let outcome = replay(&Script { requests, replies });
            prop_assert_eq!(outcome.violation, None);
        }

        #[test]
        fn an_honest_upstream_gets_every_answer_through(
            bodies in proptest::collection::vec("[a-z]{0,20}", 1..6),
            step in 1usize..40,
        ) {
            let replies = bodies
                .iter()
                .map(|b| Reply { pieces: ok(b).chunks(step).map(<[u8]>::to_vec).collect(), close: false })
                .collect();
            let outcome = replay(&Script { requests: vec![false; bodies.len()], replies });
            prop_assert_eq!(outcome.violation, None);
            let got: Vec<String> =
                outcome.answers.iter().map(|a| String::from_utf8_lossy(&a.body).into_owned()).collect();
            prop_assert_eq!(got, bodies);
        }
    }
}
