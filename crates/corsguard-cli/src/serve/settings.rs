//! The `[gateway]` table, checked and with its defaults, plus the command-line overrides.

use std::path::{Path, PathBuf};
use std::time::Duration;

use corsguard::config::Sp;
use corsguard::diagnostic::line_column;

use super::proxy::{
    Mode, Upstream, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_UPSTREAM_MAX_CONNECTIONS, DEFAULT_UPSTREAM_TIMEOUT,
};

/// Default `listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Everything `corsguard serve` needs besides the policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Address to serve on (`host:port`; a name is resolved).
    pub listen: String,
    /// Where requests go.
    pub upstream: Upstream,
    /// Address of the metrics and health listener; `None` = off.
    pub admin: Option<String>,
    /// Enforce or report-only.
    pub mode: Mode,
    /// PEM certificate chain and key, relative paths taken from the policy file's folder.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `connect_timeout`.
    pub connect_timeout: Duration,
    /// `header_timeout`.
    pub header_timeout: Duration,
    /// `upstream_timeout`.
    pub upstream_timeout: Duration,
    /// `shutdown_timeout`.
    pub shutdown_timeout: Duration,
    /// `upstream_max_connections`.
    pub upstream_max_connections: usize,
}

/// Command-line values that replace `[gateway]` keys.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--upstream`.
    pub upstream: Option<String>,
}

impl Settings {
    /// Reads `[gateway]` from `text` (the policy file at `path`). Every problem is returned,
    /// each as `file:line:col: message`.
    pub fn from_file_text(text: &str, path: &Path, overrides: &Overrides) -> Result<Settings, Vec<String>> {
        let (file, _) = corsguard::config::parse(text);
        let section = &file.gateway;
        let mut errors = Vec::new();
        let at = |span: &Option<std::ops::Range<usize>>| match span {
            Some(span) => {
                let (line, col) = line_column(text, span.start);
                format!("{}:{line}:{col}", path.display())
            }
            None => path.display().to_string(),
        };

        let listen = overrides
            .listen
            .clone()
            .or_else(|| section.listen.as_ref().map(|l| l.value.clone()))
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());

        let upstream = match (&overrides.upstream, &section.upstream) {
            (Some(url), _) => Upstream::parse(url).map_err(|e| format!("--upstream: {e}")),
            (None, Some(url)) => Upstream::parse(&url.value).map_err(|e| format!("{}: {e}", at(&url.span))),
            (None, None) => Err(format!(
                "{}: no upstream: add `upstream = \"http://127.0.0.1:3000\"` to [gateway] or pass --upstream URL",
                path.display()
            )),
        };
        let upstream = upstream.map_err(|e| errors.push(e)).ok();

        let mode = match &section.mode {
            None => Mode::Enforce,
            Some(m) => Mode::parse(&m.value).unwrap_or_else(|| {
                errors.push(format!(
                    "{}: [gateway] mode is \"enforce\" or \"report\", not {:?}",
                    at(&m.span),
                    m.value
                ));
                Mode::Enforce
            }),
        };

        let base = path.parent().unwrap_or(Path::new("."));
        let tls = match (&section.tls_cert, &section.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((base.join(&cert.value), base.join(&key.value))),
            (Some(one), None) | (None, Some(one)) => {
                errors.push(format!("{}: TLS needs both tls_cert and tls_key in [gateway]", at(&one.span)));
                None
            }
        };

        let upstream_max_connections = match &section.upstream_max_connections {
            None => DEFAULT_UPSTREAM_MAX_CONNECTIONS,
            Some(n) => usize::try_from(n.value).ok().filter(|&n| n > 0).unwrap_or_else(|| {
                errors.push(format!(
                    "{}: [gateway] upstream_max_connections is a positive number, not {}",
                    at(&n.span),
                    n.value
                ));
                DEFAULT_UPSTREAM_MAX_CONNECTIONS
            }),
        };

        let seconds = |value: &Option<Sp<f64>>, default: Duration| {
            value.as_ref().map_or(default, |s| Duration::try_from_secs_f64(s.value).unwrap_or(default))
        };
        let Some(upstream) = upstream.filter(|_| errors.is_empty()) else {
            return Err(errors);
        };
        Ok(Settings {
            listen,
            upstream,
            admin: section.admin.as_ref().map(|a| a.value.clone()),
            mode,
            tls,
            connect_timeout: seconds(&section.connect_timeout, DEFAULT_CONNECT_TIMEOUT),
            header_timeout: seconds(&section.header_timeout, DEFAULT_HEADER_TIMEOUT),
            upstream_timeout: seconds(&section.upstream_timeout, DEFAULT_UPSTREAM_TIMEOUT),
            shutdown_timeout: seconds(&section.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT),
            upstream_max_connections,
        })
    }

    /// The names of the keys that differ from `other` and only take effect on restart.
    pub fn restart_needed(&self, other: &Settings) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let pairs: [(&'static str, bool); 9] = [
            ("listen", self.listen != other.listen),
            ("upstream", self.upstream != other.upstream),
            ("admin", self.admin != other.admin),
            ("tls_cert/tls_key", self.tls != other.tls),
            ("connect_timeout", self.connect_timeout != other.connect_timeout),
            ("header_timeout", self.header_timeout != other.header_timeout),
            ("upstream_timeout", self.upstream_timeout != other.upstream_timeout),
            ("shutdown_timeout", self.shutdown_timeout != other.shutdown_timeout),
            ("upstream_max_connections", self.upstream_max_connections != other.upstream_max_connections),
        ];
        for (key, changed) in pairs {
            if changed {
                keys.push(key);
            }
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_file_leaves_out_and_flags_win() {
        let text = "[gateway]\nupstream = \"http://127.0.0.1:3000\"\nupstream_timeout = 2.5\n";
        let s = Settings::from_file_text(text, Path::new("/etc/cg/corsguard.toml"), &Overrides::default())
            .unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN);
        assert_eq!(s.upstream_timeout, Duration::from_millis(2500));
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(s.mode, Mode::Enforce);
        assert_eq!(s.admin, None);
        assert_eq!(s.upstream_max_connections, DEFAULT_UPSTREAM_MAX_CONNECTIONS);

        let flags =
            Overrides { listen: Some("127.0.0.1:0".into()), upstream: Some("http://127.0.0.1:9".into()) };
        let s = Settings::from_file_text(text, Path::new("corsguard.toml"), &flags).unwrap();
        assert_eq!(s.listen, "127.0.0.1:0");
        assert_eq!(s.upstream.to_string(), "http://127.0.0.1:9");
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = "[gateway]\nmode = \"strict\"\ntls_cert = \"cert.pem\"\n";
        let errors = Settings::from_file_text(text, Path::new("cg.toml"), &Overrides::default()).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("no upstream"));
        assert!(errors[1].starts_with("cg.toml:2:8:"), "{}", errors[1]);
        assert!(errors[2].starts_with("cg.toml:3:12:") && errors[2].contains("tls_key"), "{}", errors[2]);
    }

    #[test]
    fn upstream_max_connections_is_a_positive_integer() {
        let text = "[gateway]\nupstream = \"http://127.0.0.1:3000\"\nupstream_max_connections = 64\n";
        let s = Settings::from_file_text(text, Path::new("cg.toml"), &Overrides::default()).unwrap();
        assert_eq!(s.upstream_max_connections, 64);
        let text = "[gateway]\nupstream = \"http://127.0.0.1:3000\"\nupstream_max_connections = 0\n";
        let errors = Settings::from_file_text(text, Path::new("cg.toml"), &Overrides::default()).unwrap_err();
        assert!(errors[0].starts_with("cg.toml:3:28:") && errors[0].contains("positive"), "{errors:?}");
    }

    #[test]
    fn tls_paths_are_relative_to_the_policy_file() {
        let text =
            "[gateway]\nupstream = \"http://127.0.0.1:3000\"\ntls_cert = \"c.pem\"\ntls_key = \"/k.pem\"\n";
        let s = Settings::from_file_text(text, Path::new("/etc/cg/p.toml"), &Overrides::default()).unwrap();
        assert_eq!(s.tls, Some((PathBuf::from("/etc/cg/c.pem"), PathBuf::from("/k.pem"))));
    }
}
