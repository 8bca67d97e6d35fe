//! `corsguard export`: the same policy, compiled into the configuration of an edge proxy a team
//! already runs (nginx, HAProxy, Envoy).
//!
//! Every target gets configuration generated from the canonical, validated policy: origins as
//! anchored, escaped expressions (never user regex), methods compared case-sensitively, the
//! request-header list and its budget checked at the proxy where the proxy can, preflights
//! answered there with 204 / 403, upstream `Access-Control-*` headers hidden and `Vary: Origin`
//! added. What a target cannot express is written into the output and on stderr, and the
//! command exits 3 unless `--allow-partial` says the weaker result is accepted.
#![warn(missing_docs)]

use corsguard::{OriginPattern, Policy, Rules};
use corsguard_gateway::settings::{WrittenKeys, DEFAULT_LISTEN};
use corsguard_gateway::upstream::Upstream;
use std::fmt::Write as _;
use std::net::SocketAddr;

mod envoy;
mod haproxy;
mod nginx;
pub mod regex;

const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:3000";

/// A proxy the policy can be compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// An http-context snippet: `map` blocks and one `server`.
    Nginx,
    /// `frontend` and `backend` sections.
    Haproxy,
    /// A `static_resources` YAML fragment with the `envoy.filters.http.cors` filter.
    Envoy,
}

impl Format {
    /// The proxy's name, as messages write it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Nginx => "nginx",
            Format::Haproxy => "HAProxy",
            Format::Envoy => "Envoy",
        }
    }
}

/// What to compile, beyond the policy itself.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExportOptions {
    /// The target proxy.
    pub format: Format,
    /// Where the proxy listens, `IP:PORT` (`None`: `[gateway] listen`, then 127.0.0.1:8080).
    pub listen: Option<String>,
    /// The backend, `http(s)://host[:port]` (`None`: `[gateway] upstream`, then
    /// http://127.0.0.1:3000).
    pub upstream: Option<String>,
}

impl ExportOptions {
    /// The file's own listen address and upstream.
    pub fn new(format: Format) -> Self {
        ExportOptions { format, listen: None, upstream: None }
    }
}

/// A compiled configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Exported {
    /// The whole configuration: a header comment (what it came from, what differs from the
    /// engine, what is not enforced), then the proxy's configuration.
    pub text: String,
    /// Parts of the policy the target cannot enforce; empty for a complete export.
    pub partial: Vec<String>,
}

/// Compiles `policy`, read from `source` (the file's text, for its `[gateway]` keys) at
/// `source_name` (for the header comment). An error is a listen address or upstream that the
/// configuration could not name.
///
/// ```
/// use corsguard_export::{export, ExportOptions, Format};
///
/// let source = "[profiles.p]\norigins = [\"https://app.example.com\"]\n";
/// let policy = corsguard::Policy::from_toml(source, None).unwrap();
/// let exported = export(&policy, source, "corsguard.toml", &ExportOptions::new(Format::Nginx))?;
/// assert!(exported.text.contains("https://app\\.example\\.com"));
/// assert!(exported.partial.is_empty());
/// # Ok::<(), String>(())
/// ```
pub fn export(
    policy: &Policy,
    source: &str,
    source_name: &str,
    options: &ExportOptions,
) -> Result<Exported, String> {
    let written = WrittenKeys::read(source);
    let listen_text = options.listen.clone().or(written.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let upstream_text =
        options.upstream.clone().or(written.upstream).unwrap_or_else(|| DEFAULT_UPSTREAM.to_owned());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        format!("`{listen_text}` is not a listen address of the form IP:PORT (e.g. 0.0.0.0:8080)")
    })?;
    let upstream = export_upstream(&upstream_text)?;
    let mut rule_sets = vec![RuleSet { index: 0, prefix: None, rules: policy.rules() }];
    for (i, route) in policy.routes().enumerate() {
        rule_sets.push(RuleSet { index: i + 1, prefix: route.prefix(), rules: route.rules() });
    }
    let target =
        Target { source: source_name.to_owned(), profile: policy.profile(), listen, upstream, rule_sets };
    let rendered = match options.format {
        Format::Nginx => nginx::render(&target),
        Format::Haproxy => haproxy::render(&target),
        Format::Envoy => envoy::render(&target),
    };
    let mut notes = rendered.notes;
    if written.mode.as_deref() == Some("report") {
        notes.push(
            "[gateway] mode = \"report\" applies to `corsguard serve` only: this configuration \
             enforces the policy"
                .to_owned(),
        );
    }
    let mut text = header(&target, options.format.name(), &notes, &rendered.partial, "#");
    text.push_str(&rendered.text);
    Ok(Exported { text, partial: rendered.partial })
}

/// Everything a target generator reads.
pub struct Target<'p> {
    /// The policy file, as given on the command line (for the header comment).
    pub source: String,
    /// The selected profile's name.
    pub profile: &'p str,
    /// Where the proxy listens.
    pub listen: SocketAddr,
    /// The backend.
    pub upstream: Upstream,
    /// Index 0 is the profile's rules (paths no route matches); 1.. are the `[[routes]]`, in
    /// match order.
    pub rule_sets: Vec<RuleSet<'p>>,
}

/// One set of rules and the path prefix it applies to (`None` for the profile's own).
pub struct RuleSet<'p> {
    /// Position: 0 for the profile, then routes in file order.
    pub index: usize,
    /// The route's path prefix.
    pub prefix: Option<&'p str>,
    /// The rules.
    pub rules: &'p Rules,
}

impl RuleSet<'_> {
    /// True when the response carries `*` rather than the request's origin.
    pub fn star(&self) -> bool {
        !self.rules.credentials() && self.rules.origins().iter().any(OriginPattern::is_any)
    }

    /// A human name for comments: `profile` or `route /public/`.
    pub fn label(&self) -> String {
        match self.prefix {
            None => "profile rules (paths no route matches)".to_owned(),
            Some(prefix) => format!("route {prefix}"),
        }
    }
}

/// Checks that `text` is an upstream the generated configurations can name as they are: the
/// gateway's upstream URL ([`Upstream::parse`]) without a path prefix (the targets forward
/// paths unchanged) and with a host of letters, digits, dots and hyphens or an IPv6 literal, so
/// nothing from the policy file can end a directive in the generated text.
pub fn export_upstream(text: &str) -> Result<Upstream, String> {
    let bad = || format!("`{text}` is not an upstream URL of the form http(s)://host[:port]");
    let upstream = Upstream::parse(text).map_err(|_| bad())?;
    let host = upstream.host();
    let host_ok = !host.is_empty()
        && (host.starts_with('[') && host.ends_with(']')
            || host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
    if !host_ok || upstream.port() == 0 || !upstream.prefix().is_empty() {
        return Err(bad());
    }
    Ok(upstream)
}

/// What a generator returns: the configuration text, the differences from corsguard's engine
/// that do not weaken the policy, and the parts of the policy the target does not enforce.
pub struct Rendered {
    /// The configuration, without the header comment.
    pub text: String,
    /// Edge cases where the proxy answers differently, none of them weaker.
    pub notes: Vec<String>,
    /// Parts of the policy the target cannot enforce: each one makes the export partial.
    pub partial: Vec<String>,
}

fn header(target: &Target<'_>, name: &str, notes: &[String], partial: &[String], c: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{c} Generated by `corsguard export` from {} (profile `{}`) for {name}.",
        target.source, target.profile
    );
    let _ = writeln!(out, "{c} Regenerate it from the policy file instead of editing it by hand.");
    for item in partial {
        wrap(&mut out, c, "PARTIAL, not enforced here: ", item);
    }
    for note in notes {
        wrap(&mut out, c, "Differs from corsguard's engine: ", note);
    }
    let _ = writeln!(out);
    out
}

/// One comment paragraph, wrapped at about 100 columns.
fn wrap(out: &mut String, c: &str, lead: &str, text: &str) {
    let mut line = format!("{c} {lead}");
    for word in text.split_whitespace() {
        if line.len() + word.len() > 100 && line.len() > c.len() + 4 {
            let _ = writeln!(out, "{}", line.trim_end());
            line = format!("{c}   ");
        }
        line.push_str(word);
        line.push(' ');
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

/// Header names a CORS response may carry, as the gateway writes them; upstream copies are
/// removed so the proxy is the one source of truth.
pub const RESPONSE_HEADERS: &[&str] = &[
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
    "Access-Control-Allow-Private-Network",
];

/// `Vary` on preflight answers, as the engine sends it.
pub fn preflight_vary(rules: &Rules) -> &'static str {
    if rules.private_network() {
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, \
         Access-Control-Request-Private-Network"
    } else {
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    }
}

#[cfg(test)]
mod tests {
    use super::export_upstream;

    #[test]
    fn upstream_urls() {
        let u = export_upstream("http://127.0.0.1:3000").unwrap();
        assert_eq!((u.scheme_str(), u.host(), u.port()), ("http", "127.0.0.1", 3000));
        let u = export_upstream("https://api.internal/").unwrap();
        assert_eq!((u.host(), u.port(), u.host_port().as_str()), ("api.internal", 443, "api.internal:443"));
        let u = export_upstream("http://[::1]:8080").unwrap();
        assert_eq!((u.host(), u.port()), ("[::1]", 8080));
        for bad in [
            "127.0.0.1:3000",
            "ftp://x",
            "http://",
            "http://a/b",
            "http://a:0",
            "http://a:x",
            "http://a b",
            "http://a;b",
            "http://a'b:80",
            "http://u@a",
        ] {
            assert!(export_upstream(bad).is_err(), "{bad}");
        }
    }
}
