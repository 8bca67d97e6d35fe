//! A real browser for tests: headless Chromium driven through chromedriver (WebDriver), and
//! `fetch` run inside a page with the outcome the page's script would see. The pages it opens
//! are served from chosen origins on loopback by `test_support::pages`.
//!
//! Host names under `example.test` resolve to 127.0.0.1 inside the browser (and Chromium
//! resolves `*.localhost` to loopback by itself), so a test can put a page on
//! `http://app.example.test:PORT` and an API on `http://api.example.test:PORT`, two real
//! origins, with no DNS and no traffic off the machine.
//!
//! ```no_run
//! # async fn doc() -> browser_harness::Result<()> {
//! use browser_harness::{Browser, FetchRequest};
//! use test_support::pages::PageServer;
//!
//! let browser = Browser::launch().await?;
//! let page = PageServer::start("app.example.test").await?;
//! browser.open(&page.url()).await?;
//! let outcome = browser.fetch("http://api.example.test:8080/items", &FetchRequest::get()).await?;
//! assert!(outcome.blocked(), "no CORS headers: {outcome:?}");
//! browser.close().await;
//! # Ok(()) }
//! ```
//!
//! Everything started is killed when the [`Browser`] is dropped (or closed): chromedriver runs in
//! a process group of its own with Chromium inside it, and the whole group is ended.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{Ipv4Addr, TcpListener as StdListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// Errors from starting or talking to the browser, with enough context to act on.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

/// The `--host-resolver-rules` Chromium starts with.
pub const HOST_RESOLVER_RULES: &str = "MAP *.example.test 127.0.0.1";

/// How long chromedriver may take to listen, and a page script to finish.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(15);

/// A headless Chromium session. One per test binary is plenty: pages and fetches are cheap,
/// starting the browser is not (about a second).
pub struct Browser {
    client: Client,
    driver: Child,
    // Removed on drop, after the processes using it are gone.
    profile_dir: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a fresh headless Chromium behind it.
    ///
    /// Binaries: `$CHROMEDRIVER` and `$CHROMIUM` if set, else `chromedriver` and `chromium`
    /// from `PATH` (Debian's `chromium-driver` and `chromium` packages). A missing binary is an
    /// error, never a silent skip.
    pub async fn launch() -> Result<Browser> {
        let driver_bin = find_binary("CHROMEDRIVER", "chromedriver")?;
        let chromium_bin = find_binary("CHROMIUM", "chromium")?;
        let profile_dir = tempfile::Builder::new().prefix("browser-harness-").tempdir()?;
        let port = free_port()?;
        let log = profile_dir.path().join("chromedriver.log");
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop can end chromedriver and every Chromium
            // process it starts in one signal.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", driver_bin.display()))?;
        // From here on, a failure drops `guard`, which kills what was started.
        let mut guard = DriverGuard(Some(driver));
        wait_for_port(port, &log, &mut guard).await?;

        let user_data_dir = profile_dir.path().join("profile");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", user_data_dir.display()),
            format!("--host-resolver-rules={HOST_RESOLVER_RULES}"),
        ];
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium_bin.to_string_lossy(), "args": args }),
        );
        capabilities.insert("timeouts".into(), json!({ "script": SCRIPT_TIMEOUT.as_millis() as u64 }));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| format!("chromedriver could not start Chromium: {e}{}", log_tail(&log)))?;
        let driver = guard.0.take().ok_or("driver process vanished")?;
        Ok(Browser { client, driver, profile_dir })
    }

    /// The WebDriver client, for anything this harness does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates to `url` and waits for the page to load; later fetches run in that page, with
    /// its origin.
    pub async fn open(&self, url: &str) -> Result<()> {
        self.client.goto(url).await.map_err(|e| format!("cannot open {url}: {e}"))?;
        Ok(())
    }

    /// The origin of the current page, as the browser sees it.
    pub async fn origin(&self) -> Result<String> {
        let value = self.client.execute("return location.origin;", vec![]).await?;
        value.as_str().map(str::to_owned).ok_or_else(|| format!("location.origin is {value}").into())
    }

    /// Runs `fetch(url, request)` in the current page and reports what the page's script sees.
    /// A CORS refusal is an outcome (`blocked()`), not an error; an error means the browser
    /// itself could not be driven.
    pub async fn fetch(&self, url: &str, request: &FetchRequest) -> Result<FetchOutcome> {
        let value = self.client.execute_async(FETCH_SCRIPT, vec![json!(url), request.to_init()]).await?;
        FetchOutcome::from_json(&value).ok_or_else(|| format!("unexpected fetch result: {value}").into())
    }

    /// Opens `new WebSocket(url)` in the current page, sends `message` once it is open and
    /// waits (up to 5 s) for the first message back. A refused handshake is an outcome
    /// (`opened` false), not an error.
    pub async fn websocket(&self, url: &str, message: &str) -> Result<WebSocketOutcome> {
        let value = self.client.execute_async(WEBSOCKET_SCRIPT, vec![json!(url), json!(message)]).await?;
        let opened = value.get("opened").and_then(serde_json::Value::as_bool);
        let echo = value.get("echo").and_then(serde_json::Value::as_str).map(str::to_owned);
        match opened {
            Some(opened) => Ok(WebSocketOutcome { opened, echo }),
            None => Err(format!("unexpected WebSocket result: {value}").into()),
        }
    }

    /// Ends the WebDriver session politely, then everything else (as drop does).
    pub async fn close(self) {
        // Best effort: drop kills whatever a failed close leaves behind.
        let _ = self.client.clone().close().await;
    }

    /// The fresh profile directory Chromium runs with.
    pub fn profile_dir(&self) -> &Path {
        self.profile_dir.path()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
        kill_stragglers(self.profile_dir.path());
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("driver_pid", &self.driver.id()).finish_non_exhaustive()
    }
}

/// Kills the driver's process group if launch fails half-way.
struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            kill_group(child);
        }
    }
}

/// Ends chromedriver and every process in its group (Chromium and its helpers), then reaps
/// chromedriver.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group we created for this
        // child (process_group(0) makes its pgid equal to its pid); it touches no memory.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Chromium's zygote and renderer helpers may move to process groups of their own; they all
/// carry the profile directory, unique to this browser, on their command line.
fn kill_stragglers(profile_dir: &Path) {
    let Ok(entries) = std::fs::read_dir("/proc") else { return };
    let needle = profile_dir.as_os_str().as_encoded_bytes();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<libc::pid_t>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if cmdline.windows(needle.len()).any(|w| w == needle) {
            // SAFETY: kill(2) on a pid read just now from /proc; it touches no memory.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// What a page's script saw of a WebSocket it opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebSocketOutcome {
    /// The handshake succeeded (`onopen` ran).
    pub opened: bool,
    /// The first message the server sent back, if any.
    pub echo: Option<String>,
}

/// Opens a WebSocket, sends one message, and reports the first answer; the first of
/// message, error, close or time-out decides.
const WEBSOCKET_SCRIPT: &str = r#"
const [url, message, done] = arguments;
let opened = false;
let ws;
try { ws = new WebSocket(url); } catch (e) { done({ opened: false, echo: null }); return; }
const timer = setTimeout(() => done({ opened, echo: null }), 5000);
const finish = (echo) => { clearTimeout(timer); done({ opened, echo }); };
ws.onopen = () => { opened = true; ws.send(message); };
ws.onmessage = (event) => { finish(String(event.data)); ws.close(); };
ws.onerror = () => finish(null);
ws.onclose = () => finish(null);
"#;

/// A `fetch` to run in the page: method, headers, body and credentials mode.
#[derive(Clone, Debug)]
#[must_use]
pub struct FetchRequest {
    method: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    credentials: Credentials,
}

/// `fetch`'s `credentials` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// Never send cookies or HTTP authentication.
    Omit,
    /// Only to the page's own origin (the browser default).
    SameOrigin,
    /// Also cross-origin: the response is readable only with an exact
    /// `Access-Control-Allow-Origin` and `Access-Control-Allow-Credentials: true`.
    Include,
}

impl Credentials {
    fn as_str(self) -> &'static str {
        match self {
            Credentials::Omit => "omit",
            Credentials::SameOrigin => "same-origin",
            Credentials::Include => "include",
        }
    }
}

impl FetchRequest {
    /// A request with the given method, no headers, no body, default credentials mode.
    pub fn new(method: impl Into<String>) -> Self {
        FetchRequest {
            method: method.into(),
            headers: Vec::new(),
            body: None,
            credentials: Credentials::SameOrigin,
        }
    }

    /// A plain `GET`.
    pub fn get() -> Self {
        FetchRequest::new("GET")
    }

    /// Adds a request header (non-safelisted ones make the browser send a preflight).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the request body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the credentials mode.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    fn to_init(&self) -> Value {
        let headers: serde_json::Map<String, Value> =
            self.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let mut init = json!({
            "method": self.method,
            "headers": headers,
            "credentials": self.credentials.as_str(),
            "mode": "cors",
            "cache": "no-store",
        });
        if let (Some(body), Some(map)) = (&self.body, init.as_object_mut()) {
            map.insert("body".into(), json!(body));
        }
        init
    }
}

/// What the page's script got from `fetch`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchOutcome {
    /// `response.ok` (false when blocked).
    pub ok: bool,
    /// `response.status` (0 when blocked).
    pub status: u16,
    /// The response headers the script can read (CORS hides the rest), lowercase names.
    pub headers: BTreeMap<String, String>,
    /// The response body as text.
    pub body: String,
    /// The error `fetch` rejected with (`TypeError: Failed to fetch` for a CORS refusal).
    pub error: Option<String>,
}

impl FetchOutcome {
    /// True when `fetch` rejected: the browser refused to hand the response to the script.
    pub fn blocked(&self) -> bool {
        self.error.is_some()
    }

    /// A header the script can read.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    fn from_json(value: &Value) -> Option<FetchOutcome> {
        let headers = value
            .get("headers")?
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect::<Option<_>>()?;
        Some(FetchOutcome {
            ok: value.get("ok")?.as_bool()?,
            status: u16::try_from(value.get("status")?.as_u64()?).ok()?,
            headers,
            body: value.get("body")?.as_str()?.to_owned(),
            error: value.get("error").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// `execute_async` passes the callback as the last argument.
const FETCH_SCRIPT: &str = r#"
const [url, init, done] = arguments;
fetch(url, init).then(
  async (response) => {
    const headers = {};
    response.headers.forEach((value, name) => { headers[name] = value; });
    let body = "";
    try { body = await response.text(); } catch (e) { body = ""; }
    done({ ok: response.ok, status: response.status, headers, body, error: null });
  },
  (error) => done({ ok: false, status: 0, headers: {}, body: "", error: String(error) }),
);
"#;

fn find_binary(env: &str, name: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file()).ok_or_else(
        || {
            format!(
                "`{name}` not found on PATH (set ${env} to its path); on Debian: \
                 apt-get install chromium chromium-driver (scripts/test does this)"
            )
            .into()
        },
    )
}

/// A loopback port nothing listens on right now. Chromedriver takes a port number rather than
/// a socket, so there is a short window in which another process could take it; the launch
/// then fails loudly rather than talking to a stranger, since the session handshake would fail.
fn free_port() -> Result<u16> {
    Ok(StdListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

async fn wait_for_port(port: u16, log: &Path, driver: &mut DriverGuard) -> Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.is_ok() {
            return Ok(());
        }
        if let Some(status) = driver.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            return Err(format!("chromedriver exited with {status}{}", log_tail(log)).into());
        }
        if Instant::now() > deadline {
            return Err(format!("chromedriver did not listen on port {port}{}", log_tail(log)).into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.is_empty() {
        String::new()
    } else {
        format!("\nchromedriver log ({}):\n{tail}", log.display())
    }
}
