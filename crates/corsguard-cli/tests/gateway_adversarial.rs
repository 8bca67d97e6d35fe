//! Misbehaving upstreams on loopback, each run through a proxy with several concurrent clients
//! on distinct paths and then later clients: every client must get its own answer or a clean
//! 502, never another client's, never bytes the upstream sent after its answer.
//!
//! The upstream misbehaves as real backends do: a late second response, HEAD answered like GET
//! (a body after the head), a 204 or 304 with a body, a 408 on an idle connection before
//! closing, junk after a response, and `Content-Length` beside `Transfer-Encoding: chunked`
//! (both orders); each where the extra bytes come in the same write as the response and where
//! they come after a pause. Every case runs on both of the gateway's upstream paths (its own
//! exchange for bodiless requests, hyper's client for requests with a body), with one worker
//! (connection reuse as tight as it gets) and with the default workers, and all of it once more
//! with `upstream_client = "hyper"`, where hyper's client carries every request.
//!
//! The same suite runs against nginx 1.22 (`proxy_pass` to an upstream block with `keepalive`,
//! `proxy_http_version 1.1`) in front of the same upstreams, and passes: the suite asks no more
//! of the gateway than a well-kept proxy does.

use test_support::gateway as gateway_support;
use test_support::process as export_support;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use corsguard_gateway::proxy::UpstreamClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How long a misbehaving upstream waits before its late bytes.
const PAUSE: Duration = Duration::from_millis(50);
/// Concurrent clients in the first phase (half of them on the misbehaving path).
const CLIENTS: usize = 4;

/// What the attacker wants the next client to read.
const POISON: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nx-answer-to: /poison\r\n\
Set-Cookie: session=attacker\r\n\r\npoison";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    LateSecondResponse,
    HeadWithBody,
    NoContentWithBody,
    NotModifiedWithBody,
    Idle408,
    JunkAfter,
    LengthAndChunked,
    ChunkedAndLength,
}

const CASES: [Case; 8] = [
    Case::LateSecondResponse,
    Case::HeadWithBody,
    Case::NoContentWithBody,
    Case::NotModifiedWithBody,
    Case::Idle408,
    Case::JunkAfter,
    Case::LengthAndChunked,
    Case::ChunkedAndLength,
];

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::LateSecondResponse => "late-second-response",
            Case::HeadWithBody => "head-with-body",
            Case::NoContentWithBody => "no-content-with-body",
            Case::NotModifiedWithBody => "not-modified-with-body",
            Case::Idle408 => "idle-408",
            Case::JunkAfter => "junk-after",
            Case::LengthAndChunked => "length-and-chunked",
            Case::ChunkedAndLength => "chunked-and-length",
        }
    }

    fn parse(name: &str) -> Option<Case> {
        CASES.into_iter().find(|case| case.name() == name)
    }

    /// Whether the extra bytes can come in the same write or after a pause; the two
    /// framing cases have no extra bytes.
    fn timings(self) -> &'static [bool] {
        match self {
            Case::LateSecondResponse | Case::Idle408 => &[true],
            Case::LengthAndChunked | Case::ChunkedAndLength => &[false],
            _ => &[false, true],
        }
    }
}

/// A good answer names the request it answers, so a client can tell its own.
fn own_answer(method: &str, path: &str) -> (String, Vec<u8>) {
    let body = format!("you asked for {method} {path}");
    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nx-answer-to: {path}\r\n\r\n", body.len());
    (head, body.into_bytes())
}

/// What the upstream writes for one request: the answer, and bytes to write after a pause.
fn script(method: &str, path: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    let (head, body) = own_answer(method, path);
    let answer = [head.as_bytes(), if method == "HEAD" { &[][..] } else { &body }].concat();
    // `/bad/<case>/<late>/<n>`; anything else is answered well.
    let mut parts = path.trim_start_matches('/').split('/');
    let (Some("bad"), Some(case), Some(late)) =
        (parts.next(), parts.next().and_then(Case::parse), parts.next())
    else {
        return (answer, None);
    };
    let late = late == "late";
    let split = |first: Vec<u8>, extra: &[u8]| {
        if late {
            (first, Some(extra.to_vec()))
        } else {
            ([first, extra.to_vec()].concat(), None)
        }
    };
    match case {
        Case::LateSecondResponse => (answer, Some(POISON.to_vec())),
        Case::HeadWithBody => {
            // Announces the poison's length and then writes it, as `do_HEAD = do_GET` does.
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nx-answer-to: {path}\r\n\r\n", POISON.len());
            split(head.into_bytes(), POISON)
        }
        Case::NoContentWithBody | Case::NotModifiedWithBody => {
            let status = if case == Case::NoContentWithBody { "204 No Content" } else { "304 Not Modified" };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nx-answer-to: {path}\r\n\r\n",
                POISON.len()
            );
            split(head.into_bytes(), POISON)
        }
        Case::Idle408 => (
            answer,
            Some(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec()),
        ),
        Case::JunkAfter => split(answer, b"\x00\x01junk that is no HTTP\r\n\r\n"),
        Case::LengthAndChunked | Case::ChunkedAndLength => {
            let framing = if case == Case::LengthAndChunked {
                "Content-Length: 5\r\nTransfer-Encoding: chunked"
            } else {
                "Transfer-Encoding: chunked\r\nContent-Length: 5"
            };
            let mut bytes =
                format!("HTTP/1.1 200 OK\r\n{framing}\r\nx-answer-to: {path}\r\n\r\n").into_bytes();
            if method != "HEAD" {
                bytes.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                bytes.extend_from_slice(&body);
                bytes.extend_from_slice(b"\r\n0\r\n\r\n");
            }
            (bytes, None)
        }
    }
}

/// The misbehaving upstream: raw TCP, keep-alive, answers by [`script`]. Requests under
/// `/first/` are held until [`CLIENTS`] of them are in flight, so that a proxy has to open one
/// connection for each of them.
struct Upstream {
    addr: SocketAddr,
    /// Every request path it read, in order.
    seen: Arc<Mutex<Vec<String>>>,
}

async fn upstream() -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let waiting = Arc::new(AtomicUsize::new(0));
    let all_here = Arc::new(Notify::new());
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (seen, waiting, all_here) =
                (Arc::clone(&record), Arc::clone(&waiting), Arc::clone(&all_here));
            tokio::spawn(serve(stream, seen, waiting, all_here));
        }
    });
    Upstream { addr, seen }
}

async fn serve(
    mut stream: TcpStream,
    seen: Arc<Mutex<Vec<String>>>,
    waiting: Arc<AtomicUsize>,
    all_here: Arc<Notify>,
) {
    let mut pending = Vec::new();
    while let Some(head) = gateway_support::read_head(&mut stream, &mut pending).await {
        let mut request_line = head.split(' ');
        let (method, path) =
            (request_line.next().unwrap_or("").to_owned(), request_line.next().unwrap_or("").to_owned());
        // Bodies come with a Content-Length (nginx) or chunked (the gateway's hyper client
        // streams them); both are read to their end before answering.
        let lower = head.to_ascii_lowercase();
        let length = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok());
        if let Some(length) = length {
            while pending.len() < length {
                if !gateway_support::read_more(&mut stream, &mut pending).await {
                    return;
                }
            }
            pending.drain(..length);
        } else if lower.contains("transfer-encoding: chunked") {
            loop {
                if let Some(end) = pending.windows(5).position(|w| w == b"0\r\n\r\n") {
                    pending.drain(..end + 5);
                    break;
                }
                if !gateway_support::read_more(&mut stream, &mut pending).await {
                    return;
                }
            }
        }
        seen.lock().unwrap().push(path.clone());
        if path.starts_with("/first/") {
            let notified = all_here.notified();
            if waiting.fetch_add(1, Ordering::SeqCst) + 1 >= CLIENTS {
                all_here.notify_waiters();
            } else {
                // A proxy that serialised the requests would wait here for nothing; the time
                // limit keeps the suite bounded, and the test then sees the answers it gets.
                let _ = tokio::time::timeout(Duration::from_secs(2), notified).await;
            }
        }
        let (now, later) = script(&method, path.trim_start_matches("/first"));
        if stream.write_all(&now).await.is_err() {
            return;
        }
        if let Some(later) = later {
            tokio::time::sleep(PAUSE).await;
            if stream.write_all(&later).await.is_err() {
                return;
            }
            if later.starts_with(b"HTTP/1.1 408") {
                return;
            }
        }
    }
}

/// What a client got.
#[derive(Debug)]
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    raw: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh client connection, read to the end.
async fn send(proxy: SocketAddr, method: &str, path: &str) -> Got {
    let exchange = async {
        let mut stream = TcpStream::connect(proxy).await.expect("connect to the proxy");
        let body = if method == "POST" { "x=1" } else { "" };
        let length = if method == "POST" { "Content-Length: 3\r\n" } else { "" };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: api.localhost\r\nOrigin: http://localhost:3000\r\n{length}Connection: close\r\n\r\n{body}"
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange).await.expect("answered in time");
    parse(&raw, method == "HEAD")
}

fn parse(raw: &[u8], for_head: bool) -> Got {
    let text = String::from_utf8_lossy(raw).into_owned();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |e| e + 4);
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut rest = &raw[end..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if for_head || status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        let mut body = Vec::new();
        while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16).unwrap_or(0);
            rest = &rest[line_end + 2..];
            if size == 0 || rest.len() < size {
                break;
            }
            body.extend_from_slice(&rest[..size]);
            rest = rest.get(size + 2..).unwrap_or(&[]);
        }
        body
    } else {
        rest.to_vec()
    };
    Got { status, headers, body, raw: text }
}

/// Checks that `got` is the answer to `method path` (status as the upstream meant it, its own
/// `x-answer-to`, its own body, a `Content-Length` that matches) or a clean 502.
fn assert_own(got: &Got, method: &str, path: &str, what: &str) {
    assert!(
        !got.raw.contains("poison") && !got.raw.contains("attacker"),
        "{what}: got the poison: {}",
        got.raw
    );
    if got.status == 502 {
        return;
    }
    let upstream_path = path.trim_start_matches("/first");
    assert_eq!(got.header("x-answer-to"), Some(upstream_path), "{what}: not its own answer: {}", got.raw);
    let expected_status = if upstream_path.contains("/no-content-with-body/") {
        204
    } else if upstream_path.contains("/not-modified-with-body/") {
        304
    } else {
        200
    };
    assert_eq!(got.status, expected_status, "{what}: {}", got.raw);
    if expected_status == 200 && method != "HEAD" {
        let (_, body) = own_answer(method, upstream_path);
        assert_eq!(got.body, body, "{what}: {}", got.raw);
    }
    if let Some(length) = got.header("content-length") {
        if method != "HEAD" && expected_status == 200 {
            assert_eq!(
                length.parse::<usize>().ok(),
                Some(got.body.len()),
                "{what}: Content-Length lies: {}",
                got.raw
            );
        }
    }
}

/// Runs every case through `proxy_for(upstream)`; `with_bodies` adds the POST path.
async fn run_suite<F, Fut, P>(proxy_for: F)
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = (SocketAddr, P)>,
{
    for case in CASES {
        for &late in case.timings() {
            // HEAD is bodiless by definition; every other case also runs as a POST, which
            // takes the gateway's other upstream path.
            let methods: &[&str] = if case == Case::HeadWithBody { &["HEAD"] } else { &["GET", "POST"] };
            for &method in methods {
                let up = upstream().await;
                let (proxy, _keep) = proxy_for(up.addr).await;
                let what =
                    format!("{} ({}, {method})", case.name(), if late { "late" } else { "same write" });
                let timing = if late { "late" } else { "now" };
                // Phase 1: concurrent clients, every other one on the misbehaving path.
                let first: Vec<String> = (0..CLIENTS)
                    .map(|i| match i % 2 {
                        0 => format!("/first/bad/{}/{timing}/{i}", case.name()),
                        _ => format!("/first/user/{i}"),
                    })
                    .collect();
                let answers =
                    futures_util::future::join_all(first.iter().map(|p| send(proxy, method, p))).await;
                for (path, got) in first.iter().zip(&answers) {
                    assert_own(got, method, path, &format!("{what}, first client {path}"));
                }
                tokio::time::sleep(PAUSE * 4).await;
                // Phase 2: later clients, one after another and then together.
                let later: Vec<String> = (0..2 * CLIENTS).map(|i| format!("/user/later/{i}")).collect();
                for path in &later[..CLIENTS] {
                    let got = send(proxy, method, path).await;
                    assert_eq!(got.status, 200, "{what}, later client {path}: {}", got.raw);
                    assert_own(&got, method, path, &format!("{what}, later client {path}"));
                }
                let answers =
                    futures_util::future::join_all(later[CLIENTS..].iter().map(|p| send(proxy, method, p)))
                        .await;
                for (path, got) in later[CLIENTS..].iter().zip(&answers) {
                    assert_eq!(got.status, 200, "{what}, later client {path}: {}", got.raw);
                    assert_own(got, method, path, &format!("{what}, later client {path}"));
                }
                let seen = up.seen.lock().unwrap().clone();
                for path in &later {
                    assert_eq!(
                        seen.iter().filter(|p| *p == path).count(),
                        1,
                        "{what}: {path} reached the upstream once"
                    );
                }
            }
        }
    }
}

async fn gateway_with(
    upstream: SocketAddr,
    workers: usize,
    client: UpstreamClient,
) -> (SocketAddr, gateway_support::Running) {
    let gw = gateway_support::gateway(gateway_support::POLICY, &format!("http://{upstream}"), |o| {
        o.workers = workers;
        o.upstream_client = client;
    })
    .await;
    (gw.addr(), gw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_with_one_worker_gives_every_client_its_own_answer() {
    run_suite(|up| gateway_with(up, 1, UpstreamClient::Direct)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_with_its_default_workers_gives_every_client_its_own_answer() {
    run_suite(|up| gateway_with(up, 0, UpstreamClient::Direct)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_on_hyper_s_client_with_one_worker_gives_every_client_its_own_answer() {
    run_suite(|up| gateway_with(up, 1, UpstreamClient::Hyper)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_on_hyper_s_client_with_its_default_workers_gives_every_client_its_own_answer() {
    run_suite(|up| gateway_with(up, 0, UpstreamClient::Hyper)).await;
}

/// nginx in front of `upstream`, with a keep-alive upstream pool.
async fn nginx(upstream: SocketAddr) -> (SocketAddr, (export_support::Proc, tempfile::TempDir)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let listen = export_support::free_addr();
    let d = dir.path().display();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; error_log {d}/error.log; pid {d}/nginx.pid;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  upstream u {{ server {upstream}; keepalive 16; }}
  server {{
    listen {listen};
    location / {{ proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection \"\"; }}
  }}
}}
"
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let bin = if std::path::Path::new("/usr/sbin/nginx").exists() { "/usr/sbin/nginx" } else { "nginx" };
    let mut child = Command::new(bin)
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("nginx starts (scripts/test installs nginx-light)");
    tokio::task::block_in_place(|| export_support::wait_listening(listen, "nginx", &mut child));
    (listen, (export_support::Proc(child), dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_in_front_of_the_same_upstreams_passes_the_same_suite() {
    run_suite(nginx).await;
}
