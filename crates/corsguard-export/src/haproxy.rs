//! HAProxy (2.6 and later): a `frontend` and a `backend`, appended after the operator's
//! `global` and `defaults`.
//!
//! The decision is computed into transaction variables by `http-request` rules (route first,
//! then the state), preflights and cross-origin refusals are answered with
//! `http-request return`, and every CORS header is written by `http-after-response`, which also
//! covers HAProxy's own error responses. Unlike nginx, HAProxy counts header lines, so repeated
//! and empty headers are judged as the engine judges them.

use std::fmt::Write as _;

use super::regex::{self, Dialect};
use super::{preflight_vary, Rendered, Target};

/// Lines of `Access-Control-Request-Headers` joined before the list is checked; more are
/// refused (browsers send one).
const ACRH_LINES: usize = 4;
const ACRH: &str = "access-control-request-headers";

pub fn render(t: &Target<'_>) -> Rendered {
    let mut o = String::new();
    let sets = &t.rule_sets;
    let line = |o: &mut String, text: &str| {
        let _ = writeln!(o, "{text}");
    };
    let listen = match t.listen {
        std::net::SocketAddr::V4(a) => a.to_string(),
        std::net::SocketAddr::V6(a) => format!("ipv6@{}:{}", a.ip(), a.port()),
    };
    let _ = writeln!(o, "frontend corsguard\n    mode http\n    bind {listen}\n");

    line(
        &mut o,
        "    # Which rules apply: the first [[routes]] prefix the path starts with (0: the profile's).",
    );
    line(&mut o, "    # Written last-to-first so that the first matching route is the one left set.");
    line(&mut o, "    http-request set-var(txn.corsguard_route) int(0)");
    for s in sets.iter().skip(1).rev() {
        if let Some(prefix) = s.prefix {
            let _ = writeln!(
                o,
                "    http-request set-var(txn.corsguard_route) int({}) if {{ path -m reg '{}' }}",
                s.index,
                regex::path_prefix(prefix)
            );
        }
    }
    for s in sets {
        let _ = writeln!(o, "    acl corsguard_route_{0} var(txn.corsguard_route) -m int eq {0}", s.index);
    }

    line(&mut o, "\n    # Request classification: HAProxy counts header lines, so repeats are seen.");
    line(&mut o, "    acl corsguard_has_origin req.fhdr_cnt(origin) gt 0");
    line(&mut o, "    acl corsguard_one_origin req.fhdr_cnt(origin) eq 1");
    line(&mut o, "    acl corsguard_has_acrm req.fhdr_cnt(access-control-request-method) gt 0");
    line(&mut o, "    acl corsguard_one_acrm req.fhdr_cnt(access-control-request-method) eq 1");
    let _ = writeln!(o, "    acl corsguard_has_acrh req.fhdr_cnt({ACRH}) gt 0");
    let _ = writeln!(o, "    acl corsguard_acrh_lines_ok req.fhdr_cnt({ACRH}) le {ACRH_LINES}");
    let _ = writeln!(
        o,
        "    acl corsguard_acrh_size_ok var(txn.corsguard_acrh_len) -m int le {}",
        corsguard::limits::MAX_REQUEST_HEADERS_LEN
    );
    line(&mut o, "    acl corsguard_options method -m str OPTIONS");
    line(&mut o, "    acl corsguard_safe_method method -m str GET HEAD OPTIONS");
    line(
        &mut o,
        "    acl corsguard_pna_asked req.fhdr(access-control-request-private-network,1) -m str true",
    );
    line(&mut o, "    acl corsguard_sfs_present req.fhdr_cnt(sec-fetch-site) gt 0");
    line(&mut o, "    acl corsguard_sfs_same req.fhdr(sec-fetch-site,1) -m str same-origin none");
    let _ = writeln!(
        o,
        "    acl corsguard_origin_canonical req.fhdr(origin) -m reg '^(?=.{{1,{}}}$){}$'",
        corsguard::limits::MAX_ORIGIN_LEN,
        regex::any_origin(Dialect::Pcre, false)
    );
    line(&mut o, "    acl corsguard_host_is_origin req.fhdr(host,1),strcmp(txn.corsguard_authority) eq 0");
    line(&mut o, "    acl corsguard_preflight var(txn.corsguard_kind) -m str preflight");
    line(&mut o, "    acl corsguard_same_origin var(txn.corsguard_same) -m bool");
    for s in sets {
        let i = s.index;
        let _ = writeln!(o, "\n    # Rules {i}: {}", s.label());
        let _ = writeln!(
            o,
            "    acl corsguard_origin_{i} req.fhdr(origin) -m reg '{}'",
            regex::origins(s.rules.origins(), Dialect::Pcre)
        );
        let _ = writeln!(
            o,
            "    acl corsguard_acrm_{i} req.fhdr(access-control-request-method) -m reg '{}'",
            regex::methods(s.rules.methods())
        );
        let _ = writeln!(
            o,
            "    acl corsguard_acrh_{i} var(txn.corsguard_acrh) -m reg -i '{}'",
            regex::request_headers(s.rules.allow_headers())
        );
        // `method -m str` keeps the comparison case-sensitive, as Fetch's is.
        let _ = writeln!(o, "    acl corsguard_method_{i} method -m str {}", s.rules.methods().join(" "));
    }

    line(&mut o, "\n    # A preflight is OPTIONS with Origin and Access-Control-Request-Method.");
    line(&mut o, "    http-request set-var(txn.corsguard_kind) str(preflight) if corsguard_options corsguard_has_origin corsguard_has_acrm");
    let _ = writeln!(o, "    # Access-Control-Request-Headers, its lines joined with commas (up to {ACRH_LINES}) and its byte count.");
    let _ = writeln!(o, "    http-request set-var(txn.corsguard_acrh) str() if corsguard_preflight");
    let _ = writeln!(o, "    http-request set-var(txn.corsguard_acrh_len) int(0) if corsguard_preflight");
    for k in 1..=ACRH_LINES {
        let cond = format!("if corsguard_preflight {{ req.fhdr_cnt({ACRH}) ge {k} }}");
        let _ = writeln!(o, "    http-request set-var(txn.corsguard_line) req.fhdr({ACRH},{k}) {cond}");
        let join = if k == 1 { "concat(,txn.corsguard_line)" } else { "concat(',',txn.corsguard_line)" };
        let _ = writeln!(
            o,
            "    http-request set-var(txn.corsguard_acrh) \"var(txn.corsguard_acrh),{join}\" {cond}"
        );
        let _ = writeln!(
            o,
            "    http-request set-var(txn.corsguard_acrh_len) var(txn.corsguard_line),length,add(txn.corsguard_acrh_len) {cond}"
        );
    }

    line(&mut o, "\n    # The decision: the last rule that matches sets it.");
    line(&mut o, "    http-request set-var(txn.corsguard_state) str(pass)");
    line(
        &mut o,
        "    http-request set-var(txn.corsguard_state) str(preflight_refused) if corsguard_preflight",
    );
    for s in sets {
        let i = s.index;
        let _ = writeln!(
            o,
            "    http-request set-var(txn.corsguard_state) str(preflight_ok) if corsguard_preflight corsguard_route_{i} \
             corsguard_one_origin corsguard_origin_{i} corsguard_one_acrm corsguard_acrm_{i} \
             corsguard_acrh_lines_ok corsguard_acrh_size_ok corsguard_acrh_{i}"
        );
    }
    for s in sets {
        let i = s.index;
        let _ = writeln!(
            o,
            "    http-request set-var(txn.corsguard_state) str(actual_ok) if !corsguard_preflight corsguard_route_{i} \
             corsguard_one_origin corsguard_origin_{i} corsguard_method_{i}"
        );
    }
    line(
        &mut o,
        "\n    # Cross-origin protection, as Go's CrossOriginProtection: Sec-Fetch-Site same-origin or none;",
    );
    line(&mut o, "    # without it, no Origin, or a canonical Origin whose host[:port] equals Host.");
    line(&mut o, "    http-request set-var(txn.corsguard_authority) req.fhdr(origin),field(3,/) if corsguard_one_origin corsguard_origin_canonical");
    line(
        &mut o,
        "    http-request set-var(txn.corsguard_same) bool(1) if corsguard_sfs_present corsguard_sfs_same",
    );
    line(&mut o, "    http-request set-var(txn.corsguard_same) bool(1) if !corsguard_sfs_present !corsguard_has_origin");
    line(&mut o, "    http-request set-var(txn.corsguard_same) bool(1) if !corsguard_sfs_present corsguard_host_is_origin");
    for s in sets.iter().filter(|s| s.rules.cross_origin_protection()) {
        let _ = writeln!(
            o,
            "    http-request set-var(txn.corsguard_state) str(cross_origin_refused) if !corsguard_preflight \
             corsguard_route_{} !corsguard_safe_method !corsguard_same_origin !{{ var(txn.corsguard_state) -m str actual_ok }}",
            s.index
        );
    }
    line(&mut o, "    acl corsguard_ok var(txn.corsguard_state) -m str preflight_ok actual_ok");
    line(&mut o, "    acl corsguard_preflight_ok var(txn.corsguard_state) -m str preflight_ok");
    line(&mut o, "    acl corsguard_actual_ok var(txn.corsguard_state) -m str actual_ok");
    line(
        &mut o,
        "    acl corsguard_answered_preflight var(txn.corsguard_state) -m str preflight_ok preflight_refused",
    );
    line(&mut o, "    acl corsguard_pna_yes var(txn.corsguard_pna) -m bool");
    line(&mut o, "    http-request set-var(txn.corsguard_origin) req.fhdr(origin) if corsguard_ok");
    // Only a route that allows it answers a Private Network Access preflight with the header;
    // elsewhere that preflight is decided like any other.
    for s in sets.iter().filter(|s| s.rules.private_network()) {
        let _ = writeln!(
            o,
            "    http-request set-var(txn.corsguard_pna) bool(1) if corsguard_preflight_ok corsguard_pna_asked corsguard_route_{}",
            s.index
        );
    }

    line(&mut o, "\n    # Preflights never reach the upstream; refusals are 403 with no CORS headers.");
    line(&mut o, "    http-request return status 204 if corsguard_preflight_ok");
    line(&mut o, "    http-request return status 403 if { var(txn.corsguard_state) -m str preflight_refused cross_origin_refused }");
    line(&mut o, "    default_backend corsguard_upstream");

    line(&mut o, "\n    # One source of truth: the upstream's own CORS headers never reach the browser.");
    line(&mut o, "    http-response del-header access-control- -m beg");
    line(
        &mut o,
        "    # CORS headers, on every response (the upstream's, 204/403 above, HAProxy's own errors).",
    );
    for s in sets {
        let i = s.index;
        let r = format!("corsguard_route_{i}");
        let acao = if s.star() { "*" } else { "%[var(txn.corsguard_origin)]" };
        let _ = writeln!(
            o,
            "    http-after-response set-header Access-Control-Allow-Origin {acao} if corsguard_ok {r}"
        );
        if s.rules.credentials() {
            let _ = writeln!(o, "    http-after-response set-header Access-Control-Allow-Credentials true if corsguard_ok {r}");
        }
        if !s.rules.methods().is_empty() {
            let _ = writeln!(
                o,
                "    http-after-response set-header Access-Control-Allow-Methods \"{}\" if corsguard_preflight_ok {r}",
                s.rules.methods().join(", ")
            );
        }
        if !s.rules.allow_headers().is_empty() {
            let _ = writeln!(
                o,
                "    http-after-response set-header Access-Control-Allow-Headers \"{}\" if corsguard_preflight_ok {r}",
                s.rules.allow_headers().join(", ")
            );
        }
        let _ = writeln!(
            o,
            "    http-after-response set-header Access-Control-Max-Age {} if corsguard_preflight_ok {r}",
            s.rules.max_age()
        );
        if !s.rules.expose_headers().is_empty() {
            let _ = writeln!(
                o,
                "    http-after-response set-header Access-Control-Expose-Headers \"{}\" if corsguard_actual_ok {r}",
                s.rules.expose_headers().join(", ")
            );
        }
        let _ = writeln!(
            o,
            "    http-after-response add-header Vary \"{}\" if corsguard_answered_preflight {r}",
            preflight_vary(s.rules)
        );
    }
    line(&mut o, "    http-after-response set-header Access-Control-Allow-Private-Network true if corsguard_preflight_ok corsguard_pna_yes");
    line(&mut o, "    http-after-response add-header Vary Origin if !corsguard_answered_preflight");

    let _ = writeln!(o, "\nbackend corsguard_upstream\n    mode http");
    let tls = if t.upstream.is_https() {
        let sni_host = t.upstream.host().trim_start_matches('[').trim_end_matches(']');
        format!(" ssl verify required ca-file @system-ca sni str({sni_host})")
    } else {
        String::new()
    };
    let _ = writeln!(o, "    server upstream {}{tls}", t.upstream.host_port());

    Rendered { text: o, notes: notes(), partial: Vec::new() }
}

fn notes() -> Vec<String> {
    vec![
        format!(
            "Access-Control-Request-Headers sent on more than {ACRH_LINES} lines is refused \
             (the engine joins any number of lines; browsers send one)"
        ),
        "for `*` origins, an IPv6 address not in RFC 5952 canonical form is not refused (the \
         answer is `*` without credentials either way)"
            .to_owned(),
        "the corsguard-reason debugging header is never sent".to_owned(),
    ]
}
