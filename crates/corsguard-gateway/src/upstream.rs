//! The upstream URL, one definition for the gateway (its pool and its proxy) and for
//! `corsguard export`.

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};

/// Where requests go: an `http://` or `https://` URL, optionally with a path prefix that is
/// put in front of every request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    scheme: Scheme,
    authority: Authority,
    prefix: String,
}

impl Upstream {
    /// Parses `http://host:port` or `https://host/prefix`. Userinfo, a query and a fragment
    /// are refused: they would be silently dropped or leak credentials into logs.
    pub fn parse(url: &str) -> Result<Upstream, String> {
        let uri: Uri = url.parse().map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::HTTP,
            Some("https") => Scheme::HTTPS,
            Some(other) => return Err(format!("upstream scheme `{other}` is not http or https")),
            None => return Err(format!("`{url}` has no scheme: write http://{url}")),
        };
        let authority = uri.authority().cloned().ok_or_else(|| format!("`{url}` has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("`{url}` has userinfo; put credentials in the upstream, not the URL"));
        }
        if authority.port_u16().is_none() && authority.as_str() != authority.host() {
            // `http::Uri` takes `host:x` with no usable port; it would silently become :80.
            return Err(format!("`{url}` has a port that is not a number from 1 to 65535"));
        }
        if uri.query().is_some() || url.contains('#') {
            return Err(format!("`{url}` has a query or fragment; the upstream is a base URL"));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        Ok(Upstream { scheme, authority, prefix })
    }

    /// `http` or `https`.
    pub fn scheme_str(&self) -> &str {
        self.scheme.as_str()
    }

    /// The host as written, an IPv6 literal in brackets.
    pub fn host(&self) -> &str {
        self.authority.host()
    }

    /// The port, the scheme's default when the URL has none.
    pub fn port(&self) -> u16 {
        self.authority.port_u16().unwrap_or(if self.is_https() { 443 } else { 80 })
    }

    /// `host:port` with the port always written, an IPv6 literal in brackets.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host(), self.port())
    }

    /// The path put in front of every request path (`/v1` for `https://api/v1/`), or "".
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// True for `https://`.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }

    /// The upstream's host (without the brackets of an IPv6 literal) and port.
    pub(crate) fn host_and_port(&self) -> (String, u16) {
        let host = self.host();
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        (host.to_owned(), self.port())
    }

    /// The `Host` to send when the client sent none: the upstream's own.
    pub(crate) fn host_header(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(self.authority.as_str()).ok()
    }

    /// The upstream request target (origin-form) for a request URI: only its path and query
    /// are kept, so an absolute-form request (`GET http://elsewhere/`) never turns the gateway
    /// into an open proxy.
    pub(crate) fn uri_for(&self, uri: Uri) -> Option<Uri> {
        if self.prefix.is_empty() {
            if uri.scheme().is_none() && uri.authority().is_none() && uri.path_and_query().is_some() {
                // Already origin-form, as HTTP/1.1 requests are: nothing to rebuild.
                return Some(uri);
            }
            let path_and_query =
                uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
            return Some(Uri::from(path_and_query));
        }
        let pq = uri.path_and_query().map_or("/", PathAndQuery::as_str);
        PathAndQuery::try_from(format!("{}{pq}", self.prefix)).ok().map(Uri::from)
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_are_validated_and_prefixes_kept() {
        let up = Upstream::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(up.uri_for("/a/b?x=1".parse().unwrap()).unwrap(), "/a/b?x=1");
        assert_eq!(up.host_and_port(), ("127.0.0.1".to_owned(), 3000));
        let up = Upstream::parse("https://api.internal/v1/").unwrap();
        assert!(up.is_https());
        assert_eq!(up.uri_for("/items".parse().unwrap()).unwrap(), "/v1/items");
        assert_eq!(up.host_and_port(), ("api.internal".to_owned(), 443));
        assert_eq!(Upstream::parse("http://[::1]:8080").unwrap().host_and_port(), ("::1".to_owned(), 8080));
        // An absolute-form target keeps only its path: no open proxy.
        let up = Upstream::parse("http://127.0.0.1:3000").unwrap();
        assert_eq!(up.uri_for("http://evil.example/x?y".parse().unwrap()).unwrap(), "/x?y");

        for bad in [
            "127.0.0.1:3000",
            "ftp://x",
            "http://u:p@host",
            "http://host/?q=1",
            "http://host/#f",
            "http://",
            "http://a:x",
        ] {
            assert!(Upstream::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
