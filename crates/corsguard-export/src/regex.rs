//! Regular expressions generated from a policy, shared by every export target.
//!
//! Users never write a regex: each one here is built from canonical [`OriginPattern`]s and
//! header names, anchored, with every literal byte escaped, and mirrors the strict grammar of
//! [`corsguard::Origin::parse`] (lowercase labels of `[a-z0-9_-]`, no explicit default
//! port, no leading zeros in ports, canonical dotted-quad IPv4), so that a proxy matching these
//! expressions admits exactly the origins corsguard's own engine admits.
//!
//! Two dialects: PCRE (nginx, HAProxy), which has lookarounds for the length limits, and RE2
//! (Envoy's `safe_regex`), which has none; what RE2 cannot say is listed by
//! [`re2_limitations`].

use corsguard::limits::MAX_ORIGIN_LEN;
use corsguard::limits::{MAX_REQUEST_HEADERS_LEN, MAX_REQUEST_HEADER_NAMES};
use corsguard::Origin;
use corsguard::{OriginPattern, PortSpec};

/// Which regex engine reads the expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// PCRE2, as nginx and HAProxy link it: lookarounds, possessive quantifiers.
    Pcre,
    /// RE2 (and Rust's `regex`): linear time, no lookarounds, no backreferences.
    Re2,
}

/// One DNS label as the engine accepts it.
const LABEL_PCRE: &str = "[a-z0-9_-]{1,63}";
/// RE2 compiles `{1,63}` into 63 states per label, which quickly exceeds Envoy's program-size
/// limit; the 63-byte cap is dropped there (see [`re2_limitations`]).
const LABEL_RE2: &str = "[a-z0-9_-]+";
/// Characters of a domain host, for the length lookahead.
const HOST_CHARS: &str = "[a-z0-9._-]";
/// A scheme, as the engine's `check_scheme` accepts it (lowercase only).
const SCHEME: &str = "[a-z][a-z0-9+.-]*";
/// A canonical IPv4 octet: no leading zeros.
const OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
/// Longest host name the engine accepts.
const MAX_HOST_LEN: usize = 253;

/// Edge cases an RE2 origin expression cannot express, for the export's notes.
pub fn re2_limitations() -> &'static [&'static str] {
    &[
        "origins longer than 512 bytes, hosts longer than 253 bytes and labels longer than 63 \
         bytes are not refused by the expression (no DNS name that long exists, so no page \
         can have such an origin)",
        "for `*` origins: a non-canonical IPv6 address or an explicit default port (`:443`) is \
         not refused (the answer is `*` without credentials either way)",
    ]
}

/// Escapes a literal: ASCII letters, digits, `/`, `:`, `_` and `-` stay as they are, `.`, `[`
/// and `]` get a backslash, every other byte becomes `\xHH`. The result is valid in PCRE and
/// RE2 and contains no character that nginx's or HAProxy's configuration parsers treat
/// specially (quotes, `$`, `;`, `#`, spaces, braces).
pub fn escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for b in literal.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b':' | b'_' | b'-' => out.push(char::from(b)),
            b'.' | b'[' | b']' => {
                out.push('\\');
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// The expression, unanchored, for the origins one pattern admits. Ready to sit in an
/// alternation between `^(?:` and `)$`.
pub fn pattern(p: &OriginPattern, dialect: Dialect) -> String {
    match (p.scheme(), p.host(), p.port()) {
        (Some(scheme), Some(host), Some(port)) => {
            let mut out = format!("{}://", escape(scheme));
            if p.includes_subdomains() {
                if dialect == Dialect::Pcre {
                    out += &format!("(?={HOST_CHARS}{{1,{MAX_HOST_LEN}}}(?!{HOST_CHARS}))");
                }
                let label = if dialect == Dialect::Pcre { LABEL_PCRE } else { LABEL_RE2 };
                out += &format!("(?:{label}\\.)+");
            }
            out += &escape(host);
            out += &match port {
                PortSpec::Default => String::new(),
                PortSpec::Port(p) => format!(":{p}"),
                PortSpec::Any => format!("(?::{})?", port_regex(Origin::default_port(scheme))),
                // A port rule this exporter does not know: match nothing rather than too much.
                _ => "(?!)".to_owned(),
            };
            out
        }
        _ => any_origin(dialect, false),
    }
}

/// The whole-value expression for a list of patterns: `^(?:a|b|...)$`. With no patterns it
/// never matches.
pub fn origins(patterns: &[OriginPattern], dialect: Dialect) -> String {
    if patterns.is_empty() {
        return "^(?!)$".to_owned();
    }
    let alternatives: Vec<String> = patterns.iter().map(|p| pattern(p, dialect)).collect();
    let length = match dialect {
        Dialect::Pcre => format!("(?=.{{1,{MAX_ORIGIN_LEN}}}$)"),
        Dialect::Re2 => String::new(),
    };
    format!("^{length}(?:{})$", alternatives.join("|"))
}

/// Every canonical origin, for `*` and for cross-origin protection's Origin-versus-Host
/// comparison. With `capture`, group 1 is the authority (`host[:port]`), the part a `Host`
/// header for that origin carries; every other group is non-capturing.
pub fn any_origin(dialect: Dialect, capture: bool) -> String {
    let (open, close) = if capture { ("(", ")") } else { ("(?:", ")") };
    match dialect {
        Dialect::Pcre => {
            // An explicit default port is refused by lookaheads rather than by splitting the
            // alternation per scheme, so that the authority stays one capture group.
            let no_default = "(?!(?:http|ws)://(?:\\[[0-9a-f:]*\\]|[a-z0-9._-]*):80(?![0-9]))\
                              (?!(?:https|wss)://(?:\\[[0-9a-f:]*\\]|[a-z0-9._-]*):443(?![0-9]))";
            format!("{no_default}{SCHEME}://{open}{}(?::{})?{close}", host_any(dialect), port_regex(None))
        }
        Dialect::Re2 => {
            format!("{SCHEME}://{open}{}(?::{})?{close}", host_any(dialect), port_regex(None))
        }
    }
}

/// Any canonical host: a domain whose last label is not all digits, a canonical dotted quad,
/// or a bracketed IPv6 address (hex digits and colons).
fn host_any(dialect: Dialect) -> String {
    let ipv4 = format!("{OCTET}(?:\\.{OCTET}){{3}}");
    let ipv6 = "\\[[0-9a-f:]+\\]";
    match dialect {
        Dialect::Pcre => {
            let last = format!("(?![0-9]++(?![a-z0-9_-])){LABEL_PCRE}");
            let domain =
                format!("(?={HOST_CHARS}{{1,{MAX_HOST_LEN}}}(?!{HOST_CHARS}))(?:{LABEL_PCRE}\\.)*{last}");
            format!("(?:{domain}|{ipv4}|{ipv6})")
        }
        Dialect::Re2 => {
            let domain = format!("(?:{LABEL_RE2}\\.)*[a-z0-9_-]*[a-z_-][a-z0-9_-]*");
            format!("(?:{domain}|{ipv4}|{ipv6})")
        }
    }
}

/// Ports 1 to 65535 written without leading zeros, except `excluded` (the scheme's default
/// port, which a canonical origin never spells out).
pub fn port_regex(excluded: Option<u16>) -> String {
    let ranges: Vec<(u32, u32)> = match excluded {
        None => vec![(1, 65535)],
        Some(0) => vec![(1, 65535)],
        Some(65535) => vec![(1, 65534)],
        Some(1) => vec![(2, 65535)],
        Some(p) => vec![(1, u32::from(p) - 1), (u32::from(p) + 1, 65535)],
    };
    let parts: Vec<String> = ranges.into_iter().flat_map(|(lo, hi)| range(lo, hi)).collect();
    format!("(?:{})", parts.join("|"))
}

/// Alternatives matching exactly the decimal numbers `lo..=hi` (no leading zeros), split
/// first by digit count, then by shared prefixes.
fn range(lo: u32, hi: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = lo;
    while start <= hi {
        let digits = start.to_string().len() as u32;
        let top = (10u32.pow(digits) - 1).min(hi);
        same_length(&start.to_string(), &top.to_string(), &mut out);
        start = top + 1;
    }
    out
}

/// Alternatives for `lo..=hi`, both with the same number of digits.
fn same_length(lo: &str, hi: &str, out: &mut Vec<String>) {
    if lo == hi {
        out.push(lo.to_owned());
        return;
    }
    let common = lo.bytes().zip(hi.bytes()).take_while(|(a, b)| a == b).count();
    let prefix = &lo[..common];
    let (lo_rest, hi_rest) = (&lo[common..], &hi[common..]);
    let tail_len = lo_rest.len() - 1;
    let (l0, h0) = (lo_rest.as_bytes()[0] - b'0', hi_rest.as_bytes()[0] - b'0');
    let any_tail = |n: usize| match n {
        0 => String::new(),
        1 => "[0-9]".to_owned(),
        n => format!("[0-9]{{{n}}}"),
    };
    let all_zero = lo_rest[1..].bytes().all(|b| b == b'0');
    let all_nine = hi_rest[1..].bytes().all(|b| b == b'9');
    if all_zero && all_nine {
        out.push(format!("{prefix}{}{}", digit_class(l0, h0), any_tail(tail_len)));
        return;
    }
    // Split into: lo's first digit with the rest from lo up; the full middle digits; hi's
    // first digit with the rest up to hi.
    let mut middle_lo = l0;
    let mut middle_hi = h0;
    if !all_zero {
        let upper = "9".repeat(tail_len);
        let mut sub = Vec::new();
        same_length(&lo_rest[1..], &upper, &mut sub);
        for s in sub {
            out.push(format!("{prefix}{l0}{s}"));
        }
        middle_lo = l0 + 1;
    }
    if !all_nine {
        middle_hi = h0 - 1;
    }
    if middle_lo <= middle_hi {
        out.push(format!("{prefix}{}{}", digit_class(middle_lo, middle_hi), any_tail(tail_len)));
    }
    if !all_nine {
        let lower = "0".repeat(tail_len);
        let mut sub = Vec::new();
        same_length(&lower, &hi_rest[1..], &mut sub);
        for s in sub {
            out.push(format!("{prefix}{h0}{s}"));
        }
    }
}

fn digit_class(lo: u8, hi: u8) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("[{lo}-{hi}]")
    }
}

/// The `Access-Control-Request-Headers` check, PCRE only (no RE2 target checks it), to be
/// matched case-insensitively against the whole list: at most 4096 bytes and 64 names, every
/// element empty or an allowed name. `*` among `allowed` stands for every token except
/// `Authorization`, which only its own name covers (Fetch).
pub fn request_headers(allowed: &[String]) -> String {
    const TOKEN: &str = "[0-9a-z!#\\x24%&\\x27*+.^_\\x60|~-]++";
    const END: &str = "(?![^ \\t,])";
    let wildcard = allowed.iter().any(|h| h == "*");
    let mut names: Vec<String> = allowed.iter().filter(|h| *h != "*").map(|h| escape(h)).collect();
    if wildcard {
        let authorization_listed = allowed.iter().any(|h| h.eq_ignore_ascii_case("authorization"));
        names.push(if authorization_listed {
            TOKEN.to_owned()
        } else {
            format!("(?!authorization{END}){TOKEN}")
        });
    }
    let name = if names.is_empty() { "(?!)".to_owned() } else { format!("(?:{}){END}", names.join("|")) };
    let element = format!("(?:{name}[ \\t]*+)?");
    let too_many = MAX_REQUEST_HEADER_NAMES + 1;
    format!(
        "^(?=.{{0,{MAX_REQUEST_HEADERS_LEN}}}$)(?![ \\t,]*+(?:[^ \\t,]++[ \\t,]*+){{{too_many}}})\
         [ \\t]*+{element}(?:,[ \\t]*+{element})*+$"
    )
}

/// `^(?:GET|PUT)$`: exactly one of `methods`, case-sensitive as Fetch compares them.
pub fn methods(methods: &[String]) -> String {
    if methods.is_empty() {
        return "^(?!)$".to_owned();
    }
    let names: Vec<String> = methods.iter().map(|m| escape(m)).collect();
    format!("^(?:{})$", names.join("|"))
}

/// A path prefix, anchored at the start of the request target.
pub fn path_prefix(prefix: &str) -> String {
    format!("^{}", escape(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_are_exact() {
        for excluded in [None, Some(80), Some(443), Some(1), Some(65535), Some(9)] {
            let re = ::regex::Regex::new(&format!("^{}$", port_regex(excluded))).unwrap();
            for n in 0..=70000u32 {
                let expected = (1..=65535).contains(&n) && Some(n) != excluded.map(u32::from);
                assert_eq!(re.is_match(&n.to_string()), expected, "{n} with {excluded:?} excluded");
            }
            for bad in ["", "0", "00", "080", "0443", "-1", "1a", "099999"] {
                assert!(!re.is_match(bad), "{bad}");
            }
        }
    }

    #[test]
    fn escaping_leaves_no_metacharacter() {
        let escaped = escape("a.b*c$d'e\"f;g{h}i [j]|`%");
        assert!(!escaped.contains(['\'', '"', '$', ';', '{', '}', ' ', '|', '*']), "{escaped}");
        let re = ::regex::Regex::new(&format!("^{escaped}$")).unwrap();
        assert!(re.is_match("a.b*c$d'e\"f;g{h}i [j]|`%"));
        assert!(!re.is_match("aXb*c$d'e\"f;g{h}i [j]|`%"));
    }
}
