//! `corsguard export`: the same policy, compiled into the configuration of an edge proxy a team
//! already runs (nginx, HAProxy, Envoy).
//!
//! Every target gets configuration generated from the canonical, validated policy: origins as
//! anchored, escaped expressions (never user regex), methods compared case-sensitively, the
//! request-header list and its budget checked at the proxy where the proxy can, preflights
//! answered there with 204 / 403, upstream `Access-Control-*` headers hidden and `Vary: Origin`
//! added. What a target cannot express is written into the output and on stderr, and the
//! command exits 3 unless `--allow-partial` says the weaker result is accepted.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use corsguard::{OriginPattern, Rules};

use corsguard_cli::serve::settings::{WrittenKeys, DEFAULT_LISTEN};
use corsguard_cli::serve::upstream::Upstream;

use crate::{policy_file, USAGE};

mod envoy;
mod haproxy;
mod nginx;
pub mod regex;

/// Exit status when the target cannot express the whole policy and `--allow-partial` is absent.
const PARTIAL: u8 = 3;
const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:3000";

/// Compile a policy into nginx, HAProxy or Envoy configuration
#[derive(Args)]
#[command(after_help = "Output goes to stdout:\n  \
nginx    an http-context snippet (map blocks + one server): include it inside http { }\n  \
haproxy  frontend + backend sections: append them after your global and defaults sections\n  \
envoy    a static_resources YAML fragment with the envoy.filters.http.cors filter and routes\n\n\
Profile: --profile, else CORSGUARD_PROFILE, else the file's default_profile, else its only \
profile. --listen and --upstream default to the file's [gateway] listen and upstream, then \
127.0.0.1:8080 and http://127.0.0.1:3000.\n\n\
Exit status: 0 written; 1 the policy has errors; 2 usage error or unreadable file; 3 the target \
cannot enforce part of the policy (the output is still written, with a PARTIAL comment saying \
what is missing; pass --allow-partial to accept it and exit 0).\n\n\
Examples:\n  \
corsguard export examples/corsguard.toml --format nginx > /etc/nginx/conf.d/corsguard.conf\n  \
corsguard export corsguard.toml --format haproxy --profile staging --listen 0.0.0.0:8080 \\\n      \
--upstream http://10.0.0.5:3000 >> /etc/haproxy/haproxy.cfg\n  \
corsguard export corsguard.toml --format envoy --allow-partial > corsguard-envoy.yaml")]
pub struct ExportArgs {
    /// Policy file
    #[arg(value_name = "CONFIG")]
    config: PathBuf,
    /// Target proxy
    #[arg(long, value_enum)]
    format: Format,
    /// Profile (default: CORSGUARD_PROFILE, then the file's default_profile, then its only profile)
    #[arg(long, value_name = "NAME", env = "CORSGUARD_PROFILE")]
    profile: Option<String>,
    /// Address the proxy listens on, IP:PORT (default: [gateway] listen, then 127.0.0.1:8080)
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Backend URL, http(s)://host[:port] (default: [gateway] upstream, then http://127.0.0.1:3000)
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Exit 0 even when the target cannot enforce part of the policy (still noted in the output)
    #[arg(long)]
    allow_partial: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Nginx,
    Haproxy,
    Envoy,
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
fn export_upstream(text: &str) -> Result<Upstream, String> {
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

pub fn run(args: ExportArgs) -> ExitCode {
    let (source, policy) = match policy_file::load(&args.config, args.profile.as_deref()) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let written = WrittenKeys::read(&source);
    let listen_text = args.listen.clone().or(written.listen).unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let upstream_text =
        args.upstream.clone().or(written.upstream).unwrap_or_else(|| DEFAULT_UPSTREAM.to_owned());
    let listen: SocketAddr = match listen_text.parse() {
        Ok(addr) => addr,
        Err(_) => {
            eprintln!(
                "error: `{listen_text}` is not a listen address of the form IP:PORT (e.g. 0.0.0.0:8080)"
            );
            return ExitCode::from(USAGE);
        }
    };
    let upstream = match export_upstream(&upstream_text) {
        Ok(upstream) => upstream,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    let mut rule_sets = vec![RuleSet { index: 0, prefix: None, rules: policy.rules() }];
    for (i, route) in policy.routes().enumerate() {
        rule_sets.push(RuleSet { index: i + 1, prefix: route.prefix(), rules: route.rules() });
    }
    let target = Target {
        source: args.config.display().to_string(),
        profile: policy.profile(),
        listen,
        upstream,
        rule_sets,
    };
    let (rendered, comment) = match args.format {
        Format::Nginx => (nginx::render(&target), "#"),
        Format::Haproxy => (haproxy::render(&target), "#"),
        Format::Envoy => (envoy::render(&target), "#"),
    };
    let mut notes = rendered.notes.clone();
    if written.mode.as_deref() == Some("report") {
        notes.push(
            "[gateway] mode = \"report\" applies to `corsguard serve` only: this configuration \
             enforces the policy"
                .to_owned(),
        );
    }
    let name = match args.format {
        Format::Nginx => "nginx",
        Format::Haproxy => "HAProxy",
        Format::Envoy => "Envoy",
    };
    print!("{}{}", header(&target, name, &notes, &rendered.partial, comment), rendered.text);
    if rendered.partial.is_empty() {
        return ExitCode::SUCCESS;
    }
    for item in &rendered.partial {
        eprintln!("warning: {name} cannot enforce: {item}");
    }
    if args.allow_partial {
        eprintln!("warning: partial export accepted (--allow-partial)");
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: the {name} configuration enforces only part of the policy (see the PARTIAL \
             lines above and in the output); pass --allow-partial to accept it, or use \
             `corsguard serve` or another --format"
        );
        ExitCode::from(PARTIAL)
    }
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
