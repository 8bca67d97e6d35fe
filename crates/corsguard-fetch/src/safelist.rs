//! What the Fetch standard lets a page send without a preflight, and what a script may not set
//! at all (fetch.spec.whatwg.org: #methods, #cors-safelisted-request-header,
//! #cors-unsafe-request-header-names, #forbidden-request-header).

use http::header::HeaderName;

/// Methods `fetch()` normalises to upper case; every other method is sent as written.
const NORMALISED_METHODS: [&str; 6] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

/// The method as `fetch()` sends it: the six common methods upper-cased, any other as given
/// (so `patch` stays `patch`, which no `Access-Control-Allow-Methods: PATCH` allows).
pub fn normalize_method(method: &str) -> String {
    NORMALISED_METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .map_or_else(|| method.to_owned(), |m| (*m).to_owned())
}

/// `GET`, `HEAD` and `POST`, compared exactly (after [`normalize_method`]).
pub fn is_safelisted_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "POST")
}

/// `CONNECT`, `TRACE` and `TRACK`, in any case: `fetch()` throws before sending them.
pub fn is_forbidden_method(method: &str) -> bool {
    ["CONNECT", "TRACE", "TRACK"].iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// Headers a script cannot set: the browser owns them (`fetch()` drops them silently).
pub fn is_forbidden_request_header(name: &HeaderName, value: &[u8]) -> bool {
    const FORBIDDEN: [&str; 21] = [
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
    ];
    let name = name.as_str();
    if FORBIDDEN.contains(&name) || name.starts_with("proxy-") || name.starts_with("sec-") {
        return true;
    }
    // A method override naming a forbidden method would smuggle it past `fetch()`.
    matches!(name, "x-http-method" | "x-http-method-override" | "x-method-override")
        && value.split(|b| *b == b',').any(|m| is_forbidden_method(String::from_utf8_lossy(m).trim()))
}

/// A byte that makes a header value unsafe: controls other than tab, `"():<>?@[\]{}` and DEL.
fn is_unsafe_byte(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b"\"():<>?@[\\]{}\x7f".contains(&b)
}

/// Whether (`name`, `value`) needs no preflight (#cors-safelisted-request-header).
pub fn is_safelisted_request_header(name: &HeaderName, value: &[u8]) -> bool {
    if value.len() > 128 {
        return false;
    }
    match name.as_str() {
        "accept" => !value.iter().any(|b| is_unsafe_byte(*b)),
        "accept-language" | "content-language" => {
            value.iter().all(|b| b.is_ascii_alphanumeric() || b" *,-.;=".contains(b))
        }
        "content-type" => {
            !value.iter().any(|b| is_unsafe_byte(*b))
                && mime_essence(value).is_some_and(|essence| {
                    matches!(
                        essence.as_str(),
                        "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
                    )
                })
        }
        "range" => is_simple_range(value),
        _ => false,
    }
}

/// The names that make a request need a preflight, as Fetch lists them: not safelisted (or,
/// when the safelisted values add up to more than 1024 bytes, all of them), byte-lowercased,
/// without duplicates, sorted. Forbidden headers are the browser's own and never count.
pub fn unsafe_header_names<'a>(headers: impl IntoIterator<Item = (&'a HeaderName, &'a [u8])>) -> Vec<String> {
    let mut unsafe_names = Vec::new();
    let mut safelisted = Vec::new();
    let mut safelisted_bytes = 0usize;
    for (name, value) in headers {
        if is_forbidden_request_header(name, value) {
            continue;
        }
        if is_safelisted_request_header(name, value) {
            safelisted_bytes += value.len();
            safelisted.push(name.as_str().to_owned());
        } else {
            unsafe_names.push(name.as_str().to_owned());
        }
    }
    if safelisted_bytes > 1024 {
        unsafe_names.extend(safelisted);
    }
    unsafe_names.sort();
    unsafe_names.dedup();
    unsafe_names
}

/// The essence (`type/subtype`, lowercased) of a MIME type, as "parse a MIME type" reads it;
/// `None` when it does not parse.
fn mime_essence(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let text = text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'));
    let (kind, rest) = text.split_once('/')?;
    let subtype = rest.split(';').next()?.trim_end_matches([' ', '\t', '\r', '\n']);
    let is_token = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    (is_token(kind) && is_token(subtype)).then(|| format!("{kind}/{subtype}").to_ascii_lowercase())
}

/// `bytes=N-` or `bytes=N-M` (N ≤ M): a single range with a start, the only `Range` that needs
/// no preflight ("parse a single range header value" with allowWhitespace false).
fn is_simple_range(value: &[u8]) -> bool {
    // The unit is compared byte-lowercased.
    let Some(rest) = value.get(..6).filter(|unit| unit.eq_ignore_ascii_case(b"bytes=")).map(|_| &value[6..])
    else {
        return false;
    };
    let Some(dash) = rest.iter().position(|b| *b == b'-') else { return false };
    let (start, end) = (&rest[..dash], &rest[dash + 1..]);
    let number = |digits: &[u8]| -> Option<u64> {
        (!digits.is_empty() && digits.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(digits).ok()?.parse().ok())
            .flatten()
    };
    match (number(start), end.is_empty()) {
        (Some(_), true) => true,
        (Some(start), false) => number(end).is_some_and(|end| start <= end),
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> HeaderName {
        HeaderName::from_bytes(s.as_bytes()).unwrap()
    }

    fn safe(n: &str, v: &str) -> bool {
        is_safelisted_request_header(&name(n), v.as_bytes())
    }

    #[test]
    fn methods_as_fetch_normalises_and_safelists_them() {
        assert_eq!(normalize_method("get"), "GET");
        assert_eq!(normalize_method("pUt"), "PUT");
        // Only the six are normalised: `patch` is sent as written and is not `PATCH`.
        assert_eq!(normalize_method("patch"), "patch");
        assert!(
            is_safelisted_method("POST") && !is_safelisted_method("PUT") && !is_safelisted_method("post")
        );
        assert!(
            is_forbidden_method("trace") && is_forbidden_method("CONNECT") && !is_forbidden_method("PATCH")
        );
    }

    #[test]
    fn content_type_is_safelisted_only_for_the_three_form_types() {
        assert!(safe("content-type", "text/plain"));
        assert!(safe("content-type", "Text/Plain"));
        assert!(safe("content-type", "text/plain;charset=utf-8"));
        assert!(safe("content-type", "multipart/form-data; boundary=x"));
        assert!(safe("content-type", "application/x-www-form-urlencoded"));
        assert!(!safe("content-type", "application/json"));
        assert!(!safe("content-type", "text/plain; charset=\"utf-8\""), "a quote is an unsafe byte");
        assert!(!safe("content-type", "text/"));
        assert!(!safe("content-type", "text"));
        let long = format!("text/plain; x={}", "a".repeat(120));
        assert!(!safe("content-type", &long), "over 128 bytes");
    }

    #[test]
    fn the_other_safelisted_headers_follow_their_value_rules() {
        assert!(safe("accept", "application/json, text/*;q=0.8"));
        assert!(!safe("accept", "a(b)"));
        assert!(safe("accept-language", "en-GB, fr;q=0.5"));
        assert!(!safe("accept-language", "en_GB"));
        assert!(safe("content-language", "de"));
        assert!(safe("range", "bytes=0-"));
        assert!(safe("range", "bytes=100-200"));
        assert!(!safe("range", "bytes=-500"), "a suffix range has no start");
        assert!(!safe("range", "bytes=200-100"));
        assert!(!safe("range", "bytes=0-1,5-6"));
        assert!(!safe("authorization", "Bearer x"));
        assert!(!safe("x-requested-with", "XMLHttpRequest"));
    }

    #[test]
    fn forbidden_headers_are_the_browser_s_own() {
        for n in ["cookie", "host", "origin", "content-length", "sec-fetch-mode", "proxy-authorization"] {
            assert!(is_forbidden_request_header(&name(n), b"x"), "{n}");
        }
        assert!(is_forbidden_request_header(&name("x-http-method-override"), b"GET, TRACE"));
        assert!(!is_forbidden_request_header(&name("x-http-method-override"), b"PATCH"));
        assert!(!is_forbidden_request_header(&name("authorization"), b"x"));
    }

    #[test]
    fn unsafe_names_are_lowercased_sorted_unique_and_skip_forbidden_ones() {
        let (a, b, c, d) = (name("x-b"), name("authorization"), name("cookie"), name("content-type"));
        let headers =
            [(&a, &b"1"[..]), (&b, &b"t"[..]), (&c, &b"s=1"[..]), (&d, &b"text/plain"[..]), (&a, &b"2"[..])];
        assert_eq!(unsafe_header_names(headers), ["authorization", "x-b"]);
    }

    #[test]
    fn safelisted_values_over_1024_bytes_in_all_make_every_name_unsafe() {
        let (accept, language, content) = (name("accept"), name("accept-language"), name("content-language"));
        let value = "a".repeat(120);
        let mut headers = Vec::new();
        for _ in 0..3 {
            headers.push((&accept, value.as_bytes()));
            headers.push((&language, value.as_bytes()));
            headers.push((&content, value.as_bytes()));
        }
        assert_eq!(unsafe_header_names(headers.clone()).len(), 3, "9 × 120 bytes is over 1024");
        assert!(unsafe_header_names(headers[..8].to_vec()).is_empty(), "8 × 120 bytes is not");
    }
}
