//! The checks a browser applies to a cross-origin response (fetch.spec.whatwg.org: #cors-check,
//! #cors-preflight-fetch, #cors-safelisted-response-header-name), each failure in the browser's
//! words with a fix in the server's terms.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
};
use http::HeaderMap;

/// A check that failed, by its code in `corsguard explain URL --format json` (a contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The request got no response: DNS, a refused connection, TLS, a timeout.
    NetworkError,
    /// The preflight was answered with a redirect, which browsers never follow.
    PreflightRedirect,
    /// The preflight's status was not 200–299.
    PreflightStatus,
    /// No `Access-Control-Allow-Origin`.
    MissingAllowOrigin,
    /// Two `Access-Control-Allow-Origin` fields, or a list in one.
    MultipleAllowOrigin,
    /// `Access-Control-Allow-Origin` names something other than the page's origin.
    AllowOriginMismatch,
    /// `Access-Control-Allow-Origin: *` on a credentialed request.
    WildcardWithCredentials,
    /// A credentialed request without `Access-Control-Allow-Credentials: true` exactly.
    MissingAllowCredentials,
    /// The method is not in the preflight's `Access-Control-Allow-Methods`.
    MethodNotAllowed,
    /// A request header is not in the preflight's `Access-Control-Allow-Headers`.
    HeaderNotAllowed,
    /// `Access-Control-Allow-Methods` does not parse as a list of methods.
    InvalidAllowMethods,
    /// `Access-Control-Allow-Headers` does not parse as a list of header names.
    InvalidAllowHeaders,
    /// A redirect the browser refuses to follow (a bad `Location`, too many hops).
    RedirectNotAllowed,
}

impl Check {
    /// Every check, in the order of the contract's list.
    pub const ALL: [Check; 13] = [
        Check::NetworkError,
        Check::PreflightRedirect,
        Check::PreflightStatus,
        Check::MissingAllowOrigin,
        Check::MultipleAllowOrigin,
        Check::AllowOriginMismatch,
        Check::WildcardWithCredentials,
        Check::MissingAllowCredentials,
        Check::MethodNotAllowed,
        Check::HeaderNotAllowed,
        Check::InvalidAllowMethods,
        Check::InvalidAllowHeaders,
        Check::RedirectNotAllowed,
    ];

    /// The code, e.g. `missing-allow-origin`.
    pub fn code(self) -> &'static str {
        match self {
            Check::NetworkError => "network-error",
            Check::PreflightRedirect => "preflight-redirect",
            Check::PreflightStatus => "preflight-status",
            Check::MissingAllowOrigin => "missing-allow-origin",
            Check::MultipleAllowOrigin => "multiple-allow-origin",
            Check::AllowOriginMismatch => "allow-origin-mismatch",
            Check::WildcardWithCredentials => "wildcard-with-credentials",
            Check::MissingAllowCredentials => "missing-allow-credentials",
            Check::MethodNotAllowed => "method-not-allowed",
            Check::HeaderNotAllowed => "header-not-allowed",
            Check::InvalidAllowMethods => "invalid-allow-methods",
            Check::InvalidAllowHeaders => "invalid-allow-headers",
            Check::RedirectNotAllowed => "redirect-not-allowed",
        }
    }
}

/// A failed check: which, what the browser says, and what to change on the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The check.
    pub check: Check,
    /// The browser's complaint, as its console words it.
    pub message: String,
    /// The fix, in the server's terms.
    pub help: String,
}

impl Failure {
    pub(crate) fn new(check: Check, message: impl Into<String>, help: impl Into<String>) -> Failure {
        Failure { check, message: message.into(), help: help.into() }
    }
}

/// Every value of `name`, each field apart.
fn fields<'h>(headers: &'h HeaderMap, name: &http::HeaderName) -> Vec<&'h [u8]> {
    headers.get_all(name).iter().map(|v| v.as_bytes()).collect()
}

/// What Fetch's "get" returns: the fields joined with `, `, or `None` when there are none.
fn combined(headers: &HeaderMap, name: &http::HeaderName) -> Option<String> {
    let all = fields(headers, name);
    (!all.is_empty()).then(|| all.iter().map(|v| String::from_utf8_lossy(v)).collect::<Vec<_>>().join(", "))
}

/// The CORS check (#cors-check) of `response` for a request from `origin` (serialized, or
/// `null`), `credentials` meaning `credentials: 'include'`.
pub fn cors_check(headers: &HeaderMap, origin: &str, credentials: bool) -> Result<(), Failure> {
    let Some(allow) = combined(headers, &ACCESS_CONTROL_ALLOW_ORIGIN) else {
        return Err(Failure::new(
            Check::MissingAllowOrigin,
            "No 'Access-Control-Allow-Origin' header is present on the requested resource.",
            format!(
                "answer with `Access-Control-Allow-Origin: {origin}`{}. If the server does so elsewhere, \
                 this route or this status skips its CORS layer: put CORS in front of routing, \
                 authentication and error handling (corsguard serve and CorsLayer write the headers on \
                 every response, errors included)",
                if credentials { "" } else { " (or `*`, for a public resource)" }
            ),
        ));
    };
    if fields(headers, &ACCESS_CONTROL_ALLOW_ORIGIN).len() > 1 || allow.contains(',') {
        return Err(Failure::new(
            Check::MultipleAllowOrigin,
            format!(
                "The 'Access-Control-Allow-Origin' header contains multiple values '{allow}', but only one \
                 is allowed."
            ),
            "send exactly one origin, the request's own (reflect it after checking it against an \
             allowlist). Two layers adding the header, a proxy and the application, is the usual cause: \
             let one of them own CORS",
        ));
    }
    if allow == "*" {
        if !credentials {
            return Ok(());
        }
        return Err(Failure::new(
            Check::WildcardWithCredentials,
            "The value of the 'Access-Control-Allow-Origin' header in the response must not be the \
             wildcard '*' when the request's credentials mode is 'include'.",
            format!(
                "with credentials, answer `Access-Control-Allow-Origin: {origin}` (the allowed origin, not \
                 `*`) with `Vary: Origin`, or fetch without credentials"
            ),
        ));
    }
    if allow != origin {
        let help = if allow.strip_suffix('/') == Some(origin) {
            format!("remove the trailing slash: an origin has no path, so `{allow}` never equals `{origin}`")
        } else if allow == "null" {
            format!(
                "the server answered `null`, which is not this page's origin (and trusting `null` lets \
                 sandboxed frames of any site in): answer `{origin}`"
            )
        } else if allow.eq_ignore_ascii_case(origin) {
            format!("origins are compared byte for byte: answer `{origin}` exactly as the browser sends it")
        } else if origin == "null" {
            "a redirect to another origin turned the request's origin into `null` (Fetch taints it); \
             answer the final request with `*` (without credentials), or have the page call the final \
             URL directly"
                .to_owned()
        } else {
            format!(
                "the server allows `{allow}`, not `{origin}`: add `{origin}` to its allowlist, and reflect \
                 the request's origin rather than a fixed one"
            )
        };
        return Err(Failure::new(
            Check::AllowOriginMismatch,
            format!(
                "The 'Access-Control-Allow-Origin' header has a value '{allow}' that is not equal to the \
                 supplied origin."
            ),
            help,
        ));
    }
    if !credentials {
        return Ok(());
    }
    match combined(headers, &ACCESS_CONTROL_ALLOW_CREDENTIALS) {
        Some(value) if value == "true" => Ok(()),
        value => Err(Failure::new(
            Check::MissingAllowCredentials,
            format!(
                "The value of the 'Access-Control-Allow-Credentials' header in the response is '{}' which \
                 must be 'true' when the request's credentials mode is 'include'.",
                value.as_deref().unwrap_or("")
            ),
            "answer with `Access-Control-Allow-Credentials: true`, exactly so: lowercase, one field \
             (`True` or `1` do not count)",
        )),
    }
}

/// A preflight's status problem, when it is not 200–299; `location` is its `Location`, if any.
pub fn preflight_status(status: u16, location: Option<&str>) -> Result<(), Failure> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Err(Failure::new(
            Check::PreflightRedirect,
            "Redirect is not allowed for a preflight request.",
            format!(
                "the preflight was redirected ({status}{}): browsers never follow a preflight's redirect. \
                 Call the final URL from the page (a trailing-slash or http-to-https redirect is the usual \
                 cause), or answer OPTIONS before redirecting",
                location.map(|l| format!(" to {l}")).unwrap_or_default()
            ),
        ));
    }
    let help = match status {
        401 | 403 => format!(
            "the preflight got {status}, so authentication runs before CORS. A preflight never carries \
             cookies or Authorization: answer OPTIONS before authentication, as corsguard serve and \
             CorsLayer do"
        ),
        404 | 405 | 501 => format!(
            "the preflight got {status}: nothing answers OPTIONS on this path. Answer preflights in a CORS \
             layer that runs before routing, so every path gets them"
        ),
        500..=599 => format!("the preflight got {status}: the server failed while answering OPTIONS"),
        _ => format!("the preflight got {status}: answer it with 204 (or 200)"),
    };
    Err(Failure::new(
        Check::PreflightStatus,
        "Response to preflight request doesn't pass access control check: It does not have HTTP ok status.",
        help,
    ))
}

/// Fetch's "extract header list values" for a list of tokens (`#method`, `#field-name`):
/// `None` when an element is not a token. Empty elements are skipped.
fn token_list(headers: &HeaderMap, name: &http::HeaderName) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for field in fields(headers, name) {
        let text = std::str::from_utf8(field).ok()?;
        for item in text.split(',').map(|i| i.trim_matches([' ', '\t'])) {
            if item.is_empty() {
                continue;
            }
            if !item.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) {
                return None;
            }
            out.push(item.to_owned());
        }
    }
    Some(out)
}

/// The preflight's answer checked against the actual request (#cors-preflight-fetch, steps
/// after the CORS check): its method and its CORS-unsafe header names. `Ok` carries warnings
/// where browsers are more lenient than the standard.
pub fn preflight_lists(
    headers: &HeaderMap,
    method: &str,
    unsafe_names: &[String],
    credentials: bool,
) -> Result<Vec<String>, Failure> {
    let mut warnings = Vec::new();
    let Some(methods) = token_list(headers, &ACCESS_CONTROL_ALLOW_METHODS) else {
        return Err(Failure::new(
            Check::InvalidAllowMethods,
            format!(
                "Access-Control-Allow-Methods '{}' in preflight response cannot be parsed.",
                combined(headers, &ACCESS_CONTROL_ALLOW_METHODS).unwrap_or_default()
            ),
            "send a comma-separated list of method names, e.g. `Access-Control-Allow-Methods: GET, PUT, \
             DELETE`",
        ));
    };
    let Some(allowed_headers) = token_list(headers, &ACCESS_CONTROL_ALLOW_HEADERS) else {
        return Err(Failure::new(
            Check::InvalidAllowHeaders,
            format!(
                "Access-Control-Allow-Headers '{}' in preflight response cannot be parsed.",
                combined(headers, &ACCESS_CONTROL_ALLOW_HEADERS).unwrap_or_default()
            ),
            "send a comma-separated list of header names, e.g. `Access-Control-Allow-Headers: \
             Content-Type, Authorization`",
        ));
    };
    let star = |list: &[String]| list.iter().any(|m| m == "*");
    if !methods.iter().any(|m| m == method)
        && !crate::safelist::is_safelisted_method(method)
        && (credentials || !star(&methods))
    {
        let help = if credentials && star(&methods) {
            format!(
                "with credentials, `*` in Access-Control-Allow-Methods is a method named `*`, not a \
                 wildcard: list `{method}` by name"
            )
        } else if methods.iter().any(|m| m.eq_ignore_ascii_case(method)) {
            format!("methods are case-sensitive: list `{method}` exactly as the page sends it")
        } else {
            format!("add `{method}` to Access-Control-Allow-Methods on the preflight's answer")
        };
        return Err(Failure::new(
            Check::MethodNotAllowed,
            format!("Method {method} is not allowed by Access-Control-Allow-Methods in preflight response."),
            help,
        ));
    }
    for name in unsafe_names {
        if allowed_headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            continue;
        }
        if !credentials && star(&allowed_headers) {
            if name == "authorization" {
                // The standard keeps Authorization out of the wildcard; Chromium and Firefox
                // let it through all the same (Firefox with a console warning).
                warnings.push(
                    "`Authorization` is covered only by the `*` in Access-Control-Allow-Headers: Chromium \
                     and Firefox accept that (Firefox warns), but the Fetch standard does not, and \
                     browsers may follow it; list `Authorization` by name"
                        .to_owned(),
                );
            }
            continue;
        }
        let help = if credentials && star(&allowed_headers) {
            format!(
                "with credentials, `*` in Access-Control-Allow-Headers is a header named `*`, not a \
                 wildcard: list `{name}` by name"
            )
        } else {
            format!(
                "add `{name}` to Access-Control-Allow-Headers on the preflight's answer (the browser asked \
                 for it in Access-Control-Request-Headers)"
            )
        };
        return Err(Failure::new(
            Check::HeaderNotAllowed,
            format!(
                "Request header field {name} is not allowed by Access-Control-Allow-Headers in preflight \
                 response."
            ),
            help,
        ));
    }
    Ok(warnings)
}

/// Response header names a CORS response shows to scripts without being exposed.
const SAFELISTED_RESPONSE_HEADERS: [&str; 7] = [
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

/// The response headers present in `headers` that the page's script can read: the safelisted
/// ones and those in `Access-Control-Expose-Headers` (its `*` only without credentials), never
/// `Set-Cookie`. Lowercase names, sorted.
pub fn readable_headers(headers: &HeaderMap, credentials: bool) -> Vec<String> {
    let exposed = token_list(headers, &ACCESS_CONTROL_EXPOSE_HEADERS).unwrap_or_default();
    let all = !credentials && exposed.iter().any(|h| h == "*");
    let mut names: Vec<String> = headers
        .keys()
        .map(|name| name.as_str())
        .filter(|name| !matches!(*name, "set-cookie" | "set-cookie2"))
        .filter(|name| {
            all || SAFELISTED_RESPONSE_HEADERS.contains(name)
                || exposed.iter().any(|e| e.eq_ignore_ascii_case(name))
        })
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        headers
    }

    const O: &str = "https://app.example.com";

    fn code(result: Result<(), Failure>) -> Option<&'static str> {
        result.err().map(|f| f.check.code())
    }

    #[test]
    fn the_cors_check_as_fetch_defines_it() {
        assert_eq!(code(cors_check(&map(&[]), O, false)), Some("missing-allow-origin"));
        assert_eq!(code(cors_check(&map(&[("access-control-allow-origin", "*")]), O, false)), None);
        assert_eq!(
            code(cors_check(&map(&[("access-control-allow-origin", "*")]), O, true)),
            Some("wildcard-with-credentials")
        );
        assert_eq!(code(cors_check(&map(&[("access-control-allow-origin", O)]), O, false)), None);
        for wrong in
            ["https://app.example.com/", "null", "https://APP.example.com", "https://other.example.com"]
        {
            assert_eq!(
                code(cors_check(&map(&[("access-control-allow-origin", wrong)]), O, false)),
                Some("allow-origin-mismatch"),
                "{wrong}"
            );
        }
        let twice = map(&[("access-control-allow-origin", O), ("access-control-allow-origin", O)]);
        assert_eq!(code(cors_check(&twice, O, false)), Some("multiple-allow-origin"));
        let listed =
            map(&[("access-control-allow-origin", "https://app.example.com, https://b.example.com")]);
        assert_eq!(code(cors_check(&listed, O, false)), Some("multiple-allow-origin"));
        // Credentials need exactly `true`.
        let acao = ("access-control-allow-origin", O);
        assert_eq!(code(cors_check(&map(&[acao]), O, true)), Some("missing-allow-credentials"));
        for value in ["True", "1", "true "] {
            let headers = map(&[acao, ("access-control-allow-credentials", value)]);
            assert_eq!(code(cors_check(&headers, O, true)), Some("missing-allow-credentials"), "{value:?}");
        }
        assert_eq!(
            code(cors_check(&map(&[acao, ("access-control-allow-credentials", "true")]), O, true)),
            None
        );
        // `null` is matched literally when the origin itself is `null` (a tainted redirect).
        assert_eq!(code(cors_check(&map(&[("access-control-allow-origin", "null")]), "null", false)), None);
    }

    #[test]
    fn preflight_status_names_redirects_apart() {
        assert!(preflight_status(204, None).is_ok() && preflight_status(200, None).is_ok());
        assert_eq!(code(preflight_status(301, Some("/x/"))), Some("preflight-redirect"));
        assert_eq!(code(preflight_status(307, None)), Some("preflight-redirect"));
        let unauthorized = preflight_status(401, None).unwrap_err();
        assert_eq!(unauthorized.check.code(), "preflight-status");
        assert!(unauthorized.help.contains("authentication runs before CORS"), "{}", unauthorized.help);
        assert_eq!(code(preflight_status(405, None)), Some("preflight-status"));
    }

    fn lists(
        pairs: &[(&str, &str)],
        method: &str,
        names: &[&str],
        credentials: bool,
    ) -> Option<&'static str> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        preflight_lists(&map(pairs), method, &names, credentials).err().map(|f| f.check.code())
    }

    #[test]
    fn methods_and_headers_with_and_without_credentials() {
        let acam = |v| ("access-control-allow-methods", v);
        let acah = |v| ("access-control-allow-headers", v);
        assert_eq!(lists(&[acam("GET, PUT")], "PUT", &[], false), None);
        assert_eq!(lists(&[acam("GET")], "PUT", &[], false), Some("method-not-allowed"));
        assert_eq!(lists(&[acam("put")], "PUT", &[], false), Some("method-not-allowed"), "case-sensitive");
        assert_eq!(lists(&[], "POST", &["x-a"], false), Some("header-not-allowed"));
        assert_eq!(lists(&[acah("X-A")], "POST", &["x-a"], false), None, "names are case-insensitive");
        assert_eq!(lists(&[acam("*")], "DELETE", &[], false), None);
        assert_eq!(lists(&[acam("*")], "DELETE", &[], true), Some("method-not-allowed"));
        assert_eq!(lists(&[acah("*")], "GET", &["x-a"], false), None);
        assert_eq!(lists(&[acah("*")], "GET", &["x-a"], true), Some("header-not-allowed"));
        assert_eq!(lists(&[acam("GET, P U T")], "GET", &[], false), Some("invalid-allow-methods"));
        assert_eq!(lists(&[acah("a b")], "GET", &[], false), Some("invalid-allow-headers"));
        // Authorization under `*`: browsers accept it, with a warning from us.
        let warnings =
            preflight_lists(&map(&[acah("*")]), "GET", &["authorization".to_owned()], false).unwrap();
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn readable_headers_are_the_safelisted_and_the_exposed() {
        let headers = map(&[
            ("content-type", "text/plain"),
            ("x-request-id", "1"),
            ("x-other", "2"),
            ("set-cookie", "a=1"),
            ("access-control-expose-headers", "X-Request-Id"),
        ]);
        assert_eq!(readable_headers(&headers, false), ["content-type", "x-request-id"]);
        let mut star = headers.clone();
        star.insert("access-control-expose-headers", "*".parse().unwrap());
        assert_eq!(
            readable_headers(&star, false),
            ["access-control-expose-headers", "content-type", "x-other", "x-request-id"]
        );
        assert_eq!(readable_headers(&star, true), ["content-type"], "`*` is literal with credentials");
    }
}
