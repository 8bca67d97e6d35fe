//! Shared by the export_* tests: the policy and request corpus, a raw HTTP/1.1 client (so any
//! header bytes can be sent), a loopback upstream that sets its own CORS headers, the
//! reference gateway (`corsguard serve`), and the comparison of CORS answers. Running the
//! proxies as processes is `test_support::process`.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use test_support::process::{free_addr, wait_listening, Proc};

/// The policy every export test compiles: exact, subdomain and port patterns, credentials,
/// cross-origin protection, and routes (first match wins: `/public/admin/` is shadowed by
/// `/public/`; `/pna/` answers Private Network Access).
pub const POLICY: &str = r#"
default_profile = "fleet"

[policy]
methods        = ["GET", "POST", "PUT", "DELETE"]
allow_headers  = ["Content-Type", "Authorization", "X-Requested-With"]
expose_headers = ["X-Request-Id", "X-Total-Count"]
credentials    = true
max_age        = 7200
cross_origin_protection = true

[profiles.fleet]
origins = [
  "https://app.example.com",
  "https://*.staging.example.com",
  "http://localhost:*",
  "https://api.example.com:8443",
  "https://*.ports.example.com:*",
]

[[routes]]
path = "/public/"
origins = ["*"]
credentials = false
methods = ["GET", "HEAD"]
allow_headers = ["*"]

[[routes]]
path = "/public/admin/"
origins = ["https://admin.example.com"]

[[routes]]
path = "/pna/"
private_network = true
"#;

/// Path to the `corsguard` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_corsguard")
}

/// The workspace root (docs, deploy, examples).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `corsguard` with `args` from the workspace root.
pub fn corsguard(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(root())
        .env_remove("CORSGUARD_PROFILE")
        .output()
        .expect("run corsguard")
}

/// Writes the test policy into `dir` and exports it for `format`.
pub fn export(dir: &Path, format: &str, listen: SocketAddr, upstream: SocketAddr) -> String {
    let policy = dir.join("corsguard.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let out = corsguard(&[
        "export",
        policy.to_str().unwrap(),
        "--format",
        format,
        "--listen",
        &listen.to_string(),
        "--upstream",
        &format!("http://{upstream}"),
    ]);
    assert!(out.status.success(), "export failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// One request of the corpus.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub method: &'static str,
    pub path: &'static str,
    pub host: &'static str,
    pub headers: Vec<(&'static str, Vec<u8>)>,
}

fn case(
    name: impl Into<String>,
    method: &'static str,
    path: &'static str,
    headers: &[(&'static str, &[u8])],
) -> Case {
    Case {
        name: name.into(),
        method,
        path,
        host: "gateway.example.net",
        headers: headers.iter().map(|(n, v)| (*n, v.to_vec())).collect(),
    }
}

const ORIGIN: &str = "Origin";
const ACRM: &str = "Access-Control-Request-Method";
const ACRH: &str = "Access-Control-Request-Headers";
const SFS: &str = "Sec-Fetch-Site";
const APP: &[u8] = b"https://app.example.com";
const EVIL: &[u8] = b"https://evil.net";

/// Origins that must never be allowed: every historical bypass class, against the patterns of
/// [`POLICY`]'s profile.
pub fn bypass_origins() -> Vec<(&'static str, Vec<u8>)> {
    let long_label = format!("https://{}.staging.example.com", "a".repeat(64));
    let long_host = format!("https://{}staging.example.com", "abcdefghi.".repeat(25));
    vec![
        ("prefix", b"https://app.example.com.evil.net".to_vec()),
        ("suffix", b"https://evilapp.example.com".to_vec()),
        ("suffix-subdomain", b"https://evilstaging.example.com".to_vec()),
        ("suffix-bare", b"https://evilexample.com".to_vec()),
        ("unescaped-dot", b"https://appxexample.com".to_vec()),
        ("unescaped-dot-subdomain", b"https://a.stagingxexample.com".to_vec()),
        ("underscore", b"https://app.example.com_.evil.net".to_vec()),
        ("backtick", b"https://app.example.com`.evil.net".to_vec()),
        ("percent-60", b"https://app.example.com%60.evil.net".to_vec()),
        ("null", b"null".to_vec()),
        ("scheme-downgrade", b"http://app.example.com".to_vec()),
        ("other-port", b"https://app.example.com:8443".to_vec()),
        ("default-port", b"https://app.example.com:443".to_vec()),
        ("default-port-any", b"http://localhost:80".to_vec()),
        ("leading-zero-port", b"http://localhost:03000".to_vec()),
        ("port-zero", b"http://localhost:0".to_vec()),
        ("port-too-big", b"http://localhost:65536".to_vec()),
        ("exact-port-missing", b"https://api.example.com".to_vec()),
        ("exact-port-other", b"https://api.example.com:8444".to_vec()),
        ("ports-default-port", b"https://x.ports.example.com:443".to_vec()),
        ("apex-of-wildcard", b"https://staging.example.com".to_vec()),
        ("trailing-slash", b"https://app.example.com/".to_vec()),
        ("trailing-dot", b"https://app.example.com.".to_vec()),
        ("path", b"https://app.example.com/api".to_vec()),
        ("userinfo", b"https://user@app.example.com".to_vec()),
        ("userinfo-host", b"https://app.example.com@evil.net".to_vec()),
        ("two-origins-space", b"https://app.example.com https://evil.net".to_vec()),
        ("two-origins-comma", b"https://app.example.com, https://evil.net".to_vec()),
        ("uppercase-host", b"https://APP.example.com".to_vec()),
        ("uppercase-scheme", b"HTTPS://app.example.com".to_vec()),
        ("idn-raw-utf8", "https://bücher.staging.example.com".as_bytes().to_vec()),
        ("empty-label", b"https://a..staging.example.com".to_vec()),
        ("label-over-63", long_label.into_bytes()),
        ("host-over-253", long_host.into_bytes()),
        ("no-scheme", b"app.example.com".to_vec()),
        ("wildcard-literal", b"https://*.staging.example.com".to_vec()),
    ]
}

/// Origins [`POLICY`]'s profile allows.
pub fn legitimate_origins() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("exact", APP.to_vec()),
        ("subdomain", b"https://a.staging.example.com".to_vec()),
        ("subdomain-deep", b"https://a.b.staging.example.com".to_vec()),
        ("subdomain-underscore", b"https://my_app.staging.example.com".to_vec()),
        ("idn-punycode", b"https://xn--bcher-kva.staging.example.com".to_vec()),
        ("any-port", b"http://localhost:3000".to_vec()),
        ("any-port-none", b"http://localhost".to_vec()),
        ("any-port-max", b"http://localhost:65535".to_vec()),
        ("exact-port", b"https://api.example.com:8443".to_vec()),
        ("subdomain-any-port", b"https://x.ports.example.com:9000".to_vec()),
        ("subdomain-any-port-none", b"https://x.ports.example.com".to_vec()),
    ]
}

/// The whole corpus: conformance cases, then each bypass and legitimate origin as an actual
/// request and as a preflight.
pub fn corpus() -> Vec<Case> {
    let names64 = vec!["content-type"; 64].join(",");
    let names65 = vec!["content-type"; 65].join(",");
    let huge = format!("content-type{}", ",".repeat(4100));
    let mut cases = vec![
        // Preflights.
        case(
            "preflight-allowed",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"content-type, authorization")],
        ),
        case("preflight-no-acrh", "OPTIONS", "/api/items", &[(ORIGIN, APP), (ACRM, b"DELETE")]),
        case("preflight-empty-acrh", "OPTIONS", "/api/items", &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"")]),
        case("preflight-method-refused", "OPTIONS", "/api/items", &[(ORIGIN, APP), (ACRM, b"PATCH")]),
        case("preflight-method-case", "OPTIONS", "/api/items", &[(ORIGIN, APP), (ACRM, b"put")]),
        case("preflight-method-malformed", "OPTIONS", "/api/items", &[(ORIGIN, APP), (ACRM, b"PUT, GET")]),
        case(
            "preflight-header-refused",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"content-type,x-custom")],
        ),
        case(
            "preflight-header-case",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"CONTENT-TYPE,Authorization")],
        ),
        case(
            "preflight-header-prefix",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"content-typex")],
        ),
        case(
            "preflight-header-empty-elements",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b" ,content-type,, \t,authorization, ")],
        ),
        case(
            "preflight-header-malformed",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"content-type;x")],
        ),
        case(
            "preflight-header-space-inside",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"content type")],
        ),
        case(
            "preflight-64-names",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, names64.as_bytes())],
        ),
        case(
            "preflight-65-names",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, names65.as_bytes())],
        ),
        case(
            "preflight-over-4096-bytes",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, huge.as_bytes())],
        ),
        case(
            "preflight-acrh-two-lines",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"content-type"), (ACRH, b"authorization")],
        ),
        case(
            "preflight-acrh-second-line-refused",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), (ACRH, b"content-type"), (ACRH, b"x-custom")],
        ),
        case("preflight-origin-refused", "OPTIONS", "/api/items", &[(ORIGIN, EVIL), (ACRM, b"PUT")]),
        case(
            "preflight-pna-not-enabled",
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, APP), (ACRM, b"PUT"), ("Access-Control-Request-Private-Network", b"true")],
        ),
        case(
            "preflight-pna-allowed",
            "OPTIONS",
            "/pna/printer",
            &[(ORIGIN, APP), (ACRM, b"PUT"), ("Access-Control-Request-Private-Network", b"true")],
        ),
        case("preflight-pna-route-plain", "OPTIONS", "/pna/printer", &[(ORIGIN, APP), (ACRM, b"GET")]),
        case("options-without-acrm", "OPTIONS", "/api/items", &[(ORIGIN, APP)]),
        case("options-without-origin", "OPTIONS", "/api/items", &[(ACRM, b"PUT")]),
        // Actual requests.
        case("get-allowed", "GET", "/api/items", &[(ORIGIN, APP)]),
        case("get-refused", "GET", "/api/items", &[(ORIGIN, EVIL)]),
        case("post-allowed", "POST", "/api/items", &[(ORIGIN, APP)]),
        case("delete-allowed", "DELETE", "/api/items/1", &[(ORIGIN, APP)]),
        case("head-not-listed", "HEAD", "/api/items", &[(ORIGIN, APP)]),
        case("patch-not-listed", "PATCH", "/api/items", &[(ORIGIN, APP)]),
        case("not-cors", "GET", "/api/items", &[]),
        case("origin-repeated", "GET", "/api/items", &[(ORIGIN, APP), (ORIGIN, APP)]),
        case("origin-repeated-second-evil", "GET", "/api/items", &[(ORIGIN, APP), (ORIGIN, EVIL)]),
        // Cross-origin protection (Go's CrossOriginProtection algorithm).
        case("cop-post-evil-cross-site", "POST", "/api/items", &[(ORIGIN, EVIL), (SFS, b"cross-site")]),
        case("cop-post-evil-same-site", "POST", "/api/items", &[(ORIGIN, EVIL), (SFS, b"same-site")]),
        case("cop-post-evil-same-origin", "POST", "/api/items", &[(ORIGIN, EVIL), (SFS, b"same-origin")]),
        case("cop-post-evil-none", "POST", "/api/items", &[(ORIGIN, EVIL), (SFS, b"none")]),
        case("cop-post-evil-no-sfs", "POST", "/api/items", &[(ORIGIN, EVIL)]),
        case("cop-post-allowed-cross-site", "POST", "/api/items", &[(ORIGIN, APP), (SFS, b"cross-site")]),
        case("cop-post-no-origin-no-sfs", "POST", "/api/items", &[]),
        case("cop-post-no-origin-cross-site", "POST", "/api/items", &[(SFS, b"cross-site")]),
        case("cop-get-evil-cross-site", "GET", "/api/items", &[(ORIGIN, EVIL), (SFS, b"cross-site")]),
        case("cop-put-null", "PUT", "/api/items", &[(ORIGIN, b"null")]),
        case("cop-patch-allowed-origin", "PATCH", "/api/items", &[(ORIGIN, APP), (SFS, b"cross-site")]),
        case("cop-sfs-uppercase", "POST", "/api/items", &[(ORIGIN, EVIL), (SFS, b"Same-Origin")]),
        // Routes: first match wins, on the raw path.
        case("route-public-any", "GET", "/public/logo.png", &[(ORIGIN, EVIL)]),
        case(
            "route-public-preflight-wildcard",
            "OPTIONS",
            "/public/logo.png",
            &[(ORIGIN, EVIL), (ACRM, b"GET"), (ACRH, b"x-anything,x-other")],
        ),
        case(
            "route-public-preflight-authorization",
            "OPTIONS",
            "/public/logo.png",
            &[(ORIGIN, EVIL), (ACRM, b"GET"), (ACRH, b"authorization")],
        ),
        case("route-public-preflight-put", "OPTIONS", "/public/logo.png", &[(ORIGIN, EVIL), (ACRM, b"PUT")]),
        case("route-public-post-cop", "POST", "/public/form", &[(ORIGIN, EVIL), (SFS, b"cross-site")]),
        case("route-public-noncanonical", "GET", "/public/logo.png", &[(ORIGIN, b"https://EVIL.net")]),
        case("route-shadowed", "GET", "/public/admin/x", &[(ORIGIN, b"https://admin.example.com")]),
        case("route-prefix-mismatch", "GET", "/publicity", &[(ORIGIN, EVIL)]),
        case("route-query", "GET", "/public/?x=/api", &[(ORIGIN, EVIL)]),
    ];
    // Same origin by Host: the origin is not allowed, but it is the request's own.
    let mut same_host =
        case("cop-post-same-host", "POST", "/api/items", &[(ORIGIN, b"https://gateway.example.net")]);
    same_host.host = "gateway.example.net";
    cases.push(same_host);
    let mut same_host_port = case(
        "cop-post-same-host-port",
        "POST",
        "/api/items",
        &[(ORIGIN, b"http://gateway.example.net:8080")],
    );
    same_host_port.host = "gateway.example.net:8080";
    cases.push(same_host_port);
    let mut other_port = case(
        "cop-post-host-other-port",
        "POST",
        "/api/items",
        &[(ORIGIN, b"http://gateway.example.net:8081")],
    );
    other_port.host = "gateway.example.net:8080";
    cases.push(other_port);
    let mut noncanonical = case(
        "cop-post-same-host-noncanonical",
        "POST",
        "/api/items",
        &[(ORIGIN, b"https://Gateway.example.net")],
    );
    noncanonical.host = "Gateway.example.net";
    cases.push(noncanonical);
    // `*` still admits canonical origins only: the any-origin expression mirrors the grammar.
    let any_route: &[(&str, &[u8])] = &[
        ("ipv6", b"http://[::1]:3000"),
        ("ipv6-noncanonical", b"http://[0:0::1]"),
        ("ipv4", b"http://127.0.0.1:8080"),
        ("ipv4-octet-over-255", b"http://1.2.3.256"),
        ("ipv4-leading-zero", b"http://01.2.3.4"),
        ("numeric-tld", b"https://example.123"),
        ("other-scheme", b"chrome-extension://abcdefgh"),
        ("other-scheme-port-443", b"foo://host:443"),
        ("https-default-port", b"https://app.example.com:443"),
        ("ws-default-port", b"ws://app.example.com:80"),
        ("port-8080", b"http://app.example.com:8080"),
        ("port-leading-zero", b"http://app.example.com:080"),
        ("underscore-label", b"https://my_app.example.com"),
        ("uppercase", b"https://App.example.com"),
        ("null", b"null"),
    ];
    for (name, origin) in any_route {
        cases.push(case(format!("any-origin-{name}"), "GET", "/public/x", &[(ORIGIN, origin)]));
    }
    for (name, origin) in bypass_origins().into_iter().chain(legitimate_origins()) {
        let o: &'static [u8] = Box::leak(origin.into_boxed_slice());
        cases.push(case(format!("origin-{name}"), "GET", "/api/items", &[(ORIGIN, o)]));
        cases.push(case(
            format!("preflight-origin-{name}"),
            "OPTIONS",
            "/api/items",
            &[(ORIGIN, o), (ACRM, b"PUT")],
        ));
        cases.push(case(
            format!("post-origin-{name}"),
            "POST",
            "/api/items",
            &[(ORIGIN, o), (SFS, b"cross-site")],
        ));
    }
    cases
}

/// The parts of a response CORS cares about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub acao: Option<String>,
    pub acac: Option<String>,
    pub acam: Option<String>,
    pub acah: Option<String>,
    pub acma: Option<String>,
    pub aceh: Option<String>,
    pub acapn: Option<String>,
    pub vary_origin: bool,
}

/// Sends `case` over a fresh connection and reads the whole response.
pub fn send(addr: SocketAddr, case: &Case) -> Answer {
    let mut request =
        format!("{} {} HTTP/1.1\r\nHost: {}\r\n", case.method, case.path, case.host).into_bytes();
    for (name, value) in &case.headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    if matches!(case.method, "POST" | "PUT" | "PATCH" | "DELETE") {
        request.extend_from_slice(b"Content-Length: 0\r\n");
    }
    request.extend_from_slice(b"Connection: close\r\n\r\n");
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("{}: connect {addr}: {e}", case.name));
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(&request).unwrap();
    let mut raw = Vec::new();
    // HEAD responses and 204s have no body; reading to EOF works for all with Connection: close.
    let _ = stream.read_to_end(&mut raw);
    parse(&raw)
        .unwrap_or_else(|| panic!("{}: unparseable response {:?}", case.name, String::from_utf8_lossy(&raw)))
}

fn parse(raw: &[u8]) -> Option<Answer> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let get = |name: &str| {
        let values: Vec<&str> = headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect();
        (!values.is_empty()).then(|| values.join(" | "))
    };
    let vary_origin = headers
        .iter()
        .filter(|(n, _)| n == "vary")
        .flat_map(|(_, v)| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("origin"));
    Some(Answer {
        status,
        acao: get("access-control-allow-origin"),
        acac: get("access-control-allow-credentials"),
        acam: get("access-control-allow-methods"),
        acah: get("access-control-allow-headers"),
        acma: get("access-control-max-age"),
        aceh: get("access-control-expose-headers"),
        acapn: get("access-control-allow-private-network"),
        vary_origin,
    })
}

/// The upstream: 200 for everything, with its own `Access-Control-Allow-Origin: *`,
/// `Access-Control-Allow-Credentials` and `Vary: Accept-Encoding`, so that the tests see the
/// proxy strip the former and append to the latter.
pub struct Upstream {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = buf.starts_with(b"HEAD ");
                    let body = if head { "" } else { "ok" };
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\
                         Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Credentials: true\r\n\
                         Access-Control-Expose-Headers: X-Secret\r\nVary: Accept-Encoding\r\n\
                         Connection: close\r\n\r\n{body}"
                    );
                    let _ = stream.write_all(response.as_bytes());
                });
            }
        });
        Upstream { addr, stop }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// The reference: corsguard's own gateway, `corsguard serve`, in front of `upstream`.
pub fn start_gateway(dir: &Path, upstream: SocketAddr) -> (Proc, SocketAddr) {
    let policy = dir.join("gateway.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let addr = free_addr();
    let child = Command::new(bin())
        .args(["serve", "--config", policy.to_str().unwrap(), "--listen", &addr.to_string()])
        .args(["--upstream", &format!("http://{upstream}"), "--log-format", "json"])
        .env_remove("CORSGUARD_PROFILE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start corsguard serve");
    let mut proc = Proc(child);
    wait_listening(addr, "corsguard serve", &mut proc.0);
    // The log goes to a pipe nobody reads; drain it so the gateway never blocks on a full pipe.
    if let Some(mut stderr) = proc.0.stderr.take() {
        thread::spawn(move || {
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        });
    }
    (proc, addr)
}

/// What corsguard's engine itself says, for checking that the reference gateway is faithful:
/// the status (the upstream's 200 when forwarded) and the headers `CorsHeaders::apply_to` puts
/// on the upstream's response.
pub fn model(case: &Case) -> Answer {
    let policy = corsguard::Policy::from_toml(POLICY, None).expect("the test policy is valid");
    let mut builder = http::Request::builder().method(case.method).uri(case.path).header("host", case.host);
    for (name, value) in &case.headers {
        builder = builder.header(*name, http::HeaderValue::from_bytes(value).expect("header bytes"));
    }
    let request = builder.body(()).expect("request");
    let decision = policy.decide(&request);
    let mut headers = http::HeaderMap::new();
    if decision.is_forwarded() {
        headers.insert("access-control-allow-origin", http::HeaderValue::from_static("*"));
        headers.insert("access-control-allow-credentials", http::HeaderValue::from_static("true"));
        headers.insert("access-control-expose-headers", http::HeaderValue::from_static("X-Secret"));
        headers.insert("vary", http::HeaderValue::from_static("Accept-Encoding"));
    }
    decision.headers().to_owned().apply_to(&mut headers);
    let get = |name: &str| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    Answer {
        status: decision.status().map_or(200, |s| s.as_u16()),
        acao: get("access-control-allow-origin"),
        acac: get("access-control-allow-credentials"),
        acam: get("access-control-allow-methods"),
        acah: get("access-control-allow-headers"),
        acma: get("access-control-max-age"),
        aceh: get("access-control-expose-headers"),
        acapn: get("access-control-allow-private-network"),
        vary_origin: headers
            .get_all("vary")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("origin")),
    }
}

/// Sends the corpus to the proxy under test and to the reference, and checks that they agree
/// on every case except exactly the `known` differences (case name, reason).
pub fn differential(proxy: SocketAddr, reference: SocketAddr, known: &[(&str, &str)]) {
    let mut differing = Vec::new();
    let mut report = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for case in corpus() {
        let expected = send(reference, &case);
        let got = send(proxy, &case);
        seen.insert((expected.status, expected.acao.as_deref() == Some("*"), expected.acao.is_some()));
        if got != expected {
            differing.push(case.name.clone());
            report += &format!("\n{}:\n  reference {expected:?}\n  proxy     {got:?}", case.name);
        }
    }
    // The corpus must exercise every kind of answer, or agreeing would prove little.
    for kind in
        [(200, false, false), (200, false, true), (200, true, true), (204, false, true), (403, false, false)]
    {
        assert!(seen.contains(&kind), "no reference answer of kind {kind:?} in the corpus");
    }
    let mut known_names: Vec<String> = known.iter().map(|(name, _)| (*name).to_owned()).collect();
    known_names.sort();
    differing.sort();
    assert_eq!(differing, known_names, "cases where the proxy and corsguard disagree:{report}");
}

/// Checks the reference gateway against the engine's own decisions.
pub fn reference_matches_engine(reference: SocketAddr) {
    let mut report = String::new();
    for case in corpus() {
        let got = send(reference, &case);
        let expected = model(&case);
        if got != expected {
            report += &format!("\n{}:\n  engine  {expected:?}\n  gateway {got:?}", case.name);
        }
    }
    assert!(report.is_empty(), "the gateway disagrees with Policy::decide:{report}");
}
