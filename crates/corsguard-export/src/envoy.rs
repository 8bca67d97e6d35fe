//! Envoy: a bootstrap fragment (`static_resources` with one listener, the
//! `envoy.filters.http.cors` filter, one route per rule set carrying its `CorsPolicy` in
//! `typed_per_filter_config`, and the upstream cluster).
//!
//! Envoy's CORS filter decides less than corsguard does (see the notes it returns), and what it
//! cannot do at all is reported as partial: cross-origin protection, and withholding CORS
//! headers from actual requests whose method is not listed.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::regex::{self, Dialect};
use super::{Rendered, RuleSet, Target, RESPONSE_HEADERS};

const CORS_POLICY: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";
const CORS_FILTER: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors";
const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HCM: &str =
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TLS: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
/// Envoy refuses, by default, any regex whose RE2 program is larger than 100 instructions;
/// generated origin expressions with port ranges or subdomain labels are larger.
const RE2_PROGRAM_SIZE: i64 = 10_000;

/// A YAML value whose maps keep their insertion order (so `name` comes first, as people write
/// Envoy configuration).
enum Y {
    S(String),
    N(i64),
    B(bool),
    M(Vec<(&'static str, Y)>),
    L(Vec<Y>),
}

fn s(text: impl Into<String>) -> Y {
    Y::S(text.into())
}

pub fn render(t: &Target<'_>) -> Rendered {
    let mut routes: Vec<Y> =
        t.rule_sets.iter().skip(1).map(|set| route(set, set.prefix.unwrap_or("/"))).collect();
    routes.push(route(&t.rule_sets[0], "/"));
    let hcm = Y::M(vec![
        ("@type", s(HCM)),
        ("stat_prefix", s("corsguard")),
        (
            "route_config",
            Y::M(vec![
                ("name", s("corsguard")),
                (
                    "virtual_hosts",
                    Y::L(vec![Y::M(vec![
                        ("name", s("corsguard")),
                        ("domains", Y::L(vec![s("*")])),
                        ("routes", Y::L(routes)),
                    ])]),
                ),
            ]),
        ),
        (
            "http_filters",
            Y::L(vec![
                Y::M(vec![
                    ("name", s("envoy.filters.http.cors")),
                    ("typed_config", Y::M(vec![("@type", s(CORS_FILTER))])),
                ]),
                Y::M(vec![
                    ("name", s("envoy.filters.http.router")),
                    ("typed_config", Y::M(vec![("@type", s(ROUTER))])),
                ]),
            ]),
        ),
    ]);
    let listener = Y::M(vec![
        ("name", s("corsguard")),
        ("address", socket(&t.listen.ip().to_string(), t.listen.port())),
        (
            "filter_chains",
            Y::L(vec![Y::M(vec![(
                "filters",
                Y::L(vec![Y::M(vec![
                    ("name", s("envoy.filters.network.http_connection_manager")),
                    ("typed_config", hcm),
                ])]),
            )])]),
        ),
    ]);
    let upstream_host = t.upstream.host().trim_start_matches('[').trim_end_matches(']').to_owned();
    let is_ip = upstream_host.parse::<std::net::IpAddr>().is_ok();
    let mut cluster = vec![
        ("name", s("corsguard_upstream")),
        ("type", s(if is_ip { "STATIC" } else { "STRICT_DNS" })),
        ("connect_timeout", s("5s")),
        (
            "load_assignment",
            Y::M(vec![
                ("cluster_name", s("corsguard_upstream")),
                (
                    "endpoints",
                    Y::L(vec![Y::M(vec![(
                        "lb_endpoints",
                        Y::L(vec![Y::M(vec![(
                            "endpoint",
                            Y::M(vec![("address", socket(&upstream_host, t.upstream.port()))]),
                        )])]),
                    )])]),
                ),
            ]),
        ),
    ];
    if t.upstream.is_https() {
        cluster.push((
            "transport_socket",
            Y::M(vec![
                ("name", s("envoy.transport_sockets.tls")),
                ("typed_config", Y::M(vec![("@type", s(TLS)), ("sni", s(upstream_host.clone()))])),
            ]),
        ));
    }
    let root = vec![
        (
            "static_resources",
            Y::M(vec![("listeners", Y::L(vec![listener])), ("clusters", Y::L(vec![Y::M(cluster)]))]),
        ),
        (
            "layered_runtime",
            Y::M(vec![(
                "layers",
                Y::L(vec![Y::M(vec![
                    ("name", s("corsguard_regex_limits")),
                    (
                        "static_layer",
                        Y::M(vec![
                            ("re2.max_program_size.error_level", Y::N(RE2_PROGRAM_SIZE)),
                            ("re2.max_program_size.warn_level", Y::N(RE2_PROGRAM_SIZE)),
                        ]),
                    ),
                ])]),
            )]),
        ),
    ];
    let mut text = String::new();
    text.push_str(
        "# Merge layered_runtime into yours if your bootstrap has one: the generated origin expressions\n",
    );
    text.push_str("# are larger than Envoy's default RE2 program-size limit of 100.\n");
    // Writing a tree of strings, numbers and booleans into a String cannot fail.
    text.push_str(&serde_norway::to_string(&Y::M(root)).expect("a YAML tree serializes"));
    Rendered { text, notes: notes(), partial: partial(t) }
}

/// A route and its CorsPolicy.
fn route(set: &RuleSet<'_>, prefix: &str) -> Y {
    let st = set.rules;
    let origins = st
        .origins()
        .iter()
        .map(|p| {
            let expr = format!("^{}$", regex::pattern(p, Dialect::Re2));
            Y::M(vec![("safe_regex", Y::M(vec![("regex", s(expr))]))])
        })
        .collect();
    let mut policy = vec![
        ("@type", s(CORS_POLICY)),
        ("allow_origin_string_match", Y::L(origins)),
        ("allow_methods", s(st.methods().join(", "))),
    ];
    if !st.allow_headers().is_empty() {
        policy.push(("allow_headers", s(st.allow_headers().join(", "))));
    }
    if !st.expose_headers().is_empty() {
        policy.push(("expose_headers", s(st.expose_headers().join(", "))));
    }
    policy.push(("max_age", s(st.max_age().to_string())));
    policy.push(("allow_credentials", Y::B(st.credentials())));
    policy.push(("allow_private_network_access", Y::B(st.private_network())));
    // Refused preflights are answered by Envoy (200, no CORS headers), never forwarded.
    policy.push(("forward_not_matching_preflights", Y::B(false)));
    Y::M(vec![
        ("match", Y::M(vec![("prefix", s(prefix))])),
        ("route", Y::M(vec![("cluster", s("corsguard_upstream"))])),
        (
            "response_headers_to_add",
            Y::L(vec![Y::M(vec![
                ("header", Y::M(vec![("key", s("Vary")), ("value", s("Origin"))])),
                ("append_action", s("APPEND_IF_EXISTS_OR_ADD")),
            ])]),
        ),
        (
            "response_headers_to_remove",
            Y::L(RESPONSE_HEADERS.iter().map(|h| s(h.to_ascii_lowercase())).collect()),
        ),
        ("typed_per_filter_config", Y::M(vec![("envoy.filters.http.cors", Y::M(policy))])),
    ])
}

fn socket(address: &str, port: u16) -> Y {
    Y::M(vec![("socket_address", Y::M(vec![("address", s(address)), ("port_value", Y::N(i64::from(port)))]))])
}

/// Maps in insertion order, through serde_norway's YAML writer (which quotes whatever YAML
/// would otherwise read as another type).
impl Serialize for Y {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Y::S(text) => serializer.serialize_str(text),
            Y::N(n) => serializer.serialize_i64(*n),
            Y::B(b) => serializer.serialize_bool(*b),
            Y::M(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
            Y::L(items) => serializer.collect_seq(items),
        }
    }
}

fn partial(t: &Target<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let cop: Vec<String> =
        t.rule_sets.iter().filter(|s| s.rules.cross_origin_protection()).map(RuleSet::label).collect();
    if !cop.is_empty() {
        out.push(format!(
            "cross_origin_protection ({}): Envoy's CORS filter has no cross-origin request \
             protection, so cross-site unsafe requests (form POSTs, simple fetches) reach the \
             upstream; keep CSRF protection in the application",
            cop.join("; ")
        ));
    }
    for set in &t.rule_sets {
        let missing: Vec<&str> = corsguard::Rules::DEFAULT_METHODS
            .iter()
            .copied()
            .filter(|m| !set.rules.methods().iter().any(|x| x == m))
            .collect();
        if !missing.is_empty() {
            out.push(format!(
                "methods ({}): Envoy adds CORS headers to actual requests whatever their method, \
                 so {} requests (sent without a preflight) from allowed origins can read the \
                 response although `methods` does not list them",
                set.label(),
                missing.join(", ")
            ));
        }
    }
    out
}

fn notes() -> Vec<String> {
    let mut notes = vec![
        "allowed preflights are answered with 200 (not 204); refused preflights with 200 and no \
         CORS headers (not 403): the browser refuses them the same way"
            .to_owned(),
        "Access-Control-Request-Method and -Headers are not checked by Envoy, which answers with \
         the configured lists; the browser compares them, so nothing unlisted is allowed, but the \
         4096-byte / 64-name budget does not apply"
            .to_owned(),
        "Envoy always echoes the request's Origin, also where corsguard sends `*` (any origin \
         without credentials), and sends no Vary on preflight answers"
            .to_owned(),
    ];
    notes.extend(regex::re2_limitations().iter().map(|s| (*s).to_owned()));
    notes
}
