//! `corsguard audit`: probe live endpoints for CORS misconfigurations.
//!
//! Every probe class runs against every target (nothing stops at the first hit), actual requests
//! and preflights alike, and answers are judged the way a browser judges them. See
//! `docs/audit.md` for the probe and severity tables.

mod client;
mod finding;
mod probes;
mod report;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use http::header::{HeaderName, HeaderValue, LOCATION};
use http::Method;
use tokio::task::JoinSet;
use url::Url;

use self::client::{Client, ClientOptions, Exchange};
use self::finding::Severity;
use self::probes::Outcome;
use self::report::TargetReport;
use crate::paint::Paint;
use crate::USAGE;

/// Exit status when some target could not be audited (and no finding reached `--fail-on`).
const UNAUDITED: u8 = 3;
/// Same-origin redirects followed before probing.
const MAX_REDIRECTS: usize = 5;

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
    fail_on: Option<Severity>,
    /// Most requests in flight at once, across all targets
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,
    /// Most requests started per second across all targets, e.g. 10/s (default: no limit)
    #[arg(long, value_name = "N/s", value_parser = parse_rate)]
    rate: Option<f64>,
    /// Deadline in seconds for each request (connect, TLS and response headers together)
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_timeout)]
    timeout: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
    Sarif,
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

fn parse_timeout(s: &str) -> Result<Duration, String> {
    match s.trim().trim_end_matches('s').parse::<f64>() {
        Ok(n) if (0.001..=3600.0).contains(&n) => Ok(Duration::from_secs_f64(n)),
        _ => Err(format!("`{s}` is not a timeout; write seconds from 0.001 to 3600, e.g. 10 or 0.5")),
    }
}

/// A usage problem: printed as `error: ...`, exit status 2.
struct Usage(String);

fn parse_url(text: &str) -> Result<Url, String> {
    let mut url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("`{text}`: only http:// and https:// URLs can be audited"));
    }
    if url.host().is_none() {
        return Err(format!("`{text}` has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{text}`: put credentials in a header instead, e.g. -H 'Authorization: ...'"));
    }
    url.set_fragment(None);
    Ok(url)
}

fn collect_targets(args: &AuditArgs) -> Result<Vec<(String, Url)>, Usage> {
    let mut targets = Vec::new();
    for text in &args.urls {
        targets.push((text.clone(), parse_url(text).map_err(Usage)?));
    }
    if let Some(path) = &args.targets {
        let content = std::fs::read_to_string(path)
            .map_err(|e| Usage(format!("cannot read {}: {e}", path.display())))?;
        for (n, line) in content.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let url = parse_url(line).map_err(|e| Usage(format!("{}:{}: {e}", path.display(), n + 1)))?;
            targets.push((line.to_owned(), url));
        }
    }
    if targets.is_empty() {
        return Err(Usage("no target: give at least one URL, or --targets FILE".to_owned()));
    }
    Ok(targets)
}

fn parse_trusted(origins: &[String]) -> Result<Vec<String>, Usage> {
    origins
        .iter()
        .map(|o| match corsguard::Origin::parse(o.as_bytes()) {
            Ok(_) => Ok(o.clone()),
            Err(e) => Err(Usage(format!(
                "--trusted-origin `{o}`: {e}; write it as a browser sends it, e.g. https://app.example.com"
            ))),
        })
        .collect()
}

fn parse_headers(lines: &[String]) -> Result<Vec<(HeaderName, HeaderValue)>, Usage> {
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Usage(format!("-H `{line}`: write it as 'Name: value'")));
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Usage(format!("-H `{line}`: `{}` is not a header name", name.trim())))?;
        if name == http::header::ORIGIN || name.as_str().starts_with("access-control-request-") {
            return Err(Usage(format!("-H `{line}`: each probe sets `{name}` itself")));
        }
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| Usage(format!("-H `{line}`: the value has characters a header cannot carry")))?;
        headers.push((name, value));
    }
    Ok(headers)
}

/// Runs `corsguard audit`.
pub fn run(args: AuditArgs) -> ExitCode {
    let prepared = collect_targets(&args)
        .and_then(|t| Ok((t, parse_trusted(&args.trusted_origins)?, parse_headers(&args.headers)?)));
    let (targets, trusted, headers) = match prepared {
        Ok(p) => p,
        Err(Usage(msg)) => {
            eprintln!("error: {msg}");
            return ExitCode::from(USAGE);
        }
    };
    let need_tls = targets.iter().any(|(_, url)| url.scheme() == "https");
    let options = ClientOptions {
        timeout: args.timeout,
        concurrency: usize::from(args.concurrency),
        rate: args.rate,
        headers,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the I/O runtime: {e}");
            return ExitCode::from(UNAUDITED);
        }
    };
    let progress = targets.len() > 1 && std::io::stderr().is_terminal();
    let reports = runtime.block_on(async move {
        let client = Arc::new(Client::new(options, need_tls));
        audit_all(client, targets, Arc::new(trusted), progress).await
    });
    match args.format {
        Format::Human => print!("{}", report::human(&reports, Paint::stdout())),
        Format::Json => println!("{:#}", report::json(&reports)),
        Format::Sarif => println!("{:#}", report::sarif(&reports)),
    }
    let worst = reports.iter().flat_map(|r| &r.findings).map(|f| f.severity).max();
    if args.fail_on.zip(worst).is_some_and(|(threshold, worst)| worst >= threshold) {
        ExitCode::from(1)
    } else if reports.iter().any(|r| r.error.is_some()) {
        ExitCode::from(UNAUDITED)
    } else {
        ExitCode::SUCCESS
    }
}

async fn audit_all(
    client: Arc<Client>,
    targets: Vec<(String, Url)>,
    trusted: Arc<Vec<String>>,
    progress: bool,
) -> Vec<TargetReport> {
    let total = targets.len();
    let mut set = JoinSet::new();
    let names: Vec<String> = targets.iter().map(|(name, _)| name.clone()).collect();
    for (i, (name, url)) in targets.into_iter().enumerate() {
        let (client, trusted) = (client.clone(), trusted.clone());
        set.spawn(async move { (i, audit_target(client, name, url, &trusted).await) });
    }
    let mut reports: Vec<Option<TargetReport>> = (0..total).map(|_| None).collect();
    let mut done = 0;
    while let Some(joined) = set.join_next().await {
        // A panicking task loses only its own target; its index is unknown, so it is filled in
        // below from the targets that never reported.
        let Ok((i, report)) = joined else { continue };
        done += 1;
        if let Some(error) = &report.error {
            eprintln!("error: {}: {error}", report.target);
        } else if progress {
            eprintln!("[{done}/{total}] {}: {} finding(s)", report.target, report.findings.len());
        }
        reports[i] = Some(report);
    }
    reports
        .into_iter()
        .zip(names)
        .map(|(r, name)| {
            r.unwrap_or_else(|| TargetReport::failed(name, "internal error while auditing".to_owned()))
        })
        .collect()
}

async fn audit_target(client: Arc<Client>, name: String, target: Url, trusted: &[String]) -> TargetReport {
    let trusted: Vec<String> =
        if trusted.is_empty() { vec![target.origin().ascii_serialization()] } else { trusted.to_vec() };
    let mut notes = Vec::new();
    // One request first: an unreachable target fails once, clearly, instead of once per probe,
    // and same-origin redirects lead to the URL that actually answers.
    let mut url = target;
    for hop in 0..=MAX_REDIRECTS {
        let exchange = Exchange {
            method: Method::GET,
            origin: trusted[0].clone(),
            request_method: None,
            request_headers: None,
        };
        let head = match client.send(&url, &exchange).await {
            Ok(head) => head,
            Err(e) => return TargetReport::failed(name, e.to_string()),
        };
        if !head.status.is_redirection() {
            break;
        }
        let next = head.headers.get(LOCATION).and_then(|l| l.to_str().ok()).and_then(|l| url.join(l).ok());
        let status = head.status.as_u16();
        match next {
            Some(next) if next.origin() == url.origin() && hop < MAX_REDIRECTS => {
                notes
                    .push(format!("{url} redirects ({status}) to {next} on the same origin; audited {next}"));
                url = next;
            }
            Some(next) => {
                let why = if next.origin() == url.origin() { "too many redirects" } else { "another origin" };
                notes.push(format!(
                    "{url} redirects ({status}) to {next} ({why}); not followed: the probes audit the redirect \
                     response itself, whose CORS headers browsers also check"
                ));
                break;
            }
            None => break,
        }
    }
    let url = Arc::new(url);
    let mut set = JoinSet::new();
    for (i, probe) in probes::plan(&trusted).into_iter().enumerate() {
        let (client, url) = (client.clone(), url.clone());
        set.spawn(async move {
            let result = client.send(&url, &probe.exchange).await;
            (i, Outcome { probe, result })
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(outcome) = joined {
            outcomes.push(outcome);
        }
    }
    outcomes.sort_by_key(|(i, _)| *i);
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    if let Some(Err(e)) =
        outcomes.iter().all(|o| o.result.is_err()).then(|| outcomes.first().map(|o| &o.result)).flatten()
    {
        return TargetReport::failed(
            name,
            format!("the first request succeeded, then every probe failed: {e}"),
        );
    }
    let analysis = probes::analyze(url.as_str(), &trusted, &outcomes);
    notes.extend(analysis.notes);
    TargetReport { target: name, findings: analysis.findings, notes, error: None }
}
