//! What an audit reports: finding ids (a contract), severities and one finding's evidence.

use std::fmt;

use serde_json::{Map, Value};

/// How bad a finding is, from `info` to `critical`. Ordered: `Critical > High > ... > Info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; nothing to exploit.
    Info,
    /// Breakage or a weakness that needs another flaw to matter.
    Low,
    /// Exploitable in some settings (intranets, shared caches), or a credentialed weakness that
    /// needs extra work to exploit.
    Medium,
    /// Exploitable with credentials by an attacker with an extra foothold (a subdomain XSS, a
    /// network position, a particular browser).
    High,
    /// Any web page can read credentialed responses.
    Critical,
}

impl Severity {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The SARIF `level` for this severity.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low | Severity::Info => "note",
        }
    }

    /// GitHub code scanning's `security-severity` score (a CVSS-like number as a string).
    pub fn security_score(self) -> &'static str {
        match self {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "3.0",
            Severity::Info => "0.0",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! finding_ids {
    ($($variant:ident = $id:literal, $title:literal, $help:literal;)*) => {
        /// A class of CORS misconfiguration. The ids are a contract: scripts and dashboards
        /// match on them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum FindingId {
            $(#[doc = $title] $variant,)*
        }

        impl FindingId {
            /// Every id, in documentation order.
            pub const ALL: &'static [FindingId] = &[$(FindingId::$variant,)*];

            /// The stable id, e.g. `origin-reflection`.
            pub fn as_str(self) -> &'static str {
                match self { $(FindingId::$variant => $id,)* }
            }

            /// One line saying what was found.
            pub fn title(self) -> &'static str {
                match self { $(FindingId::$variant => $title,)* }
            }

            /// How to fix it.
            pub fn help(self) -> &'static str {
                match self { $(FindingId::$variant => $help,)* }
            }
        }
    };
}

finding_ids! {
    OriginReflection = "origin-reflection",
        "the server echoes an arbitrary Origin in Access-Control-Allow-Origin",
        "compare the Origin with an allowlist of exact origins; never copy it into the response unchecked";
    NullOrigin = "null-origin",
        "the server trusts the `null` origin, which any sandboxed iframe or data: URL can send",
        "remove `null` from the allowlist; opaque origins cannot be told apart";
    PrefixMatch = "prefix-match",
        "an origin that merely starts with a trusted origin is trusted (prefix match)",
        "compare whole origins, byte for byte, instead of startsWith or an unanchored regex";
    SuffixMatch = "suffix-match",
        "an origin that merely ends with (or is part of) the trusted domain is trusted (suffix match)",
        "compare whole origins; to allow subdomains match `.` + the domain on a label boundary";
    UnescapedDot = "unescaped-dot",
        "a regex with an unescaped `.` trusts look-alike domains",
        "escape dots in origin regexes (`\\.`), anchor them (`^...$`), or better, use exact origins";
    SpecialCharacters = "special-characters",
        "a trusted origin followed by a special character (`_`, backtick, ...) is trusted",
        "compare whole origins; browsers send `_` (and Safari more characters) in host names";
    HttpOriginTrusted = "http-origin-trusted",
        "an https site trusts the plain-http version of an origin, which a network attacker controls",
        "trust only https:// origins for an https site";
    AnySubdomainTrusted = "any-subdomain-trusted",
        "any subdomain of the trusted site is trusted: one XSS or takeover on any of them is enough",
        "list the subdomains that need access instead of trusting all of them";
    ThirdPartyOrigin = "third-party-origin",
        "an origin where anyone can host scripts (github.io, codepen.io, ...) is trusted",
        "never trust shared hosting origins; list your own origins only";
    WildcardOrigin = "wildcard-origin",
        "Access-Control-Allow-Origin is `*`: any site can read responses fetched without credentials",
        "fine for public data; on an intranet or IP-restricted API list the origins instead";
    WildcardWithCredentials = "wildcard-with-credentials",
        "a `*` wildcard is combined with Access-Control-Allow-Credentials: true",
        "browsers refuse this combination; list exact origins when credentials are needed";
    MissingVaryOrigin = "missing-vary-origin",
        "Access-Control-Allow-Origin depends on the Origin, the response is cacheable and Vary lacks Origin",
        "add `Vary: Origin` to every response whose CORS headers depend on the Origin";
    PreflightReflectsHeaders = "preflight-reflects-headers",
        "the preflight allows whatever request headers are asked for",
        "answer Access-Control-Request-Headers with a fixed list of the headers the API needs";
    PreflightAnyMethod = "preflight-any-method",
        "the preflight allows whatever method is asked for",
        "answer Access-Control-Request-Method with a fixed list of the methods the API needs";
    MultipleAcao = "multiple-acao",
        "Access-Control-Allow-Origin holds several values; browsers reject the response",
        "set Access-Control-Allow-Origin in exactly one place (application or proxy), with one origin";
    InvalidAcac = "invalid-acac",
        "Access-Control-Allow-Credentials has a value other than exactly `true`",
        "send exactly `Access-Control-Allow-Credentials: true`, once, or leave the header out";
    PreflightStatus = "preflight-status",
        "a preflight from the trusted origin is not answered with a 2xx status; browsers fail it",
        "answer preflights before authentication and routing, with 204 No Content";
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One misconfiguration found on one URL.
#[derive(Clone, Debug)]
pub struct Finding {
    /// The class.
    pub id: FindingId,
    /// How bad it is, given the credentials flag and the class.
    pub severity: Severity,
    /// The URL the probe was sent to.
    pub url: String,
    /// The `Origin` header of the probe that showed it.
    pub origin_sent: String,
    /// True when the response carried exactly `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// Response headers, status and anything else that shows the finding.
    pub evidence: Map<String, Value>,
}
