//! `corsguard check` and `corsguard explain` as a user runs them: exit codes, the JSON
//! contracts, SARIF, and human output.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn corsguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corsguard"))
        .args(args)
        .env_remove("CORSGUARD_PROFILE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run corsguard")
}

fn example() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/corsguard.toml").display().to_string()
}

fn temp_policy(name: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("corsguard-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn check_example_passes_with_a_warning() {
    let out = corsguard(&["check", &example()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("warning[wildcard-origin-in-production]"), "{text}");
    assert!(text.contains("0 error(s), 1 warning(s)"), "{text}");
}

#[test]
fn check_json_contract_and_exit_1_on_errors() {
    let path = temp_policy(
        "bad.toml",
        "[policy]\ncredentials = true\n[profiles.production]\norigins = [\"*\", \"https://app.example.com/\"]\n",
    );
    let out = corsguard(&["check", &path, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["errors"], 2);
    assert_eq!(v["warnings"].as_u64(), Some(0));
    let first = &v["diagnostics"][0];
    for key in ["code", "severity", "message", "profile", "line", "column", "help"] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert_eq!(first["code"], "wildcard-with-credentials");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["profile"], "production");
    assert_eq!((first["line"].as_u64(), first["column"].as_u64()), (Some(4), Some(12)));
    assert_eq!(v["diagnostics"][1]["code"], "origin-has-path");
}

#[test]
fn check_parse_errors_exit_1_and_unreadable_files_exit_2() {
    let path = temp_policy("broken.toml", "[policy\n");
    let out = corsguard(&["check", &path, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["diagnostics"][0]["code"], "parse-error");

    let out = corsguard(&["check", "/nonexistent/corsguard.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    let out = corsguard(&["check", &example(), "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_unknown_profile_is_an_error_with_help() {
    let out = corsguard(&["check", &example(), "--profile", "prod", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["diagnostics"][0]["code"], "unknown-profile");
    assert!(v["diagnostics"][0]["help"].as_str().unwrap().contains("production"));
}

#[test]
fn check_sarif_is_a_2_1_0_log() {
    let path = temp_policy("sarif.toml", "[profiles.dev]\norigins = [\"null\"]\n");
    let out = corsguard(&["check", &path, "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["version"], "2.1.0");
    let result = &v["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "null-origin");
    assert_eq!(result["level"], "error");
    assert_eq!(result["locations"][0]["physicalLocation"]["region"]["startLine"], 2);
    assert_eq!(v["runs"][0]["tool"]["driver"]["rules"][0]["id"], "null-origin");
}

#[test]
fn explain_preflight_json() {
    let out = corsguard(&[
        "explain",
        "--config",
        &example(),
        "-X",
        "OPTIONS",
        "-H",
        "Origin: https://app.example.com",
        "-H",
        "Access-Control-Request-Method: PUT",
        "-H",
        "Access-Control-Request-Headers: authorization",
        "--format",
        "json",
        "/api/items",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["kind"], "preflight");
    assert_eq!(v["allowed"], true);
    assert_eq!(v["forwarded"], false);
    assert_eq!(v["status"], 204);
    assert_eq!(v["reason"], "allowed");
    assert_eq!(v["headers"]["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(v["headers"]["access-control-allow-credentials"], "true");
    assert_eq!(v["headers"]["access-control-max-age"], "7200");
}

#[test]
fn explain_attack_and_not_cors_json() {
    let out = corsguard(&[
        "explain",
        "--config",
        &example(),
        "-H",
        "Origin: https://app.example.com.evil.net",
        "--format",
        "json",
        "/api/items",
    ]);
    let v = json(&out);
    assert_eq!(v["kind"], "actual");
    assert_eq!(v["allowed"], false);
    assert_eq!(v["forwarded"], true);
    assert_eq!(v["status"], Value::Null);
    assert_eq!(v["reason"], "origin-not-allowed");
    assert_eq!(v["headers"], serde_json::json!({ "vary": "Origin" }));

    let out = corsguard(&["explain", "--config", &example(), "--format", "json"]);
    let v = json(&out);
    assert_eq!((v["kind"].as_str(), v["reason"].as_str()), (Some("not_cors"), Some("no-origin")));
}

#[test]
fn explain_profile_from_environment_and_flag() {
    let run = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_corsguard"));
        cmd.args([
            "explain",
            "--config",
            &example(),
            "-H",
            "Origin: http://localhost:5173",
            "--format",
            "json",
        ]);
        if let Some(flag) = flag {
            cmd.args(["--profile", flag]);
        }
        cmd.env_remove("CORSGUARD_PROFILE");
        if let Some(env) = env {
            cmd.env("CORSGUARD_PROFILE", env);
        }
        let v: Value = serde_json::from_slice(&cmd.output().unwrap().stdout).unwrap();
        v["allowed"].as_bool().unwrap()
    };
    assert!(!run(None, None), "default_profile is production");
    assert!(run(Some("development"), None));
    assert!(!run(Some("development"), Some("production")), "--profile wins over the environment");
}

#[test]
fn explain_human_output_and_usage_errors() {
    let out = corsguard(&[
        "explain",
        "--config",
        &example(),
        "--profile",
        "development",
        "-X",
        "POST",
        "-H",
        "Origin: https://evil.example.net",
        "/api/items",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("refused, answered by corsguard with 403 Forbidden"), "{text}");
    assert!(text.contains("cross-origin-request"), "{text}");

    let out = corsguard(&["explain", "--config", &example(), "-H", "no colon here"]);
    assert_eq!(out.status.code(), Some(2));
    let out = corsguard(&["explain", "--config", &example(), "-X", "BAD METHOD"]);
    assert_eq!(out.status.code(), Some(2));

    let bad = temp_policy("explain-bad.toml", "[profiles.p]\norigins = [\"null\"]\n");
    let out = corsguard(&["explain", "--config", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("null-origin"));
}

#[test]
fn help_teaches_with_examples() {
    for sub in ["check", "explain"] {
        let out = corsguard(&[sub, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Examples:"), "{sub}: {text}");
        assert!(text.contains("examples/corsguard.toml") || text.contains("corsguard.toml"), "{text}");
    }
}
