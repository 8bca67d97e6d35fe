//! `corsguard explain`: what the policy does with one request, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use corsguard::origin::Origin;
use corsguard::{Decision, Policy, Reason, RequestKind, Rules};
use corsguard_cli::decision_json;
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
        Format::Json => println!("{}", decision_json::to_json(&decision)),
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
    let rules = policy.rules_for(path);
    let scope = match policy.routes().find(|(prefix, _)| path.starts_with(prefix)) {
        Some((prefix, _)) => format!("route `{prefix}` of profile `{}`", policy.profile()),
        None => format!("profile `{}`", policy.profile()),
    };
    let origin = request.headers().get("origin").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut out = format!(
        "{} {} {}{}\n",
        paint.bold(decision.kind.as_str()),
        request.method(),
        path,
        origin.as_deref().map(|o| format!(" from {o}")).unwrap_or_default()
    );
    out += &format!("  rules:     {scope}\n");
    let verdict = if decision.allowed { paint.green("allowed") } else { paint.red("refused") };
    let outcome = match (decision.status, decision.forwarded) {
        (Some(status), _) => format!("answered by corsguard with {status}, not forwarded"),
        (None, true) => "forwarded to the application".to_owned(),
        (None, false) => "not forwarded".to_owned(),
    };
    out += &format!("  verdict:   {verdict}, {outcome}\n");
    out += &format!("  reason:    {} — {}\n", decision.reason.code(), why(decision, rules, request));
    out += "  response headers added by corsguard:\n";
    for (name, value) in decision.headers.iter() {
        out += &format!("    {name}: {}\n", String::from_utf8_lossy(value.as_bytes()));
    }
    if let Some(hint) = hint(decision, rules) {
        out += &format!("  {}: {hint}\n", paint.bold("help"));
    }
    out
}

fn why(decision: &Decision<'_>, rules: &Rules, request: &Request<()>) -> String {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    };
    let origin = header("origin");
    let origins: Vec<String> = rules.settings().origins.iter().map(ToString::to_string).collect();
    match decision.reason {
        Reason::Allowed => {
            let by = Origin::parse(origin.as_bytes())
                .ok()
                .and_then(|o| rules.matching_pattern(&o).map(ToString::to_string))
                .unwrap_or_default();
            match decision.kind {
                RequestKind::Preflight => format!(
                    "origin matches `{by}`; method {} and requested headers [{}] are allowed",
                    header("access-control-request-method"),
                    header("access-control-request-headers")
                ),
                _ => format!("origin matches `{by}` and {} is an allowed method", request.method()),
            }
        }
        Reason::NoOrigin => "no Origin header: not a cross-origin browser request".to_owned(),
        Reason::SameOrigin => "the request comes from the server's own origin; CORS does not apply".to_owned(),
        Reason::OriginNotAllowed => format!("`{origin}` is not in origins [{}]", origins.join(", ")),
        Reason::OriginNull => "`null` origins come from sandboxes, data: URLs and redirects, which any site can create".to_owned(),
        Reason::OriginMalformed => format!("`{origin}` is not an origin of the form scheme://host[:port]"),
        Reason::OriginNotCanonical => format!("`{origin}` is not in the canonical form browsers send (lowercase, no default port)"),
        Reason::OriginRepeated => "more than one Origin header".to_owned(),
        Reason::MethodNotAllowed => {
            let method = match decision.kind {
                RequestKind::Preflight => header("access-control-request-method"),
                _ => request.method().to_string(),
            };
            format!("{method} is not in methods [{}] (methods are case-sensitive)", rules.settings().methods.join(", "))
        }
        Reason::RequestMethodMalformed => "Access-Control-Request-Method is missing, repeated or not a method".to_owned(),
        Reason::HeaderNotAllowed => format!(
            "a requested header in [{}] is not in allow_headers [{}]",
            header("access-control-request-headers"),
            rules.settings().allow_headers.join(", ")
        ),
        Reason::RequestHeadersMalformed => "Access-Control-Request-Headers is not a list of header names".to_owned(),
        Reason::RequestHeadersTooLarge => format!(
            "Access-Control-Request-Headers is over {} bytes or {} names",
            corsguard::headers::MAX_REQUEST_HEADERS_LEN,
            corsguard::headers::MAX_REQUEST_HEADER_NAMES
        ),
        Reason::WebSocketOriginNotAllowed => format!(
            "a WebSocket handshake from {}, which the policy does not allow; CORS does not protect WebSockets, so the origin is checked here and the handshake refused before it reaches the application",
            header("origin")
        ),
        Reason::CrossOriginRequest => format!(
            "{} is an unsafe method from a cross-origin page that is not allowed; cross-origin protection refuses it before it reaches the application",
            request.method()
        ),
    }
}

fn hint(decision: &Decision<'_>, rules: &Rules) -> Option<String> {
    Some(match decision.reason {
        Reason::OriginNotAllowed => {
            "if this origin is yours, add it to `origins` (exact, or a `https://*.domain` pattern)".to_owned()
        }
        Reason::MethodNotAllowed => "add the method to `methods` if the API needs it".to_owned(),
        Reason::HeaderNotAllowed => "add the header to `allow_headers` if the API needs it".to_owned(),
        Reason::WebSocketOriginNotAllowed => {
            "if pages on this origin should open WebSockets to the API, add it to `origins`".to_owned()
        }
        Reason::CrossOriginRequest if rules.settings().cross_origin_protection => {
            "add the origin to `origins` if it is trusted; browsers on the same origin pass".to_owned()
        }
        _ => return None,
    })
}
