//! The `[gateway]` table: read with the place of every value, validated into the same
//! [`Diagnostics`] as the policy (so `corsguard check` refuses first whatever `serve` would),
//! with its defaults and the command-line overrides.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use corsguard::{Diagnostic, Diagnostics, LintCode};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::proxy::{
    Mode, UpstreamClient, DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT,
    DEFAULT_UPSTREAM_MAX_CONNECTIONS, DEFAULT_UPSTREAM_TIMEOUT,
};
use super::upstream::Upstream;

/// Default `listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The longest timeout accepted, in seconds: a day. Longer is a mistake in units, and values a
/// `Duration` cannot hold would otherwise have to be clamped silently.
const MAX_TIMEOUT_SECONDS: f64 = 86_400.0;

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
    /// `upstream_client`.
    pub upstream_client: UpstreamClient,
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
    /// Reads and validates `[gateway]` from `text` (the policy file at `path`; relative TLS
    /// paths are taken from its folder). Every problem is returned, located in `text`.
    ///
    /// A file that is not valid TOML is refused with the parser's errors, as the policy is.
    pub fn from_file_text(text: &str, path: &Path, overrides: &Overrides) -> Result<Settings, Diagnostics> {
        let (section, mut diags) = Section::read(text, true);
        // Not TOML: the parser's errors are the whole story.
        let settings = section.and_then(|section| section.validate(path, overrides, true, &mut diags));
        diags.locate(text);
        match settings {
            Some(settings) if !diags.has_errors() => Ok(settings),
            _ => Err(diags),
        }
    }

    /// What `corsguard check` reports about `[gateway]`: everything [`from_file_text`]
    /// would refuse, except a missing `upstream` (`--upstream` may give it, and a file for the
    /// tower layer needs none).
    ///
    /// [`from_file_text`]: Settings::from_file_text
    ///
    /// A file that is not valid TOML gives no diagnostics here: the policy's own check reports
    /// the syntax error, and reporting it twice would only confuse.
    pub fn check(text: &str) -> Diagnostics {
        let (section, mut diags) = Section::read(text, false);
        if let Some(section) = section {
            section.validate(Path::new("."), &Overrides::default(), false, &mut diags);
        }
        diags.locate(text);
        diags
    }

    /// The names of the keys that differ from `other` and only take effect on restart.
    pub fn restart_needed(&self, other: &Settings) -> Vec<&'static str> {
        let pairs: [(&'static str, bool); 10] = [
            ("listen", self.listen != other.listen),
            ("upstream", self.upstream != other.upstream),
            ("admin", self.admin != other.admin),
            ("tls_cert/tls_key", self.tls != other.tls),
            ("connect_timeout", self.connect_timeout != other.connect_timeout),
            ("header_timeout", self.header_timeout != other.header_timeout),
            ("upstream_timeout", self.upstream_timeout != other.upstream_timeout),
            ("shutdown_timeout", self.shutdown_timeout != other.shutdown_timeout),
            ("upstream_max_connections", self.upstream_max_connections != other.upstream_max_connections),
            ("upstream_client", self.upstream_client != other.upstream_client),
        ];
        pairs.into_iter().filter(|(_, changed)| *changed).map(|(key, _)| key).collect()
    }
}

/// The `[gateway]` keys other programs read as written: `corsguard export` takes the listen
/// address and the upstream from them, and says when the file asks for report mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WrittenKeys {
    /// `listen`.
    pub listen: Option<String>,
    /// `upstream`.
    pub upstream: Option<String>,
    /// `mode`.
    pub mode: Option<String>,
    /// `admin`.
    pub admin: Option<String>,
}

impl WrittenKeys {
    /// The keys of `text`'s `[gateway]`, unchecked (see [`Settings::check`]).
    pub fn read(text: &str) -> WrittenKeys {
        let section = Section::read(text, false).0.unwrap_or_default();
        let value = |v: Option<Sp<String>>| v.map(|v| v.value);
        WrittenKeys {
            listen: value(section.listen),
            upstream: value(section.upstream),
            mode: value(section.mode),
            admin: value(section.admin),
        }
    }
}

/// A value and where it was written.
#[derive(Clone, Debug)]
struct Sp<T> {
    value: T,
    span: Range<usize>,
}

const KEYS: &[&str] = &[
    "listen",
    "upstream",
    "admin",
    "mode",
    "tls_cert",
    "tls_key",
    "connect_timeout",
    "header_timeout",
    "upstream_timeout",
    "shutdown_timeout",
    "upstream_max_connections",
    "upstream_client",
];

/// `[gateway]` as written.
#[derive(Debug, Default)]
struct Section {
    listen: Option<Sp<String>>,
    upstream: Option<Sp<String>>,
    admin: Option<Sp<String>>,
    mode: Option<Sp<String>>,
    tls_cert: Option<Sp<String>>,
    tls_key: Option<Sp<String>>,
    connect_timeout: Option<Sp<f64>>,
    header_timeout: Option<Sp<f64>>,
    upstream_timeout: Option<Sp<f64>>,
    shutdown_timeout: Option<Sp<f64>>,
    upstream_max_connections: Option<Sp<i64>>,
    upstream_client: Option<Sp<String>>,
}

impl Section {
    /// The section as written (empty when the file has none), or `None` for a file that is
    /// not TOML, whose parser errors come with `report_syntax`.
    fn read(text: &str, report_syntax: bool) -> (Option<Section>, Diagnostics) {
        let mut diags = Diagnostics::new();
        let mut section = Section::default();
        let (root, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            for error in errors.iter().filter(|_| report_syntax) {
                let message = error.message().trim().to_owned();
                diags.push(
                    Diagnostic::new(LintCode::ParseError, message, "this is not valid TOML").at(error.span()),
                );
            }
            return (None, diags);
        }
        let Some(value) = root.get_ref().get("gateway") else { return (Some(section), diags) };
        let Some(table) = value.get_ref().as_table() else {
            diags.push(type_error(value, "a table ([gateway])"));
            return (Some(section), diags);
        };
        for (key, value) in table.iter() {
            let mut string = |slot: &mut Option<Sp<String>>| *slot = read_string(value, &mut diags);
            match key.get_ref().as_ref() {
                "listen" => string(&mut section.listen),
                "upstream" => string(&mut section.upstream),
                "admin" => string(&mut section.admin),
                "mode" => string(&mut section.mode),
                "tls_cert" => string(&mut section.tls_cert),
                "tls_key" => string(&mut section.tls_key),
                "upstream_client" => string(&mut section.upstream_client),
                "connect_timeout" => section.connect_timeout = read_seconds(value, &mut diags),
                "header_timeout" => section.header_timeout = read_seconds(value, &mut diags),
                "upstream_timeout" => section.upstream_timeout = read_seconds(value, &mut diags),
                "shutdown_timeout" => section.shutdown_timeout = read_seconds(value, &mut diags),
                "upstream_max_connections" => section.upstream_max_connections = read_int(value, &mut diags),
                name => diags.push(unknown_key(name, key.span())),
            }
        }
        (Some(section), diags)
    }

    /// The settings, or `None` when a value is refused (each refusal is in `diags`).
    fn validate(
        self,
        path: &Path,
        overrides: &Overrides,
        need_upstream: bool,
        diags: &mut Diagnostics,
    ) -> Option<Settings> {
        let errors_before = diags.errors();
        let mut refuse = |code: LintCode, span: Option<Range<usize>>, message: String, help: &str| {
            diags.push(Diagnostic::new(code, message, help).at(span));
        };

        let upstream = match (&overrides.upstream, &self.upstream) {
            (Some(url), _) => Upstream::parse(url)
                .map_err(|e| {
                    refuse(LintCode::InvalidUpstream, None, format!("--upstream: {e}"), UPSTREAM_HELP)
                })
                .ok(),
            (None, Some(url)) => Upstream::parse(&url.value)
                .map_err(|e| refuse(LintCode::InvalidUpstream, Some(url.span.clone()), e, UPSTREAM_HELP))
                .ok(),
            (None, None) if need_upstream => {
                refuse(
                    LintCode::InvalidUpstream,
                    None,
                    "no upstream: the gateway needs to know where to forward requests".to_owned(),
                    "add `upstream = \"http://127.0.0.1:3000\"` to [gateway] or pass --upstream URL",
                );
                None
            }
            (None, None) => None,
        };

        let mode = match &self.mode {
            None => Mode::Enforce,
            Some(m) => Mode::parse(&m.value).unwrap_or_else(|| {
                refuse(
                    LintCode::InvalidGatewayValue,
                    Some(m.span.clone()),
                    format!("mode is \"enforce\" or \"report\", not {:?}", m.value),
                    "write mode = \"report\" to log and count decisions without changing responses",
                );
                Mode::Enforce
            }),
        };

        let upstream_client = match &self.upstream_client {
            None => UpstreamClient::Direct,
            Some(c) => UpstreamClient::parse(&c.value).unwrap_or_else(|| {
                refuse(
                    LintCode::InvalidGatewayValue,
                    Some(c.span.clone()),
                    format!("upstream_client is \"direct\" or \"hyper\", not {:?}", c.value),
                    "\"direct\" (the default) carries bodiless requests itself; \"hyper\" sends every request \
                     through hyper's client",
                );
                UpstreamClient::Direct
            }),
        };

        for (key, value) in [("listen", &self.listen), ("admin", &self.admin)] {
            if let Some(address) = value.as_ref().filter(|a| !is_host_and_port(&a.value)) {
                refuse(
                    LintCode::InvalidGatewayValue,
                    Some(address.span.clone()),
                    format!("{key} = {:?} is not host:port", address.value),
                    "write an address such as \"127.0.0.1:8080\" or \"[::1]:8080\"",
                );
            }
        }

        let base = path.parent().unwrap_or(Path::new("."));
        let tls = match (&self.tls_cert, &self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((base.join(&cert.value), base.join(&key.value))),
            (Some(one), None) | (None, Some(one)) => {
                refuse(
                    LintCode::InvalidGatewayValue,
                    Some(one.span.clone()),
                    "TLS needs both tls_cert and tls_key".to_owned(),
                    "give the PEM certificate chain and its private key, or neither",
                );
                None
            }
        };

        let upstream_max_connections = match &self.upstream_max_connections {
            None => DEFAULT_UPSTREAM_MAX_CONNECTIONS,
            Some(n) => usize::try_from(n.value).ok().filter(|&n| n > 0).unwrap_or_else(|| {
                refuse(
                    LintCode::InvalidGatewayValue,
                    Some(n.span.clone()),
                    format!("upstream_max_connections is a positive number, not {}", n.value),
                    "the default is 1024",
                );
                DEFAULT_UPSTREAM_MAX_CONNECTIONS
            }),
        };

        let mut seconds = |key: &str, value: &Option<Sp<f64>>, default: Duration| match value {
            None => default,
            Some(s) if s.value > MAX_TIMEOUT_SECONDS => {
                refuse(
                    LintCode::InvalidGatewayValue,
                    Some(s.span.clone()),
                    format!("{key} is longer than a day ({MAX_TIMEOUT_SECONDS} seconds)"),
                    "timeouts are in seconds, e.g. 2.5",
                );
                default
            }
            Some(s) => Duration::from_secs_f64(s.value),
        };
        let connect_timeout = seconds("connect_timeout", &self.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        let header_timeout = seconds("header_timeout", &self.header_timeout, DEFAULT_HEADER_TIMEOUT);
        let upstream_timeout = seconds("upstream_timeout", &self.upstream_timeout, DEFAULT_UPSTREAM_TIMEOUT);
        let shutdown_timeout = seconds("shutdown_timeout", &self.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);

        let upstream = upstream.filter(|_| diags.errors() == errors_before)?;
        Some(Settings {
            listen: overrides
                .listen
                .clone()
                .or(self.listen.map(|l| l.value))
                .unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            upstream,
            admin: self.admin.map(|a| a.value),
            mode,
            tls,
            connect_timeout,
            header_timeout,
            upstream_timeout,
            shutdown_timeout,
            upstream_max_connections,
            upstream_client,
        })
    }
}

const UPSTREAM_HELP: &str = "an upstream is http:// or https://, a host, an optional port and path prefix, \
                             e.g. \"http://127.0.0.1:3000\"";

/// `host:port` with a port number: what the listener will be asked to bind (a name is
/// resolved then).
fn is_host_and_port(address: &str) -> bool {
    address.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

fn read_string(value: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) -> Option<Sp<String>> {
    match value.get_ref().as_str() {
        Some(s) => Some(Sp { value: s.to_owned(), span: value.span() }),
        None => {
            diags.push(type_error(value, "a string"));
            None
        }
    }
}

/// An integer as TOML wrote it (any radix, `_` separators), or `None` when it does not fit.
fn integer(value: &DeValue<'_>) -> Option<Option<i64>> {
    let DeValue::Integer(i) = value else { return None };
    Some(i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok())
}

fn read_int(value: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) -> Option<Sp<i64>> {
    match integer(value.get_ref()) {
        Some(Some(n)) => Some(Sp { value: n, span: value.span() }),
        Some(None) => {
            diags.push(out_of_range(value));
            None
        }
        None => {
            diags.push(type_error(value, "an integer"));
            None
        }
    }
}

fn read_seconds(value: &Spanned<DeValue<'_>>, diags: &mut Diagnostics) -> Option<Sp<f64>> {
    let n = match value.get_ref() {
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        other => match integer(other) {
            Some(Some(n)) => Some(n as f64),
            Some(None) => {
                diags.push(out_of_range(value));
                return None;
            }
            None => None,
        },
    };
    match n {
        Some(n) if n.is_finite() && n > 0.0 => Some(Sp { value: n, span: value.span() }),
        Some(n) if n.is_infinite() => {
            diags.push(out_of_range(value));
            None
        }
        _ => {
            diags.push(type_error(value, "a positive number of seconds"));
            None
        }
    }
}

fn type_error(value: &Spanned<DeValue<'_>>, expected: &str) -> Diagnostic {
    Diagnostic::new(
        LintCode::ParseError,
        format!("expected {expected}, found {}", value.get_ref().type_str()),
        format!("write {expected} here"),
    )
    .at(Some(value.span()))
}

fn out_of_range(value: &Spanned<DeValue<'_>>) -> Diagnostic {
    Diagnostic::new(LintCode::ParseError, "this number is out of range", "write a smaller number")
        .at(Some(value.span()))
}

fn unknown_key(name: &str, span: Range<usize>) -> Diagnostic {
    let guess = KEYS
        .iter()
        .map(|key| (strsim::levenshtein(name, key), *key))
        .filter(|(distance, key)| *distance <= 2.max(key.len() / 4))
        .min_by_key(|(distance, _)| *distance);
    let help = match guess {
        Some((_, key)) => format!("did you mean `{key}`?"),
        None => format!("the keys allowed here are: {}", KEYS.join(", ")),
    };
    Diagnostic::new(LintCode::UnknownKey, format!("unknown key `{name}` in [gateway]"), help).at(Some(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes_and_places(diags: &Diagnostics) -> Vec<(&str, Option<(usize, usize)>)> {
        diags.iter().map(|d| (d.code.as_str(), d.location)).collect()
    }

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
        let diags = Settings::from_file_text(text, Path::new("cg.toml"), &Overrides::default()).unwrap_err();
        assert_eq!(
            codes_and_places(&diags),
            [
                ("invalid-upstream", None),
                ("invalid-gateway-value", Some((2, 8))),
                ("invalid-gateway-value", Some((3, 12)))
            ]
        );
        // `check` leaves the upstream to --upstream.
        assert_eq!(Settings::check(text).errors(), 2);
    }

    #[test]
    fn numbers_out_of_range_are_errors_not_defaults() {
        let text = "[gateway]\nconnect_timeout = 1e300\nheader_timeout = 0\nupstream_timeout = inf\n\
                    shutdown_timeout = 99999999999999999999\nupstream_max_connections = 0\n";
        let diags = Settings::check(text);
        assert_eq!(
            codes_and_places(&diags),
            [
                ("invalid-gateway-value", Some((2, 19))),
                ("parse-error", Some((3, 18))),
                ("parse-error", Some((4, 20))),
                ("parse-error", Some((5, 20))),
                ("invalid-gateway-value", Some((6, 28))),
            ]
        );
    }

    #[test]
    fn keys_types_upstreams_and_addresses_are_checked() {
        let text =
            "[gateway]\nupstrem = \"x\"\nupstream = \"ftp://127.0.0.1\"\nlisten = \"8080\"\nadmin = 9090\n";
        let diags = Settings::check(text);
        assert_eq!(
            codes_and_places(&diags),
            [
                ("unknown-key", Some((2, 1))),
                ("invalid-upstream", Some((3, 12))),
                ("invalid-gateway-value", Some((4, 10))),
                ("parse-error", Some((5, 9))),
            ]
        );
        assert_eq!(diags.iter().next().unwrap().help, "did you mean `upstream`?");
        assert!(Settings::check("[gateway\n").is_empty(), "syntax errors are the policy check's to report");
        let refused = Settings::from_file_text("[gateway\n", Path::new("cg.toml"), &Overrides::default());
        assert_eq!(codes_and_places(&refused.unwrap_err()), [("parse-error", Some((1, 9)))]);
        assert!(Settings::check("[policy]\norigins = []\n").is_empty());
    }

    #[test]
    fn tls_paths_are_relative_to_the_policy_file() {
        let text =
            "[gateway]\nupstream = \"http://127.0.0.1:3000\"\ntls_cert = \"c.pem\"\ntls_key = \"/k.pem\"\n";
        let s = Settings::from_file_text(text, Path::new("/etc/cg/p.toml"), &Overrides::default()).unwrap();
        assert_eq!(s.tls, Some((PathBuf::from("/etc/cg/c.pem"), PathBuf::from("/k.pem"))));
    }
}
