//! Hot reload: the policy file is read again on SIGHUP and whenever its contents change
//! (checked every second). Comparing contents rather than watching inodes follows Kubernetes
//! ConfigMap updates, which swap a symlink, as well as editors that write a new file.
//!
//! A new file is linted like `corsguard check` does; an invalid one is refused with every
//! diagnostic in the log and the current policy keeps serving. Requests already in flight
//! finish under the policy they started with ([`PolicyHandle`] swaps atomically).

use std::path::PathBuf;
use std::time::Duration;

use corsguard::PolicyHandle;
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::log_diagnostic;
use super::metrics::Metrics;
use super::proxy::ModeSwitch;
use super::settings::{Overrides, Settings};
use super::tls::Tls;

/// How often the file is checked for changes.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What a check of the policy file did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The file did not change (and no reload was asked for).
    Unchanged,
    /// The new policy serves from now on.
    Reloaded,
    /// The file is invalid or unreadable; the previous policy keeps serving.
    Refused,
}

/// Reloads one policy file into a [`PolicyHandle`].
pub struct Reloader {
    path: PathBuf,
    profile: Option<String>,
    overrides: Overrides,
    policy: PolicyHandle,
    mode: ModeSwitch,
    tls: Option<Tls>,
    metrics: Metrics,
    settings: Option<Settings>,
    /// The contents last acted upon (valid or not), so a broken file is reported once rather
    /// than every second.
    seen: Option<Vec<u8>>,
    unreadable: bool,
}

impl Reloader {
    /// Watches `path`, whose current contents `initial` are already serving.
    pub fn new(
        path: impl Into<PathBuf>,
        profile: Option<String>,
        policy: PolicyHandle,
        initial: &str,
    ) -> Self {
        Reloader {
            path: path.into(),
            profile,
            overrides: Overrides::default(),
            policy,
            mode: ModeSwitch::new(super::proxy::Mode::Enforce),
            tls: None,
            metrics: Metrics::new(),
            settings: None,
            seen: Some(initial.as_bytes().to_vec()),
            unreadable: false,
        }
    }

    /// Also follows `[gateway]`: `mode` switches live, other changed keys are logged as
    /// needing a restart, and the TLS certificate is read again on every reload.
    pub fn with_gateway(
        mut self,
        settings: Settings,
        overrides: Overrides,
        mode: ModeSwitch,
        tls: Option<Tls>,
    ) -> Self {
        self.settings = Some(settings);
        self.overrides = overrides;
        self.mode = mode;
        self.tls = tls;
        self
    }

    /// Counts reloads in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reads the file and reloads it if its contents changed, or in any case with `force`
    /// (SIGHUP).
    pub async fn check(&mut self, force: bool) -> Outcome {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::read(path)).await;
        let bytes = match read {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return self.unreadable(&e.to_string(), force),
            Err(e) => return self.unreadable(&e.to_string(), force),
        };
        self.unreadable = false;
        if !force && self.seen.as_deref() == Some(bytes.as_slice()) {
            return Outcome::Unchanged;
        }
        let outcome = self.reload(&bytes);
        self.seen = Some(bytes);
        outcome
    }

    fn unreadable(&mut self, error: &str, force: bool) -> Outcome {
        // A ConfigMap swap can make the file vanish for an instant: log once, keep serving,
        // and try again at the next tick.
        if force || !self.unreadable {
            self.metrics.reload(false);
            error!(path = %self.path.display(), error, "cannot read the policy file; the current policy keeps serving");
        }
        self.unreadable = true;
        self.seen = None;
        Outcome::Refused
    }

    fn reload(&mut self, bytes: &[u8]) -> Outcome {
        let path = self.path.display().to_string();
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.metrics.reload(false);
            error!(path, "the policy file is not UTF-8; reload refused, the current policy keeps serving");
            return Outcome::Refused;
        };
        let settings = match &self.settings {
            Some(_) => match Settings::from_file_text(text, &self.path, &self.overrides) {
                Ok(settings) => Some(settings),
                Err(diags) => {
                    for d in diags.iter() {
                        log_diagnostic(&path, d);
                    }
                    return self.refused(&path, diags.errors());
                }
            },
            None => None,
        };
        let policy = match self.policy.reload_toml(text, self.profile.as_deref()) {
            Ok(policy) => policy,
            Err(diags) => {
                for d in diags.iter() {
                    log_diagnostic(&path, d);
                }
                return self.refused(&path, diags.errors());
            }
        };
        for d in policy.warnings().iter() {
            log_diagnostic(&path, d);
        }
        if let (Some(new), Some(old)) = (settings, self.settings.as_mut()) {
            if new.mode != old.mode {
                self.mode.set(new.mode);
                self.metrics.set_report_mode(new.mode == super::proxy::Mode::Report);
                info!(mode = new.mode.as_str(), "gateway mode switched");
            }
            let keys = new.restart_needed(old);
            if !keys.is_empty() {
                warn!(keys = keys.join(", "), "these [gateway] keys changed and take effect on restart");
            }
            old.mode = new.mode;
        }
        if let Some(tls) = &self.tls {
            match tls.reload() {
                Ok(()) => info!("TLS certificate reloaded"),
                Err(e) => error!(
                    error = e.as_str(),
                    "TLS certificate reload refused; the current one keeps serving"
                ),
            }
        }
        self.metrics.reload(true);
        info!(
            path,
            profile = policy.profile(),
            strict = policy.is_strict(),
            warnings = policy.warnings().warnings(),
            "policy reloaded"
        );
        Outcome::Reloaded
    }

    fn refused(&self, path: &str, errors: usize) -> Outcome {
        self.metrics.reload(false);
        error!(path, errors, "policy reload refused; the previous policy keeps serving");
        Outcome::Refused
    }

    /// Checks every `interval` and on every SIGHUP until `stop` turns true.
    pub async fn run(mut self, interval: Duration, mut stop: watch::Receiver<bool>) {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; reloads follow file changes only");
                None
            }
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let force = tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => false,
                Some(()) = async {
                    match hangup.as_mut() {
                        Some(signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                } => true,
            };
            if force {
                info!(path = %self.path.display(), "SIGHUP: reloading the policy");
            }
            self.check(force).await;
        }
    }
}
