//! A real browser for tests: headless Chromium (through chromedriver) or headless Firefox
//! (through geckodriver), both driven over W3C WebDriver, and `fetch` run inside a page with the
//! outcome the page's script would see. The pages it opens are served from chosen origins on
//! loopback by `test_support::pages`.
//!
//! Host names under `example.test` resolve to 127.0.0.1 inside the browser, and both engines
//! resolve `*.localhost` to loopback by themselves, so a test can put a page on
//! `http://app.example.test:PORT` and an API on `http://api.example.test:PORT`, two real
//! origins, with no DNS and no traffic off the machine. Firefox can only map exact names, so
//! every `example.test` name a test uses is listed once, in [`EXAMPLE_TEST_HOSTS`]; the harness
//! refuses URLs with other `example.test` names in either engine, so that a forgotten name fails
//! loudly instead of looking like a CORS refusal.
//!
//! ```no_run
//! # async fn doc() -> browser_harness::Result<()> {
//! use browser_harness::{Browser, Engine, FetchRequest};
//! use test_support::pages::PageServer;
//!
//! for engine in Engine::ALL {
//!     let browser = Browser::launch_engine(engine).await?;
//!     let page = PageServer::start("app.example.test").await?;
//!     browser.open(&page.url()).await?;
//!     let outcome = browser.fetch("http://api.example.test:8080/items", &FetchRequest::get()).await?;
//!     assert!(outcome.blocked(), "{}: no CORS headers: {outcome:?}", engine.name());
//!     browser.close().await;
//! }
//! # Ok(()) }
//! ```
//!
//! Everything started is killed when the [`Browser`] is dropped (or closed): the driver runs in
//! a process group of its own with the browser inside it, and the whole group is ended.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
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

/// Every `example.test` host name the tests use. Firefox's `network.dns.localDomains` maps
/// exact names only (no wildcards), so a test that needs a new name adds it here; the harness
/// refuses the others in both engines rather than let Firefox try real DNS for them.
pub const EXAMPLE_TEST_HOSTS: &[&str] = &["app.example.test", "api.example.test", "evil.example.test"];

/// How long the driver may take to listen, and a page script to finish.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(15);

/// A browser engine the harness can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Engine {
    /// Chromium through chromedriver.
    Chromium,
    /// Firefox (ESR on Debian) through geckodriver.
    Firefox,
}

impl Engine {
    /// Every engine, for tests that run in each.
    pub const ALL: [Engine; 2] = [Engine::Chromium, Engine::Firefox];

    /// `"chromium"` or `"firefox"`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
        }
    }

    fn driver_name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromedriver",
            Engine::Firefox => "geckodriver",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One `#[tokio::test]` per engine for each named test body, an `async fn(Engine)` in the
/// calling module: `chromium::NAME` and `firefox::NAME`, so that `cargo test firefox::` runs
/// one engine. The caller needs `tokio` with its `macros` and `rt-multi-thread` features.
///
/// ```no_run
/// use browser_harness::{Browser, Engine};
///
/// async fn opens_a_page(engine: Engine) {
///     let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");
///     browser.open("about:blank").await.expect("a page");
///     browser.close().await;
/// }
///
/// browser_harness::in_every_engine!(opens_a_page);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! in_every_engine {
    ($($test:ident),+ $(,)?) => {
        $crate::in_every_engine!(@engine chromium, Chromium, $($test),+);
        $crate::in_every_engine!(@engine firefox, Firefox, $($test),+);
    };
    (@engine $module:ident, $engine:ident, $($test:ident),+) => {
        mod $module {
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::Engine::$engine).await
                }
            )+
        }
    };
}

/// Preferences for Firefox's fresh profile. Only loopback traffic is acceptable in tests, and a
/// fresh profile otherwise phones home at start (updates, telemetry, Safe Browsing lists, remote
/// settings, captive-portal and connectivity probes, DNS over HTTPS); the first ones keep Firefox
/// from upgrading the tests' plain `http` origins to https.
const FIREFOX_PREFS: &[(&str, PrefValue)] = &[
    // `http://` pages stay `http://`: HTTPS-First would try https on every test origin first.
    ("dom.security.https_first", PrefValue::Bool(false)),
    ("dom.security.https_first_pbm", PrefValue::Bool(false)),
    ("dom.security.https_first_schemeless", PrefValue::Bool(false)),
    ("dom.security.https_only_mode", PrefValue::Bool(false)),
    // No proxy from the environment: a proxy would see the test host names instead of loopback.
    ("network.proxy.type", PrefValue::Int(0)),
    // Names come from `network.dns.localDomains` or the system resolver, never from DoH.
    ("network.trr.mode", PrefValue::Int(5)),
    ("network.captive-portal-service.enabled", PrefValue::Bool(false)),
    ("network.connectivity-service.enabled", PrefValue::Bool(false)),
    ("network.dns.disablePrefetch", PrefValue::Bool(true)),
    ("network.prefetch-next", PrefValue::Bool(false)),
    ("network.http.speculative-parallel-limit", PrefValue::Int(0)),
    ("app.update.enabled", PrefValue::Bool(false)),
    ("app.update.auto", PrefValue::Bool(false)),
    ("app.update.disabledForTesting", PrefValue::Bool(true)),
    ("app.normandy.enabled", PrefValue::Bool(false)),
    ("app.shield.optoutstudies.enabled", PrefValue::Bool(false)),
    ("toolkit.telemetry.enabled", PrefValue::Bool(false)),
    ("toolkit.telemetry.unified", PrefValue::Bool(false)),
    ("toolkit.telemetry.archive.enabled", PrefValue::Bool(false)),
    ("toolkit.telemetry.server", PrefValue::Str("")),
    ("datareporting.healthreport.uploadEnabled", PrefValue::Bool(false)),
    ("datareporting.policy.dataSubmissionEnabled", PrefValue::Bool(false)),
    ("browser.ping-centre.telemetry", PrefValue::Bool(false)),
    ("browser.safebrowsing.malware.enabled", PrefValue::Bool(false)),
    ("browser.safebrowsing.phishing.enabled", PrefValue::Bool(false)),
    ("browser.safebrowsing.downloads.enabled", PrefValue::Bool(false)),
    ("browser.safebrowsing.downloads.remote.enabled", PrefValue::Bool(false)),
    ("browser.safebrowsing.blockedURIs.enabled", PrefValue::Bool(false)),
    ("browser.safebrowsing.provider.google.updateURL", PrefValue::Str("")),
    ("browser.safebrowsing.provider.google4.updateURL", PrefValue::Str("")),
    ("browser.safebrowsing.provider.mozilla.updateURL", PrefValue::Str("")),
    ("privacy.trackingprotection.enabled", PrefValue::Bool(false)),
    ("extensions.update.enabled", PrefValue::Bool(false)),
    ("extensions.getAddons.cache.enabled", PrefValue::Bool(false)),
    ("extensions.blocklist.enabled", PrefValue::Bool(false)),
    ("services.settings.server", PrefValue::Str("data:,#remote-settings-dummy/v1")),
    ("media.gmp-manager.url", PrefValue::Str("")),
    ("media.gmp-gmpopenh264.enabled", PrefValue::Bool(false)),
    ("browser.region.network.url", PrefValue::Str("")),
    ("browser.region.update.enabled", PrefValue::Bool(false)),
    ("geo.provider.network.url", PrefValue::Str("")),
    ("browser.newtabpage.enabled", PrefValue::Bool(false)),
    ("browser.newtabpage.activity-stream.feeds.topsites", PrefValue::Bool(false)),
    ("browser.newtabpage.activity-stream.feeds.section.topstories", PrefValue::Bool(false)),
    ("browser.startup.homepage", PrefValue::Str("about:blank")),
    ("browser.startup.page", PrefValue::Int(0)),
    ("browser.shell.checkDefaultBrowser", PrefValue::Bool(false)),
    ("identity.fxaccounts.enabled", PrefValue::Bool(false)),
    ("browser.discovery.enabled", PrefValue::Bool(false)),
];

/// A Firefox preference value (JSON in `moz:firefoxOptions.prefs`).
enum PrefValue {
    Bool(bool),
    Int(i64),
    Str(&'static str),
}

impl PrefValue {
    fn to_json(&self) -> Value {
        match self {
            PrefValue::Bool(b) => json!(b),
            PrefValue::Int(i) => json!(i),
            PrefValue::Str(s) => json!(s),
        }
    }
}

/// A headless browser session. One per test is plenty: pages and fetches are cheap, starting
/// the browser is not (about a second for Chromium, a few for Firefox).
pub struct Browser {
    client: Client,
    driver: Child,
    engine: Engine,
    // Removed on drop, after the processes using it are gone.
    profile_dir: tempfile::TempDir,
}

impl Browser {
    /// Starts headless Chromium, as [`Browser::launch_engine`] with [`Engine::Chromium`].
    pub async fn launch() -> Result<Browser> {
        Browser::launch_engine(Engine::Chromium).await
    }

    /// Starts the engine's driver on a loopback port of its choosing and, behind it, a fresh
    /// headless browser with a profile of its own.
    ///
    /// Binaries: for Chromium `$CHROMEDRIVER` and `$CHROMIUM` if set, else `chromedriver` and
    /// `chromium` from `PATH` (Debian's `chromium-driver` and `chromium` packages); for Firefox
    /// `$GECKODRIVER` and `$FIREFOX`, else `geckodriver` (`cargo install geckodriver --locked`)
    /// and `firefox-esr` or `firefox` (Debian's `firefox-esr`). A missing binary is an error,
    /// never a silent skip.
    pub async fn launch_engine(engine: Engine) -> Result<Browser> {
        let (driver_bin, browser_bin) = match engine {
            Engine::Chromium => (
                find_binary(engine, "CHROMEDRIVER", &["chromedriver"])?,
                find_binary(engine, "CHROMIUM", &["chromium"])?,
            ),
            Engine::Firefox => (
                find_binary(engine, "GECKODRIVER", &["geckodriver"])?,
                find_binary(engine, "FIREFOX", &["firefox-esr", "firefox"])?,
            ),
        };
        let profile_dir = tempfile::Builder::new().prefix("browser-harness-").tempdir()?;
        let log = profile_dir.path().join(format!("{}.log", engine.driver_name()));
        let mut command = Command::new(&driver_bin);
        match engine {
            Engine::Chromium => {
                command
                    // Port 0: the driver binds a free port itself and logs it, so no other
                    // process (another driver, a browser's own listener) can take it between
                    // our choosing it and the driver binding it.
                    .arg("--port=0")
                    .arg(format!("--log-path={}", log.display()))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
            Engine::Firefox => {
                // geckodriver logs, and passes Firefox's own output, to stdout and stderr only.
                let out = File::create(&log)?;
                let err = out.try_clone()?;
                command
                    // Port 0 for the same reason as chromedriver's.
                    .args(["--host", "127.0.0.1", "--port", "0"])
                    // Without it geckodriver asks every Firefox for the same BiDi port (9222)
                    // whenever a session wants one, and parallel test binaries would clash. The
                    // Marionette port is system-allocated unless `--marionette-port` is given.
                    .args(["--websocket-port", "0"])
                    // Firefox's own test switch, inherited from geckodriver (which passes
                    // `moz:firefoxOptions.env` on Android only): a connection to anything but
                    // loopback aborts the browser, a loud failure rather than a silent call out,
                    // and release builds honour `services.settings.server` only with it.
                    .env("MOZ_DISABLE_NONLOCAL_CONNECTIONS", "1")
                    .stdout(out)
                    .stderr(err);
            }
        }
        let driver = command
            .stdin(Stdio::null())
            // Its own process group, so that drop can end the driver and every browser process
            // it starts in one signal.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", driver_bin.display()))?;
        // From here on, a failure drops `guard`, which kills what was started.
        let mut guard = DriverGuard(Some(driver));
        let port = wait_for_listening(engine, &log, &mut guard).await?;

        let user_data_dir = profile_dir.path().join("profile");
        let mut capabilities = Capabilities::new();
        match engine {
            Engine::Chromium => {
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
                capabilities.insert("browserName".into(), json!("chrome"));
                capabilities.insert(
                    "goog:chromeOptions".into(),
                    json!({ "binary": browser_bin.to_string_lossy(), "args": args }),
                );
            }
            Engine::Firefox => {
                std::fs::create_dir(&user_data_dir)?;
                let mut prefs: serde_json::Map<String, Value> =
                    FIREFOX_PREFS.iter().map(|(name, value)| ((*name).to_owned(), value.to_json())).collect();
                prefs.insert("network.dns.localDomains".into(), json!(EXAMPLE_TEST_HOSTS.join(",")));
                capabilities.insert("browserName".into(), json!("firefox"));
                capabilities.insert(
                    "moz:firefoxOptions".into(),
                    json!({
                        "binary": browser_bin.to_string_lossy(),
                        "args": ["-headless", "-profile", user_data_dir.to_string_lossy()],
                        "prefs": prefs,
                    }),
                );
            }
        }
        capabilities.insert("timeouts".into(), json!({ "script": SCRIPT_TIMEOUT.as_millis() as u64 }));
        let driver_name = engine.driver_name();
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .map_err(|e| format!("{driver_name} could not start {engine}: {e}{}", log_tail(engine, &log)))?;
        let driver = guard.0.take().ok_or("driver process vanished")?;
        Ok(Browser { client, driver, engine, profile_dir })
    }

    /// The engine this session runs.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The WebDriver client, for anything this harness does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates to `url` and waits for the page to load; later fetches run in that page, with
    /// its origin.
    pub async fn open(&self, url: &str) -> Result<()> {
        check_host(url)?;
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
        check_host(url)?;
        let value = self.client.execute_async(FETCH_SCRIPT, vec![json!(url), request.to_init()]).await?;
        FetchOutcome::from_json(&value).ok_or_else(|| format!("unexpected fetch result: {value}").into())
    }

    /// Opens `new WebSocket(url)` in the current page, sends `message` once it is open and
    /// waits (up to 5 s) for the first message back. A refused handshake is an outcome
    /// (`opened` false), not an error.
    pub async fn websocket(&self, url: &str, message: &str) -> Result<WebSocketOutcome> {
        check_host(url)?;
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

    /// The fresh directory of this session: the browser's profile and the driver's log.
    pub fn profile_dir(&self) -> &Path {
        self.profile_dir.path()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Firefox's crash helper is found through the browser's pid, so before the browser dies.
        let before = stragglers(self.profile_dir.path());
        kill_group(&mut self.driver);
        for pid in before.into_iter().chain(stragglers(self.profile_dir.path())) {
            // SAFETY: kill(2) on a pid read just now from /proc; it touches no memory.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("engine", &self.engine)
            .field("driver_pid", &self.driver.id())
            .finish_non_exhaustive()
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

/// Ends the driver and every process in its group (the browser and its helpers), then reaps
/// the driver.
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

/// Processes that escape the driver's process group. Chromium's zygote and renderer helpers
/// may move to process groups of their own; they all carry the profile directory, unique to this
/// browser, on their command line (as does the Firefox parent process). Firefox's crash helper
/// runs in a session of its own, named by the pid of the Firefox it watches; it would leave by
/// itself a few seconds after that Firefox, but a test binary should not leave anything behind.
fn stragglers(profile_dir: &Path) -> Vec<libc::pid_t> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let needle = profile_dir.as_os_str().as_encoded_bytes();
    let processes: Vec<(libc::pid_t, Vec<u8>)> = entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            Some((pid, std::fs::read(entry.path().join("cmdline")).ok()?))
        })
        .collect();
    let browsers: Vec<libc::pid_t> = processes
        .iter()
        .filter(|(_, cmdline)| cmdline.windows(needle.len()).any(|w| w == needle))
        .map(|(pid, _)| *pid)
        .collect();
    let crash_helpers = processes.iter().filter_map(|(pid, cmdline)| {
        let mut args = cmdline.split(|&b| b == 0);
        let program = args.next()?;
        let watched: libc::pid_t = std::str::from_utf8(args.next()?).ok()?.parse().ok()?;
        (program.ends_with(b"/crashhelper") && browsers.contains(&watched)).then_some(*pid)
    });
    crash_helpers.chain(browsers.iter().copied()).collect()
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
    /// The error `fetch` rejected with: for a CORS refusal `TypeError: Failed to fetch` in
    /// Chromium, `TypeError: NetworkError when attempting to fetch resource.` in Firefox.
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

/// `$ENV` if set, else the first of `names` on `PATH`.
fn find_binary(engine: Engine, env: &str, names: &[&str]) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    let found = names.iter().find_map(|name| {
        std::env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
    });
    found.ok_or_else(|| {
        let install = match engine {
            Engine::Chromium => "on Debian: apt-get install chromium chromium-driver",
            Engine::Firefox if names.contains(&"geckodriver") => {
                "cargo install geckodriver --locked (into ~/.cargo/bin, which must be on PATH)"
            }
            Engine::Firefox => "on Debian: apt-get install firefox-esr",
        };
        format!(
            "{} not found on PATH (set ${env} to its path); {install} (scripts/test does this)",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or "),
        )
        .into()
    })
}

/// Refuses `example.test` names the browsers were not told about (see [`EXAMPLE_TEST_HOSTS`]):
/// Firefox would look them up in real DNS, and the failure would read like a CORS refusal.
fn check_host(url: &str) -> Result<()> {
    let Some((_, rest)) = url.split_once("://") else { return Ok(()) };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = host_port.split(':').next().unwrap_or_default().to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if (host == "example.test" || host.ends_with(".example.test")) && !EXAMPLE_TEST_HOSTS.contains(&host) {
        return Err(format!(
            "{host} is not in browser_harness::EXAMPLE_TEST_HOSTS; add it there so that Firefox \
             resolves it to loopback"
        )
        .into());
    }
    Ok(())
}

/// The port the driver says, in its log, that it listens on.
async fn wait_for_listening(engine: Engine, log: &Path, driver: &mut DriverGuard) -> Result<u16> {
    let (name, marker) = match engine {
        Engine::Chromium => ("chromedriver", "was started successfully on port "),
        Engine::Firefox => ("geckodriver", "Listening on 127.0.0.1:"),
    };
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some((_, rest)) = text.split_once(marker) {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            // A line cut short by a read in the middle of the write ends without a newline.
            if rest.len() > digits.len() {
                return digits
                    .parse()
                    .map_err(|e| format!("{name} logged an odd port ({e}){}", log_tail(engine, log)).into());
            }
        }
        if let Some(status) = driver.0.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            return Err(format!("{name} exited with {status}{}", log_tail(engine, log)).into());
        }
        if Instant::now() > deadline {
            return Err(format!("{name} did not start listening{}", log_tail(engine, log)).into());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn log_tail(engine: Engine, log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.is_empty() {
        String::new()
    } else {
        format!("\n{} log ({}):\n{tail}", engine.driver_name(), log.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_example_test_names_pass() {
        for url in [
            "http://api.example.test:8080/items",
            "ws://API.example.test:1/ws",
            "http://app.localhost:3000/",
            "http://127.0.0.1:9/x?next=http://other.example.test/",
            "about:blank",
        ] {
            assert!(check_host(url).is_ok(), "{url}");
        }
        for url in ["http://other.example.test/", "ws://user@new.example.test:1/", "http://example.test"] {
            let error = check_host(url).expect_err(url).to_string();
            assert!(error.contains("EXAMPLE_TEST_HOSTS"), "{error}");
        }
    }

    #[test]
    fn engine_names() {
        assert_eq!(Engine::ALL.map(Engine::name), ["chromium", "firefox"]);
    }
}

/// Runs a browser test's cases one after another and keeps every failure, so that the test
/// reports all of them at once instead of stopping at the first.
#[derive(Debug, Default)]
pub struct Cases {
    /// `name: why` for each case that failed.
    pub failures: Vec<String>,
}

impl Cases {
    /// Runs `case`; an `Err` is kept under `name`.
    pub async fn run<F: std::future::Future<Output = std::result::Result<(), String>>>(
        &mut self,
        name: &str,
        case: F,
    ) {
        if let Err(why) = case.await {
            self.failures.push(format!("{name}: {why}"));
        }
    }
}

/// `Ok` when `cond` holds; otherwise what was expected and the outcome the page saw.
pub fn expect(cond: bool, what: &str, outcome: &FetchOutcome) -> std::result::Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("{what}; got {outcome:?}"))
    }
}
