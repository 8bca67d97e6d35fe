//! Turning the text of an `origins` entry into an [`OriginPattern`], with a precise error for
//! every way it can be wrong.

use super::{serialize, OriginPattern, ParsedPattern, Pattern, PatternError, PatternErrorKind, PortSpec};
use crate::origin::{default_port, is_loopback_host, Origin};

pub(super) fn parse(text: &str) -> Result<ParsedPattern, PatternError> {
    if text == "*" {
        return Ok(ParsedPattern { pattern: OriginPattern::ANY, non_canonical: false });
    }
    if text.eq_ignore_ascii_case("null") {
        return Err(error(
            PatternErrorKind::Null,
            "`null` is not a trustworthy origin",
            "sandboxed iframes, data: URLs and redirects all send `null`, so any site can; \
             remove it and list the real origins",
        ));
    }
    if text.trim() != text || text.is_empty() {
        return Err(invalid(text, "remove the surrounding whitespace"));
    }
    let Some((scheme_text, rest)) = text.split_once("://") else {
        return Err(invalid(text, "write an origin as scheme://host[:port], e.g. https://app.example.com"));
    };
    let scheme = scheme_text.to_ascii_lowercase();
    let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(invalid(text, "the scheme must be a word like `https`"));
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let canonical_hint = || serialize(&scheme, authority, None);
    if !tail.is_empty() {
        let what = if tail == "/" { "a trailing slash" } else { "a path, query or fragment" };
        return Err(error(
            PatternErrorKind::HasPath,
            &format!("`{text}` has {what}, but an origin is only scheme://host[:port]"),
            &format!(
                "browsers never send a path in Origin, so this entry can never match: write `{}`",
                canonical_hint()
            ),
        ));
    }
    if let Some((_, host)) = authority.rsplit_once('@') {
        return Err(error(
            PatternErrorKind::HasPath,
            &format!("`{text}` has userinfo (`user@`), which an origin never carries"),
            &format!("write `{}`", serialize(&scheme, host, None)),
        ));
    }
    let (host_text, port_text) = split_port(authority);
    let port = match port_text {
        None => PortSpec::Default,
        Some("*") => PortSpec::Any,
        Some(digits) => match digits.parse::<u16>() {
            Ok(p) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                if default_port(&scheme) == Some(p) {
                    PortSpec::Default
                } else {
                    PortSpec::Port(p)
                }
            }
            _ => return Err(invalid(text, "a port is a number from 1 to 65535, or `*` for any port")),
        },
    };
    let (subdomains, base) = match host_text.strip_prefix("*.") {
        Some(base) => (true, base),
        None => (false, host_text),
    };
    if base.contains('*') {
        return Err(invalid(
            text,
            "the only wildcards are a leading `*.` label (`https://*.example.com`) and `:*` for any port",
        ));
    }
    let host = canonical_host(&scheme, base).ok_or_else(|| {
        invalid(text, "the host must be a domain name, an IPv4 address or a bracketed IPv6 address")
    })?;
    if subdomains && (host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok()) {
        return Err(invalid(text, "a `*.` wildcard needs a domain name, not an IP address"));
    }
    // Prove the pattern can match a real browser origin: the form browsers send must pass the
    // same strict parser that requests go through.
    let sample_host = if subdomains { format!("x.{host}") } else { host.clone() };
    let sample_port = match port {
        PortSpec::Port(p) => Some(p),
        _ => None,
    };
    let sample = serialize(&scheme, &sample_host, sample_port);
    if Origin::parse(sample.as_bytes()).is_err() {
        return Err(invalid(
            text,
            "no browser can send this origin: check for a trailing dot, empty labels or stray characters",
        ));
    }
    if subdomains && !is_loopback_host(&host) && psl::suffix_str(&host) == Some(host.as_str()) {
        return Err(error(
            PatternErrorKind::PublicSuffixWildcard,
            &format!("`{text}` trusts every site under the public suffix `{host}`"),
            "anyone can register a name there; list the exact origins you own instead",
        ));
    }
    let pattern = OriginPattern(Pattern::Host { scheme, host, subdomains, port });
    let non_canonical = pattern.to_string() != text;
    Ok(ParsedPattern { pattern, non_canonical })
}

fn split_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        if let Some(close) = authority.find(']') {
            let (host, rest) = authority.split_at(close + 1);
            return (host, rest.strip_prefix(':'));
        }
        return (authority, None);
    }
    match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

/// Lowercase, punycode, canonical-IP form of a host, as the URL parser produces for special
/// schemes; other schemes get ASCII lowercasing only.
fn canonical_host(scheme: &str, host: &str) -> Option<String> {
    if host.is_empty() {
        return None;
    }
    if default_port(scheme).is_some() {
        return url::Host::parse(host).ok().map(|h| h.to_string());
    }
    host.is_ascii().then(|| host.to_ascii_lowercase())
}

fn invalid(text: &str, help: &str) -> PatternError {
    error(PatternErrorKind::Invalid, &format!("`{text}` is not a valid origin or origin pattern"), help)
}

fn error(kind: PatternErrorKind, message: &str, help: &str) -> PatternError {
    PatternError { kind, message: message.to_owned(), help: help.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> (String, bool) {
        let parsed = parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.message));
        (parsed.pattern.to_string(), parsed.non_canonical)
    }

    fn kind(text: &str) -> PatternErrorKind {
        parse(text).expect_err(text).kind
    }

    #[test]
    fn canonical_patterns_round_trip() {
        for text in [
            "*",
            "https://app.example.com",
            "http://localhost:*",
            "https://*.example.com",
            "https://*.example.com:*",
            "https://*.example.com:8443",
            "http://127.0.0.1:3000",
            "http://[::1]:3000",
            "chrome-extension://abcdefgh",
        ] {
            assert_eq!(ok(text), (text.to_owned(), false));
        }
    }

    #[test]
    fn non_canonical_forms_are_normalised_and_flagged() {
        assert_eq!(ok("HTTPS://App.Example.com"), ("https://app.example.com".into(), true));
        assert_eq!(ok("https://app.example.com:443"), ("https://app.example.com".into(), true));
        assert_eq!(ok("https://bücher.example"), ("https://xn--bcher-kva.example".into(), true));
        assert_eq!(ok("http://[0:0::1]"), ("http://[::1]".into(), true));
    }

    #[test]
    fn each_error_class() {
        use PatternErrorKind::*;
        assert_eq!(kind("null"), Null);
        assert_eq!(kind("NULL"), Null);
        assert_eq!(kind("https://app.example.com/"), HasPath);
        assert_eq!(kind("https://app.example.com/api"), HasPath);
        assert_eq!(kind("https://app.example.com?x=1"), HasPath);
        assert_eq!(kind("https://app.example.com#top"), HasPath);
        assert_eq!(kind("https://user:pw@app.example.com"), HasPath);
        assert_eq!(kind("https://*.com"), PublicSuffixWildcard);
        assert_eq!(kind("https://*.github.io"), PublicSuffixWildcard);
        assert_eq!(kind("https://*.co.uk"), PublicSuffixWildcard);
        for bad in [
            "app.example.com",
            "https://",
            "https://*",
            "https://app.*.example.com",
            "https://*example.com",
            "https://.*.example.com",
            "https://app.example.com:99999",
            "https://app.example.com:",
            "https://app.example.com.",
            " https://app.example.com",
            "https://*.1.2.3.4",
            "https://exa mple.com",
            "1ttp://example.com",
        ] {
            assert_eq!(kind(bad), Invalid, "{bad}");
        }
    }

    #[test]
    fn loopback_wildcards_are_not_public_suffixes() {
        assert_eq!(ok("http://*.localhost:*").0, "http://*.localhost:*");
    }
}
