//! What to do with one request: its kind, the verdict, the reason, the status when corsguard
//! answers itself, and the exact headers to put on the response.
//!
//! Deciding never allocates: the decision borrows the request's `Origin` value and header
//! values that were joined when the policy was built.

use std::{fmt, mem};

use http::header::{
    GetAll, HeaderName, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HOST, ORIGIN,
    UPGRADE, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use crate::headers::{is_token, RequestHeaders, RequestHeadersError};
use crate::origin::{Origin, OriginError};
use crate::rules::Rules;

/// `Access-Control-Request-Private-Network` (Private Network Access preflights).
pub const ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
/// `Access-Control-Allow-Private-Network`.
pub const ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");
/// `corsguard-reason`: the reason code of a refusal, sent only by non-strict profiles.
pub const CORSGUARD_REASON: HeaderName = HeaderName::from_static("corsguard-reason");
/// `Sec-Fetch-Site`, set by browsers on every request.
pub const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

static TRUE: HeaderValue = HeaderValue::from_static("true");
static STAR: HeaderValue = HeaderValue::from_static("*");
static VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");
static VARY_PREFLIGHT: HeaderValue =
    HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
static VARY_PREFLIGHT_PNA: HeaderValue = HeaderValue::from_static(
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, \
     Access-Control-Request-Private-Network",
);

/// How a request relates to CORS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// No `Origin` header: not a cross-origin browser request.
    NotCors,
    /// `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    Preflight,
    /// Any other request with an `Origin` header.
    Actual,
}

impl RequestKind {
    /// `not_cors`, `preflight` or `actual`.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::NotCors => "not_cors",
            RequestKind::Preflight => "preflight",
            RequestKind::Actual => "actual",
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, )*) => {
        /// Why a request got the decision it got; [`Reason::code`] is the stable, machine form.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Reason {
            $( $(#[$doc])* $variant, )*
        }

        impl Reason {
            /// Every reason, for metrics and documentation.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The reason code, e.g. `origin-not-allowed`.
            pub fn code(self) -> &'static str {
                match self {
                    $( Reason::$variant => $code, )*
                }
            }

            fn header_value(self) -> &'static HeaderValue {
                match self {
                    $( Reason::$variant => {
                        static VALUE: HeaderValue = HeaderValue::from_static($code);
                        &VALUE
                    } )*
                }
            }
        }
    };
}

reasons! {
    /// The origin, method and headers are all allowed.
    Allowed => "allowed",
    /// No `Origin` header: not a CORS request.
    NoOrigin => "no-origin",
    /// The request comes from the server's own origin (`Sec-Fetch-Site` or `Origin` vs `Host`).
    SameOrigin => "same-origin",
    /// The origin is well-formed but not in the allowlist.
    OriginNotAllowed => "origin-not-allowed",
    /// `Origin: null`, which any page can produce.
    OriginNull => "origin-null",
    /// `Origin` is not an origin (path, userinfo, list, garbage).
    OriginMalformed => "origin-malformed",
    /// `Origin` is not in the canonical form browsers send (uppercase, default port).
    OriginNotCanonical => "origin-not-canonical",
    /// More than one `Origin` header.
    OriginRepeated => "origin-repeated",
    /// The method (or `Access-Control-Request-Method`) is not in `methods`.
    MethodNotAllowed => "method-not-allowed",
    /// `Access-Control-Request-Method` is repeated or not a method token.
    RequestMethodMalformed => "request-method-malformed",
    /// A name in `Access-Control-Request-Headers` is not in `allow_headers`.
    HeaderNotAllowed => "header-not-allowed",
    /// `Access-Control-Request-Headers` is not a list of header names.
    RequestHeadersMalformed => "request-headers-malformed",
    /// `Access-Control-Request-Headers` is over the size or count budget.
    RequestHeadersTooLarge => "request-headers-too-large",
    /// A cross-origin unsafe request from an origin not allowed: refused by cross-origin
    /// protection and never forwarded.
    CrossOriginRequest => "cross-origin-request",
    /// A WebSocket handshake from an origin the rules do not allow (or `null`, malformed,
    /// repeated): CORS does not protect WebSockets, so without this check any page could open
    /// a credentialed WebSocket to the API and read everything on it (cross-site WebSocket
    /// hijacking). Refused with 403 and never forwarded.
    WebSocketOriginNotAllowed => "websocket-origin-not-allowed",
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The decision for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision<'a> {
    /// What kind of request this is.
    pub kind: RequestKind,
    /// True when the request gets what it asked for: CORS access, or a plain pass-through.
    pub allowed: bool,
    /// True when the request goes on to the application (or upstream).
    pub forwarded: bool,
    /// The status corsguard answers with itself (204 or 403), when it does not forward.
    pub status: Option<StatusCode>,
    /// Why.
    pub reason: Reason,
    /// The headers to put on the response.
    pub headers: CorsHeaders<'a>,
}

/// The CORS and `Vary` headers a decision puts on the response, borrowed from the policy and
/// the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorsHeaders<'a> {
    allow_origin: Option<&'a HeaderValue>,
    allow_credentials: bool,
    allow_methods: Option<&'a HeaderValue>,
    allow_headers: Option<&'a HeaderValue>,
    max_age: Option<&'a HeaderValue>,
    expose_headers: Option<&'a HeaderValue>,
    allow_private_network: bool,
    vary: Option<&'static HeaderValue>,
    reason: Option<Reason>,
}

impl<'a> CorsHeaders<'a> {
    /// Every header, in a stable order. Allocation-free.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, &'a HeaderValue)> {
        let flag = |on: bool| on.then_some(&TRUE);
        [
            (ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin),
            (ACCESS_CONTROL_ALLOW_CREDENTIALS, flag(self.allow_credentials)),
            (ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods),
            (ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers),
            (ACCESS_CONTROL_MAX_AGE, self.max_age),
            (ACCESS_CONTROL_EXPOSE_HEADERS, self.expose_headers),
            (ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK, flag(self.allow_private_network)),
            (VARY, self.vary),
            (CORSGUARD_REASON, self.reason.map(Reason::header_value)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
    }

    /// The `Access-Control-Allow-Origin` value, if any.
    pub fn allow_origin(&self) -> Option<&'a HeaderValue> {
        self.allow_origin
    }

    /// Puts these headers on a response: every `Access-Control-*` header already there is
    /// replaced (one source of truth, never two `Access-Control-Allow-Origin`), and `Vary` is
    /// appended to, never overwritten.
    pub fn apply_to(&self, headers: &mut HeaderMap) {
        self.to_owned_headers().apply_to(headers);
    }
}

impl CorsHeaders<'_> {
    /// The same headers owning their values, for when the request the decision borrows must be
    /// handed on (a middleware calling the application) before the response exists.
    ///
    /// The policy's values are shared (a reference-count increment each). The echoed origin is
    /// copied instead: a clone would share the request's receive buffer, and a server such as
    /// hyper that finds its buffer still shared when it next reads allocates a fresh one
    /// (8 KiB) for every request.
    pub fn to_owned_headers(&self) -> OwnedCorsHeaders {
        OwnedCorsHeaders {
            allow_origin: self.allow_origin.map(copy_origin),
            allow_credentials: self.allow_credentials,
            allow_methods: self.allow_methods.cloned(),
            allow_headers: self.allow_headers.cloned(),
            max_age: self.max_age.cloned(),
            expose_headers: self.expose_headers.cloned(),
            allow_private_network: self.allow_private_network,
            vary: self.vary,
            reason: self.reason,
        }
    }
}

/// An `Access-Control-Allow-Origin` value that owns its bytes (see
/// [`CorsHeaders::to_owned_headers`]); `*` stays the shared static.
pub(crate) fn copy_origin(value: &HeaderValue) -> HeaderValue {
    if value == STAR {
        return STAR.clone();
    }
    // Bytes taken from a valid value are valid; the fallback only keeps this panic-free.
    HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone())
}

/// A decision's headers with owned values: see [`CorsHeaders::to_owned_headers`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedCorsHeaders {
    allow_origin: Option<HeaderValue>,
    allow_credentials: bool,
    allow_methods: Option<HeaderValue>,
    allow_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    allow_private_network: bool,
    vary: Option<&'static HeaderValue>,
    reason: Option<Reason>,
}

impl OwnedCorsHeaders {
    /// Puts these headers on a response, exactly as [`CorsHeaders::apply_to`] does, moving the
    /// values instead of cloning them. This is the one place CORS headers go on a response.
    pub fn apply_to(mut self, headers: &mut HeaderMap) {
        self.move_to(headers);
    }

    /// [`apply_to`](Self::apply_to) through a mutable reference, leaving these headers empty:
    /// for a response future that holds them in place, which spares moving the whole set out.
    pub(crate) fn move_to(&mut self, headers: &mut HeaderMap) {
        // Most responses carry no CORS headers and no `Vary` of their own (an empty map is the
        // common case for a middleware): then there is nothing to strip or merge with.
        let merge_vary = !headers.is_empty() && {
            strip_access_control(headers);
            headers.contains_key(VARY)
        };
        let mut put = |name: HeaderName, value: Option<HeaderValue>| {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        };
        put(ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin.take());
        put(ACCESS_CONTROL_ALLOW_CREDENTIALS, mem::take(&mut self.allow_credentials).then(|| TRUE.clone()));
        put(ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods.take());
        put(ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers.take());
        put(ACCESS_CONTROL_MAX_AGE, self.max_age.take());
        put(ACCESS_CONTROL_EXPOSE_HEADERS, self.expose_headers.take());
        put(
            ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK,
            mem::take(&mut self.allow_private_network).then(|| TRUE.clone()),
        );
        match self.vary.take() {
            Some(vary) if merge_vary => append_vary(headers, vary),
            Some(vary) => {
                headers.insert(VARY, vary.clone());
            }
            None => {}
        }
        if let Some(reason) = self.reason.take() {
            headers.insert(CORSGUARD_REASON, reason.header_value().clone());
        }
    }
}

/// Removes every `Access-Control-*` response header.
pub fn strip_access_control(headers: &mut HeaderMap) {
    let is_cors = |name: &HeaderName| name.as_str().starts_with("access-control-");
    if !headers.keys().any(is_cors) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| is_cors(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// Adds `value`'s names to `Vary` unless the response already varies on all of them (or on
/// everything, `*`).
pub fn append_vary(headers: &mut HeaderMap, value: &HeaderValue) {
    let existing: Vec<&[u8]> = headers
        .get_all(VARY)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| t.trim_ascii())
        .collect();
    let covered = |name: &[u8]| existing.iter().any(|e| *e == b"*" || e.eq_ignore_ascii_case(name));
    let all_present = value.as_bytes().split(|&b| b == b',').map(|t| t.trim_ascii()).all(covered);
    if !all_present {
        headers.append(VARY, value.clone());
    }
}

/// A borrowed view of the parts of a request a decision reads.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request URI (its path selects the route; its authority stands in for `Host` in
    /// HTTP/2).
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

impl<'a> From<&'a http::request::Parts> for RequestView<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        RequestView { method: &parts.method, uri: &parts.uri, headers: &parts.headers }
    }
}

impl<'a, B> From<&'a http::Request<B>> for RequestView<'a> {
    fn from(request: &'a http::Request<B>) -> Self {
        RequestView { method: request.method(), uri: request.uri(), headers: request.headers() }
    }
}

/// Decides one request against one rule set. `strict` hides the reason header.
pub(crate) fn decide<'a>(rules: &'a Rules, strict: bool, req: RequestView<'a>) -> Decision<'a> {
    let mut origins = req.headers.get_all(ORIGIN).iter();
    let Some(origin_value) = origins.next() else {
        return not_cors(rules, strict, req);
    };
    let repeated = origins.next().is_some();
    let bytes = origin_value.as_bytes();
    // Exact entries are stored in canonical form, so a byte-equal hit needs no parsing: the
    // common allowed request costs one hash lookup.
    let mut parsed = None;
    let origin_verdict = if repeated {
        Err(Reason::OriginRepeated)
    } else if rules.matcher.contains_exact(bytes) {
        Ok(())
    } else {
        let result = Origin::parse(bytes);
        parsed = Some(result);
        match result {
            Ok(origin) if rules.matcher.matches(&origin) => Ok(()),
            Ok(_) => Err(Reason::OriginNotAllowed),
            Err(OriginError::Null) => Err(Reason::OriginNull),
            Err(OriginError::Malformed) => Err(Reason::OriginMalformed),
            Err(OriginError::NotCanonical) => Err(Reason::OriginNotCanonical),
        }
    };
    let allow_origin =
        if rules.allows_any_origin() && !rules.settings().credentials { &STAR } else { origin_value };
    let allow_origin = origin_verdict.map(|()| allow_origin);
    // A preflight is an OPTIONS request with Access-Control-Request-Method; the lookup is kept
    // for checking the method.
    let request_method = (req.method == Method::OPTIONS)
        .then(|| req.headers.get_all(ACCESS_CONTROL_REQUEST_METHOD))
        .filter(|values| values.iter().next().is_some());
    if let Some(request_method) = request_method {
        return preflight(rules, strict, req, allow_origin, request_method);
    }
    let single_origin = (!repeated).then_some(SingleOrigin { bytes, parsed });
    if allow_origin.is_err() && is_websocket_handshake(req.headers) && !is_same_origin(req, single_origin) {
        return refuse_websocket(strict);
    }
    actual(rules, strict, req, single_origin, allow_origin)
}

/// True when `Upgrade` lists `websocket` (any case, anywhere in the list). Broader than what
/// a server would switch on, so that no spelling of a handshake escapes the origin check.
fn is_websocket_handshake(headers: &HeaderMap) -> bool {
    headers.get_all(UPGRADE).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    })
}

/// A WebSocket handshake from an origin the rules do not allow.
fn refuse_websocket(strict: bool) -> Decision<'static> {
    let reason = Reason::WebSocketOriginNotAllowed;
    Decision {
        kind: RequestKind::Actual,
        allowed: false,
        forwarded: false,
        status: Some(StatusCode::FORBIDDEN),
        reason,
        headers: CorsHeaders {
            vary: Some(&VARY_ORIGIN),
            reason: (!strict).then_some(reason),
            ..CorsHeaders::default()
        },
    }
}

/// The request's only `Origin`, with its parse result when deciding already needed it.
#[derive(Clone, Copy)]
struct SingleOrigin<'a> {
    bytes: &'a [u8],
    parsed: Option<Result<Origin<'a>, OriginError>>,
}

impl<'a> SingleOrigin<'a> {
    fn parse(self) -> Option<Origin<'a>> {
        self.parsed.unwrap_or_else(|| Origin::parse(self.bytes)).ok()
    }
}

fn not_cors<'a>(rules: &'a Rules, strict: bool, req: RequestView<'a>) -> Decision<'a> {
    let headers = CorsHeaders { vary: Some(&VARY_ORIGIN), ..CorsHeaders::default() };
    let pass = Decision {
        kind: RequestKind::NotCors,
        allowed: true,
        forwarded: true,
        status: None,
        reason: Reason::NoOrigin,
        headers,
    };
    // Cross-origin protection reads Sec-Fetch-Site even without Origin, as Go's does.
    match sec_fetch_site(req.headers) {
        Some(site) if guards(rules, req.method) && !is_same_origin_site(site) => {
            refuse_cross_origin(pass, strict)
        }
        _ => pass,
    }
}

fn preflight<'a>(
    rules: &'a Rules,
    strict: bool,
    req: RequestView<'a>,
    allow_origin: Result<&'a HeaderValue, Reason>,
    request_method: GetAll<'a, HeaderValue>,
) -> Decision<'a> {
    let wants_private_network =
        req.headers.get(ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK).is_some_and(|v| v.as_bytes() == b"true");
    let vary = if rules.settings().private_network { &VARY_PREFLIGHT_PNA } else { &VARY_PREFLIGHT };
    let verdict = allow_origin.and_then(|acao| {
        check_request_method(rules, &request_method)?;
        check_request_headers(rules, req.headers)?;
        Ok(acao)
    });
    match verdict {
        Ok(acao) => Decision {
            kind: RequestKind::Preflight,
            allowed: true,
            forwarded: false,
            status: Some(StatusCode::NO_CONTENT),
            reason: Reason::Allowed,
            headers: CorsHeaders {
                allow_origin: Some(acao),
                allow_credentials: rules.settings().credentials,
                allow_methods: Some(&rules.allow_methods),
                allow_headers: rules.allow_headers.as_ref(),
                max_age: Some(&rules.max_age),
                // Asking is never a reason to refuse: Chrome has replaced these preflights with
                // Local Network Access (a permission prompt, no header), and the embedded
                // runtimes that still send the header get a plain answer unless the policy
                // grants private network access.
                allow_private_network: wants_private_network && rules.settings().private_network,
                vary: Some(vary),
                ..CorsHeaders::default()
            },
        },
        Err(reason) => Decision {
            kind: RequestKind::Preflight,
            allowed: false,
            forwarded: false,
            status: Some(StatusCode::FORBIDDEN),
            reason,
            headers: CorsHeaders {
                vary: Some(vary),
                reason: (!strict).then_some(reason),
                ..CorsHeaders::default()
            },
        },
    }
}

fn check_request_method(rules: &Rules, values: &GetAll<'_, HeaderValue>) -> Result<(), Reason> {
    let mut values = values.iter();
    let method = match (values.next(), values.next()) {
        (Some(m), None) if is_token(m.as_bytes()) => m.as_bytes(),
        _ => return Err(Reason::RequestMethodMalformed),
    };
    if rules.allows_method(method) {
        Ok(())
    } else {
        Err(Reason::MethodNotAllowed)
    }
}

fn check_request_headers(rules: &Rules, headers: &HeaderMap) -> Result<(), Reason> {
    let all_allowed = RequestHeaders::check(headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS), |name| {
        rules.allows_request_header(name)
    })
    .map_err(|e| match e {
        RequestHeadersError::Malformed => Reason::RequestHeadersMalformed,
        RequestHeadersError::TooLarge => Reason::RequestHeadersTooLarge,
    })?;
    if all_allowed {
        Ok(())
    } else {
        Err(Reason::HeaderNotAllowed)
    }
}

fn actual<'a>(
    rules: &'a Rules,
    strict: bool,
    req: RequestView<'a>,
    origin: Option<SingleOrigin<'a>>,
    allow_origin: Result<&'a HeaderValue, Reason>,
) -> Decision<'a> {
    let verdict = allow_origin.and_then(|acao| {
        if rules.allows_method(req.method.as_str().as_bytes()) {
            Ok(acao)
        } else {
            Err(Reason::MethodNotAllowed)
        }
    });
    let refused = match verdict {
        Ok(acao) => {
            return Decision {
                kind: RequestKind::Actual,
                allowed: true,
                forwarded: true,
                status: None,
                reason: Reason::Allowed,
                headers: CorsHeaders {
                    allow_origin: Some(acao),
                    allow_credentials: rules.settings().credentials,
                    expose_headers: rules.expose_headers.as_ref(),
                    vary: Some(&VARY_ORIGIN),
                    ..CorsHeaders::default()
                },
            }
        }
        Err(reason) => reason,
    };
    let same_origin = is_same_origin(req, origin);
    let no_cors = Decision {
        kind: RequestKind::Actual,
        allowed: same_origin,
        forwarded: true,
        status: None,
        reason: if same_origin { Reason::SameOrigin } else { refused },
        headers: CorsHeaders {
            vary: Some(&VARY_ORIGIN),
            reason: (!strict && !same_origin).then_some(refused),
            ..CorsHeaders::default()
        },
    };
    if same_origin || !guards(rules, req.method) {
        no_cors
    } else {
        refuse_cross_origin(no_cors, strict)
    }
}

/// True when the request comes from the server's own origin: `Sec-Fetch-Site` says so, or,
/// without it, the only `Origin`'s authority is the request's host.
fn is_same_origin(req: RequestView<'_>, origin: Option<SingleOrigin<'_>>) -> bool {
    match sec_fetch_site(req.headers) {
        Some(site) => is_same_origin_site(site),
        None => origin
            .and_then(SingleOrigin::parse)
            .is_some_and(|o| request_host(req).is_some_and(|h| h == o.authority().as_bytes())),
    }
}

/// True when cross-origin protection applies to this method: it is on, and the method is
/// unsafe (anything but GET, HEAD and OPTIONS).
fn guards(rules: &Rules, method: &Method) -> bool {
    rules.settings().cross_origin_protection
        && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn refuse_cross_origin(decision: Decision<'_>, strict: bool) -> Decision<'_> {
    Decision {
        allowed: false,
        forwarded: false,
        status: Some(StatusCode::FORBIDDEN),
        reason: Reason::CrossOriginRequest,
        headers: CorsHeaders { reason: (!strict).then_some(Reason::CrossOriginRequest), ..decision.headers },
        ..decision
    }
}

fn sec_fetch_site(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(SEC_FETCH_SITE).map(HeaderValue::as_bytes)
}

fn is_same_origin_site(value: &[u8]) -> bool {
    value == b"same-origin" || value == b"none"
}

fn request_host<'a>(req: RequestView<'a>) -> Option<&'a [u8]> {
    req.headers
        .get(HOST)
        .map(HeaderValue::as_bytes)
        .or_else(|| req.uri.authority().map(|a| a.as_str().as_bytes()))
}
