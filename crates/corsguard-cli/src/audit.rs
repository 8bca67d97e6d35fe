//! `corsguard audit`: the command line of the auditor ([`corsguard_audit`]).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use corsguard_audit::{probe_header, trusted_origin, ClientOptions, Progress, Severity};
use url::Url;

use crate::paint::Paint;
use crate::{audit_report, USAGE};

/// Exit status when some target could not be audited (and no finding reached `--fail-on`).
const UNAUDITED: u8 = 3;

/// Probe live endpoints for CORS misconfigurations (reflection, null, prefix/suffix tricks,
/// wildcards, preflights, caching)
#[derive(Args)]
#[command(
    after_help = "Each probe derives from a trusted origin (--trusted-origin, default: the target's own \
origin): reflection of an arbitrary origin, `null`, prefix and suffix tricks, unescaped dots, special \
characters, http:// on an https site, any subdomain, third-party hosting, wildcards, preflights that \
echo headers or methods, missing `Vary: Origin` on cacheable answers, duplicate ACAO and malformed ACAC. \
Severity rises when the answer allows credentials. Only response heads are read.\n\n\
Exit status: 0 done, no finding at or above --fail-on; 1 a finding at or above --fail-on; 2 usage \
error; 3 some target could not be audited.\n\n\
Examples:\n  \
corsguard audit http://127.0.0.1:8080/api/me\n  \
corsguard audit http://127.0.0.1:8080/api/me --trusted-origin https://app.example.com \\\n      \
-H 'Cookie: session=...' --fail-on high\n  \
corsguard audit --targets urls.txt --format json --concurrency 4 --rate 20/s --timeout 5\n  \
corsguard audit http://127.0.0.1:8080/ --format sarif > cors-audit.sarif"
)]
pub struct AuditArgs {
    /// URLs to audit (http:// or https://); send the same cookies or tokens as a logged-in user
    /// with -H to see what an attacker's page would read
    #[arg(value_name = "URL")]
    urls: Vec<String>,
    /// Read more URLs from FILE: one per line, blank lines and lines starting with `#` skipped
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// An origin the API is meant to trust; probes are derived from it (repeatable; default: each
    /// target's own origin)
    #[arg(long = "trusted-origin", value_name = "ORIGIN")]
    trusted_origins: Vec<String>,
    /// A request header for every probe, curl-style, e.g. -H 'Cookie: session=...' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Exit with status 1 when a finding of this severity or worse exists (for CI gates)
    #[arg(long, value_enum, value_name = "SEVERITY")]
    fail_on: Option<FailOn>,
    /// Most requests in flight at once, across all targets
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Most requests started per second across all targets, e.g. 10/s (default: no limit)
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Deadline in seconds for each request (connect, TLS and response headers together)
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = crate::flags::parse_timeout)]
    timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
}

/// `--fail-on`: the severities, lowest first.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<FailOn> for Severity {
    fn from(level: FailOn) -> Severity {
        match level {
            FailOn::Info => Severity::Info,
            FailOn::Low => Severity::Low,
            FailOn::Medium => Severity::Medium,
            FailOn::High => Severity::High,
            FailOn::Critical => Severity::Critical,
        }
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let number = s.strip_suffix("/s").unwrap_or(s);
    match number.trim().parse::<f64>() {
        // Bounded both ways: the pause between requests is 1/rate, and a rate near zero would
        // be a pause longer than any clock can hold.
        Ok(n) if (0.001..=100_000.0).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a rate; write requests per second from 0.001 to 100000, e.g. 10/s or 0.5/s"
        )),
    }
}

/// A usage problem: printed as `error: ...`, exit status 2.
struct Usage(String);

fn collect_targets(args: &AuditArgs) -> Result<Vec<(String, Url)>, Usage> {
    let mut targets = Vec::new();
    for text in &args.urls {
        targets.push((text.clone(), corsguard_audit::target_url(text).map_err(Usage)?));
    }
    if let Some(path) = &args.targets {
        let content = std::fs::read_to_string(path)
            .map_err(|e| Usage(format!("cannot read {}: {e}", path.display())))?;
        for (n, line) in content.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let url = corsguard_audit::target_url(line)
                .map_err(|e| Usage(format!("{}:{}: {e}", path.display(), n + 1)))?;
            targets.push((line.to_owned(), url));
        }
    }
    if targets.is_empty() {
        return Err(Usage("no target: give at least one URL, or --targets FILE".to_owned()));
    }
    Ok(targets)
}

/// Runs `corsguard audit`.
pub fn run(args: AuditArgs) -> ExitCode {
    let prepared = collect_targets(&args).and_then(|targets| {
        let trusted = args
            .trusted_origins
            .iter()
            .map(|o| trusted_origin(o).map_err(|e| Usage(format!("--trusted-origin {e}"))));
        let headers = args.headers.iter().map(|h| probe_header(h).map_err(Usage));
        Ok((targets, trusted.collect::<Result<_, _>>()?, headers.collect::<Result<_, _>>()?))
    });
    let (targets, trusted, headers) = match prepared {
        Ok(p) => p,
        Err(Usage(msg)) => {
            eprintln!("error: {msg}");
            return ExitCode::from(USAGE);
        }
    };
    let mut options = ClientOptions::new(concat!("corsguard-audit/", env!("CARGO_PKG_VERSION")));
    options.timeout = args.timeout;
    options.concurrency = usize::from(args.concurrency);
    options.rate = args.rate;
    options.headers = headers;
    let show_progress = targets.len() > 1 && std::io::stderr().is_terminal();
    let progress = |p: Progress<'_>| {
        if let Some(error) = &p.report.error {
            eprintln!("error: {}: {error}", p.report.target);
        } else if show_progress {
            eprintln!("[{}/{}] {}: {} finding(s)", p.done, p.total, p.report.target, p.report.findings.len());
        }
    };
    let reports = match corsguard_audit::audit(targets, trusted, options, progress) {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("error: cannot start the I/O runtime: {e}");
            return ExitCode::from(UNAUDITED);
        }
    };
    match args.format {
        Format::Human => print!("{}", audit_report::human(&reports, Paint::stdout())),
        Format::Json => println!("{:#}", corsguard_audit::json(&reports)),
        Format::Sarif => println!("{:#}", audit_report::sarif(&reports)),
    }
    let worst = reports.iter().flat_map(|r| &r.findings).map(|f| f.severity).max();
    if args.fail_on.map(Severity::from).zip(worst).is_some_and(|(threshold, worst)| worst >= threshold) {
        ExitCode::from(1)
    } else if reports.iter().any(|r| r.error.is_some()) {
        ExitCode::from(UNAUDITED)
    } else {
        ExitCode::SUCCESS
    }
}
