//! `corsguard explain`: what the policy does with one request, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use corsguard::{Action, Decision, Origin, Policy, Reason, RequestKind};
use http::{HeaderName, HeaderValue, Method, Request};

use crate::paint::Paint;
use crate::{policy_file, USAGE};

/// Explain why a request is allowed or blocked: by a policy file, or by asking a live API what
/// a browser's fetch() would get
#[derive(Args)]
#[command(after_help = "Two modes.\n\n\
With a policy (--config, a PATH): what corsguard does with one request, curl-style.\n\n\
With a URL (http:// or https://, no --config): what a browser does with fetch(URL) from a page on \
--origin. corsguard runs the Fetch algorithm against the live API step by step: it sends the \
preflight when Fetch needs one (exactly as browsers send it), applies the CORS check and the \
preflight checks, sends the actual request, follows redirects as fetch() does, and names the \
check that fails, in the browser's words, with a fix in the server's terms. Cookie given with -H \
stands for the browser's cookies (sent only with --credentials, never in a preflight).\n\n\
Examples:\n  \
# Why does my page on https://app.example.com get a CORS error for this PUT?\n  \
corsguard explain https://api.example.com/items/1 --origin https://app.example.com \\\n      \
-X PUT -H 'Content-Type: application/json' -H 'Authorization: Bearer t' -d '{\"done\":true}' \\\n      \
--credentials\n\n  \
# A preflight for a PUT with Authorization from the app, by the policy:\n  \
corsguard explain --config examples/corsguard.toml -X OPTIONS \\\n      \
-H 'Origin: https://app.example.com' \\\n      \
-H 'Access-Control-Request-Method: PUT' \\\n      \
-H 'Access-Control-Request-Headers: authorization' /api/items\n\n  \
# A prefix-match attack, in JSON:\n  \
corsguard explain --config examples/corsguard.toml -H 'Origin: https://app.example.com.evil.net' --format json /api/items\n\n\
Exit status: with a policy, 0 when explained (allowed or not), 1 when the policy has errors; with a \
URL, 0 when the browser allows the request, 1 when it blocks it. 2 on usage errors.")]
pub struct ExplainArgs {
    /// Policy file (default: corsguard.toml, unless a URL is given)
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Profile (default: CORSGUARD_PROFILE, then the file's default_profile, then its only profile)
    #[arg(long, value_name = "NAME", env = "CORSGUARD_PROFILE")]
    profile: Option<String>,
    /// Request method (default: GET, or POST with --data)
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    method: Option<String>,
    /// Request header, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Request path (selects the [[routes]] entry), or the URL of a live API
    #[arg(default_value = "/", value_name = "PATH|URL")]
    target: String,
    /// With a URL: the origin of the page that calls it, e.g. https://app.example.com
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// With a URL: the request body (as curl's -d; implies POST without -X)
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// With a URL: fetch with credentials: 'include' (cookies, and the stricter CORS rules)
    #[arg(long)]
    credentials: bool,
    /// With a URL: seconds to wait for each response (connect, TLS and headers)
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = crate::flags::parse_timeout)]
    timeout: std::time::Duration,
    /// With a URL: also trust the certificate authorities in this PEM file (a development CA)
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
}

/// Runs `corsguard explain`.
pub fn run(args: ExplainArgs) -> ExitCode {
    let is_url = args.target.starts_with("http://") || args.target.starts_with("https://");
    if is_url {
        if args.config.is_some() {
            eprintln!(
                "error: give either a URL (ask the live API) or --config with a PATH (ask the policy), not both"
            );
            return ExitCode::from(USAGE);
        }
        let live = crate::explain_live::LiveArgs {
            url: args.target,
            origin: args.origin,
            method: args.method,
            headers: args.headers,
            data: args.data,
            credentials: args.credentials,
            timeout: args.timeout,
            cacert: args.cacert,
            format: args.format,
        };
        return crate::explain_live::run(live);
    }
    let live_only = [
        ("--origin", args.origin.is_some()),
        ("--data", args.data.is_some()),
        ("--credentials", args.credentials),
        ("--cacert", args.cacert.is_some()),
    ];
    if let Some((flag, _)) = live_only.iter().find(|(_, given)| *given) {
        eprintln!(
            "error: {flag} is for a live API: give a URL (http:// or https://) instead of the path `{}`; with \
             a policy, set the Origin with -H 'Origin: ...'",
            args.target
        );
        return ExitCode::from(USAGE);
    }
    let request = match build_request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    let config = args.config.clone().unwrap_or_else(|| PathBuf::from("corsguard.toml"));
    let policy = match policy_file::load(&config, args.profile.as_deref()) {
        Ok((_, policy)) => policy,
        Err(code) => return code,
    };
    let decision = policy.decide(&request);
    match args.format {
        Format::Json => println!("{}", corsguard::json::decision(&decision)),
        Format::Human => print!("{}", describe(&policy, &request, &decision, Paint::stdout())),
    }
    ExitCode::SUCCESS
}

fn build_request(args: &ExplainArgs) -> Result<Request<()>, String> {
    let method = args.method.as_deref().unwrap_or("GET");
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| format!("`{method}` is not an HTTP method"))?;
    if !args.target.starts_with('/') {
        return Err(format!(
            "the path `{}` must start with `/` (or give an http:// or https:// URL to ask a live API)",
            args.target
        ));
    }
    let mut builder = Request::builder().method(method).uri(&args.target);
    for raw in &args.headers {
        let (name, value) = parse_header(raw)?;
        builder = builder.header(name, value);
    }
    builder.body(()).map_err(|e| format!("invalid request: {e}"))
}

/// A curl-style `-H 'Name: value'`.
pub(crate) fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) =
        raw.split_once(':').ok_or_else(|| format!("header `{raw}` is not of the form 'Name: value'"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{}` is not a header name", name.trim()))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of `{name}` has bytes a header cannot carry"))?;
    Ok((name, value))
}

fn describe(policy: &Policy, request: &Request<()>, decision: &Decision<'_>, paint: Paint) -> String {
    let path = request.uri().path();
    let route = policy.route_for(path);
    let scope = match route.prefix() {
        Some(prefix) => format!("route `{prefix}` of profile `{}`", policy.profile()),
        None => format!("profile `{}`", policy.profile()),
    };
    let header =
        |name: &str| request.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let origin = header("origin");
    let mut out = format!(
        "{} {} {}{}\n",
        paint.bold(decision.kind().as_str()),
        request.method(),
        path,
        origin.as_deref().map(|o| format!(" from {o}")).unwrap_or_default()
    );
    out += &format!("  rules:     {scope}\n");
    let verdict = if decision.is_allowed() { paint.green("allowed") } else { paint.red("refused") };
    let outcome = match decision.action() {
        Action::Answer(status) => format!("answered by corsguard with {status}, not forwarded"),
        _ => "forwarded to the application".to_owned(),
    };
    out += &format!("  verdict:   {verdict}, {outcome}\n");
    let reason = decision.reason();
    out += &format!("  reason:    {} — {}\n", reason.code(), reason.summary());
    let rules = route.rules();
    let list = |items: &[String]| if items.is_empty() { "(none)".to_owned() } else { items.join(", ") };
    let preflight = decision.kind() == RequestKind::Preflight;
    let context = match reason {
        Reason::Allowed => origin
            .as_deref()
            .and_then(|o| Origin::parse(o.as_bytes()).ok())
            .and_then(|o| rules.matching_pattern(&o))
            .map(|pattern| ("matched", format!("`{pattern}` in origins"))),
        Reason::OriginNotAllowed | Reason::WebSocketOriginNotAllowed | Reason::CrossOriginRequest => {
            let origins: Vec<String> = rules.origins().iter().map(ToString::to_string).collect();
            Some(("origins", list(&origins)))
        }
        Reason::MethodNotAllowed => {
            let asked = if preflight { header("access-control-request-method") } else { None };
            let method = asked.unwrap_or_else(|| request.method().to_string());
            Some(("methods", format!("{} (asked: {method})", list(rules.methods()))))
        }
        Reason::HeaderNotAllowed => {
            let asked = header("access-control-request-headers").unwrap_or_default();
            Some(("headers", format!("{} (asked: {asked})", list(rules.allow_headers()))))
        }
        _ => None,
    };
    if let Some((label, value)) = context {
        out += &format!("  {:<10} {value}\n", format!("{label}:"));
    }
    out += "  response headers added by corsguard:\n";
    for (name, value) in decision.headers().iter() {
        out += &format!("    {name}: {}\n", String::from_utf8_lossy(value.as_bytes()));
    }
    let help = match reason {
        // Without cross-origin protection the request was forwarded; adding the origin is
        // only the fix when the refusal is what the user saw.
        Reason::CrossOriginRequest if !rules.cross_origin_protection() => None,
        _ => reason.help(),
    };
    if let Some(help) = help {
        out += &format!("  {}: {help}\n", paint.bold("help"));
    }
    out
}
