//! [`Reason`]: why a request got its decision, in a stable code and in words.

use std::fmt;

use http::HeaderValue;

macro_rules! reasons {
    ($(
        $(#[$doc:meta])*
        $variant:ident => $code:literal,
        summary: $summary:literal,
        help: $help:expr;
    )*) => {
        /// Why a request got the decision it got.
        ///
        /// [`Reason::code`] is the stable, machine form (logs, metrics, the `corsguard-reason`
        /// header, `corsguard explain --format json`); [`Reason::summary`] and [`Reason::help`]
        /// are the words `corsguard explain` prints. New reasons may be added.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
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

            /// One sentence saying what happened, for people.
            ///
            /// ```
            /// assert_eq!(
            ///     corsguard::Reason::OriginNull.summary(),
            ///     "`Origin: null` comes from sandboxed frames, data: URLs and redirects, which any site can create"
            /// );
            /// ```
            pub fn summary(self) -> &'static str {
                match self {
                    $( Reason::$variant => $summary, )*
                }
            }

            /// What to change in the policy, when changing it is the likely fix.
            ///
            /// ```
            /// use corsguard::Reason;
            /// assert!(Reason::HeaderNotAllowed.help().unwrap().contains("allow_headers"));
            /// assert_eq!(Reason::OriginMalformed.help(), None);
            /// ```
            pub fn help(self) -> Option<&'static str> {
                match self {
                    $( Reason::$variant => $help, )*
                }
            }

            /// The reason code as a header value, shared by every response that carries it.
            pub(crate) fn header_value(self) -> &'static HeaderValue {
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
    summary: "the origin, the method and the requested headers are all allowed",
    help: None;

    /// No `Origin` header: not a CORS request.
    NoOrigin => "no-origin",
    summary: "no Origin header: not a cross-origin browser request",
    help: None;

    /// The request comes from the server's own origin (`Sec-Fetch-Site` or `Origin` vs `Host`).
    SameOrigin => "same-origin",
    summary: "the request comes from the server's own origin, where CORS does not apply",
    help: None;

    /// The origin is well-formed but not in the allowlist.
    OriginNotAllowed => "origin-not-allowed",
    summary: "the origin is not in `origins`",
    help: Some("if this origin is yours, add it to `origins` (exact, or a `https://*.domain` pattern)");

    /// `Origin: null`, which any page can produce.
    OriginNull => "origin-null",
    summary: "`Origin: null` comes from sandboxed frames, data: URLs and redirects, which any site can create",
    help: None;

    /// `Origin` is not an origin (path, userinfo, list, garbage).
    OriginMalformed => "origin-malformed",
    summary: "the Origin header is not an origin of the form scheme://host[:port]",
    help: None;

    /// `Origin` is not in the canonical form browsers send (uppercase, default port).
    OriginNotCanonical => "origin-not-canonical",
    summary: "the origin is not in the canonical form browsers send (lowercase, no default port)",
    help: None;

    /// More than one `Origin` header.
    OriginRepeated => "origin-repeated",
    summary: "the request has more than one Origin header",
    help: None;

    /// The method (or `Access-Control-Request-Method`) is not in `methods`.
    MethodNotAllowed => "method-not-allowed",
    summary: "the method is not in `methods` (methods are case-sensitive)",
    help: Some("add the method to `methods` if the API needs it");

    /// `Access-Control-Request-Method` is repeated or not a method token.
    RequestMethodMalformed => "request-method-malformed",
    summary: "Access-Control-Request-Method is repeated or not a method",
    help: None;

    /// A name in `Access-Control-Request-Headers` is not in `allow_headers`.
    HeaderNotAllowed => "header-not-allowed",
    summary: "a header named in Access-Control-Request-Headers is not in `allow_headers`",
    help: Some("add the header to `allow_headers` if the API needs it");

    /// `Access-Control-Request-Headers` is not a list of header names.
    RequestHeadersMalformed => "request-headers-malformed",
    summary: "Access-Control-Request-Headers is not a list of header names",
    help: None;

    /// `Access-Control-Request-Headers` is over the size or count budget.
    RequestHeadersTooLarge => "request-headers-too-large",
    summary: "Access-Control-Request-Headers is over 4096 bytes or 64 names",
    help: None;

    /// A cross-origin unsafe request from an origin not allowed: refused by cross-origin
    /// protection and never forwarded.
    CrossOriginRequest => "cross-origin-request",
    summary: "an unsafe method from a cross-origin page that is not allowed: cross-origin protection refuses it before it reaches the application",
    help: Some("add the origin to `origins` if it is trusted; pages on the same origin pass");

    /// A WebSocket handshake from an origin the rules do not allow (or `null`, malformed,
    /// repeated): CORS does not protect WebSockets, so without this check any page could open
    /// a credentialed WebSocket to the API and read everything on it (cross-site WebSocket
    /// hijacking). Refused with 403 and never forwarded.
    WebSocketOriginNotAllowed => "websocket-origin-not-allowed",
    summary: "a WebSocket handshake from an origin the policy does not allow; CORS does not protect WebSockets, so the origin is checked here and the handshake refused before it reaches the application",
    help: Some("if pages on this origin should open WebSockets to the API, add it to `origins`");
}

impl Reason {
    /// True for the reasons of a request that gets what it asked for: CORS access
    /// ([`Allowed`](Reason::Allowed)) or a plain pass-through ([`NoOrigin`](Reason::NoOrigin),
    /// [`SameOrigin`](Reason::SameOrigin)).
    pub fn is_allowed(self) -> bool {
        matches!(self, Reason::Allowed | Reason::NoOrigin | Reason::SameOrigin)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{MAX_REQUEST_HEADERS_LEN, MAX_REQUEST_HEADER_NAMES};

    #[test]
    fn codes_are_unique_and_summaries_name_the_real_limits() {
        let mut codes: Vec<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
        let limits = format!("{MAX_REQUEST_HEADERS_LEN} bytes or {MAX_REQUEST_HEADER_NAMES} names");
        assert!(Reason::RequestHeadersTooLarge.summary().contains(&limits));
    }
}
