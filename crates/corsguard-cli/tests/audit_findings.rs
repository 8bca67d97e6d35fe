//! `corsguard audit` against one deliberately misconfigured server per finding id: the real
//! binary, JSON output, parsed. Correct servers (hand-written and corsguard's own engine) must get
//! nothing of medium severity or worse.

mod audit_fixture;

use std::process::{Command, Output};

use audit_fixture::{Behaviour, CASES};
use serde_json::Value;

/// Starts the fixture server `name` and audits it with its trusted origin.
fn audit_case(name: &str, extra: &[&str]) -> (Value, Output) {
    let &(_, behaviour, trusted) = CASES.iter().find(|c| c.0 == name).expect("known fixture");
    audit_behaviour(behaviour, trusted, &["--trusted-origin", trusted], extra)
}

fn audit_behaviour(
    behaviour: Behaviour,
    trusted: &'static str,
    args: &[&str],
    extra: &[&str],
) -> (Value, Output) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let addr = runtime.block_on(audit_fixture::serve(behaviour, trusted));
    let url = format!("http://{addr}/api/me");
    let output = Command::new(env!("CARGO_BIN_EXE_corsguard"))
        .args(["audit", &url, "--format", "json", "--timeout", "5"])
        .args(args)
        .args(extra)
        .output()
        .expect("run corsguard");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(json["target"], url.as_str(), "{json:#}");
    (json, output)
}

fn findings(json: &Value) -> Vec<&Value> {
    json["findings"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
}

fn ids(json: &Value) -> Vec<&str> {
    findings(json).iter().filter_map(|f| f["id"].as_str()).collect()
}

fn finding<'a>(json: &'a Value, id: &str) -> &'a Value {
    findings(json)
        .into_iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id} finding in {json:#}"))
}

/// Every finding has the contract's shape.
fn assert_shape(json: &Value) {
    for f in findings(json) {
        for key in ["id", "severity", "url", "origin_sent", "evidence"] {
            assert!(f.get(key).is_some(), "{key} missing in {f:#}");
        }
        assert!(f["credentials"].is_boolean(), "{f:#}");
        assert!(f["evidence"].is_object(), "{f:#}");
        assert!(["critical", "high", "medium", "low", "info"].contains(&f["severity"].as_str().unwrap_or("")));
    }
}

macro_rules! detects {
    ($($test:ident => $id:literal;)*) => {$(
        #[test]
        fn $test() {
            let (json, output) = audit_case($id, &[]);
            assert_shape(&json);
            assert!(ids(&json).contains(&$id), "{} not reported: {json:#}", $id);
            assert!(output.status.success(), "no --fail-on, so exit 0: {:?}", output.status);
        }
    )*};
}

detects! {
    detects_origin_reflection => "origin-reflection";
    detects_null_origin => "null-origin";
    detects_prefix_match => "prefix-match";
    detects_suffix_match => "suffix-match";
    detects_unescaped_dot => "unescaped-dot";
    detects_special_characters => "special-characters";
    detects_http_origin_trusted => "http-origin-trusted";
    detects_any_subdomain_trusted => "any-subdomain-trusted";
    detects_third_party_origin => "third-party-origin";
    detects_wildcard_origin => "wildcard-origin";
    detects_wildcard_with_credentials => "wildcard-with-credentials";
    detects_missing_vary_origin => "missing-vary-origin";
    detects_preflight_reflects_headers => "preflight-reflects-headers";
    detects_preflight_any_method => "preflight-any-method";
    detects_multiple_acao => "multiple-acao";
    detects_invalid_acac => "invalid-acac";
}

#[test]
fn reflection_with_credentials_is_critical_with_evidence() {
    let (json, _) = audit_case("origin-reflection", &[]);
    let f = finding(&json, "origin-reflection");
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["credentials"], true);
    assert_eq!(f["origin_sent"], "http://corsguard-probe.evil.net");
    assert_eq!(f["evidence"]["acao"], f["origin_sent"]);
    assert_eq!(f["evidence"]["acac"], "true");
    assert_eq!(f["evidence"]["status"], 200);
    assert!(f["url"].as_str().is_some_and(|u| u.ends_with("/api/me")));
    // Nothing stops at the first hit: the classes a reflecting server also fails are all there.
    for id in ["null-origin", "prefix-match", "suffix-match", "third-party-origin", "any-subdomain-trusted"] {
        assert!(ids(&json).contains(&id), "{id} missing: {json:#}");
    }
}

#[test]
fn each_class_reports_its_own_origin() {
    let cases = [
        ("null-origin", "null"),
        ("prefix-match", "http://api.example.com.evil.net"),
        ("suffix-match", "http://evilexample.com"),
        ("special-characters", "http://api.example.com_.evil.net"),
        ("http-origin-trusted", "http://api.example.com"),
        ("third-party-origin", "https://corsguard-probe.github.io"),
    ];
    for (id, origin) in cases {
        let (json, _) = audit_case(id, &[]);
        assert_eq!(finding(&json, id)["origin_sent"], origin, "{json:#}");
    }
}

#[test]
fn unescaped_dot_lists_every_look_alike_accepted() {
    let (json, _) = audit_case("unescaped-dot", &[]);
    let f = finding(&json, "unescaped-dot");
    let mut accepted = vec![f["origin_sent"].as_str().unwrap_or_default().to_owned()];
    for o in f["evidence"]["also_accepted"].as_array().into_iter().flatten() {
        accepted.push(o.as_str().unwrap_or_default().to_owned());
    }
    assert!(accepted.contains(&"http://apixexample.com".to_owned()), "{accepted:?}");
    assert!(accepted.contains(&"http://api.examplexcom".to_owned()), "{accepted:?}");
    assert!(!ids(&json).contains(&"origin-reflection"), "{json:#}");
}

#[test]
fn preflight_findings_carry_the_preflight_evidence() {
    let (json, _) = audit_case("preflight-reflects-headers", &[]);
    let f = finding(&json, "preflight-reflects-headers");
    assert_eq!(f["evidence"]["request"], "OPTIONS (preflight)");
    assert_eq!(f["evidence"]["acah"], "x-corsguard-probe");
    assert_eq!(f["evidence"]["status"], 204);
    assert_eq!(f["severity"], "medium", "credentials are allowed: {f:#}");

    let (json, _) = audit_case("preflight-any-method", &[]);
    let f = finding(&json, "preflight-any-method");
    assert_eq!(f["evidence"]["acam"], "CORSGUARD-PROBE");
}

#[test]
fn duplicate_acao_and_bad_acac_are_shown_as_sent() {
    let (json, _) = audit_case("multiple-acao", &[]);
    let f = finding(&json, "multiple-acao");
    assert_eq!(f["evidence"]["acao_fields"].as_array().map(Vec::len), Some(2), "{f:#}");

    let (json, _) = audit_case("invalid-acac", &[]);
    let f = finding(&json, "invalid-acac");
    assert_eq!(f["evidence"]["acac"], "True");
    assert_eq!(f["credentials"], false, "browsers only accept exactly `true`");
}

#[test]
fn wildcard_without_credentials_is_low_and_with_credentials_is_not_a_wildcard_origin() {
    let (json, _) = audit_case("wildcard-origin", &[]);
    assert_eq!(finding(&json, "wildcard-origin")["severity"], "low");
    let (json, _) = audit_case("wildcard-with-credentials", &[]);
    assert_eq!(finding(&json, "wildcard-with-credentials")["credentials"], true);
    assert!(!ids(&json).contains(&"wildcard-origin"), "{json:#}");
}

#[test]
fn missing_vary_names_the_cache_headers() {
    let (json, _) = audit_case("missing-vary-origin", &[]);
    let f = finding(&json, "missing-vary-origin");
    assert_eq!(f["evidence"]["cache_control"], "public, max-age=600");
    assert_eq!(f["evidence"]["vary"], Value::Null);
    assert_eq!(f["severity"], "medium", "shared caches may keep it: {f:#}");
}

fn assert_nothing_serious(json: &Value) {
    assert_shape(json);
    let serious: Vec<&Value> = findings(json)
        .into_iter()
        .filter(|f| ["critical", "high", "medium"].contains(&f["severity"].as_str().unwrap_or("")))
        .collect();
    assert!(serious.is_empty(), "a correct server got {serious:#?}");
}

#[test]
fn a_correct_server_gets_nothing_serious() {
    let (json, output) = audit_case("correct", &["--fail-on", "medium"]);
    assert_nothing_serious(&json);
    assert!(output.status.success(), "{:?}", output.status);
}

#[test]
fn corsguards_own_engine_gets_nothing_serious() {
    let (json, output) = audit_case("corsguard-engine", &["--fail-on", "low"]);
    assert_nothing_serious(&json);
    assert!(findings(&json).is_empty(), "{json:#}");
    assert!(output.status.success(), "{:?}", output.status);
}

#[test]
fn corsguards_tower_layer_in_front_of_axum_gets_nothing_serious() {
    let (json, output) = audit_case("corsguard-tower", &["--fail-on", "low"]);
    assert_nothing_serious(&json);
    assert!(findings(&json).is_empty(), "{json:#}");
    assert!(output.status.success(), "{:?}", output.status);
}

#[test]
fn corsguards_own_engine_with_its_own_origin_as_the_default_trusted_origin() {
    // Without --trusted-origin the probes derive from the target's origin (http://127.0.0.1:PORT),
    // which this policy does not trust: still nothing to find.
    let (json, _) = audit_behaviour(Behaviour::CorsguardEngine, "https://app.example.com", &[], &[]);
    assert!(findings(&json).is_empty(), "{json:#}");
}

#[test]
fn without_a_trusted_origin_the_targets_own_origin_is_used() {
    let (json, _) = audit_behaviour(Behaviour::Reflection, "http://api.example.com", &[], &[]);
    let f = finding(&json, "origin-reflection");
    assert_eq!(
        f["evidence"]["trusted_origin"].as_str().map(|t| t.starts_with("http://127.0.0.1:")),
        Some(true)
    );
    assert!(ids(&json).contains(&"prefix-match"), "{json:#}");
}

#[test]
fn credentials_sent_with_dash_h_raise_the_severity() {
    let trusted = "http://api.example.com";
    let args = ["--trusted-origin", trusted];
    let (anonymous, _) = audit_behaviour(Behaviour::ReflectionWhenLoggedIn, trusted, &args, &[]);
    let f = finding(&anonymous, "origin-reflection");
    assert_eq!((f["severity"].as_str(), f["credentials"].as_bool()), (Some("medium"), Some(false)));

    let (logged_in, _) =
        audit_behaviour(Behaviour::ReflectionWhenLoggedIn, trusted, &args, &["-H", "Cookie: session=alice"]);
    let f = finding(&logged_in, "origin-reflection");
    assert_eq!((f["severity"].as_str(), f["credentials"].as_bool()), (Some("critical"), Some(true)));
}
