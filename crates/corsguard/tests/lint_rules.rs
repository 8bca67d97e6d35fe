//! Every lint code, triggered by a policy file and reported at the right line and column.

use corsguard::{check_toml, Severity};

/// (policy text, code, severity, line, column). `^` marks nothing: positions are 1-based.
const CASES: &[(&str, &str, Severity, usize, usize)] = &[
    ("[policy]\ncredentials = true\n[profiles.p]\norigins = [\"*\"]\n", "wildcard-with-credentials", Severity::Error, 4, 12),
    ("[profiles.p]\norigins = [\"null\"]\n", "null-origin", Severity::Error, 2, 12),
    ("[profiles.p]\norigins = [\"https://a.example.com/\"]\n", "origin-has-path", Severity::Error, 2, 12),
    ("[profiles.p]\norigins = [\"https://u@a.example.com\"]\n", "origin-has-path", Severity::Error, 2, 12),
    ("[profiles.p]\norigins = [\"a.example.com\"]\n", "invalid-origin", Severity::Error, 2, 12),
    ("[profiles.p]\norigins = [\"https://*.github.io\"]\n", "public-suffix-wildcard", Severity::Error, 2, 12),
    ("[profiles.p]\ncredentials = true\norigins = [\"http://a.example.com\"]\n", "insecure-origin-with-credentials", Severity::Error, 3, 12),
    ("[profiles.production]\norigins = [\"http://localhost:3000\"]\n", "localhost-in-production", Severity::Error, 2, 12),
    ("[profiles.live]\nstrict = true\norigins = [\"http://127.0.0.1:*\"]\n", "localhost-in-production", Severity::Error, 3, 12),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nmethods = [\"GE T\"]\n", "invalid-method", Severity::Error, 3, 12),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nmethods = [\"get\"]\n", "invalid-method", Severity::Error, 3, 12),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nmethods = [\"TRACE\"]\n", "forbidden-method", Severity::Error, 3, 12),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nallow_headers = [\"X Y\"]\n", "invalid-header-name", Severity::Error, 3, 18),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nallow_headers = [\"Cookie\"]\n", "forbidden-header-name", Severity::Error, 3, 18),
    ("[profiles.p]\ncredentials = true\norigins = [\"https://a.example.com\"]\nallow_headers = [\"*\"]\n", "wildcard-headers-with-credentials", Severity::Error, 4, 18),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nsurprise = 1\n", "unknown-key", Severity::Error, 3, 1),
    ("default_profile = \"prod\"\n[profiles.production]\norigins = [\"https://a.example.com\"]\n", "unknown-profile", Severity::Error, 1, 19),
    ("[profiles.p]\norigins = [\"https://a.example.com\"\n", "parse-error", Severity::Error, 2, 35),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nmax_age = 86400\n", "max-age-over-browser-cap", Severity::Warning, 3, 11),
    ("[profiles.p]\norigins = [\"https://A.example.com\"]\n", "non-canonical-origin", Severity::Warning, 2, 12),
    ("[profiles.p]\norigins = [\"https://a.example.com:443\"]\n", "non-canonical-origin", Severity::Warning, 2, 12),
    ("[profiles.production]\norigins = [\"*\"]\n", "wildcard-origin-in-production", Severity::Warning, 2, 12),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nmethods = [\"GET\", \"OPTIONS\"]\n", "unneeded-method", Severity::Warning, 3, 19),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nallow_headers = [\"Accept\"]\n", "safelisted-header-listed", Severity::Warning, 3, 18),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nexpose_headers = [\"Set-Cookie\"]\n", "expose-sensitive-header", Severity::Warning, 3, 19),
    ("[profiles.p]\norigins = [\"https://a.example.com\", \"https://a.example.com\"]\n", "duplicate-entry", Severity::Warning, 2, 37),
    ("[profiles.p]\norigins = [\"https://a.example.com\", \"https://*.example.com:*\", \"https://b.example.com\"]\n", "duplicate-entry", Severity::Warning, 2, 12),
    ("[profiles.p]\norigins = [\"https://a.example.com\"]\nallow_headers = [\"*\"]\n", "authorization-not-covered-by-wildcard", Severity::Warning, 3, 18),
    ("[profiles.p]\nmethods = [\"GET\"]\n", "missing-origins", Severity::Error, 1, 11),
];

#[test]
fn each_code_at_its_place() {
    let mut failures = Vec::new();
    for (text, code, severity, line, column) in CASES {
        let diags = check_toml(text, None);
        let found = diags.iter().find(|d| d.code == *code);
        match found {
            Some(d)
                if d.severity == *severity && d.location == Some((*line, *column)) && !d.help.is_empty() => {}
            other => failures.push(format!("{code}: got {other:?}\n  all: {diags}\n  text: {text:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_example_policy_has_no_errors() {
    let text = include_str!("../../../examples/corsguard.toml");
    let diags = check_toml(text, None);
    assert_eq!(diags.errors(), 0, "{diags}");
    for profile in corsguard::profile_names(text) {
        corsguard::Policy::from_toml(text, Some(&profile)).unwrap_or_else(|d| panic!("{profile}: {d}"));
    }
}

#[test]
fn all_errors_are_collected_not_just_the_first() {
    let text = "[policy]\ncredentials = true\n[profiles.production]\norigins = [\"*\", \"null\", \"http://localhost\", \"http://a.example.com\", \"https://*.com\"]\nmethods = [\"TRACE\"]\n";
    let diags = check_toml(text, None);
    let codes: Vec<_> = diags.iter().map(|d| d.code.as_str()).collect();
    for code in [
        "wildcard-with-credentials",
        "null-origin",
        "localhost-in-production",
        "insecure-origin-with-credentials",
        "public-suffix-wildcard",
        "forbidden-method",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert!(diags.errors() >= 6);
}

#[test]
fn profile_selection() {
    let text = "default_profile = \"staging\"\n[profiles.staging]\norigins = [\"https://s.example.com\"]\n[profiles.production]\norigins = [\"https://p.example.com\"]\n";
    assert_eq!(corsguard::Policy::from_toml(text, None).unwrap().profile(), "staging");
    let prod = corsguard::Policy::from_toml(text, Some("production")).unwrap();
    assert_eq!(prod.profile(), "production");
    assert!(prod.is_strict());
    let err = corsguard::Policy::from_toml(text, Some("prodution")).unwrap_err();
    let d = err.iter().next().unwrap();
    assert_eq!(d.code, "unknown-profile");
    assert!(d.help.contains("did you mean `production`"), "{}", d.help);
    // Several profiles and no default: an error that says how to choose.
    let two = "[profiles.a]\norigins = [\"https://a.example.com\"]\n[profiles.b]\norigins = [\"https://b.example.com\"]\n";
    assert_eq!(
        corsguard::Policy::from_toml(two, None).unwrap_err().iter().next().unwrap().code,
        "unknown-profile"
    );
    // No profiles: [policy] alone is the `default` profile.
    let single = "[policy]\norigins = [\"https://a.example.com\"]\n";
    assert_eq!(corsguard::Policy::from_toml(single, None).unwrap().profile(), "default");
}

#[test]
fn profile_keys_replace_policy_keys_and_routes_replace_profile_keys() {
    let text = "[policy]\nmethods = [\"GET\"]\ncredentials = true\n[profiles.p]\norigins = [\"https://a.example.com\"]\nmethods = [\"PUT\"]\n[[routes]]\npath = \"/r/\"\nmethods = [\"DELETE\"]\n";
    let policy = corsguard::Policy::from_toml(text, None).unwrap();
    assert_eq!(policy.rules().methods(), ["PUT"]);
    assert!(policy.rules().credentials());
    let route = policy.route_for("/r/x").rules();
    assert_eq!(route.methods(), ["DELETE"]);
    assert_eq!(route.origins(), policy.rules().origins());
}
