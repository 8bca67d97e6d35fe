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
    test_support::tempdir::write_file("corsguard-cli-test", name, text).display().to_string()
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

/// Whatever `serve` would refuse in `[gateway]`, `check` refuses first, at the right place.
#[test]
fn check_refuses_what_serve_would_refuse_in_the_gateway_table() {
    let policy = "[policy]\norigins = [\"https://app.example.com\"]\n";
    let cases = [
        ("mode = \"loud\"", "invalid-gateway-value", 8),
        ("upstream = \"ftp://127.0.0.1:3000\"", "invalid-upstream", 12),
        ("connect_timeout = 1e300", "invalid-gateway-value", 19),
        ("upstream_timeout = 99999999999999999999", "parse-error", 20),
        ("upstream_max_connections = -1", "invalid-gateway-value", 28),
        ("upstream_client = \"curl\"", "invalid-gateway-value", 19),
        ("listen = \"8080\"", "invalid-gateway-value", 10),
        ("tls_key = \"key.pem\"", "invalid-gateway-value", 11),
        ("upstrem = \"http://127.0.0.1:3000\"", "unknown-key", 1),
    ];
    for (line, code, column) in cases {
        let path = temp_policy("gateway-check.toml", &format!("{policy}[gateway]\n{line}\n"));
        let out = corsguard(&["check", &path, "--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "{line}");
        let v = json(&out);
        let d = &v["diagnostics"][0];
        assert_eq!(
            (d["code"].as_str(), d["line"].as_u64(), d["column"].as_u64()),
            (Some(code), Some(4), Some(column)),
            "{line}: {v}"
        );

        // serve refuses the same file, with the same code, before it listens anywhere. The
        // file's upstream is the one under test in one case; elsewhere `--upstream` fills in
        // what the file leaves out.
        let mut args = vec!["serve", "--config", &path, "--listen", "127.0.0.1:0"];
        if code != "invalid-upstream" {
            args.extend(["--upstream", "http://127.0.0.1:9"]);
        }
        let out = Command::new(env!("CARGO_BIN_EXE_corsguard"))
            .args(&args)
            .env_remove("CORSGUARD_PROFILE")
            .output()
            .expect("run corsguard serve");
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{line}: {log}");
        assert!(log.contains(code) && log.contains("line=4"), "{line}: {log}");
    }
    // A file without [gateway], or with a valid one and no upstream, is fine for check.
    let path = temp_policy("gateway-ok.toml", &format!("{policy}[gateway]\nmode = \"report\"\n"));
    assert_eq!(corsguard(&["check", &path]).status.code(), Some(0));
}

#[test]
fn serve_reports_a_syntax_error_as_the_parse_error_with_its_line() {
    let path = temp_policy("syntax.toml", "[policy]\norigins = [\"https://app.example.com\"\n[gateway]\n");
    let out = Command::new(env!("CARGO_BIN_EXE_corsguard"))
        .args(["serve", "--config", &path, "--listen", "127.0.0.1:0"])
        .env_remove("CORSGUARD_PROFILE")
        .output()
        .expect("run corsguard serve");
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    // The parser notices the missing `]` where the next line starts.
    assert!(log.contains("parse-error") && log.contains("line=3"), "{log}");
    assert!(!log.contains("no upstream"), "{log}");
}

#[test]
fn check_explain_prints_every_code_and_refuses_unknown_ones() {
    for code in corsguard::LintCode::ALL {
        let out = corsguard(&["check", "--explain", code.as_str()]);
        assert_eq!(out.status.code(), Some(0), "{code}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with(&format!("{code} ({})\n\n", code.severity().as_str())), "{text}");
        assert!(text.contains(code.explanation()), "{code}");
    }
    let out = corsguard(&["check", "--explain", "no-such-code"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a corsguard lint code"));
    assert!(out.stdout.is_empty());
}

/// The README's table of lint codes lists every code once, in the right column.
#[test]
fn the_readme_lists_every_lint_code() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let start = readme.find("| errors | warnings |").expect("the README has the lint-code table");
    let row = readme[start..].lines().nth(2).expect("the table's row");
    let columns: Vec<&str> = row.trim_matches('|').split('|').collect();
    assert_eq!(columns.len(), 2, "{row}");
    let codes = |column: &str| -> Vec<String> {
        column.split(',').map(|c| c.trim().trim_matches('`').to_owned()).filter(|c| !c.is_empty()).collect()
    };
    let (errors, warnings) = (codes(columns[0]), codes(columns[1]));
    let expected = |severity: corsguard::Severity| -> Vec<String> {
        corsguard::LintCode::ALL
            .iter()
            .filter(|c| c.severity() == severity)
            .map(|c| c.as_str().to_owned())
            .collect()
    };
    assert_eq!(errors, expected(corsguard::Severity::Error), "the README's errors column");
    assert_eq!(warnings, expected(corsguard::Severity::Warning), "the README's warnings column");
}

/// Colours follow the conventions other tools honour: none into a pipe, `CLICOLOR_FORCE` turns
/// them on anyway, `NO_COLOR` wins over it.
#[test]
fn colours_honour_no_color_and_clicolor_force() {
    let path = temp_policy("colours.toml", "[policy]\norigins = [\"*\"]\ncredentials = true\n");
    let run = |env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_corsguard"));
        command.args(["check", &path]).env_remove("CORSGUARD_PROFILE");
        for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "CI"] {
            command.env_remove(var);
        }
        command.envs(env.iter().copied());
        let out = command.output().expect("run corsguard check");
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(text.contains("wildcard-with-credentials"), "{text}");
        text.contains('\x1b')
    };
    assert!(!run(&[]), "no colours into a pipe");
    assert!(run(&[("CLICOLOR_FORCE", "1")]), "CLICOLOR_FORCE colours a pipe");
    assert!(!run(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]), "NO_COLOR wins");
}
