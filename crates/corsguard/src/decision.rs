//! What to do with one request: its kind, the action (answer it here, or forward it), the
//! reason, and the exact headers to put on the response.
//!
//! Deciding never allocates: the decision borrows the request's `Origin` value and header
//! values that were joined when the policy was built.

use std::fmt;

use http::header::{
    GetAll, HeaderName, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HOST, ORIGIN, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

use crate::cors_headers::{CorsHeaders, OwnedCorsHeaders, STAR};
use crate::headers::{self, is_token, RequestHeadersError};
use crate::origin::{Origin, OriginError};
use crate::reason::Reason;
use crate::rules::Rules;

/// `Access-Control-Request-Private-Network` (Private Network Access preflights).
const ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
/// `Sec-Fetch-Site`, set by browsers on every request.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// The request headers a decision reads. Besides them, a decision reads only the method and
/// the path (which picks the `[[routes]]` entry) and, for a request without `Host`, the target's
/// authority: two requests that agree on those and on every value of these headers, in order,
/// get equal decisions, whatever else they carry. A cache of decisions may key on exactly that
/// (the Node package's middleware does).
///
/// The property test `decision_headers_cover_every_input` in `tests/properties.rs` holds the
/// decision to this list.
pub const DECISION_HEADERS: [&str; 7] = [
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
    "access-control-request-private-network",
    "sec-fetch-site",
    "upgrade",
    "host",
];

static VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");
static VARY_PREFLIGHT: HeaderValue =
    HeaderValue::from_static("Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
static VARY_PREFLIGHT_PNA: HeaderValue = HeaderValue::from_static(
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, \
     Access-Control-Request-Private-Network",
);

/// How a request relates to CORS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// What happens to a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// corsguard answers the request itself, with this status and the decision's headers, and
    /// the application never sees it: 204 for an allowed preflight, 403 for a refused
    /// preflight, a cross-origin unsafe request or a WebSocket handshake from a foreign origin.
    Answer(StatusCode),
    /// The request goes on to the application, and its response, whatever its status, gets
    /// the decision's headers.
    Forward,
}

/// What a decision says besides its headers; shared by [`Decision`] and [`OwnedDecision`].
macro_rules! outcome_accessors {
    () => {
        /// What kind of request this is.
        pub fn kind(&self) -> RequestKind {
            self.kind
        }

        /// What happens to the request.
        pub fn action(&self) -> Action {
            self.action
        }

        /// Why.
        pub fn reason(&self) -> Reason {
            self.reason
        }

        /// True when the request gets what it asked for: CORS access, or a plain pass-through
        /// (no `Origin`, or the server's own origin).
        pub fn is_allowed(&self) -> bool {
            self.reason.is_allowed()
        }

        /// True when the request goes on to the application.
        pub fn is_forwarded(&self) -> bool {
            self.action == Action::Forward
        }

        /// The status corsguard answers with itself, when it does not forward.
        pub fn status(&self) -> Option<StatusCode> {
            match self.action {
                Action::Answer(status) => Some(status),
                Action::Forward => None,
            }
        }
    };
}

/// The decision for one request, borrowing from the policy and the request: see
/// [`Policy::decide`](crate::Policy::decide).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision<'a> {
    kind: RequestKind,
    action: Action,
    reason: Reason,
    headers: CorsHeaders<'a>,
}

impl<'a> Decision<'a> {
    outcome_accessors!();

    /// The CORS and `Vary` headers to put on the response (corsguard's own answer, or the
    /// application's).
    pub fn headers(&self) -> &CorsHeaders<'a> {
        &self.headers
    }

    /// The same decision owning its headers, so that it can outlive the request.
    pub fn into_owned(self) -> OwnedDecision {
        OwnedDecision {
            kind: self.kind,
            action: self.action,
            reason: self.reason,
            headers: self.headers.to_owned(),
        }
    }
}

/// A [`Decision`] that owns its headers: what a middleware keeps while the application handles
/// the request, and what [`Policy::decide_parts`](crate::Policy::decide_parts) returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedDecision {
    kind: RequestKind,
    action: Action,
    reason: Reason,
    headers: OwnedCorsHeaders,
}

impl OwnedDecision {
    outcome_accessors!();

    /// The CORS and `Vary` headers to put on the response.
    pub fn headers(&self) -> &OwnedCorsHeaders {
        &self.headers
    }

    /// The headers alone, to write onto the response with [`OwnedCorsHeaders::apply_to`].
    pub fn into_headers(self) -> OwnedCorsHeaders {
        self.headers
    }
}

/// A borrowed view of the parts of a request a decision reads: built from an
/// [`http::Request`], its [`Parts`](http::request::Parts), or with [`RequestView::new`].
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    method: &'a Method,
    path: &'a str,
    authority: Option<&'a str>,
    headers: &'a HeaderMap,
}

impl<'a> RequestView<'a> {
    /// A request of `method` for `path` (which selects the `[[routes]]` entry) with `headers`.
    pub fn new(method: &'a Method, path: &'a str, headers: &'a HeaderMap) -> Self {
        RequestView { method, path, authority: None, headers }
    }

    /// The request target's authority, which stands in for a missing `Host` (HTTP/2's
    /// `:authority`) when deciding whether a request is same-origin.
    pub fn with_authority(mut self, authority: Option<&'a str>) -> Self {
        self.authority = authority;
        self
    }

    fn from_uri(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        RequestView { method, path: uri.path(), authority: uri.authority().map(|a| a.as_str()), headers }
    }

    pub(crate) fn path(&self) -> &'a str {
        self.path
    }
}

impl<'a> From<&'a http::request::Parts> for RequestView<'a> {
    fn from(parts: &'a http::request::Parts) -> Self {
        RequestView::from_uri(&parts.method, &parts.uri, &parts.headers)
    }
}

impl<'a, B> From<&'a http::Request<B>> for RequestView<'a> {
    fn from(request: &'a http::Request<B>) -> Self {
        RequestView::from_uri(request.method(), request.uri(), request.headers())
    }
}

/// Appends to `key` every value a preflight's decision reads, besides the rules and the
/// strictness (the caller adds which rules apply): each value of `Origin`,
/// `Access-Control-Request-Method`, `-Headers` and `-Private-Network`, tagged with its header
/// and ended by a LF, in the order the request has them. Header values cannot contain LF, so
/// equal keys mean equal values of each keyed header, in the same order (`a,b` in one line
/// differs from `a` and `b` in two). Returns false, writing nothing, for a request that is not
/// a preflight.
///
/// Whatever [`preflight`] reads must be keyed here: the property test
/// `preflight_keys_cover_every_input` in `tests/properties.rs` checks that requests with equal
/// keys get equal decisions.
pub(crate) fn write_preflight_key(req: RequestView<'_>, key: &mut Vec<u8>) -> bool {
    if *req.method != Method::OPTIONS
        || !req.headers.contains_key(ORIGIN)
        || !req.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
    {
        return false;
    }
    // One pass over the headers costs less than a lookup of each name.
    for (name, value) in req.headers {
        let tag = if name == ORIGIN {
            b'o'
        } else if name == ACCESS_CONTROL_REQUEST_METHOD {
            b'm'
        } else if name == ACCESS_CONTROL_REQUEST_HEADERS {
            b'h'
        } else if name == ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK {
            b'p'
        } else {
            continue;
        };
        key.push(tag);
        key.extend_from_slice(value.as_bytes());
        key.push(b'\n');
    }
    true
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
    let allow_origin = if rules.allows_any_origin() && !rules.credentials() { &STAR } else { origin_value };
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
        action: Action::Answer(StatusCode::FORBIDDEN),
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
    let pass =
        Decision { kind: RequestKind::NotCors, action: Action::Forward, reason: Reason::NoOrigin, headers };
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
    let vary = if rules.private_network() { &VARY_PREFLIGHT_PNA } else { &VARY_PREFLIGHT };
    let verdict = allow_origin.and_then(|acao| {
        check_request_method(rules, &request_method)?;
        check_request_headers(rules, req.headers)?;
        Ok(acao)
    });
    match verdict {
        Ok(acao) => Decision {
            kind: RequestKind::Preflight,
            action: Action::Answer(StatusCode::NO_CONTENT),
            reason: Reason::Allowed,
            headers: CorsHeaders {
                allow_origin: Some(acao),
                allow_credentials: rules.credentials(),
                allow_methods: Some(&rules.allow_methods_value),
                allow_headers: rules.allow_headers_value.as_ref(),
                max_age: Some(&rules.max_age_value),
                // Asking is never a reason to refuse: Chrome has replaced these preflights with
                // Local Network Access (a permission prompt, no header), and the embedded
                // runtimes that still send the header get a plain answer unless the policy
                // grants private network access.
                allow_private_network: wants_private_network && rules.private_network(),
                vary: Some(vary),
                ..CorsHeaders::default()
            },
        },
        Err(reason) => Decision {
            kind: RequestKind::Preflight,
            action: Action::Answer(StatusCode::FORBIDDEN),
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
    let all_allowed =
        headers::check_request_headers(headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS), |name| {
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
                action: Action::Forward,
                reason: Reason::Allowed,
                headers: CorsHeaders {
                    allow_origin: Some(acao),
                    allow_credentials: rules.credentials(),
                    expose_headers: rules.expose_headers_value.as_ref(),
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
        action: Action::Forward,
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
    rules.cross_origin_protection() && !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn refuse_cross_origin(decision: Decision<'_>, strict: bool) -> Decision<'_> {
    Decision {
        action: Action::Answer(StatusCode::FORBIDDEN),
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
    req.headers.get(HOST).map(HeaderValue::as_bytes).or_else(|| req.authority.map(str::as_bytes))
}
