//! Origin patterns from the policy file and the compiled matcher that checks request origins
//! against them.
//!
//! Four forms exist and nothing else: an exact origin, `scheme://*.domain` (one or more labels
//! before `domain`, never `domain` itself), `scheme://host:*` (any port) and `*`. Matching works
//! on whole labels of an already-validated canonical origin, so the classic bypasses (prefix,
//! suffix, unescaped dot, special characters) cannot match by construction.

use std::collections::{HashMap, HashSet};

// A fast keyed hash: keys come from the policy, lookups from requests, and every table is
// built once, so SipHash's extra cost buys nothing here.
use foldhash::fast::RandomState;
use std::fmt;

use crate::origin::{default_port, is_loopback_host, Origin};

/// Which ports a pattern accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortSpec {
    /// No port written: the scheme's default port only.
    Default,
    /// This port only.
    Port(u16),
    /// `:*`: any port, or none.
    Any,
}

impl PortSpec {
    fn matches(self, port: Option<u16>) -> bool {
        match self {
            PortSpec::Default => port.is_none(),
            PortSpec::Port(p) => port == Some(p),
            PortSpec::Any => true,
        }
    }
}

/// One allowed-origin entry of a policy, in canonical form: an exact origin,
/// `scheme://*.domain`, `scheme://host:*`, both, or `*`. Built only by validating a policy.
///
/// ```
/// let policy = corsguard::Policy::builder().origins(["https://*.Example.com:*"]).build()?;
/// let pattern = &policy.rules().origins()[0];
/// assert_eq!(pattern.to_string(), "https://*.example.com:*"); // canonical form
/// assert_eq!((pattern.scheme(), pattern.host()), (Some("https"), Some("example.com")));
/// assert!(pattern.includes_subdomains());
/// assert_eq!(pattern.port(), Some(corsguard::PortSpec::Any));
/// # Ok::<(), corsguard::Diagnostics>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginPattern(pub(crate) Pattern);

/// The forms of [`OriginPattern`], kept private so that new ones can be added.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Pattern {
    /// `*`: every origin (only valid without credentials).
    Any,
    /// A scheme, a host (or, with `subdomains`, a base domain) and a port rule.
    Host {
        /// Lowercase scheme.
        scheme: String,
        /// Lowercase, punycode host; the base domain when `subdomains` is set.
        host: String,
        /// `*.host`: one or more labels before `host`, never `host` itself.
        subdomains: bool,
        /// The ports accepted.
        port: PortSpec,
    },
}

impl OriginPattern {
    pub(crate) const ANY: OriginPattern = OriginPattern(Pattern::Any);

    /// Parses a pattern as written in a policy file.
    pub(crate) fn parse(text: &str) -> Result<ParsedPattern, PatternError> {
        crate::pattern::parse::parse(text)
    }

    /// True when this pattern admits `origin`. This is the plain, per-pattern definition; the
    /// compiled matcher must agree with it.
    pub fn matches(&self, origin: &Origin<'_>) -> bool {
        match &self.0 {
            Pattern::Any => true,
            Pattern::Host { scheme, host, subdomains, port } => {
                if origin.scheme() != scheme || !port.matches(origin.port()) {
                    return false;
                }
                if *subdomains {
                    origin
                        .host()
                        .strip_suffix(host.as_str())
                        .and_then(|prefix| prefix.strip_suffix('.'))
                        .is_some_and(|labels| !labels.is_empty())
                } else {
                    origin.host() == host
                }
            }
        }
    }

    /// True for `*`.
    pub fn is_any(&self) -> bool {
        self.0 == Pattern::Any
    }

    /// True when the pattern's host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`).
    pub fn is_loopback(&self) -> bool {
        self.host().is_some_and(is_loopback_host)
    }

    /// The scheme, or `None` for `*`.
    pub fn scheme(&self) -> Option<&str> {
        match &self.0 {
            Pattern::Any => None,
            Pattern::Host { scheme, .. } => Some(scheme),
        }
    }

    /// The host, or for `scheme://*.domain` the base domain, or `None` for `*`.
    pub fn host(&self) -> Option<&str> {
        match &self.0 {
            Pattern::Any => None,
            Pattern::Host { host, .. } => Some(host),
        }
    }

    /// True for `scheme://*.domain`: one or more labels before the domain, never the domain
    /// itself.
    pub fn includes_subdomains(&self) -> bool {
        matches!(self.0, Pattern::Host { subdomains: true, .. })
    }

    /// The ports accepted, or `None` for `*`.
    pub fn port(&self) -> Option<PortSpec> {
        match &self.0 {
            Pattern::Any => None,
            Pattern::Host { port, .. } => Some(*port),
        }
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Pattern::Any => f.write_str("*"),
            Pattern::Host { scheme, host, subdomains, port } => {
                write!(f, "{scheme}://")?;
                if *subdomains {
                    f.write_str("*.")?;
                }
                f.write_str(host)?;
                match port {
                    PortSpec::Default => Ok(()),
                    PortSpec::Port(p) => write!(f, ":{p}"),
                    PortSpec::Any => f.write_str(":*"),
                }
            }
        }
    }
}

/// A pattern and whether it was written in a non-canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParsedPattern {
    /// The canonical pattern used for matching.
    pub(crate) pattern: OriginPattern,
    /// The text differed from the canonical form (uppercase, default port, Unicode host).
    pub(crate) non_canonical: bool,
}

/// Why an entry of `origins` is not a usable pattern; `kind` maps to a lint code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PatternError {
    /// Which rule it breaks.
    pub(crate) kind: PatternErrorKind,
    /// One line saying what is wrong.
    pub(crate) message: String,
    /// What to write instead.
    pub(crate) help: String,
}

/// The classes of invalid origin patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatternErrorKind {
    /// `null`.
    Null,
    /// Path, trailing slash, query, fragment or userinfo.
    HasPath,
    /// A wildcard over a public suffix (`*.com`, `*.github.io`).
    PublicSuffixWildcard,
    /// Anything else that is not an origin or a supported pattern.
    Invalid,
}

mod parse;

/// The scheme and port rule of one subdomain pattern, filed under its base domain.
type SchemeAndPort = (Box<str>, PortSpec);

/// Allowed origins compiled for lookups whose cost does not grow with the allowlist: a hash
/// set for exact origins and `:*` hosts, and a map from base domain to subdomain rules, probed
/// once per label of the request's host.
#[derive(Clone, Debug, Default)]
pub(crate) struct OriginMatcher {
    any: bool,
    exact: HashSet<Box<[u8]>, RandomState>,
    any_port: HashSet<Box<str>, RandomState>,
    subdomains: HashMap<Box<str>, Vec<SchemeAndPort>, RandomState>,
}

impl OriginMatcher {
    /// Compiles a list of patterns.
    pub(crate) fn new<'p>(patterns: impl IntoIterator<Item = &'p OriginPattern>) -> OriginMatcher {
        let mut matcher = OriginMatcher::default();
        for pattern in patterns {
            match &pattern.0 {
                Pattern::Any => matcher.any = true,
                Pattern::Host { scheme, host, subdomains: true, port } => matcher
                    .subdomains
                    .entry(host.as_str().into())
                    .or_default()
                    .push((scheme.as_str().into(), *port)),
                Pattern::Host { scheme, host, subdomains: false, port } => {
                    let key = format!("{scheme}://{host}");
                    match port {
                        PortSpec::Any => matcher.any_port.insert(key.into()),
                        PortSpec::Default => matcher.exact.insert(key.into_bytes().into()),
                        PortSpec::Port(p) => matcher.exact.insert(format!("{key}:{p}").into_bytes().into()),
                    };
                }
            }
        }
        matcher
    }

    /// True when every origin is allowed (`*`).
    pub(crate) fn allows_any(&self) -> bool {
        self.any
    }

    /// True when `bytes` is byte-equal to an exact allowed origin. Exact entries are canonical,
    /// so a hit means `bytes` is a canonical, allowed origin without parsing it.
    pub(crate) fn contains_exact(&self, bytes: &[u8]) -> bool {
        self.exact.contains(bytes)
    }

    /// True when `origin` is allowed. Never allocates.
    pub(crate) fn matches(&self, origin: &Origin<'_>) -> bool {
        if self.any
            || self.exact.contains(origin.as_str().as_bytes())
            || self.any_port.contains(origin.scheme_and_host())
        {
            return true;
        }
        if self.subdomains.is_empty() {
            return false;
        }
        let host = origin.host();
        let mut rest = host;
        while let Some(dot) = rest.find('.') {
            rest = &rest[dot + 1..];
            if let Some(rules) = self.subdomains.get(rest) {
                let hit = rules
                    .iter()
                    .any(|(scheme, port)| **scheme == *origin.scheme() && port.matches(origin.port()));
                if hit {
                    return true;
                }
            }
        }
        false
    }
}

/// Canonical `scheme://host[:port]` text with the default port dropped.
pub(crate) fn serialize(scheme: &str, host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if default_port(scheme) != Some(p) => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn compiled_matcher_agrees_with_the_naive_one(
            patterns in proptest::collection::vec(pattern(), 0..12),
            origins in proptest::collection::vec(origin(), 1..30),
        ) {
            let matcher = OriginMatcher::new(&patterns);
            for text in &origins {
                let origin = Origin::parse(text.as_bytes()).unwrap();
                let naive = patterns.iter().any(|p| p.matches(&origin));
                prop_assert_eq!(matcher.matches(&origin), naive, "{} against {:?}", text, patterns);
                // The decision's shortcut: an exact hit is always an allowed origin.
                if matcher.contains_exact(text.as_bytes()) {
                    prop_assert!(naive);
                }
            }
        }
    }

    const LABELS: &[&str] = &["a", "b", "app", "example", "com", "org"];

    fn host() -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(LABELS), 1..5).prop_map(|l| l.join("."))
    }

    fn pattern() -> impl Strategy<Value = OriginPattern> {
        let port = prop_oneof![
            Just(PortSpec::Default),
            Just(PortSpec::Any),
            (8000u16..8003).prop_map(PortSpec::Port),
        ];
        prop_oneof![
            1 => Just(OriginPattern::ANY),
            10 => (prop_oneof![Just("http"), Just("https")], host(), any::<bool>(), port).prop_map(
                |(scheme, host, subdomains, port)| OriginPattern(Pattern::Host { scheme: scheme.into(), host, subdomains, port })
            ),
        ]
    }

    fn origin() -> impl Strategy<Value = String> {
        (prop_oneof![Just("http"), Just("https")], host(), proptest::option::of(8000u16..8003)).prop_map(
            |(scheme, host, port)| match port {
                Some(p) => format!("{scheme}://{host}:{p}"),
                None => format!("{scheme}://{host}"),
            },
        )
    }

    fn matcher(patterns: &[&str]) -> OriginMatcher {
        let parsed: Vec<_> = patterns.iter().map(|p| OriginPattern::parse(p).unwrap().pattern).collect();
        OriginMatcher::new(&parsed)
    }

    fn allowed(m: &OriginMatcher, origin: &str) -> bool {
        Origin::parse(origin.as_bytes()).is_ok_and(|o| m.matches(&o))
    }

    #[test]
    fn exact_any_port_and_subdomains() {
        let m = matcher(&[
            "https://app.example.com",
            "http://localhost:*",
            "https://*.staging.example.com",
            "https://*.ports.example.com:*",
            "https://api.example.com:8443",
        ]);
        for ok in [
            "https://app.example.com",
            "http://localhost",
            "http://localhost:3000",
            "https://a.staging.example.com",
            "https://a.b.staging.example.com",
            "https://x.ports.example.com:9000",
            "https://x.ports.example.com",
            "https://api.example.com:8443",
        ] {
            assert!(allowed(&m, ok), "{ok} should be allowed");
        }
        for bad in [
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com.evil.net",
            "https://evilapp.example.com",
            "https://staging.example.com",
            "https://a.staging.example.com:8443",
            "https://astaging.example.com",
            "https://localhost:3000",
            "https://api.example.com",
        ] {
            assert!(!allowed(&m, bad), "{bad} should be refused");
        }
    }

    #[test]
    fn star_allows_any_valid_origin() {
        let m = matcher(&["*"]);
        assert!(m.allows_any());
        assert!(allowed(&m, "https://anything.example"));
        assert!(!allowed(&m, "null"));
    }
}
