//! [`LintCode`]: every code a policy-file finding can carry, listed once, each with its
//! severity and the long explanation `corsguard check --explain CODE` prints.

use std::fmt;
use std::str::FromStr;

use crate::diagnostic::Severity;

macro_rules! lint_codes {
    ($( $variant:ident => $code:literal, $severity:ident, $explanation:literal; )*) => {
        /// The code of a policy-file finding, e.g. `wildcard-with-credentials`.
        ///
        /// Codes are a contract: tools match on [`LintCode::as_str`], so a code is never renamed.
        /// New codes may be added.
        ///
        /// ```
        /// use corsguard::{LintCode, Severity};
        ///
        /// let code: LintCode = "null-origin".parse().unwrap();
        /// assert_eq!(code, LintCode::NullOrigin);
        /// assert_eq!(code.severity(), Severity::Error);
        /// assert!(code.explanation().contains("sandboxed"));
        /// assert!("no-such-code".parse::<LintCode>().is_err());
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum LintCode {
            $(
                #[doc = concat!("`", $code, "`")]
                $variant,
            )*
        }

        impl LintCode {
            /// Every code, errors and warnings, in documentation order.
            pub const ALL: &'static [LintCode] = &[$(LintCode::$variant,)*];

            /// The code as written in reports, e.g. `null-origin`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( LintCode::$variant => $code, )*
                }
            }

            /// Whether a finding with this code refuses the policy (error) or not (warning).
            pub fn severity(self) -> Severity {
                match self {
                    $( LintCode::$variant => Severity::$severity, )*
                }
            }

            /// What the code means, why it matters and what to write instead: a few
            /// paragraphs, each line at most 100 characters.
            pub fn explanation(self) -> &'static str {
                match self {
                    $( LintCode::$variant => $explanation, )*
                }
            }
        }
    };
}

lint_codes! {
    WildcardWithCredentials => "wildcard-with-credentials", Error,
"`*` in `origins` (or in `expose_headers`) together with `credentials = true`.

Browsers refuse `Access-Control-Allow-Origin: *` on a credentialed request, so the policy cannot
mean what it says. The usual \"fix\" elsewhere, reflecting whatever Origin arrives, lets every
site on the web read your users' data with their cookies.

    [policy]
    credentials = true
    origins = [\"*\"]                        # error

List the origins that may send credentials, or drop credentials for public data:

    origins = [\"https://app.example.com\"]
";

    NullOrigin => "null-origin", Error,
"`null` in `origins`.

Browsers send `Origin: null` from sandboxed iframes, `data:` and `file:` URLs and after some
redirects. Any site can create such a context, so trusting `null` trusts everyone.

Remove it and list the real origins of your pages.
";

    OriginHasPath => "origin-has-path", Error,
"An entry of `origins` has a path, a trailing slash, a query, a fragment or userinfo.

An origin is only scheme://host[:port]. Browsers never send a path in `Origin`, so such an entry
can never match, and a matcher that strips the path instead invites prefix tricks.

    origins = [\"https://app.example.com/\"]   # error
    origins = [\"https://app.example.com\"]    # right
";

    InvalidOrigin => "invalid-origin", Error,
"An entry of `origins` is not an origin or one of the supported patterns.

corsguard accepts exactly: `https://app.example.com` (exact), `https://*.example.com` (one or more
labels before the domain), `http://localhost:*` (any port), both together, and `*`. There are no
regexes, substrings or other wildcards, so the classic bypasses cannot be written.
";

    PublicSuffixWildcard => "public-suffix-wildcard", Error,
"A subdomain pattern over a public suffix, such as `https://*.com` or `https://*.github.io`.

Anyone can register a name under a public suffix (the Public Suffix List decides which), so the
pattern trusts sites you do not control. List the exact origins you own instead.
";

    InsecureOriginWithCredentials => "insecure-origin-with-credentials", Error,
"A plain `http://` origin that is not loopback, with `credentials = true`.

Anyone on the network path can inject script into an http page, and that script could then read
credentialed responses. Use https; loopback origins (`http://localhost:*`) are allowed for
development.
";

    LocalhostInProduction => "localhost-in-production", Error,
"A loopback origin (`localhost`, `127.0.0.0/8`, `[::1]`) in a strict profile (`production`, or
`strict = true`).

Any program on a user's machine can serve pages from localhost and would be trusted by the
production API. Keep local origins in the development profile.
";

    InvalidMethod => "invalid-method", Error,
"An entry of `methods` is `*`, is not a method token, or is a lowercase spelling of a method
browsers normalise (`get`, `post`, ...).

Methods are compared case-sensitively, as Fetch does; browsers uppercase DELETE, GET, HEAD,
OPTIONS, POST and PUT, so `\"put\"` would never match. Write `\"PUT\"`.
";

    ForbiddenMethod => "forbidden-method", Error,
"`CONNECT`, `TRACE` or `TRACK` in `methods`.

Browsers never let scripts send these methods, and a server that answers TRACE can leak
credentials (cross-site tracing). Remove them.
";

    InvalidHeaderName => "invalid-header-name", Error,
"An entry of `allow_headers` or `expose_headers` is not a header name (a token: letters, digits
and `!#$%&'*+-.^_`|~`).
";

    ForbiddenHeaderName => "forbidden-header-name", Error,
"A forbidden request header (`Cookie`, `Host`, `Origin`, `Sec-*`, `Proxy-*`, ...) in
`allow_headers`.

Browsers set these themselves and never let a script send them, so listing them has no effect and
suggests a misunderstanding. Cookies travel with `credentials = true`.
";

    WildcardHeadersWithCredentials => "wildcard-headers-with-credentials", Error,
"`*` in `allow_headers` with `credentials = true`.

For credentialed requests browsers read `*` as a header literally named `*`, so every preflight
asking for a header would fail. List the headers by name.
";

    UnknownKey => "unknown-key", Error,
"A key corsguard does not know, in the policy file or in `[gateway]`.

Usually a typo (`credentails`); the help line names the closest known key. Unknown keys are errors
so that a misspelt setting never silently falls back to its default.
";

    UnknownProfile => "unknown-profile", Error,
"The profile asked for (by `--profile`, `CORSGUARD_PROFILE` or `default_profile`) is not in the
file, or the file has several profiles and none was chosen.

Name one of the file's `[profiles.NAME]` tables, or set `default_profile`.
";

    ParseError => "parse-error", Error,
"The file is not valid TOML, a value has the wrong type, a number is out of range, or the file
cannot be read.

The message is the parser's; the line and column point at the problem.
";

    MissingOrigins => "missing-origins", Error,
"A profile (or `[policy]` for a file without profiles) has no `origins`.

There is no default list of origins: say which pages may call the API, or `[]` for none.
";

    MissingPath => "missing-path", Error,
"A `[[routes]]` entry has no `path`.

A route applies its keys to the requests whose path starts with `path`, e.g. `path = \"/public/\"`.
";

    InvalidPath => "invalid-path", Error,
"A `[[routes]]` path does not start with `/`.

A route path is a prefix of the request path, such as `\"/public/\"`.
";

    InvalidMaxAge => "invalid-max-age", Error,
"`max_age` is negative or larger than a 32-bit number of seconds.
";

    InvalidUpstream => "invalid-upstream", Error,
"`upstream` in `[gateway]` (or `--upstream`) is not a URL the gateway can forward to.

It must be `http://` or `https://` with a host, an optional port and an optional path prefix, and
no userinfo, query or fragment:

    upstream = \"http://127.0.0.1:3000\"
    upstream = \"https://api.internal/v1/\"
";

    InvalidGatewayValue => "invalid-gateway-value", Error,
"A `[gateway]` value that `corsguard serve` would refuse: a `mode` other than `enforce` or
`report`, `tls_cert` without `tls_key` (or the reverse), a timeout that is not a positive number
of seconds of at most a day, an `upstream_max_connections` that is not a positive integer, or a
`listen` or `admin` address that is not `host:port`.
";

    MaxAgeOverBrowserCap => "max-age-over-browser-cap", Warning,
"`max_age` is over 7200 seconds.

Chromium caps preflight caching at 7200 seconds (Firefox at 86400), so the extra time only delays
how fast a policy change reaches browsers that honour it.
";

    NonCanonicalOrigin => "non-canonical-origin", Warning,
"An origin written in a form browsers never send: uppercase letters, a default port (`:443` on
https), or a Unicode host.

corsguard matches the canonical form, which the help line shows; write that so the file says what
is matched.
";

    WildcardOriginInProduction => "wildcard-origin-in-production", Warning,
"`*` in `origins` in a strict profile.

Fine for truly public data. Otherwise list the origins, and never rely on `*` for data protected
only by network location (an intranet API is reachable from every page a user opens).
";

    UnneededMethod => "unneeded-method", Warning,
"`OPTIONS` in `methods`.

corsguard answers preflights whatever `methods` says, so OPTIONS needs listing only if scripts
send OPTIONS requests themselves. Keep the list as small as the API.
";

    SafelistedHeaderListed => "safelisted-header-listed", Warning,
"A CORS-safelisted request header (`Accept`, `Accept-Language`, `Content-Language`) in
`allow_headers`.

Browsers send these without asking, so listing them changes nothing. (`Content-Type` is safelisted
only for three values, so listing it is useful and not warned about.)
";

    ExposeSensitiveHeader => "expose-sensitive-header", Warning,
"`Set-Cookie` (or `Set-Cookie2`) in `expose_headers`.

Browsers never expose these to scripts whatever the server says, so the entry does nothing; if a
script needs the value, the design needs another way.
";

    DuplicateEntry => "duplicate-entry", Warning,
"An entry listed twice, or an origin already allowed by another entry (`https://a.example.com`
beside `https://*.example.com`, anything beside `*`).

Remove it: the longer list only hides what is really allowed.
";

    AuthorizationNotCoveredByWildcard => "authorization-not-covered-by-wildcard", Warning,
"`*` in `allow_headers` is expected to cover `Authorization`.

Fetch says `*` never covers `Authorization`: it must be listed by name. corsguard follows the
standard, so list it if the API reads it.
";
}

impl LintCode {
    /// The code for `text`, if corsguard has one.
    pub fn from_code(text: &str) -> Option<LintCode> {
        LintCode::ALL.iter().copied().find(|code| code.as_str() == text)
    }
}

impl fmt::Display for LintCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a corsguard lint code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownLintCode(String);

impl fmt::Display for UnknownLintCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a corsguard lint code", self.0)
    }
}

impl std::error::Error for UnknownLintCode {}

impl FromStr for LintCode {
    type Err = UnknownLintCode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        LintCode::from_code(text).ok_or_else(|| UnknownLintCode(text.to_owned()))
    }
}

impl PartialEq<str> for LintCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for LintCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_with_a_wrapped_explanation() {
        for (i, code) in LintCode::ALL.iter().enumerate() {
            assert_eq!(LintCode::from_code(code.as_str()), Some(*code));
            assert!(LintCode::ALL[..i].iter().all(|other| other.as_str() != code.as_str()));
            let text = code.explanation();
            assert!(text.ends_with('\n') && !text.trim().is_empty(), "{code}");
            assert!(text.lines().all(|line| line.chars().count() <= 100), "{code} has a long line");
        }
    }
}
