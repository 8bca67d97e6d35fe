//! `corsguard explain`: what the policy does with one request, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use corsguard::{Action, Decision, Origin, Policy, Reason, RequestKind};
use http::{HeaderName, HeaderValue, Method, Request};

use crate::paint::Paint;
use crate::{policy_file, USAGE};

/// Simulate one request, curl-style, and explain the decision
#[derive(Args)]
#[command(after_help = "Examples:\n  \
# A preflight for a PUT with Authorization from the app:\n  \
corsguard explain --config examples/corsguard.toml -X OPTIONS \\\n      \
-H 'Origin: https://app.example.com' \\\n      \
-H 'Access-Control-Request-Method: PUT' \\\n      \
-H 'Access-Control-Request-Headers: authorization' /api/items\n\n  \
# A prefix-match attack, in JSON:\n  \
corsguard explain --config examples/corsguard.toml -H 'Origin: https://app.example.com.evil.net' --format json /api/items\n\n\
Exit status: 0 when explained (allowed or not), 1 when the policy has errors, 2 on usage errors.")]
pub struct ExplainArgs {
    /// Policy file
    #[arg(long, short = 'c', value_name = "FILE", default_value = "corsguard.toml")]
    config: PathBuf,
    /// Profile (default: CORSGUARD_PROFILE, then the file's default_profile, then its only profile)
    #[arg(long, value_name = "NAME", env = "CORSGUARD_PROFILE")]
    profile: Option<String>,
    /// Request method
    #[arg(short = 'X', long = "request", value_name = "METHOD", default_value = "GET")]
    method: String,
    /// Request header, 'Name: value' (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Request path (selects the [[routes]] entry)
    #[arg(default_value = "/")]
    path: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

pub fn run(args: ExplainArgs) -> ExitCode {
    let request = match build_request(&args) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(USAGE);
        }
    };
    let policy = match policy_file::load(&args.config, args.profile.as_deref()) {
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
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", args.method))?;
    if !args.path.starts_with('/') {
        return Err(format!("the path `{}` must start with `/`", args.path));
    }
    let mut builder = Request::builder().method(method).uri(&args.path);
    for raw in &args.headers {
        let (name, value) =
            raw.split_once(':').ok_or_else(|| format!("header `{raw}` is not of the form 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("`{}` is not a header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("the value of `{name}` has bytes a header cannot carry"))?;
        builder = builder.header(name, value);
    }
    builder.body(()).map_err(|e| format!("invalid request: {e}"))
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
