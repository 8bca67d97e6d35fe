//! `corsguard serve`: the gateway. A reverse proxy that enforces a CORS policy in front of any
//! backend, whatever language it is written in.
//!
//! - [`proxy`]: the proxy itself, startable in-process on any bound listener;
//! - `listener`: the listening socket, with an accept queue sized for connection bursts;
//! - [`replay`]: a pooled upstream connection's life replayed from a script, for fuzzing;
//! - [`reload`]: hot reload on SIGHUP and on file change;
//! - [`admin`], [`metrics`]: `/metrics`, `/healthz`, `/readyz`;
//! - [`tls`]: TLS termination;
//! - [`settings`]: the `[gateway]` table and its defaults.
//!
//! [`run`] is the whole of `corsguard serve`; [`proxy::start`] starts the proxy alone, in-process.
#![warn(missing_docs)]

pub mod admin;
mod drain;
pub mod exchange;
pub mod forward;
pub mod framing;
mod idle;
mod listener;
pub mod metrics;
pub mod pool;
mod preflight_cache;
pub mod proxy;
pub mod reload;
pub mod replay;
pub mod settings;
pub mod tls;
pub mod upstream;
mod worker;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use corsguard::{Diagnostic, LintCode, Policy, PolicyHandle, Severity};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use self::admin::Readiness;
use self::metrics::Metrics;
use self::proxy::{ModeSwitch, Options};
use self::reload::Reloader;
use self::settings::{Overrides, Settings};
use self::tls::Tls;

/// Exit status for a usage error or an unreadable file.
const USAGE: u8 = 2;

/// How the gateway is asked to run: the policy file, and the values given on the command line
/// that override its `[gateway]` keys.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Launch {
    /// The policy file, with an optional `[gateway]` table.
    pub config: PathBuf,
    /// The profile (`None`: the file's `default_profile`, then its only profile).
    pub profile: Option<String>,
    /// Overrides `[gateway] listen`.
    pub listen: Option<String>,
    /// Overrides `[gateway] upstream`.
    pub upstream: Option<String>,
    /// How log lines look.
    pub log_format: LogFormat,
}

impl Launch {
    /// The file's own settings, human logs.
    pub fn new(config: impl Into<PathBuf>) -> Self {
        Launch {
            config: config.into(),
            profile: None,
            listen: None,
            upstream: None,
            log_format: LogFormat::Human,
        }
    }
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Installs the log subscriber: `CORSGUARD_LOG` (or `RUST_LOG`) filters, `info` by default.
/// Safe to call more than once; the first call wins.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var("CORSGUARD_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}

/// Runs the gateway until SIGTERM or SIGINT: loads and checks the policy file, listens, reloads
/// on SIGHUP and on change, drains on shutdown. The exit status is `corsguard serve`'s: 0 after a
/// clean shutdown, 1 when the file has errors or the gateway cannot start, 2 when the file cannot
/// be read or no upstream is given anywhere.
pub fn run(args: Launch) -> ExitCode {
    init_logging(args.log_format);
    let path = args.config.clone();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            error!(path = %path.display(), error = %e, "cannot read the policy file");
            return ExitCode::from(USAGE);
        }
    };
    let overrides = Overrides { listen: args.listen.clone(), upstream: args.upstream.clone() };
    let display = path.display().to_string();
    // The policy first: for a file that is not TOML, its parse errors are the whole story.
    let policy = match Policy::from_toml(&text, args.profile.as_deref()) {
        Ok(policy) => policy,
        Err(diags) => {
            for d in diags.iter() {
                log_diagnostic(&display, d);
            }
            error!(errors = diags.errors(), "the policy has errors; fix them first (see `corsguard check`)");
            return ExitCode::FAILURE;
        }
    };
    let settings = match Settings::from_file_text(&text, &path, &overrides) {
        Ok(settings) => settings,
        Err(diags) => {
            for d in diags.iter() {
                log_diagnostic(&display, d);
            }
            // No upstream anywhere, neither in the file nor on the command line, is a usage
            // error (exit 2); anything wrong in what the file says is a policy error (exit 1).
            if diags.iter().all(|d| d.code == LintCode::InvalidUpstream && d.span.is_none()) {
                return ExitCode::from(2);
            }
            error!(
                errors = diags.errors(),
                "the [gateway] table has errors; fix them first (see `corsguard check`)"
            );
            return ExitCode::FAILURE;
        }
    };
    for d in policy.warnings().iter() {
        log_diagnostic(&display, d);
    }
    // Connections are served on the gateway's own worker threads (one per core); this runtime
    // only accepts, reloads, answers the admin endpoints and waits for signals.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let service = Service { path, profile: args.profile, text, settings, overrides, policy };
    runtime.block_on(service.run())
}

struct Service {
    path: PathBuf,
    profile: Option<String>,
    text: String,
    settings: Settings,
    overrides: Overrides,
    policy: Policy,
}

impl Service {
    async fn run(self) -> ExitCode {
        let settings = self.settings;
        let metrics = Metrics::new();
        let ready = Readiness::new();
        let tls = match &settings.tls {
            Some((cert, key)) => match Tls::load(cert, key) {
                Ok(tls) => Some(tls),
                Err(e) => {
                    error!(error = e.as_str(), "cannot set up TLS");
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };
        let listener = match listener::bind(&settings.listen).await {
            Ok(listener) => listener,
            Err(e) => {
                error!(listen = settings.listen.as_str(), error = %e, "cannot listen");
                return ExitCode::FAILURE;
            }
        };
        let admin = match &settings.admin {
            Some(addr) => match TcpListener::bind(addr).await {
                Ok(listener) => {
                    let bound = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| addr.clone());
                    Some((admin::start(listener, metrics.clone(), ready.clone()), bound))
                }
                Err(e) => {
                    error!(admin = addr.as_str(), error = %e, "cannot listen for the admin endpoints");
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };

        let handle = PolicyHandle::new(self.policy);
        let mode = ModeSwitch::new(settings.mode);
        let options = Options {
            upstream: settings.upstream.clone(),
            mode: mode.clone(),
            connect_timeout: settings.connect_timeout,
            header_timeout: settings.header_timeout,
            upstream_timeout: settings.upstream_timeout,
            tls: tls.clone(),
            metrics: metrics.clone(),
            upstream_max_connections: settings.upstream_max_connections,
            workers: 0,
            upstream_client: settings.upstream_client,
        };
        let gateway = match proxy::start(listener, handle.clone(), options) {
            Ok(gateway) => gateway,
            Err(e) => {
                error!(error = %e, "cannot start the gateway");
                return ExitCode::FAILURE;
            }
        };
        let (stop_reloads, reloads_stopped) = tokio::sync::watch::channel(false);
        let reloader = Reloader::new(&self.path, self.profile.clone(), handle.clone(), &self.text)
            .with_gateway(settings.clone(), self.overrides, mode, tls.clone())
            .with_metrics(metrics.clone());
        let reloads = tokio::spawn(reloader.run(reload::POLL_INTERVAL, reloads_stopped));
        ready.set(true);
        let policy = handle.current();
        info!(
            listen = %gateway.local_addr(),
            scheme = if tls.is_some() { "https" } else { "http" },
            upstream = %settings.upstream,
            profile = policy.profile(),
            strict = policy.is_strict(),
            mode = settings.mode.as_str(),
            admin = admin.as_ref().map_or("off", |(_, addr)| addr.as_str()),
            "corsguard gateway listening"
        );
        drop(policy);

        let signal_name = wait_for_stop_signal().await;
        ready.set(false);
        let _ = stop_reloads.send(true);
        let grace = settings.shutdown_timeout;
        info!(
            signal = signal_name,
            grace_s = grace.as_secs_f64(),
            "shutting down: draining in-flight requests"
        );
        let drained = tokio::select! {
            drained = gateway.shutdown(grace) => drained,
            second = wait_for_stop_signal() => {
                warn!(signal = second, "second signal: stopping without waiting");
                false
            }
        };
        if drained {
            info!("all connections drained; bye");
        } else {
            warn!("some connections were still open and have been closed");
        }
        let _ = reloads.await;
        if let Some((task, _)) = admin {
            task.abort();
        }
        ExitCode::SUCCESS
    }
}

/// Waits for SIGTERM or SIGINT and names it.
async fn wait_for_stop_signal() -> &'static str {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        _ => {
            // Without signal handlers only Ctrl-C through Tokio's portable handler is left.
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

/// One log line per diagnostic, with its place and help.
pub(crate) fn log_diagnostic(path: &str, d: &Diagnostic) {
    let (line, column) = d.location.unwrap_or((0, 0));
    let profile = d.profile.as_deref().unwrap_or("");
    match d.severity {
        Severity::Error => {
            error!(
                path,
                line,
                column,
                code = d.code.as_str(),
                profile,
                help = d.help.as_str(),
                "{}",
                d.message
            )
        }
        _ => {
            warn!(
                path,
                line,
                column,
                code = d.code.as_str(),
                profile,
                help = d.help.as_str(),
                "{}",
                d.message
            )
        }
    }
}
