//! corsguard's auditor: probes live endpoints for CORS misconfigurations.
//!
//! Every probe class runs against every target (nothing stops at the first hit), actual requests
//! and preflights alike, and answers are judged the way a browser judges them. See
//! `docs/audit.md` for the probe and severity tables; `corsguard audit` is the command line.
//!
//! ```no_run
//! use std::time::Duration;
//! use corsguard_audit::{audit, target_url, ClientOptions};
//!
//! let url = target_url("http://127.0.0.1:3000/api/me")?;
//! let mut options = ClientOptions::new("corsguard-audit");
//! options.timeout = Duration::from_secs(5);
//! let reports = audit(vec![(url.to_string(), url)], Vec::new(), options, |_| {}).expect("a runtime");
//! for finding in &reports[0].findings {
//!     println!("{} {}", finding.severity, finding.id);
//! }
//! # Ok::<(), String>(())
//! ```
#![warn(missing_docs)]

mod finding;
mod probes;
mod report;

use std::io;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue, LOCATION};
use http::Method;
use tokio::task::JoinSet;
use url::Url;

pub use self::finding::{Finding, FindingId, Severity};
use self::probes::Outcome;
pub use self::report::{json, TargetReport};
pub use corsguard_fetch::client::ClientOptions;
use corsguard_fetch::client::{Client, Exchange};

/// Same-origin redirects followed before probing.
const MAX_REDIRECTS: usize = 5;

/// A target URL as the auditor accepts it: http(s), with a host, without credentials (those go
/// in a header) and without a fragment.
pub fn target_url(text: &str) -> Result<Url, String> {
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

/// An origin to derive probes from, checked as a browser would send it.
pub fn trusted_origin(text: &str) -> Result<String, String> {
    match corsguard::Origin::parse(text.as_bytes()) {
        Ok(_) => Ok(text.to_owned()),
        Err(e) => Err(format!("`{text}`: {e}; write it as a browser sends it, e.g. https://app.example.com")),
    }
}

/// A header for every probe, written curl-style as `Name: value`. `Origin` and
/// `Access-Control-Request-*` are refused: each probe sets them itself.
pub fn probe_header(line: &str) -> Result<(HeaderName, HeaderValue), String> {
    let Some((name, value)) = line.split_once(':') else {
        return Err(format!("-H `{line}`: write it as 'Name: value'"));
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("-H `{line}`: `{}` is not a header name", name.trim()))?;
    if name == http::header::ORIGIN || name.as_str().starts_with("access-control-request-") {
        return Err(format!("-H `{line}`: each probe sets `{name}` itself"));
    }
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("-H `{line}`: the value has characters a header cannot carry"))?;
    Ok((name, value))
}

/// One target done, as [`audit`] reports it while the others run.
#[derive(Debug)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// Targets done so far, this one included.
    pub done: usize,
    /// Targets in all.
    pub total: usize,
    /// This target's report.
    pub report: &'a TargetReport,
}

/// Audits every target (name as the user wrote it, URL) with probes derived from `trusted`
/// (empty: each target's own origin), on a runtime of its own, and returns one report per
/// target in the order given. `progress` hears of each target as it finishes.
pub fn audit(
    targets: Vec<(String, Url)>,
    trusted: Vec<String>,
    options: ClientOptions,
    progress: impl FnMut(Progress<'_>),
) -> io::Result<Vec<TargetReport>> {
    let need_tls = targets.iter().any(|(_, url)| url.scheme() == "https");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(runtime.block_on(async move {
        let client = Arc::new(Client::new(options, need_tls));
        audit_all(client, targets, Arc::new(trusted), progress).await
    }))
}

async fn audit_all(
    client: Arc<Client>,
    targets: Vec<(String, Url)>,
    trusted: Arc<Vec<String>>,
    mut progress: impl FnMut(Progress<'_>),
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
        progress(Progress { done, total, report: &report });
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
            ..Exchange::default()
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
