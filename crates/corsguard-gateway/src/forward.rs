//! Header work of a reverse proxy (RFC 9110 §7.6): hop-by-hop headers stay on their hop, the
//! upstream learns who the client was (`Forwarded`, `X-Forwarded-*`), and WebSocket upgrades
//! keep the two headers they need.

use std::net::{IpAddr, SocketAddr};

use bytes::{Bytes, BytesMut};
use http::header::Entry;
use http::header::{
    CONNECTION, FORWARDED, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING,
    UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Version};

/// `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `X-Forwarded-Proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `X-Forwarded-Host`.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// True for an HTTP/1.1 WebSocket handshake: `Connection: upgrade` and `Upgrade: websocket`,
/// the only protocol switch the gateway lets through. HTTP/2 has no such mechanism (and
/// forbids both headers).
///
/// Any other `Upgrade` (`h2c` above all) is removed with the hop-by-hop headers and the
/// request goes on as plain HTTP/1.1: an upstream that switched would give the client a
/// tunnel in which it could send any request, past every check of the gateway. A WebSocket
/// tunnel carries WebSocket frames, not HTTP requests, and its handshake's `Origin` has been
/// decided by the policy.
pub fn is_websocket_upgrade<B>(request: &Request<B>) -> bool {
    let mut upgrades = request.headers().get_all(UPGRADE).iter();
    let only_websocket = match (upgrades.next(), upgrades.next()) {
        (Some(value), None) => {
            let mut protocols = list_elements(value);
            matches!((protocols.next(), protocols.next()), (Some(p), None) if p.eq_ignore_ascii_case("websocket"))
        }
        _ => false,
    };
    request.version() == Version::HTTP_11
        && only_websocket
        && connection_tokens(request.headers()).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// True for an upstream's `101 Switching Protocols` that switches to WebSocket.
pub fn is_websocket_response<B>(response: &http::Response<B>) -> bool {
    let mut upgrades = response.headers().get_all(UPGRADE).iter();
    matches!((upgrades.next(), upgrades.next()), (Some(value), None) if value.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket"))
}

/// The headers that describe one connection whatever `Connection` says (RFC 9110 §7.6.1), plus
/// the legacy ones proxies still meet and `HTTP2-Settings` (connection-specific, RFC 7540
/// §3.2.1), in the order of [`hop_by_hop_index`]. `upgrade` comes last: it survives a
/// protocol switch.
static HOP_BY_HOP: [HeaderName; 10] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHORIZATION,
    PROXY_AUTHENTICATE,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    HeaderName::from_static("http2-settings"),
    UPGRADE,
];

/// Where a (lowercase) name is in [`HOP_BY_HOP`]. A `match` on the text compares lengths
/// first, so most names are ruled out without looking at their bytes.
fn hop_by_hop_index(name: &str) -> Option<usize> {
    Some(match name {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authorization" => 3,
        "proxy-authenticate" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "http2-settings" => 8,
        "upgrade" => 9,
        _ => return None,
    })
}

/// Removes the headers that describe one connection rather than the message: the fixed list
/// and every name the `Connection` header lists. With `keep_upgrade`, `Upgrade` and
/// `Connection: upgrade` survive so that the next hop can switch protocols too.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let fixed = if keep_upgrade { &HOP_BY_HOP[..HOP_BY_HOP.len() - 1] } else { &HOP_BY_HOP[..] };
    // Runs twice per proxied request, so it looks before it removes: one pass over the names
    // marks the fixed ones present. Responses nearly always carry `Connection`, rarely
    // anything else of the list.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(index) = hop_by_hop_index(name.as_str()).filter(|i| *i < fixed.len()) {
            present |= 1 << index;
        }
    }
    // The names `Connection` lists are read before `Connection` itself goes. Nearly always it
    // is a lone `keep-alive` or `close`, which names nothing else.
    if present & 1 != 0 && !names_nothing_else(headers) {
        let listed: Vec<HeaderName> = connection_tokens(headers)
            .filter(|t| !(keep_upgrade && t.eq_ignore_ascii_case("upgrade")))
            .filter(|t| !is_fixed_hop(t, fixed.len()))
            .filter(|t| headers.contains_key(*t))
            .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for (index, name) in fixed.iter().enumerate() {
        if present & (1 << index) != 0 {
            headers.remove(name);
        }
    }
    if keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// True when `Connection` is a single `keep-alive` (removed anyway), or a single `close` and
/// no field has that name.
fn names_nothing_else(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONNECTION).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => {
            let value = value.as_bytes().trim_ascii();
            value.eq_ignore_ascii_case(b"keep-alive")
                || (value.eq_ignore_ascii_case(b"close") && !headers.contains_key("close"))
        }
        _ => false,
    }
}

/// True for a `Connection` token (any case) naming one of the first `fixed` names of
/// [`HOP_BY_HOP`], which are removed anyway.
fn is_fixed_hop(token: &str, fixed: usize) -> bool {
    // The longest name on the list has 19 bytes; a longer token is not on it.
    let mut lower = [0u8; 19];
    let Some(lower) = lower.get_mut(..token.len()) else { return false };
    lower.copy_from_slice(token.as_bytes());
    lower.make_ascii_lowercase();
    std::str::from_utf8(lower).ok().and_then(hop_by_hop_index).is_some_and(|index| index < fixed)
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers.get_all(CONNECTION).iter().flat_map(list_elements)
}

/// The elements of a comma-separated header value (`Connection: keep-alive, Upgrade`),
/// trimmed, empty ones skipped; none for a value that is not visible ASCII.
pub(crate) fn list_elements(value: &HeaderValue) -> impl Iterator<Item = &str> {
    value.to_str().unwrap_or("").split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// What this hop tells the upstream about one client connection, formatted once when the
/// connection opens rather than on every request.
#[derive(Clone, Debug)]
pub struct Client {
    /// The peer address as an `X-Forwarded-For` element.
    address: HeaderValue,
    /// `for=<node>;proto=<proto>`, the start of this hop's `Forwarded` element.
    forwarded: Bytes,
    proto: &'static str,
}

impl Client {
    /// The client at `peer`, connected over `proto` (`http` or `https`).
    pub fn new(peer: SocketAddr, proto: &'static str) -> Client {
        let ip = peer.ip().to_canonical();
        let node = match ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("\"[{ip}]\""),
        };
        Client {
            // An address's text is always a valid value; RFC 7239's `unknown` stands in if not.
            address: HeaderValue::try_from(ip.to_string()).unwrap_or(HeaderValue::from_static("unknown")),
            forwarded: Bytes::from(format!("for={node};proto={proto}")),
            proto,
        }
    }
}

/// Tells the upstream who the client is: appends the peer to `X-Forwarded-For` and
/// `Forwarded` (RFC 7239), as each proxy on the path does, and sets `X-Forwarded-Proto` and
/// `X-Forwarded-Host` to what this hop saw.
pub fn add_forwarded(headers: &mut HeaderMap, client: &Client, host: Option<&HeaderValue>) {
    append_list(headers, X_FORWARDED_FOR, client.address.clone());

    let element = match host.filter(|h| is_forwarded_token_safe(h.as_bytes())) {
        None => HeaderValue::from_maybe_shared(client.forwarded.clone()),
        Some(host) => {
            let mut element = BytesMut::with_capacity(client.forwarded.len() + host.len() + 8);
            element.extend_from_slice(&client.forwarded);
            element.extend_from_slice(b";host=\"");
            element.extend_from_slice(host.as_bytes());
            element.extend_from_slice(b"\"");
            HeaderValue::from_maybe_shared(element.freeze())
        }
    };
    if let Ok(element) = element {
        append_list(headers, FORWARDED, element);
    }

    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(client.proto));
    match host {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host.clone());
        }
        None => {
            headers.remove(X_FORWARDED_HOST);
        }
    }
}

/// A host that can sit inside a quoted-string without escaping.
fn is_forwarded_token_safe(host: &[u8]) -> bool {
    host.iter().all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

fn append_list(headers: &mut HeaderMap, name: HeaderName, item: HeaderValue) {
    // One lookup: this runs twice per proxied request.
    let mut prior = match headers.entry(name) {
        Entry::Vacant(vacant) => {
            vacant.insert(item);
            return;
        }
        Entry::Occupied(prior) => prior,
    };
    let mut values = prior.iter();
    let joined = match (values.next(), values.next()) {
        (Some(existing), None) if existing.to_str().is_ok() => {
            let mut joined = BytesMut::with_capacity(existing.len() + 2 + item.len());
            joined.extend_from_slice(existing.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(item.as_bytes());
            HeaderValue::from_maybe_shared(joined.freeze()).ok()
        }
        // Several prior values (or an unreadable one) are folded away: a spoofed list is worth
        // less than a clean one that ends with the address this hop actually saw.
        _ => Some(item),
    };
    match joined {
        // `insert` replaces every prior value.
        Some(value) => {
            prior.insert(value);
        }
        None => {
            prior.remove();
        }
    }
}

/// The request's host as the client wrote it: `Host` (HTTP/1) or the `:authority` (HTTP/2).
pub fn request_host<B>(request: &Request<B>) -> Option<HeaderValue> {
    request
        .headers()
        .get(HOST)
        .cloned()
        .or_else(|| request.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-hop"),
            ("keep-alive", "timeout=5"),
            ("x-hop", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic abc"),
            ("authorization", "Bearer t"),
            ("content-type", "text/plain"),
        ]);
        remove_hop_by_hop(&mut h, false);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["authorization", "content-type"]);
    }

    #[test]
    fn an_upgrade_keeps_upgrade_and_connection_upgrade() {
        let mut h = map(&[("connection", "Upgrade, x-hop"), ("upgrade", "websocket"), ("x-hop", "1")]);
        remove_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");
        assert!(h.get("x-hop").is_none());
    }

    #[test]
    fn forwarded_headers_append_the_peer_and_set_proto_and_host() {
        let mut h = map(&[("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "ftp")]);
        let host = HeaderValue::from_static("api.example.com");
        add_forwarded(&mut h, &Client::new("127.0.0.1:5000".parse().unwrap(), "https"), Some(&host));
        assert_eq!(h.get("x-forwarded-for").unwrap(), "203.0.113.9, 127.0.0.1");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "https");
        assert_eq!(h.get("x-forwarded-host").unwrap(), "api.example.com");
        assert_eq!(h.get("forwarded").unwrap(), "for=127.0.0.1;proto=https;host=\"api.example.com\"");

        let mut h = HeaderMap::new();
        add_forwarded(&mut h, &Client::new("[::1]:5000".parse().unwrap(), "http"), None);
        assert_eq!(h.get("forwarded").unwrap(), "for=\"[::1]\";proto=http");
        assert!(h.get("x-forwarded-host").is_none());
    }

    #[test]
    fn a_quote_in_the_host_is_not_copied_into_forwarded() {
        let mut h = HeaderMap::new();
        let host = HeaderValue::from_static("evil\"host");
        add_forwarded(&mut h, &Client::new("127.0.0.1:1".parse().unwrap(), "http"), Some(&host));
        assert_eq!(h.get("forwarded").unwrap(), "for=127.0.0.1;proto=http");
    }

    #[test]
    fn the_index_of_each_hop_by_hop_name_is_its_place_in_the_list() {
        for (index, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name.as_str()), Some(index), "{name}");
        }
        assert_eq!(hop_by_hop_index("content-length"), None);
    }

    /// Written out as text here, independently of the `HeaderName` list the code uses.
    const RFC_9110_AND_LEGACY: [&str; 10] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "trailer",
        "transfer-encoding",
        "http2-settings",
        "upgrade",
    ];

    /// The plain definition `remove_hop_by_hop` must agree with: every name the `Connection`
    /// header lists and every fixed hop-by-hop name goes, except `Upgrade` on a protocol
    /// switch, which also gets `Connection: upgrade`.
    fn hop_by_hop_by_definition(headers: &HeaderMap, keep_upgrade: bool) -> HeaderMap {
        let listed: Vec<String> = connection_tokens(headers).map(str::to_ascii_lowercase).collect();
        let mut expected = HeaderMap::new();
        for (name, value) in headers {
            let name_str = name.as_str();
            let keep = keep_upgrade && name_str == "upgrade";
            let hop = RFC_9110_AND_LEGACY.contains(&name_str) || listed.iter().any(|t| t == name_str);
            if keep || !hop {
                expected.append(name, value.clone());
            }
        }
        if keep_upgrade {
            expected.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        }
        expected
    }

    proptest::proptest! {
        #[test]
        fn hop_by_hop_removal_follows_its_definition(
            names in proptest::collection::vec(
                proptest::sample::select(vec![
                    "connection", "keep-alive", "proxy-connection", "proxy-authorization",
                    "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade",
                    "http2-settings", "x-hop", "x-other", "close", "content-type", "authorization",
                    "x-rather-long-hop-by-hop-name",
                ]),
                0..10,
            ),
            tokens in proptest::collection::vec(
                proptest::sample::select(vec![
                    "keep-alive", "Keep-Alive", "close", "x-hop", "X-Hop", "upgrade", "Upgrade",
                    "te", "x-missing", " ", "", "Proxy-Authorization", "TRANSFER-ENCODING",
                    "X-Rather-Long-Hop-By-Hop-Name",
                ]),
                0..5,
            ),
            keep_upgrade: bool,
        ) {
            let mut headers = HeaderMap::new();
            for name in &names {
                headers.append(*name, HeaderValue::from_static("v"));
            }
            if !tokens.is_empty() {
                headers.append(CONNECTION, HeaderValue::from_str(&tokens.join(",")).unwrap());
            }
            let expected = hop_by_hop_by_definition(&headers, keep_upgrade);
            remove_hop_by_hop(&mut headers, keep_upgrade);
            proptest::prop_assert_eq!(headers, expected);
        }
    }

    proptest::proptest! {
        /// Whatever the client sent as earlier hops, this hop's own entry ends each list, and
        /// nothing panics: the prior values and the host are the client's bytes.
        #[test]
        fn this_hop_always_ends_the_forwarded_lists(
            prior in proptest::collection::vec(proptest::collection::vec(0x20u8..0x7f, 0..30), 0..3),
            host in proptest::option::of(proptest::collection::vec(0x20u8..0xff, 0..30)),
        ) {
            let mut headers = HeaderMap::new();
            for value in &prior {
                let value = HeaderValue::from_bytes(value).unwrap();
                headers.append(X_FORWARDED_FOR, value.clone());
                headers.append(FORWARDED, value);
            }
            let host = host.and_then(|h| HeaderValue::from_bytes(&h).ok());
            add_forwarded(&mut headers, &Client::new("192.0.2.7:4000".parse().unwrap(), "http"), host.as_ref());
            let xff: Vec<_> = headers.get_all(X_FORWARDED_FOR).iter().collect();
            proptest::prop_assert_eq!(xff.len(), 1);
            proptest::prop_assert!(xff[0].as_bytes().ends_with(b"192.0.2.7"));
            let forwarded: Vec<_> = headers.get_all(FORWARDED).iter().collect();
            proptest::prop_assert_eq!(forwarded.len(), 1);
            let element = forwarded[0].to_str().unwrap();
            let own = element.rsplit(", ").next().unwrap();
            proptest::prop_assert!(own.starts_with("for=192.0.2.7;proto=http"), "{}", element);
            proptest::prop_assert_eq!(headers.get(X_FORWARDED_HOST), host.as_ref());
        }
    }

    #[test]
    fn only_websocket_upgrades_on_http11_are_recognised() {
        let upgrade = |connection: &str, upgrade: &[&str]| {
            let mut req = Request::get("/ws").header("connection", connection);
            for value in upgrade {
                req = req.header("upgrade", *value);
            }
            req.body(()).unwrap()
        };
        assert!(is_websocket_upgrade(&upgrade("keep-alive, Upgrade", &["websocket"])));
        assert!(is_websocket_upgrade(&upgrade("upgrade", &["WebSocket"])));
        for refused in [
            upgrade("Upgrade, HTTP2-Settings", &["h2c"]),
            upgrade("upgrade", &["websocket, h2c"]),
            upgrade("upgrade", &["h2c, websocket"]),
            upgrade("upgrade", &["websocket", "h2c"]),
            upgrade("upgrade", &["TLS/1.2"]),
            upgrade("keep-alive", &["websocket"]),
        ] {
            assert!(!is_websocket_upgrade(&refused), "{:?}", refused.headers());
        }
        let mut h2 = upgrade("upgrade", &["websocket"]);
        *h2.version_mut() = Version::HTTP_2;
        assert!(!is_websocket_upgrade(&h2));
    }

    #[test]
    fn an_h2c_upgrade_leaves_nothing_of_itself() {
        let mut h = map(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAAQCAAAAAAIAAAAA"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.keys().map(HeaderName::as_str).collect::<Vec<_>>(), ["accept"]);
        // Not even when `Connection` forgets to list it.
        let mut h = map(&[("connection", "upgrade"), ("upgrade", "h2c"), ("http2-settings", "AA")]);
        remove_hop_by_hop(&mut h, false);
        assert!(h.is_empty());
    }
}
