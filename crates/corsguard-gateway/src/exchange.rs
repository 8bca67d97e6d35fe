//! The upstream exchange of the common proxied request, one without a body: its head is
//! written on a pooled keep-alive connection and the response is read back in the request's
//! own task. The response head is parsed by `httparse`, the parser hyper itself uses; this
//! module adds only HTTP/1.1 message framing (RFC 9112 §6), kept apart from the I/O so it can
//! be tested and fuzzed on bytes alone ([`HeadParser`], [`BodyDecoder`]).
//!
//! Why not hyper's client for these too: hyper drives each connection from a task of its own,
//! and every request crosses to that task and back through channels, its response body through
//! another. For a proxied GET that machinery costs about 8.5k instructions, nearly a quarter
//! of what the gateway spends on the request (BENCHMARKS.md, `upstream_client = "hyper"`).
//! Requests with a body, protocol upgrades and `https://` upstreams still go through hyper's
//! client, which streams a request body while the response may already be arriving.

use std::future::{poll_fn, Future};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::pin::pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING, UPGRADE};
use http::response::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::forward;

/// Most headers a response may have (hyper's default limit too).
pub const MAX_HEADERS: usize = 100;
/// Largest response head (status line and headers) that is read.
pub const MAX_HEAD_LEN: usize = 64 * 1024;
/// Largest chunk-size line, with its extensions, and largest trailer section.
const MAX_CHUNK_LINE_LEN: usize = 4 * 1024;
const MAX_TRAILERS_LEN: usize = 16 * 1024;
/// Room made in the buffer before each read.
const READ_SIZE: usize = 8 * 1024;

/// True for a request this module can carry: no body to stream (nothing after the head), a
/// method whose meaning does not depend on one, and no protocol upgrade (`Upgrade`) to hand
/// over. Anything else goes through hyper's client.
pub fn is_bodiless<B: hyper::body::Body>(request: &Request<B>) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE)
        && request.body().is_end_stream()
        && !request.headers().contains_key(UPGRADE)
}

/// A bodiless request ready to be sent: its head in HTTP/1.1 form.
///
/// It is written as soon as the request is decided, so the request itself can go before the
/// exchange starts: its headers share the client connection's receive buffer, and hyper, when
/// it reads again while that buffer is still shared, allocates a fresh one (8 KiB) instead of
/// reusing it.
#[derive(Debug)]
pub struct RequestHead {
    bytes: Vec<u8>,
    for_head: bool,
}

impl RequestHead {
    /// Writes `request`'s head.
    pub fn new<B>(request: &Request<B>) -> RequestHead {
        let size = request.method().as_str().len()
            + request.uri().path_and_query().map_or(1, |target| target.as_str().len())
            + request
                .headers()
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 4)
                .sum::<usize>()
            + " HTTP/1.1\r\n\r\n".len()
            + 1;
        let mut bytes = Vec::with_capacity(size);
        write_head(request, &mut bytes);
        RequestHead { bytes, for_head: request.method() == Method::HEAD }
    }

    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Writes the request's head in HTTP/1.1 form: origin-form target, then its headers as they
/// are (a `HeaderValue` cannot hold CR or LF, so nothing can be smuggled into the head).
fn write_head<B>(request: &Request<B>, out: &mut Vec<u8>) {
    out.extend_from_slice(request.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(request.uri().path_and_query().map_or("/", |target| target.as_str()).as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in request.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body: a response to HEAD, a 204 or a 304.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the upstream closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug)]
pub struct Head {
    /// Status, version and headers, as the upstream sent them.
    pub parts: Parts,
    /// How the body that follows is delimited.
    pub framing: Framing,
    /// Whether the connection can carry another request once the body has been read.
    pub keep_alive: bool,
}

/// Parses response heads; it keeps the scratch space parsing needs between responses.
#[derive(Debug, Default)]
pub struct HeadParser {
    /// Where each header's name and value lie in the head, so that the values can share the
    /// head's bytes instead of being copied one by one.
    spans: Vec<[usize; 4]>,
}

impl HeadParser {
    /// Parses the response head at the start of `buffer`, skipping interim (1xx) responses.
    /// `Ok(None)` means more bytes are needed; on success the head's bytes are taken from
    /// `buffer`, which then starts with the body. `for_head` says the request was HEAD.
    pub fn parse(&mut self, buffer: &mut BytesMut, for_head: bool) -> io::Result<Option<Head>> {
        loop {
            self.spans.clear();
            let (len, code, version) = {
                // Uninitialised: a hundred empty headers would be written on every response.
                let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
                let mut response = httparse::Response::new(&mut []);
                let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                    &mut response,
                    buffer,
                    &mut headers,
                );
                let len = match parsed {
                    Ok(httparse::Status::Complete(len)) => len,
                    Ok(httparse::Status::Partial) if buffer.len() < MAX_HEAD_LEN => return Ok(None),
                    Ok(httparse::Status::Partial) => {
                        return Err(invalid("the upstream's response head is too large"))
                    }
                    Err(e) => return Err(invalid(format!("malformed response from the upstream: {e}"))),
                };
                let base = buffer.as_ptr() as usize;
                self.spans.extend(response.headers.iter().map(|header| {
                    let name = header.name.as_ptr() as usize - base;
                    let value = header.value.as_ptr() as usize - base;
                    [name, name + header.name.len(), value, value + header.value.len()]
                }));
                (len, response.code.unwrap_or(0), response.version.unwrap_or(1))
            };
            if len > MAX_HEAD_LEN {
                return Err(invalid("the upstream's response head is too large"));
            }
            let status =
                StatusCode::from_u16(code).map_err(|_| invalid("invalid status code from the upstream"))?;
            let head = buffer.split_to(len).freeze();
            if status.is_informational() {
                // `100 Continue` and `103 Early Hints` precede the real response; a `101`
                // answers an upgrade, which never comes this way.
                if status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(invalid("the upstream switched protocols without being asked to"));
                }
                continue;
            }
            // Room for the CORS headers the gateway adds, so that adding them does not grow
            // the map.
            let mut headers = HeaderMap::with_capacity(self.spans.len() + 6);
            let mut framing = FramingHeaders::default();
            for &[name_start, name_end, value_start, value_end] in &self.spans {
                let name = HeaderName::from_bytes(&head[name_start..name_end])
                    .map_err(|_| invalid("invalid header name from the upstream"))?;
                let value = HeaderValue::from_maybe_shared(head.slice(value_start..value_end))
                    .map_err(|_| invalid("invalid header value from the upstream"))?;
                framing.note(&name, &value);
                headers.append(name, value);
            }
            let version = if version == 0 { Version::HTTP_10 } else { Version::HTTP_11 };
            let (framing, keep_alive) = framing.decide(for_head, status, version)?;
            let mut parts = Response::new(()).into_parts().0;
            parts.status = status;
            parts.version = version;
            parts.headers = headers;
            return Ok(Some(Head { parts, framing, keep_alive }));
        }
    }
}

/// What the headers that delimit a body said, noted while the headers are read.
#[derive(Default)]
struct FramingHeaders {
    /// Whether there was a `Transfer-Encoding`, and whether its last coding was `chunked`.
    transfer_encoding: Option<bool>,
    content_length: Option<u64>,
    /// A `Content-Length` that is not one number (or a list of equal ones).
    bad_length: bool,
    close: bool,
}

impl FramingHeaders {
    fn note(&mut self, name: &HeaderName, value: &HeaderValue) {
        if *name == TRANSFER_ENCODING {
            let last = value.to_str().ok().and_then(|v| v.rsplit(',').next());
            self.transfer_encoding =
                Some(last.is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked")));
        } else if *name == CONTENT_LENGTH {
            // `Content-Length: 5, 5` (a list of equal values) is accepted, as RFC 9110 §8.6
            // allows; differing values are an error.
            let Ok(text) = value.to_str() else {
                self.bad_length = true;
                return;
            };
            for item in text.split(',').map(str::trim) {
                let parsed =
                    item.bytes().all(|b| b.is_ascii_digit()).then(|| item.parse::<u64>().ok()).flatten();
                match parsed {
                    Some(parsed) if self.content_length.is_none_or(|known| known == parsed) => {
                        self.content_length = Some(parsed)
                    }
                    _ => self.bad_length = true,
                }
            }
        } else if *name == CONNECTION {
            self.close |= forward::list_elements(value).any(|token| token.eq_ignore_ascii_case("close"));
        }
    }

    /// The body's framing (RFC 9112 §6.3), and whether the connection may carry another
    /// request after it.
    fn decide(&self, for_head: bool, status: StatusCode, version: Version) -> io::Result<(Framing, bool)> {
        if version == Version::HTTP_10 && self.transfer_encoding.is_some() && !has_no_body(for_head, status) {
            // RFC 9112 §6.1: the framing of such a message is faulty; hyper's client refuses
            // it, and so does this one.
            return Err(invalid("Transfer-Encoding in an HTTP/1.0 response from the upstream"));
        }
        if self.bad_length {
            // A length that frames nothing: the response has no body, or chunked framing
            // wins (hyper's client reads both so too). The connection is not trusted again.
            if has_no_body(for_head, status) || self.transfer_encoding.is_some() {
                let framing = if has_no_body(for_head, status) {
                    Framing::Empty
                } else if self.transfer_encoding == Some(true) {
                    Framing::Chunked
                } else {
                    Framing::UntilClose
                };
                return Ok((framing, false));
            }
            return Err(bad_length());
        }
        Ok(self.decide_valid(for_head, status, version))
    }

    fn decide_valid(&self, for_head: bool, status: StatusCode, version: Version) -> (Framing, bool) {
        // HTTP/1.0 keep-alive is an opt-in extension; closing is always correct.
        let persistent = version == Version::HTTP_11
            && !self.close
            && !announces_unsendable_body(
                for_head,
                status,
                self.transfer_encoding.is_some(),
                self.content_length.is_some_and(|length| length > 0),
            );
        if has_no_body(for_head, status) {
            return (Framing::Empty, persistent);
        }
        match (self.transfer_encoding, self.content_length) {
            // With a `Content-Length` too, the message may be an attempt at response
            // splitting: the length is ignored (and removed before the response goes on)
            // and the connection not reused.
            (Some(true), length) => (Framing::Chunked, persistent && length.is_none()),
            (Some(false), _) => (Framing::UntilClose, false),
            (None, Some(length)) => (Framing::Length(length), persistent),
            (None, None) => (Framing::UntilClose, false),
        }
    }
}

/// True for a response that has no body whatever its headers say: one to HEAD, a 204 or a
/// 304 (RFC 9112 §6.3, rules 1 and 2).
pub fn has_no_body(for_head: bool, status: StatusCode) -> bool {
    for_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
}

/// True when a response that cannot have a body announces one (`Content-Length` above zero or
/// any `Transfer-Encoding`): a backend that answers HEAD as it answers GET (a common bug), or
/// writes a body after a 204 or a 304, sends those bytes after the head, and on a reused
/// connection they would be read as the answer to the next client's request. Such a
/// connection is closed after the response, on both upstream paths, however soon the bytes
/// come; a correct HEAD response that states its length only costs a new connection.
pub fn announces_unsendable_body(
    for_head: bool,
    status: StatusCode,
    transfer_encoding: bool,
    nonzero_length: bool,
) -> bool {
    has_no_body(for_head, status) && (transfer_encoding || nonzero_length)
}

/// The same judgement as the exchange's own parser, for a response head that hyper's client
/// read: true when the connection must not carry another request after it, because the
/// framing is one a well-behaved upstream never sends (a body announced where none can be,
/// or both `Transfer-Encoding` and `Content-Length`).
pub fn untrusted_framing(for_head: bool, status: StatusCode, headers: &HeaderMap) -> bool {
    let transfer_encoding = headers.contains_key(TRANSFER_ENCODING);
    let content_length = headers.get(CONTENT_LENGTH);
    let nonzero_length = content_length.is_some_and(|length| length.as_bytes().trim_ascii() != b"0");
    (transfer_encoding && content_length.is_some())
        || announces_unsendable_body(for_head, status, transfer_encoding, nonzero_length)
}

fn bad_length() -> io::Error {
    invalid("invalid Content-Length from the upstream")
}

fn invalid(message: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// What [`BodyDecoder::decode`] found in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Body bytes.
    Data(Bytes),
    /// Nothing more until more bytes are read.
    NeedMore,
    /// The body is complete; the buffer starts after it.
    End,
}

/// Takes a response body out of the bytes read from the connection, without doing any I/O.
#[derive(Debug)]
pub struct BodyDecoder {
    state: State,
}

#[derive(Debug)]
enum State {
    Length(u64),
    UntilClose,
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers(usize),
    Done,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> BodyDecoder {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(length) => State::Length(length),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder { state }
    }

    /// True once the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Bytes of body left, when the framing says.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(left) => Some(left),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// Takes the next piece of body from `buffer`.
    pub fn decode(&mut self, buffer: &mut BytesMut) -> io::Result<Decoded> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::End),
                State::Length(left) | State::ChunkData(left) => {
                    if buffer.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buffer.len());
                    let left = left - take as u64;
                    self.state = match (&self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::ChunkEnd,
                        (_, _) => State::ChunkData(left),
                    };
                    return Ok(Decoded::Data(buffer.split_to(take).freeze()));
                }
                State::UntilClose if buffer.is_empty() => return Ok(Decoded::NeedMore),
                State::UntilClose => return Ok(Decoded::Data(buffer.split().freeze())),
                State::ChunkSize => match httparse::parse_chunk_size(buffer) {
                    Ok(httparse::Status::Complete((used, 0))) => {
                        buffer.advance(used);
                        self.state = State::Trailers(0);
                    }
                    Ok(httparse::Status::Complete((used, size))) => {
                        buffer.advance(used);
                        self.state = State::ChunkData(size);
                    }
                    Ok(httparse::Status::Partial) if buffer.len() < MAX_CHUNK_LINE_LEN => {
                        return Ok(Decoded::NeedMore)
                    }
                    _ => return Err(invalid("malformed chunk size from the upstream")),
                },
                State::ChunkEnd => match buffer.get(..2) {
                    None if buffer.first().is_none_or(|b| *b == b'\r') => return Ok(Decoded::NeedMore),
                    Some(b"\r\n") => {
                        buffer.advance(2);
                        self.state = State::ChunkSize;
                    }
                    _ => return Err(invalid("a chunk from the upstream is longer than its size")),
                },
                // Trailer fields are read past, not forwarded: few clients ask for them.
                State::Trailers(seen) => match buffer.windows(2).position(|pair| pair == b"\r\n") {
                    Some(0) => {
                        buffer.advance(2);
                        self.state = State::Done;
                    }
                    Some(line) if seen + line + 2 <= MAX_TRAILERS_LEN => {
                        buffer.advance(line + 2);
                        self.state = State::Trailers(seen + line + 2);
                    }
                    None if seen + buffer.len() < MAX_TRAILERS_LEN => return Ok(Decoded::NeedMore),
                    _ => return Err(invalid("the upstream's trailer section is too large")),
                },
            }
        }
    }

    /// The connection ended: the end of a body delimited by closing, an error for any other.
    pub fn end_of_input(&mut self) -> io::Result<()> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the upstream closed the connection mid-body",
            )),
        }
    }
}

/// What a pooled connection needs of its byte stream: reads, writes, and a look at whether
/// the peer sent anything while no request was on it.
pub trait Transport: AsyncRead + AsyncWrite + Unpin {
    /// True when nothing can be read: no byte has arrived and the peer has not closed. It asks
    /// the kernel (a non-blocking peek), not the runtime's last readiness event, which may be
    /// older than bytes that have already arrived.
    fn is_quiet(&self) -> bool;
}

impl Transport for TcpStream {
    fn is_quiet(&self) -> bool {
        socket_is_quiet(self)
    }
}

/// True when nothing can be read from a non-blocking socket, asked of the kernel with a peek
/// that consumes nothing.
pub fn socket_is_quiet(socket: &impl AsFd) -> bool {
    let mut byte = [MaybeUninit::uninit()];
    // `WouldBlock` is the only answer that means "idle": a byte, the end of the stream (0)
    // and every error make the connection unusable.
    matches!(socket2::SockRef::from(socket).peek(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// A plain keep-alive connection to the upstream, with the bytes read from it but not yet
/// used.
///
/// Its life follows hyper's and nginx's rule for pooled connections: after a response it is
/// kept only if nothing is left unread ([`Connection::into_idle`]), and an idle connection
/// that turned readable or was closed is never used again ([`IdleConnection::reuse`]).
#[derive(Debug)]
pub struct Connection<S = TcpStream> {
    stream: S,
    read: BytesMut,
    parser: HeadParser,
}

/// A connection between two exchanges: nothing can be sent on it until [`IdleConnection::reuse`]
/// has checked that the upstream stayed silent.
#[derive(Debug)]
pub struct IdleConnection<S = TcpStream>(Connection<S>);

impl<S: Transport> IdleConnection<S> {
    /// The connection, ready for the next request, unless the upstream sent something (a late
    /// response, a body it should not have sent, a `408` before closing, junk) or closed it
    /// while it sat idle. Bytes nobody asked for would otherwise be read as the next client's
    /// answer, and every answer after it would shift by one.
    pub fn reuse(self) -> Option<Connection<S>> {
        (self.0.read.is_empty() && self.0.stream.is_quiet()).then_some(self.0)
    }
}

/// Why an exchange failed, and whether the request may simply be sent again.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: io::Error,
    /// The connection ended before any byte of a response: a keep-alive connection the
    /// upstream closed while it sat idle. A bodiless request is then sent again (its methods
    /// are idempotent, RFC 9110 §9.2.2).
    pub nothing_received: bool,
}

impl<S: Transport> Connection<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S) -> Connection<S> {
        Connection { stream, read: BytesMut::new(), parser: HeadParser::default() }
    }

    /// After a response: the connection, idle, if it may carry another request. That takes
    /// an upstream that allows it (`keep_alive`, which [`HeadParser`] refuses for any framing
    /// it does not trust), a body read to its end (`body_done`), and no byte read past the
    /// response (an upstream that sent more than its answer is not trusted with the next).
    pub fn into_idle(self, keep_alive: bool, body_done: bool) -> Option<IdleConnection<S>> {
        (keep_alive && body_done && self.read.is_empty()).then_some(IdleConnection(self))
    }

    /// Writes the request's head and reads the response's.
    pub async fn exchange(&mut self, request: &RequestHead) -> Result<Head, Failure> {
        let failed = |error| Failure { error, nothing_received: false };
        self.stream
            .write_all(&request.bytes)
            .await
            .map_err(|error| Failure { error, nothing_received: true })?;
        let for_head = request.for_head;
        // Whether any byte answered this request; an interim (1xx) response taken from the
        // buffer counts, although the buffer is empty again after it.
        let mut received = false;
        loop {
            if !self.read.is_empty() {
                if let Some(head) = self.parser.parse(&mut self.read, for_head).map_err(failed)? {
                    return Ok(head);
                }
            }
            match poll_fn(|cx| self.poll_fill(cx)).await {
                Ok(0) => {
                    let error =
                        io::Error::new(io::ErrorKind::UnexpectedEof, "the upstream closed the connection");
                    return Err(Failure { error, nothing_received: !received });
                }
                Ok(_) => received = true,
                Err(error) => {
                    let reset =
                        matches!(error.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe);
                    return Err(Failure { error, nothing_received: reset && !received });
                }
            }
        }
    }

    /// Reads what the socket has into the buffer; `Ok(0)` is the end of the connection.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.read.reserve(READ_SIZE);
        // Through the stream's `poll_read`, which marks the socket drained when a read does not
        // fill the buffer. `try_read_buf` leaves it marked readable, so the next exchange on
        // this connection began with a read that found nothing: one wasted system call per
        // request.
        pin!(self.stream.read_buf(&mut self.read)).poll(cx)
    }

    /// The next piece of the body `decoder` is reading, reading from the socket as needed.
    pub fn poll_body(
        &mut self,
        decoder: &mut BodyDecoder,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<Bytes>>> {
        loop {
            match decoder.decode(&mut self.read)? {
                Decoded::Data(data) => return Poll::Ready(Ok(Some(data))),
                Decoded::End => return Poll::Ready(Ok(None)),
                Decoded::NeedMore => {
                    if std::task::ready!(self.poll_fill(cx))? == 0 {
                        decoder.end_of_input()?;
                    }
                }
            }
        }
    }

    /// Takes the whole body if it has already arrived with the head (the usual case for a
    /// small response), so that the connection is free at once.
    pub fn take_buffered_body(&mut self, decoder: &mut BodyDecoder) -> Option<Bytes> {
        let length = usize::try_from(decoder.remaining()?).ok()?;
        if self.read.len() < length {
            return None;
        }
        let body = self.read.split_to(length).freeze();
        *decoder = BodyDecoder::new(Framing::Empty);
        Some(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, for_head: bool) -> io::Result<Option<Head>> {
        HeadParser::default().parse(&mut BytesMut::from(text), for_head)
    }

    fn framing_of(text: &str) -> Framing {
        parse(text, false).expect("valid").expect("complete").framing
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(framing_of("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), Framing::Length(2));
        assert_eq!(framing_of("HTTP/1.1 200 OK\r\ncontent-length: 5, 5\r\n\r\n"), Framing::Length(5));
        assert_eq!(framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), Framing::Chunked);
        assert_eq!(
            framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n"),
            Framing::Chunked
        );
        assert_eq!(framing_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), Framing::UntilClose);
        assert_eq!(framing_of("HTTP/1.1 200 OK\r\n\r\n"), Framing::UntilClose);
        assert_eq!(framing_of("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"), Framing::Empty);
        assert_eq!(framing_of("HTTP/1.1 304 Not Modified\r\n\r\n"), Framing::Empty);
        let head = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).unwrap().unwrap();
        assert_eq!(head.framing, Framing::Empty);
    }

    #[test]
    fn keep_alive_only_when_the_framing_and_the_upstream_allow_it() {
        let keep = |text: &str| parse(text, false).unwrap().unwrap().keep_alive;
        assert!(keep("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!keep("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: Keep-Alive, Close\r\n\r\n"));
        assert!(!keep("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!keep("HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!keep("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"));
    }

    #[test]
    fn interim_responses_are_skipped_and_the_head_is_taken_from_the_buffer() {
        let mut buffer = BytesMut::from(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 2\r\n\r\nokNEXT",
        );
        let head = HeadParser::default().parse(&mut buffer, false).unwrap().unwrap();
        assert_eq!(head.parts.status, StatusCode::CREATED);
        assert_eq!(head.parts.headers.get_all("x-a").iter().collect::<Vec<_>>(), ["1", "2"]);
        assert!(head.parts.headers.get("link").is_none());
        assert_eq!(&buffer[..], b"okNEXT");
    }

    #[test]
    fn bad_heads_are_errors_and_short_ones_wait() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Len", false).unwrap().is_none());
        assert!(parse("", false).unwrap().is_none());
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "HTTP/1.1 099 Low\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(parse(bad, false).is_err(), "{bad:?}");
        }
        let huge = format!("HTTP/1.1 200 OK\r\nX-Big: {}\r\n", "a".repeat(MAX_HEAD_LEN));
        assert!(parse(&huge, false).is_err());
    }

    /// Decodes `wire` fed in pieces of `step` bytes, as reads would deliver it.
    fn decode_all(
        framing: Framing,
        wire: &[u8],
        step: usize,
        closes: bool,
    ) -> io::Result<(Vec<u8>, BytesMut)> {
        let mut decoder = BodyDecoder::new(framing);
        let mut buffer = BytesMut::new();
        let mut body = Vec::new();
        let mut pieces = wire.chunks(step.max(1));
        loop {
            match decoder.decode(&mut buffer)? {
                Decoded::Data(data) => body.extend_from_slice(&data),
                Decoded::End => {
                    // What follows the body stays for the next response.
                    pieces.for_each(|piece| buffer.extend_from_slice(piece));
                    return Ok((body, buffer));
                }
                Decoded::NeedMore => match pieces.next() {
                    Some(piece) => buffer.extend_from_slice(piece),
                    None if closes => decoder.end_of_input()?,
                    None => return Err(io::Error::new(io::ErrorKind::WouldBlock, "waiting")),
                },
            }
        }
    }

    #[test]
    fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
        let wire = b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let (body, rest) = decode_all(Framing::Chunked, wire, step, false).unwrap();
            assert_eq!(body, b"hello 0123456789");
            assert_eq!(&rest[..], b"NEXT");
        }
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for bad in [&b"zz\r\nhello\r\n0\r\n\r\n"[..], b"2\r\nhello\r\n0\r\n\r\n", b"2\r\nhi0\r\n\r\n"] {
            assert!(decode_all(Framing::Chunked, bad, 64, true).is_err(), "{bad:?}");
        }
        // Ended before the last chunk.
        assert!(decode_all(Framing::Chunked, b"5\r\nhel", 64, true).is_err());
    }

    #[test]
    fn length_and_close_delimited_bodies() {
        let (body, rest) = decode_all(Framing::Length(5), b"helloNEXT", 3, false).unwrap();
        assert_eq!((&body[..], &rest[..]), (&b"hello"[..], &b"NEXT"[..]));
        assert!(decode_all(Framing::Length(5), b"hel", 3, true).is_err());
        let (body, _) = decode_all(Framing::UntilClose, b"all of it", 4, true).unwrap();
        assert_eq!(body, b"all of it");
        let (body, _) = decode_all(Framing::Empty, b"", 1, false).unwrap();
        assert!(body.is_empty());
    }

    #[test]
    fn the_request_head_is_written_in_origin_form() {
        let request = Request::get("http://ignored.example/a/b?q=1")
            .header("host", "api.internal")
            .header("x-forwarded-for", "127.0.0.1")
            .body(())
            .unwrap();
        let head = RequestHead::new(&request);
        assert_eq!(head.as_bytes().len(), head.bytes.capacity(), "sized exactly");
        assert_eq!(
            String::from_utf8(head.bytes).unwrap(),
            "GET /a/b?q=1 HTTP/1.1\r\nhost: api.internal\r\nx-forwarded-for: 127.0.0.1\r\n\r\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn chunked_encoding_of_any_body_in_any_pieces_decodes_to_it(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..40), 0..8),
            step in 1usize..50,
        ) {
            let mut wire = Vec::new();
            for chunk in &chunks {
                wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                wire.extend_from_slice(chunk);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let (body, rest) = decode_all(Framing::Chunked, &wire, step, false).unwrap();
            proptest::prop_assert_eq!(body, chunks.concat());
            proptest::prop_assert!(rest.is_empty());
        }

        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300), for_head: bool) {
            let mut buffer = BytesMut::from(&bytes[..]);
            if let Ok(Some(head)) = HeadParser::default().parse(&mut buffer, for_head) {
                let _ = decode_all(head.framing, &buffer, 7, true);
            }
            for framing in [Framing::Chunked, Framing::Length(10), Framing::UntilClose] {
                let _ = decode_all(framing, &bytes, 5, true);
            }
        }
    }
}
