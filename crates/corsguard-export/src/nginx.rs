//! nginx: `map` blocks and one `server`, to be included inside `http { }`.
//!
//! Every decision input becomes a variable through a `map` whose keys are generated regular
//! expressions (case-sensitive `~`, except the header list, `~*`), composite keys carry the
//! route number so routes keep corsguard's first-match order (`map` tries regexes in order, on
//! the raw `$request_uri`, as the engine reads the raw path), and one last `map` folds them into
//! a state. The server answers preflights itself and puts the headers on with `add_header ...
//! always`, so 403s carry `Vary` as the engine's do. Cross-origin protection compares Origin's
//! authority with Host through a backreference in one composite key.

use std::fmt::Write as _;

use super::regex::{self, Dialect};
use super::{preflight_vary, Rendered, RuleSet, Target, RESPONSE_HEADERS};

/// Methods cross-origin protection never refuses.
const SAFE_METHODS: &str = "(?:GET|HEAD|OPTIONS)";

pub fn render(t: &Target<'_>) -> Rendered {
    let mut o = String::new();
    let sets = &t.rule_sets;
    let line = |o: &mut String, text: &str| {
        let _ = writeln!(o, "{text}");
    };

    line(&mut o, "# Which rules apply: the first [[routes]] prefix the raw request path starts with (0: the profile's).");
    line(&mut o, "map $request_uri $corsguard_route {");
    for set in sets.iter().skip(1) {
        if let Some(prefix) = set.prefix {
            let _ = writeln!(o, "    \"~{}\" {};", regex::path_prefix(prefix), set.index);
        }
    }
    line(&mut o, "    default 0;\n}\n");

    // nginx cannot tell an empty header from a missing one; see the notes.
    for (var, header) in [("has_origin", "$http_origin"), ("has_acrm", "$http_access_control_request_method")]
    {
        let _ = writeln!(o, "map {header} $corsguard_{var} {{\n    \"\" 0;\n    default 1;\n}}\n");
    }

    line(&mut o, "# The Origin is canonical and allowed (exact origins and generated patterns only).");
    route_map(&mut o, "$http_origin", "origin_ok", "~", sets, |s| {
        Some(regex::origins(s.rules.origins(), Dialect::Pcre))
    });
    line(&mut o, "# Access-Control-Request-Method is one of `methods` (case-sensitive).");
    route_map(&mut o, "$http_access_control_request_method", "acrm_ok", "~", sets, |s| {
        Some(regex::methods(s.rules.methods()))
    });
    line(&mut o, "# Access-Control-Request-Headers: allowed names only (case-insensitive), at most 4096 bytes and 64 names.");
    route_map(&mut o, "$http_access_control_request_headers", "acrh_ok", "~*", sets, |s| {
        Some(regex::request_headers(s.rules.allow_headers()))
    });
    line(&mut o, "# The request's own method is one of `methods` (actual requests).");
    route_map(&mut o, "$request_method", "method_ok", "~", sets, |s| Some(regex::methods(s.rules.methods())));
    line(&mut o, "# Cross-origin protection applies: it is on for these rules and the method is unsafe.");
    route_map(&mut o, "$request_method", "guarded", "~", sets, |s| {
        s.rules.cross_origin_protection().then(|| format!("^(?!{SAFE_METHODS}$)"))
    });

    line(
        &mut o,
        "# Private Network Access preflight: `yes` when asked on a route that allows it; elsewhere the",
    );
    line(&mut o, "# preflight is decided like any other and gets no Access-Control-Allow-Private-Network.");
    let _ = writeln!(
        o,
        "map \"$corsguard_route|$http_access_control_request_private_network\" $corsguard_pna {{"
    );
    for s in sets.iter().filter(|s| s.rules.private_network()) {
        let _ = writeln!(o, "    \"~^{}\\|true$\" yes;", s.index);
    }
    line(&mut o, "    default \"\";\n}\n");

    line(
        &mut o,
        "# Same origin, as Go's CrossOriginProtection decides: Sec-Fetch-Site same-origin or none; without",
    );
    line(
        &mut o,
        "# it, no Origin at all, or a canonical Origin whose host[:port] equals Host (backreference \\1).",
    );
    line(&mut o, "map \"$http_sec_fetch_site|$http_host|$http_origin\" $corsguard_same_origin {");
    line(&mut o, "    \"~^(?:same-origin|none)\\|\" 1;");
    line(&mut o, "    \"~^\\|[^|]*\\|$\" 1;");
    let any = regex::any_origin(Dialect::Pcre, false);
    let _ = writeln!(
        o,
        "    \"~^\\|([^|]*)\\|(?=[^|]{{1,{}}}$)(?={any}$)[a-z][a-z0-9+.-]*://\\1$\" 1;",
        corsguard::limits::MAX_ORIGIN_LEN
    );
    line(&mut o, "    default 0;\n}\n");

    line(&mut o, "# The decision. Flags: has Origin, has ACRM, Origin ok, ACRM ok, ACRH ok, method ok, guarded, same origin.");
    line(&mut o, "map \"$request_method $corsguard_has_origin$corsguard_has_acrm$corsguard_origin_ok$corsguard_acrm_ok$corsguard_acrh_ok$corsguard_method_ok$corsguard_guarded$corsguard_same_origin\" $corsguard_state {");
    line(&mut o, "    \"~^OPTIONS 11111[01]{3}$\" preflight_ok;");
    line(&mut o, "    \"~^OPTIONS 11\" preflight_refused;");
    line(&mut o, "    \"~^[^ ]+ 1[01]1[01]{2}1\" actual_ok;");
    line(&mut o, "    \"~^[^ ]+ [01]{6}10\" cross_origin_refused;");
    line(&mut o, "    default pass;\n}\n");

    header_map(&mut o, "acao", sets, |s| {
        let value = if s.star() { "\"*\"".to_owned() } else { "$http_origin".to_owned() };
        Some(("(?:preflight_ok|actual_ok)", value))
    });
    header_map(&mut o, "acac", sets, |s| {
        s.rules.credentials().then(|| ("(?:preflight_ok|actual_ok)", "true".to_owned()))
    });
    header_map(&mut o, "acam", sets, |s| {
        (!s.rules.methods().is_empty()).then(|| ("preflight_ok", quote(&s.rules.methods().join(", "))))
    });
    header_map(&mut o, "acah", sets, |s| {
        (!s.rules.allow_headers().is_empty())
            .then(|| ("preflight_ok", quote(&s.rules.allow_headers().join(", "))))
    });
    header_map(&mut o, "acma", sets, |s| Some(("preflight_ok", s.rules.max_age().to_string())));
    header_map(&mut o, "aceh", sets, |s| {
        (!s.rules.expose_headers().is_empty())
            .then(|| ("actual_ok", quote(&s.rules.expose_headers().join(", "))))
    });
    line(&mut o, "map \"$corsguard_state|$corsguard_pna\" $corsguard_acapn {\n    \"~^preflight_ok\\|yes$\" true;\n    default \"\";\n}\n");
    let _ = writeln!(o, "map \"$corsguard_state|$corsguard_route\" $corsguard_vary {{");
    for s in sets {
        let _ =
            writeln!(o, "    \"~^preflight_(?:ok|refused)\\|{}$\" \"{}\";", s.index, preflight_vary(s.rules));
    }
    line(&mut o, "    default Origin;\n}\n");

    let _ = writeln!(o, "server {{\n    listen {};\n", t.listen);
    line(&mut o, "    location / {");
    line(&mut o, "        # Preflights never reach the upstream; refusals are 403 with no CORS headers.");
    line(&mut o, "        if ($corsguard_state = preflight_ok) { return 204; }");
    line(&mut o, "        if ($corsguard_state = preflight_refused) { return 403; }");
    line(
        &mut o,
        "        # Cross-origin protection: an unsafe request from an untrusted origin is not forwarded.",
    );
    line(&mut o, "        if ($corsguard_state = cross_origin_refused) { return 403; }\n");
    let _ = writeln!(o, "        proxy_pass {}://{};", t.upstream.scheme_str(), t.upstream.host_port());
    line(&mut o, "        proxy_http_version 1.1;");
    line(&mut o, "        proxy_set_header Host $http_host;");
    line(&mut o, "        proxy_set_header Connection \"\";");
    if t.upstream.is_https() {
        line(&mut o, "        proxy_ssl_server_name on;");
        line(&mut o, "        proxy_ssl_verify on;");
        line(&mut o, "        proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;");
    }
    line(&mut o, "        # One source of truth: the upstream's own CORS headers never reach the browser.");
    for name in RESPONSE_HEADERS {
        let _ = writeln!(o, "        proxy_hide_header {name};");
    }
    line(&mut o, "        # Empty values add nothing; `always` covers 204, 403 and the proxy's own 502/504.");
    for (name, var) in [
        ("Access-Control-Allow-Origin", "acao"),
        ("Access-Control-Allow-Credentials", "acac"),
        ("Access-Control-Allow-Methods", "acam"),
        ("Access-Control-Allow-Headers", "acah"),
        ("Access-Control-Max-Age", "acma"),
        ("Access-Control-Expose-Headers", "aceh"),
        ("Access-Control-Allow-Private-Network", "acapn"),
        ("Vary", "vary"),
    ] {
        let _ = writeln!(o, "        add_header {name} $corsguard_{var} always;");
    }
    line(&mut o, "    }\n}");

    Rendered { text: o, notes: notes(), partial: Vec::new() }
}

/// `map "$corsguard_route|<input>" $corsguard_<var>`: 1 when the generated expression for the
/// route matches the input.
fn route_map(
    o: &mut String,
    input: &str,
    var: &str,
    op: &str,
    sets: &[RuleSet<'_>],
    expr: impl Fn(&RuleSet<'_>) -> Option<String>,
) {
    let _ = writeln!(o, "map \"$corsguard_route|{input}\" $corsguard_{var} {{");
    for s in sets {
        if let Some(re) = expr(s) {
            let body = re.strip_prefix('^').unwrap_or(&re);
            let _ = writeln!(o, "    \"{op}^{}\\|{body}\" 1;", s.index);
        }
    }
    let _ = writeln!(o, "    default 0;\n}}\n");
}

/// `map "$corsguard_state|$corsguard_route" $corsguard_<var>`: the header's value in the states
/// that carry it, empty (no header) otherwise.
fn header_map(
    o: &mut String,
    var: &str,
    sets: &[RuleSet<'_>],
    value: impl Fn(&RuleSet<'_>) -> Option<(&'static str, String)>,
) {
    let _ = writeln!(o, "map \"$corsguard_state|$corsguard_route\" $corsguard_{var} {{");
    for s in sets {
        if let Some((states, v)) = value(s) {
            let _ = writeln!(o, "    \"~^{states}\\|{}$\" {v};", s.index);
        }
    }
    let _ = writeln!(o, "    default \"\";\n}}\n");
}

/// Header values are tokens joined by `, `; quoted for nginx's parser.
fn quote(value: &str) -> String {
    format!("\"{value}\"")
}

fn notes() -> Vec<String> {
    vec![
        "nginx cannot tell an empty header from a missing one: an empty Origin, \
         Access-Control-Request-Method or Sec-Fetch-Site counts as absent (browsers never send \
         them empty)"
            .to_owned(),
        "nginx before 1.23 reads only the first line of a repeated Origin, \
         Access-Control-Request-Method or Access-Control-Request-Headers header; 1.23 and later \
         join the lines with a comma, which the generated expressions refuse for Origin and \
         check as one list for the others, as the engine does (browsers send each once)"
            .to_owned(),
        "for `*` origins, an IPv6 address not in RFC 5952 canonical form is not refused (the \
         answer is `*` without credentials either way)"
            .to_owned(),
        "only the seven standard Access-Control-Allow-*/Max-Age/Expose-Headers response headers \
         are hidden from the upstream (proxy_hide_header takes no wildcard); the corsguard-reason \
         debugging header is never sent"
            .to_owned(),
    ]
}
