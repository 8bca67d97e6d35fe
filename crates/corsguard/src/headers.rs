//! Syntax checks for methods and header names, and the budgeted parser for
//! `Access-Control-Request-Headers`.

use http::header::GetAll;
use http::HeaderValue;

/// Longest `Access-Control-Request-Headers` accepted, all lines together. Browsers send the
/// names of the headers a script set, so a few hundred bytes is already generous.
pub const MAX_REQUEST_HEADERS_LEN: usize = 4096;

/// Most names accepted in `Access-Control-Request-Headers`.
pub const MAX_REQUEST_HEADER_NAMES: usize = 64;

/// True when `bytes` is an RFC 9110 token: the syntax of methods and header names.
pub(crate) fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| TCHAR[usize::from(b)])
}

/// RFC 9110 `tchar`, as a table: one load per byte on the preflight path.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < symbols.len() {
        table[symbols[i] as usize] = true;
        i += 1;
    }
    table
};

/// Why an `Access-Control-Request-Headers` list was refused before any name was looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestHeadersError {
    /// An element is not a header name.
    Malformed,
    /// Over [`MAX_REQUEST_HEADERS_LEN`] bytes or [`MAX_REQUEST_HEADER_NAMES`] names.
    TooLarge,
}

/// Checks every line of `Access-Control-Request-Headers` against the budget and the
/// `#field-name` syntax (empty list elements are skipped, as RFC 9110 asks of recipients) and
/// tests every name, in one pass over the bytes: `Ok(true)` when `allowed` holds for every
/// name. A syntax or budget error wins over a refused name, exactly as parsing first and
/// testing after would (the property test below holds it to that definition).
pub(crate) fn check_request_headers(
    values: GetAll<'_, HeaderValue>,
    mut allowed: impl FnMut(&[u8]) -> bool,
) -> Result<bool, RequestHeadersError> {
    let mut all_allowed = true;
    each_name(&values, |name| all_allowed = all_allowed && allowed(name))?;
    Ok(all_allowed)
}

/// Calls `f` on every name of the list while checking the budget and the syntax, which stop
/// the walk at the first violation.
fn each_name(values: &GetAll<'_, HeaderValue>, mut f: impl FnMut(&[u8])) -> Result<(), RequestHeadersError> {
    let mut len = 0;
    let mut count = 0;
    for value in values.iter() {
        len += value.len();
        if len > MAX_REQUEST_HEADERS_LEN {
            return Err(RequestHeadersError::TooLarge);
        }
        for name in elements(value) {
            count += 1;
            if count > MAX_REQUEST_HEADER_NAMES {
                return Err(RequestHeadersError::TooLarge);
            }
            if !is_token(name) {
                return Err(RequestHeadersError::Malformed);
            }
            f(name);
        }
    }
    Ok(())
}

fn elements(value: &HeaderValue) -> impl Iterator<Item = &[u8]> {
    value.as_bytes().split(|&b| b == b',').map(trim_ows).filter(|name| !name.is_empty())
}

fn trim_ows(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Request headers a script may never set (Fetch "forbidden request-header"), lowercase.
pub(crate) const FORBIDDEN_REQUEST_HEADERS: &[&str] = &[
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

/// True for names a browser never lets a script send, so listing them does nothing.
pub(crate) fn is_forbidden_request_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    FORBIDDEN_REQUEST_HEADERS.contains(&lower.as_str())
        || lower.starts_with("proxy-")
        || lower.starts_with("sec-")
}

/// Methods Fetch forbids scripts to use.
pub(crate) fn is_forbidden_method(method: &str) -> bool {
    ["CONNECT", "TRACE", "TRACK"].iter().any(|m| m.eq_ignore_ascii_case(method))
}

/// Methods browsers normalise to uppercase: written in any other case they never match.
pub(crate) const NORMALISED_METHODS: &[&str] = &["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"];

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    use proptest::prelude::*;

    /// The two-pass definition: parse the whole list, then test each name.
    struct RequestHeaders<'a> {
        values: GetAll<'a, HeaderValue>,
    }

    impl<'a> RequestHeaders<'a> {
        fn parse(values: GetAll<'a, HeaderValue>) -> Result<Self, RequestHeadersError> {
            each_name(&values, |_| ())?;
            Ok(RequestHeaders { values })
        }

        fn names(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
            self.values.iter().flat_map(elements)
        }
    }

    proptest! {
        #[test]
        fn one_pass_header_check_agrees_with_parse_then_test(
            lines in proptest::collection::vec("[a-zA-Z0-9\\- ,\t;]{0,40}", 1..4),
            allowed in proptest::collection::vec("[a-zA-Z\\-]{1,6}", 0..4),
        ) {
            let mut map = http::HeaderMap::new();
            for line in &lines {
                if let Ok(value) = HeaderValue::from_str(line) {
                    map.append("access-control-request-headers", value);
                }
            }
            let values = || map.get_all("access-control-request-headers");
            let listed = |name: &[u8]| allowed.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(name));
            let two_pass = RequestHeaders::parse(values()).map(|list| list.names().all(listed));
            prop_assert_eq!(check_request_headers(values(), listed), two_pass);
        }

    }

    fn parse(lines: &[&str]) -> Result<Vec<String>, RequestHeadersError> {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("access-control-request-headers", line.parse().unwrap());
        }
        let list = RequestHeaders::parse(map.get_all("access-control-request-headers"))?;
        Ok(list.names().map(|n| String::from_utf8(n.to_vec()).unwrap()).collect())
    }

    #[test]
    fn the_token_table_is_rfc_9110_tchar() {
        for b in 0..=255u8 {
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_token(&[b]), tchar, "byte {b:#04x}");
        }
        assert!(!is_token(b""));
    }

    #[test]
    fn splits_trims_and_skips_empty_elements() {
        assert_eq!(parse(&["content-type,x-a"]).unwrap(), ["content-type", "x-a"]);
        assert_eq!(parse(&[" X-A ,\tx-b, ,", "x-c"]).unwrap(), ["X-A", "x-b", "x-c"]);
        assert_eq!(parse(&[""]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn refuses_bad_syntax_and_budget_overruns() {
        assert_eq!(parse(&["x a"]), Err(RequestHeadersError::Malformed));
        assert_eq!(parse(&["x-a;"]), Err(RequestHeadersError::Malformed));
        let many = vec!["x"; MAX_REQUEST_HEADER_NAMES + 1].join(",");
        assert_eq!(parse(&[&many]), Err(RequestHeadersError::TooLarge));
        let long = "x".repeat(MAX_REQUEST_HEADERS_LEN + 1);
        assert_eq!(parse(&[&long]), Err(RequestHeadersError::TooLarge));
        let max = vec!["x"; MAX_REQUEST_HEADER_NAMES].join(",");
        assert_eq!(parse(&[&max]).unwrap().len(), MAX_REQUEST_HEADER_NAMES);
    }

    #[test]
    fn forbidden_names() {
        assert!(is_forbidden_request_header("Cookie"));
        assert!(is_forbidden_request_header("Sec-Fetch-Mode"));
        assert!(is_forbidden_request_header("proxy-authorization"));
        assert!(!is_forbidden_request_header("Authorization"));
        assert!(is_forbidden_method("trace"));
        assert!(!is_forbidden_method("PATCH"));
    }
}
