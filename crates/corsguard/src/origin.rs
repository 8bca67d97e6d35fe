//! Strict parsing of the `Origin` request header.
//!
//! Browsers always send an origin in its canonical serialization (Fetch, "byte-serializing a
//! request origin"): lowercase scheme and host, punycode for internationalised names, the default
//! port omitted, IPv6 in its shortest form. Anything else did not come from a browser's origin
//! computation, so it is refused here rather than normalised: normalising untrusted input is how
//! allowlists get bypassed. The parser borrows from its input and never allocates.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest `Origin` value accepted: a 253-byte DNS name, a long scheme and a port fit easily.
pub const MAX_ORIGIN_LEN: usize = 512;

/// A request origin in canonical form, borrowed from the header it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin<'a> {
    serialized: &'a str,
    scheme_len: usize,
    host_end: usize,
    port: Option<u16>,
}

impl<'a> Origin<'a> {
    /// Parses a canonical serialized origin, `scheme://host[:port]`.
    ///
    /// ```
    /// use corsguard::origin::{Origin, OriginError};
    ///
    /// let origin = Origin::parse(b"https://app.example.com").unwrap();
    /// assert_eq!(origin.host(), "app.example.com");
    /// assert_eq!(Origin::parse(b"null"), Err(OriginError::Null));
    /// assert_eq!(Origin::parse(b"https://app.example.com/"), Err(OriginError::Malformed));
    /// assert_eq!(Origin::parse(b"https://App.example.com"), Err(OriginError::NotCanonical));
    /// assert_eq!(Origin::parse(b"https://app.example.com:443"), Err(OriginError::NotCanonical));
    /// ```
    pub fn parse(bytes: &'a [u8]) -> Result<Origin<'a>, OriginError> {
        if bytes == b"null" {
            return Err(OriginError::Null);
        }
        if bytes.is_empty() || bytes.len() > MAX_ORIGIN_LEN {
            return Err(OriginError::Malformed);
        }
        // Every byte of a canonical origin is printable ASCII; checking this first makes the
        // `str` conversion below infallible and rejects whitespace, controls and raw UTF-8.
        if !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return Err(OriginError::Malformed);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| OriginError::Malformed)?;
        let (scheme, rest) = text.split_once("://").ok_or(OriginError::Malformed)?;
        check_scheme(scheme)?;
        let (host, port) = split_host_port(rest)?;
        check_host(host)?;
        let port = match port {
            None => None,
            Some(digits) => Some(parse_port(scheme, digits)?),
        };
        Ok(Origin {
            serialized: text,
            scheme_len: scheme.len(),
            host_end: scheme.len() + 3 + host.len(),
            port,
        })
    }

    /// The scheme, e.g. `https`.
    pub fn scheme(&self) -> &'a str {
        &self.serialized[..self.scheme_len]
    }

    /// The host: a lowercase domain, a dotted IPv4 address or a bracketed IPv6 address.
    pub fn host(&self) -> &'a str {
        &self.serialized[self.scheme_len + 3..self.host_end]
    }

    /// The explicit port, if any (never the scheme's default port).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `scheme://host`, without the port.
    pub fn scheme_and_host(&self) -> &'a str {
        &self.serialized[..self.host_end]
    }

    /// The whole serialization, byte-equal to the header it came from.
    pub fn as_str(&self) -> &'a str {
        self.serialized
    }

    /// `host[:port]`, as a `Host` header for this origin would carry it.
    pub fn authority(&self) -> &'a str {
        &self.serialized[self.scheme_len + 3..]
    }

    /// True for `localhost`, `*.localhost`, `127.0.0.0/8` and `[::1]`.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(self.host())
    }
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.serialized)
    }
}

/// Why a value is not a canonical origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginError {
    /// The literal `null`: an opaque origin (sandboxed iframe, `data:` URL, cross-origin
    /// redirect). Anyone can produce one, so it is never trusted.
    Null,
    /// Not of the form `scheme://host[:port]`: a path, userinfo, whitespace, a list of origins,
    /// non-ASCII bytes or an over-long value.
    Malformed,
    /// A well-formed origin that is not in the form browsers send: uppercase letters, a
    /// default port, a leading zero.
    NotCanonical,
}

impl fmt::Display for OriginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginError::Null => "the origin is `null`",
            OriginError::Malformed => "not an origin of the form scheme://host[:port]",
            OriginError::NotCanonical => "not in canonical form (lowercase, no default port)",
        })
    }
}

impl std::error::Error for OriginError {}

/// True for hosts that always mean this machine.
pub fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") || host == "[::1]" {
        return true;
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The port a scheme uses when none is written.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

fn check_scheme(scheme: &str) -> Result<(), OriginError> {
    let mut bytes = scheme.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
    if !first_ok || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        return Err(OriginError::Malformed);
    }
    if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(OriginError::NotCanonical);
    }
    Ok(())
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), OriginError> {
    if authority.starts_with('[') {
        let close = authority.find(']').ok_or(OriginError::Malformed)?;
        let (host, rest) = authority.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest.strip_prefix(':').map(|p| (host, Some(p))).ok_or(OriginError::Malformed),
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn check_host(host: &str) -> Result<(), OriginError> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(OriginError::Malformed)?;
        return check_ipv6(inner);
    }
    if host.is_empty() || host.len() > 253 {
        return Err(OriginError::Malformed);
    }
    let mut last_label = "";
    for label in host.split('.') {
        // Empty labels catch `..`, a leading dot and the trailing dot of `example.com.`.
        if label.is_empty() || label.len() > 63 {
            return Err(OriginError::Malformed);
        }
        for b in label.bytes() {
            if b.is_ascii_uppercase() {
                return Err(OriginError::NotCanonical);
            }
            if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
                return Err(OriginError::Malformed);
            }
        }
        last_label = label;
    }
    // The URL parser treats a host whose last label is numeric as IPv4; such a host must then
    // be a canonical dotted quad (no octal, hex or shortened forms).
    if last_label.bytes().all(|b| b.is_ascii_digit()) {
        let ip: Ipv4Addr = host.parse().map_err(|_| OriginError::Malformed)?;
        if !written_as(host, format_args!("{ip}")) {
            return Err(OriginError::NotCanonical);
        }
    }
    Ok(())
}

fn check_ipv6(inner: &str) -> Result<(), OriginError> {
    let ip: Ipv6Addr = inner.parse().map_err(|_| OriginError::Malformed)?;
    // The URL standard serializes IPv6 without embedded IPv4 notation, while Rust's Display
    // uses it for mapped addresses; those never come from a browser here, so they are refused.
    if inner.contains('.') || !written_as(inner, format_args!("{ip}")) {
        return Err(OriginError::NotCanonical);
    }
    Ok(())
}

fn parse_port(scheme: &str, digits: &str) -> Result<u16, OriginError> {
    if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OriginError::Malformed);
    }
    let port: u16 = digits.parse().map_err(|_| OriginError::Malformed)?;
    if digits.starts_with('0') || default_port(scheme) == Some(port) {
        return Err(OriginError::NotCanonical);
    }
    Ok(port)
}

/// True when `args` formats to exactly `text`, compared without allocating.
fn written_as(text: &str, args: fmt::Arguments<'_>) -> bool {
    struct Compare<'t> {
        rest: &'t [u8],
        equal: bool,
    }
    impl fmt::Write for Compare<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            match self.rest.strip_prefix(s.as_bytes()) {
                Some(rest) if self.equal => self.rest = rest,
                _ => self.equal = false,
            }
            Ok(())
        }
    }
    let mut cmp = Compare { rest: text.as_bytes(), equal: true };
    fmt::write(&mut cmp, args).is_ok() && cmp.equal && cmp.rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_origins() {
        for ok in [
            "https://app.example.com",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "https://[::1]:8443",
            "https://[2001:db8::1]",
            "https://xn--bcher-kva.example",
            "chrome-extension://abcdefghijklmnop",
            "https://my_app.example.com",
        ] {
            let origin = Origin::parse(ok.as_bytes()).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(origin.as_str(), ok);
        }
    }

    #[test]
    fn parts_are_split() {
        let o = Origin::parse(b"https://api.example.com:8443").unwrap();
        assert_eq!(o.scheme(), "https");
        assert_eq!(o.host(), "api.example.com");
        assert_eq!(o.port(), Some(8443));
        assert_eq!(o.scheme_and_host(), "https://api.example.com");
        assert_eq!(o.authority(), "api.example.com:8443");
        let v6 = Origin::parse(b"http://[::1]:3000").unwrap();
        assert_eq!(v6.host(), "[::1]");
        assert!(v6.is_loopback());
    }

    #[test]
    fn refuses_everything_else() {
        use OriginError::*;
        let cases: &[(&[u8], OriginError)] = &[
            (b"null", Null),
            (b"", Malformed),
            (b"https://", Malformed),
            (b"https://app.example.com/", Malformed),
            (b"https://app.example.com/path", Malformed),
            (b"https://app.example.com?q", Malformed),
            (b"https://app.example.com#f", Malformed),
            (b"https://user@app.example.com", Malformed),
            (b"https://app.example.com.", Malformed),
            (b"https://app..example.com", Malformed),
            (b" https://app.example.com", Malformed),
            (b"https://app.example.com https://evil.net", Malformed),
            (b"https://app.example.com,https://evil.net", Malformed),
            (b"https://app.example.com`.evil.net", Malformed),
            (b"https://app.example.com%60.evil.net", Malformed),
            (b"https://b\xc3\xbccher.example", Malformed),
            (b"app.example.com", Malformed),
            (b"https://app.example.com:", Malformed),
            (b"https://app.example.com:99999", Malformed),
            (b"https://app.example.com:+80", Malformed),
            (b"https://[::1", Malformed),
            (b"https://[::1]x", Malformed),
            (b"https://1.2.3", Malformed),
            (b"https://example.123", Malformed),
            (b"HTTPS://app.example.com", NotCanonical),
            (b"https://APP.example.com", NotCanonical),
            (b"https://app.example.com:443", NotCanonical),
            (b"http://app.example.com:80", NotCanonical),
            (b"http://app.example.com:0080", NotCanonical),
            (b"https://[0:0:0:0:0:0:0:1]", NotCanonical),
            (b"https://[::FFFF:1.2.3.4]", NotCanonical),
        ];
        for (input, expected) in cases {
            assert_eq!(Origin::parse(input), Err(*expected), "{:?}", String::from_utf8_lossy(input));
        }
        let long = format!("https://{}.com", "a".repeat(MAX_ORIGIN_LEN));
        assert_eq!(Origin::parse(long.as_bytes()), Err(OriginError::Malformed));
    }

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "app.localhost", "127.0.0.1", "127.1.2.3", "[::1]"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["localhost.example.com", "128.0.0.1", "example.com", "[::2]"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
