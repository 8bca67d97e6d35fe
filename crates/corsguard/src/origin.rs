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
    /// use corsguard::{Origin, OriginError};
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
        // One pass over the bytes, no substring search: this runs on every CORS request.
        let (scheme_len, scheme_upper) = scan_scheme(bytes)?;
        if !bytes[scheme_len..].starts_with(b"://") {
            return Err(OriginError::Malformed);
        }
        let host_start = scheme_len + 3;
        let (host_end, numeric_tld) = if bytes.get(host_start) == Some(&b'[') {
            let close = bytes[host_start..].iter().position(|&b| b == b']').ok_or(OriginError::Malformed)?;
            (host_start + close + 1, false)
        } else {
            scan_domain(bytes, host_start)?
        };
        let port_digits = match bytes.get(host_end) {
            None => None,
            Some(b':') => Some(&bytes[host_end + 1..]),
            Some(_) => return Err(OriginError::Malformed),
        };
        // Every byte was checked to be ASCII above (the bracketed IPv6 part is checked by the
        // address parser below, which needs a `str`).
        let text = std::str::from_utf8(bytes).map_err(|_| OriginError::Malformed)?;
        let host = &text[host_start..host_end];
        if let Some(inner) = host.strip_prefix('[') {
            check_ipv6(&inner[..inner.len() - 1])?;
        } else if numeric_tld {
            check_ipv4(host)?;
        }
        let port = match port_digits {
            None => None,
            Some(digits) => Some(parse_port(&text[..scheme_len], digits)?),
        };
        if scheme_upper {
            return Err(OriginError::NotCanonical);
        }
        Ok(Origin { serialized: text, scheme_len, host_end, port })
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

impl Origin<'_> {
    /// The port a scheme uses when none is written (`http` and `ws` 80, `https` and `wss`
    /// 443): an origin with it written out is not canonical.
    pub fn default_port(scheme: &str) -> Option<u16> {
        default_port(scheme)
    }
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.serialized)
    }
}

/// Why a value is not a canonical origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
pub(crate) fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") || host == "[::1]" {
        return true;
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// The port a scheme uses when none is written.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// Length of the scheme (up to the first byte that cannot be in one) and whether it has
/// uppercase letters.
fn scan_scheme(bytes: &[u8]) -> Result<(usize, bool), OriginError> {
    if !bytes[0].is_ascii_alphabetic() {
        return Err(OriginError::Malformed);
    }
    let mut upper = false;
    let mut len = 0;
    for &b in bytes {
        match b {
            b'A'..=b'Z' => upper = true,
            b'a'..=b'z' | b'0'..=b'9' | b'+' | b'-' | b'.' => {}
            _ => break,
        }
        len += 1;
    }
    Ok((len, upper))
}

/// Scans a domain or IPv4 host from `start` up to `:` or the end. Returns where it ends and
/// whether its last label is all digits (then it must be an IPv4 address, as the URL parser
/// would read it). Empty labels catch `..`, a leading dot and the trailing dot of `example.com.`.
fn scan_domain(bytes: &[u8], start: usize) -> Result<(usize, bool), OriginError> {
    let mut end = start;
    let mut label_len = 0usize;
    let mut numeric = true;
    let mut upper = false;
    for &b in &bytes[start..] {
        match b {
            b'0'..=b'9' => {}
            b'a'..=b'z' | b'-' | b'_' => numeric = false,
            b'A'..=b'Z' => {
                upper = true;
                numeric = false;
            }
            b'.' => {
                if label_len == 0 || label_len > 63 {
                    return Err(OriginError::Malformed);
                }
                label_len = 0;
                numeric = true;
                end += 1;
                continue;
            }
            b':' => break,
            _ => return Err(OriginError::Malformed),
        }
        label_len += 1;
        end += 1;
    }
    if label_len == 0 || label_len > 63 || end - start > 253 {
        return Err(OriginError::Malformed);
    }
    if upper {
        return Err(OriginError::NotCanonical);
    }
    Ok((end, numeric))
}

fn check_ipv4(host: &str) -> Result<(), OriginError> {
    let ip: Ipv4Addr = host.parse().map_err(|_| OriginError::Malformed)?;
    if !written_as(host, format_args!("{ip}")) {
        return Err(OriginError::NotCanonical);
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

fn parse_port(scheme: &str, digits: &[u8]) -> Result<u16, OriginError> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(OriginError::Malformed);
    }
    let port = digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    let port = u16::try_from(port).map_err(|_| OriginError::Malformed)?;
    if digits[0] == b'0' || default_port(scheme) == Some(port) {
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
