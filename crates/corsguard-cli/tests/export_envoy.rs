//! `corsguard export --format envoy`: validated structurally (no Envoy runs here): the fields
//! the `envoy.filters.http.cors` filter needs, the CorsPolicy per route, and `safe_regex`
//! origins that, compiled with RE2 semantics (Rust's `regex`), admit exactly what corsguard's
//! engine admits, apart from the listed RE2 limitations.

mod export_support;

use corsguard::Origin;
use corsguard::Policy;
use export_support::*;
use serde_norway::Value;

const CORS_POLICY: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy";

/// Origins of the corpus on which the RE2 expressions and the engine disagree, per route
/// prefix (`/` for the profile's rules), and why. Asserted exactly.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    ("/", "label-over-63", "RE2 labels are `[a-z0-9_-]+`: `{1,63}` would exceed Envoy's program-size limit"),
    ("/", "host-over-253", "RE2 has no lookahead for the 253-byte host limit"),
    ("/public/", "label-over-63", "RE2 labels are unbounded"),
    ("/public/", "host-over-253", "RE2 has no lookahead for the 253-byte host limit"),
    ("/public/", "default-port", "RE2 cannot exclude a scheme's default port per scheme under `*`"),
    ("/public/", "default-port-any", "RE2 cannot exclude a scheme's default port per scheme under `*`"),
    ("/public/", "ports-default-port", "RE2 cannot exclude a scheme's default port per scheme under `*`"),
    ("/pna/", "label-over-63", "RE2 labels are unbounded"),
    ("/pna/", "host-over-253", "RE2 has no lookahead for the 253-byte host limit"),
];

fn get<'v>(value: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(value, |v, key| match key.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[*key],
    })
}

fn export_envoy(extra: &[&str]) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("corsguard.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let mut args = vec!["export", policy.to_str().unwrap(), "--format", "envoy"];
    args.extend_from_slice(extra);
    (corsguard(&args), dir)
}

#[test]
fn envoy_fragment_has_the_cors_filter_and_a_policy_per_route() {
    let (out, _dir) = export_envoy(&["--allow-partial", "--listen", "127.0.0.1:10000"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let doc: Value = serde_norway::from_str(&text).expect("valid YAML");
    let listener = get(&doc, &["static_resources", "listeners", "0"]);
    assert_eq!(get(listener, &["address", "socket_address", "port_value"]).as_u64(), Some(10000));
    let hcm = get(listener, &["filter_chains", "0", "filters", "0"]);
    assert_eq!(hcm["name"].as_str(), Some("envoy.filters.network.http_connection_manager"));
    let filters = get(hcm, &["typed_config", "http_filters"]).as_sequence().unwrap();
    let names: Vec<&str> = filters.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["envoy.filters.http.cors", "envoy.filters.http.router"], "CORS before the router");
    assert_eq!(
        get(&filters[0], &["typed_config", "@type"]).as_str(),
        Some("type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors")
    );
    let routes =
        get(hcm, &["typed_config", "route_config", "virtual_hosts", "0", "routes"]).as_sequence().unwrap();
    let prefixes: Vec<&str> = routes.iter().map(|r| get(r, &["match", "prefix"]).as_str().unwrap()).collect();
    // Envoy takes the first matching route, as corsguard does; the profile's rules come last.
    assert_eq!(prefixes, ["/public/", "/public/admin/", "/pna/", "/"]);
    let policy = Policy::from_toml(POLICY, None).unwrap();
    for (route, rules) in routes.iter().zip(rules_in_envoy_order(&policy)) {
        let prefix = get(route, &["match", "prefix"]).as_str().unwrap();
        let settings = rules;
        let cors = get(route, &["typed_per_filter_config", "envoy.filters.http.cors"]);
        assert_eq!(cors["@type"].as_str(), Some(CORS_POLICY), "{prefix}");
        assert_eq!(cors["allow_methods"].as_str(), Some(settings.methods().join(", ").as_str()), "{prefix}");
        assert_eq!(
            cors["allow_headers"].as_str(),
            Some(settings.allow_headers().join(", ").as_str()),
            "{prefix}"
        );
        assert_eq!(
            cors["expose_headers"].as_str(),
            Some(settings.expose_headers().join(", ").as_str()),
            "{prefix}"
        );
        assert_eq!(cors["max_age"].as_str(), Some(settings.max_age().to_string().as_str()), "{prefix}");
        assert_eq!(cors["allow_credentials"].as_bool(), Some(settings.credentials()), "{prefix}");
        assert_eq!(
            cors["allow_private_network_access"].as_bool(),
            Some(settings.private_network()),
            "{prefix}"
        );
        assert_eq!(cors["forward_not_matching_preflights"].as_bool(), Some(false), "{prefix}");
        let removed: Vec<&str> = route["response_headers_to_remove"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(removed.contains(&"access-control-allow-origin"), "{prefix}: upstream ACAO is removed");
        assert_eq!(get(route, &["response_headers_to_add", "0", "header", "value"]).as_str(), Some("Origin"));
        let matchers = cors["allow_origin_string_match"].as_sequence().unwrap();
        assert_eq!(matchers.len(), settings.origins().len(), "{prefix}: one safe_regex per pattern");
        assert!(matchers.iter().all(|m| m["safe_regex"]["regex"].is_string()), "{prefix}: safe_regex only");
    }
    let cluster = get(&doc, &["static_resources", "clusters", "0"]);
    assert_eq!(cluster["name"].as_str(), Some("corsguard_upstream"));
    let endpoint = get(
        cluster,
        &["load_assignment", "endpoints", "0", "lb_endpoints", "0", "endpoint", "address", "socket_address"],
    );
    assert_eq!(endpoint["port_value"].as_u64(), Some(3000));
}

#[test]
fn envoy_origin_expressions_admit_exactly_what_the_engine_admits() {
    let (out, _dir) = export_envoy(&["--allow-partial"]);
    let doc: Value = serde_norway::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
    let routes = get(
        &doc,
        &[
            "static_resources",
            "listeners",
            "0",
            "filter_chains",
            "0",
            "filters",
            "0",
            "typed_config",
            "route_config",
            "virtual_hosts",
            "0",
            "routes",
        ],
    )
    .as_sequence()
    .unwrap()
    .clone();
    let policy = Policy::from_toml(POLICY, None).unwrap();
    let mut differing = Vec::new();
    let mut allowed_somewhere = 0;
    for (route, rules) in routes.iter().zip(rules_in_envoy_order(&policy)) {
        let prefix = get(route, &["match", "prefix"]).as_str().unwrap().to_owned();
        let regexes: Vec<regex::bytes::Regex> =
            get(route, &["typed_per_filter_config", "envoy.filters.http.cors", "allow_origin_string_match"])
                .as_sequence()
                .unwrap()
                .iter()
                .map(|m| {
                    regex::bytes::Regex::new(m["safe_regex"]["regex"].as_str().unwrap())
                        .expect("RE2-compatible")
                })
                .collect();
        for (name, origin) in bypass_origins().into_iter().chain(legitimate_origins()) {
            let engine = Origin::parse(&origin).is_ok_and(|o| rules.matching_pattern(&o).is_some());
            let envoy = regexes.iter().any(|re| re.is_match(&origin));
            allowed_somewhere += usize::from(engine);
            if engine != envoy {
                differing.push((prefix.clone(), name.to_owned()));
            }
        }
    }
    assert!(allowed_somewhere > 10, "the corpus has legitimate origins");
    let known: Vec<(String, String)> =
        KNOWN_DIFFERENCES.iter().map(|(p, n, _)| ((*p).to_owned(), (*n).to_owned())).collect();
    differing.sort();
    let mut known_sorted = known.clone();
    known_sorted.sort();
    assert_eq!(differing, known_sorted);
}

/// The routes in file order, then the profile's rules (Envoy's `/` route comes last).
fn rules_in_envoy_order(policy: &Policy) -> Vec<&corsguard::Rules> {
    let mut rules: Vec<&corsguard::Rules> = policy.routes().map(|route| route.rules()).collect();
    rules.push(policy.rules());
    rules
}

#[test]
fn envoy_export_is_partial_without_cross_origin_protection_support() {
    let (out, _dir) = export_envoy(&[]);
    assert_eq!(out.status.code(), Some(3), "partial exports exit 3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cross_origin_protection"), "{stderr}");
    assert!(stderr.contains("--allow-partial"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# PARTIAL, not enforced here: cross_origin_protection"), "{stdout}");
    assert!(stdout.contains("HEAD"), "the missing safelisted method is named");

    let (accepted, _dir) = export_envoy(&["--allow-partial"]);
    assert_eq!(accepted.status.code(), Some(0));
}

#[test]
fn envoy_export_of_what_envoy_can_enforce_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.toml");
    std::fs::write(
        &policy,
        "[policy]\nmethods = [\"GET\", \"HEAD\", \"POST\", \"PUT\"]\ncross_origin_protection = false\n\
         [profiles.p]\norigins = [\"https://app.example.com\"]\n",
    )
    .unwrap();
    let out = corsguard(&["export", policy.to_str().unwrap(), "--format", "envoy"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("PARTIAL"));
}
