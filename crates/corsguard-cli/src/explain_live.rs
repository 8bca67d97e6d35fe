//! `corsguard explain URL`: what a browser's `fetch()` from a page on `--origin` gets from a
//! live API ([`corsguard_fetch::live`]), printed step by step.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use corsguard_fetch::client::{Client, ClientOptions};
use corsguard_fetch::live::{explain, PageRequest, Verdict};
use url::Url;

use crate::explain::{parse_header, Format};
use crate::paint::Paint;
use crate::USAGE;

/// The live mode's flags, as `explain` parsed them.
pub struct LiveArgs {
    pub url: String,
    pub origin: Option<String>,
    pub method: Option<String>,
    pub headers: Vec<String>,
    pub data: Option<String>,
    pub credentials: bool,
    pub timeout: Duration,
    pub cacert: Option<PathBuf>,
    pub format: Format,
}

/// Runs the live mode: 0 when the browser allows the request, 1 when it blocks it.
pub fn run(args: LiveArgs) -> ExitCode {
    let request = match page_request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    if let Some(path) = &args.cacert {
        if let Err(e) = std::fs::metadata(path) {
            eprintln!("error: cannot read the CA file {}: {e}", path.display());
            return ExitCode::from(USAGE);
        }
    }
    let mut options = ClientOptions::new(concat!("corsguard-explain/", env!("CARGO_PKG_VERSION")));
    options.timeout = args.timeout;
    options.concurrency = 1;
    options.extra_ca = args.cacert.clone();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the I/O runtime: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let need_tls = request.url.scheme() == "https" || args.cacert.is_some();
    let verdict = runtime.block_on(async {
        let client = Client::new(options, need_tls);
        explain(&client, request).await
    });
    let verdict = match verdict {
        Ok(verdict) => verdict,
        Err(unsendable) => {
            eprintln!("error: {}", unsendable.0);
            return ExitCode::from(USAGE);
        }
    };
    match args.format {
        Format::Json => println!("{:#}", verdict.to_json()),
        Format::Human => print!("{}", describe(&verdict, args.credentials, Paint::stdout())),
    }
    if verdict.allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn page_request(args: &LiveArgs) -> Result<PageRequest, String> {
    let url = Url::parse(&args.url).map_err(|e| format!("`{}` is not a URL: {e}", args.url))?;
    if url.host().is_none() {
        return Err(format!("`{}` has no host", args.url));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("`{}`: fetch() refuses URLs with credentials in them", args.url));
    }
    let origin = args.origin.as_deref().ok_or(
        "--origin is needed with a URL: the origin of the page that calls it, e.g. --origin https://app.example.com",
    )?;
    let parsed = corsguard::Origin::parse(origin.as_bytes()).map_err(|e| {
        format!("--origin `{origin}`: {e}; write it as a browser sends it, e.g. https://app.example.com")
    })?;
    let method = match (&args.method, &args.data) {
        (Some(method), _) => method.clone(),
        (None, Some(_)) => "POST".to_owned(),
        (None, None) => "GET".to_owned(),
    };
    if args.data.is_some() && matches!(method.to_ascii_uppercase().as_str(), "GET" | "HEAD") {
        return Err(format!("fetch() cannot send a body with {method}: drop -d or use -X POST"));
    }
    let mut headers = Vec::new();
    for raw in &args.headers {
        headers.push(parse_header(raw)?);
    }
    let mut request = PageRequest::get(url, parsed.to_string());
    request.method = method;
    request.headers = headers;
    request.body = args.data.clone().map(Bytes::from).unwrap_or_default();
    request.credentials = args.credentials;
    Ok(request)
}

/// The steps, each with what was sent and received, then the verdict and its fix.
fn describe(verdict: &Verdict, credentials: bool, paint: Paint) -> String {
    let mut out = format!(
        "{} {} from a page on {} (credentials: {})\n",
        paint.bold("fetch"),
        verdict.url,
        verdict.origin,
        if credentials { "include" } else { "same-origin" }
    );
    for (n, step) in verdict.steps.iter().enumerate() {
        out += &format!("\n{}. {} {} {}\n", n + 1, paint.bold(step.stage.as_str()), step.method, step.url);
        for (name, value) in &step.sent {
            out += &format!("   > {name}: {value}\n");
        }
        match &step.received {
            None => out += "   < (no response)\n",
            Some(answer) => {
                let reason =
                    http::StatusCode::from_u16(answer.status).ok().and_then(|s| s.canonical_reason());
                out += &format!("   < {} {}\n", answer.status, reason.unwrap_or(""));
                for (name, value) in &answer.headers {
                    if name.starts_with("access-control-") || matches!(name.as_str(), "vary" | "location") {
                        out += &format!("   < {name}: {value}\n");
                    }
                }
            }
        }
    }
    out += "\n";
    match &verdict.blocked {
        None => {
            out += &format!("{}: the page can read the response\n", paint.green("allowed"));
            let readable = if verdict.readable_headers.is_empty() {
                "(none)".to_owned()
            } else {
                verdict.readable_headers.join(", ")
            };
            out += &format!("  readable headers: {readable}\n");
        }
        Some(blocked) => {
            out += &format!(
                "{} at the {} step: {}\n",
                paint.red("blocked"),
                blocked.stage.as_str(),
                paint.bold(blocked.failure.check.code())
            );
            out += &format!("  browser: {}\n", blocked.failure.message);
            out += &format!("  {}: {}\n", paint.bold("fix"), blocked.failure.help);
        }
    }
    for warning in &verdict.warnings {
        out += &format!("{}: {warning}\n", paint.yellow("warning"));
    }
    out
}
