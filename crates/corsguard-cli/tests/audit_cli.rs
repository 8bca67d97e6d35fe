//! `corsguard audit` as a CI gate and as a command people type: exit statuses, usage errors,
//! `--targets` files, several targets, the human table and SARIF.

mod audit_fixture;

use std::process::{Command, Output};

use audit_fixture::Behaviour;
use serde_json::Value;

const TRUSTED: &str = "http://api.example.com";

/// Serves `behaviours` on loopback for as long as the returned runtime lives.
fn servers(behaviours: &[Behaviour]) -> (tokio::runtime::Runtime, Vec<String>) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let urls = behaviours
        .iter()
        .map(|b| format!("http://{}/api/me", runtime.block_on(audit_fixture::serve(*b, TRUSTED))))
        .collect();
    (runtime, urls)
}

fn corsguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_corsguard")).arg("audit").args(args).output().expect("run corsguard")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn fail_on_gates_on_the_worst_finding() {
    let (_rt, urls) = servers(&[Behaviour::Reflection, Behaviour::Wildcard]);
    let reflect = corsguard(&[&urls[0], "--trusted-origin", TRUSTED, "--fail-on", "critical"]);
    assert_eq!(reflect.status.code(), Some(1), "{}", stdout(&reflect));
    // Only a low finding: a `medium` gate passes, a `low` gate fails.
    let medium = corsguard(&[&urls[1], "--trusted-origin", TRUSTED, "--fail-on", "medium"]);
    assert_eq!(medium.status.code(), Some(0), "{}", stdout(&medium));
    let low = corsguard(&[&urls[1], "--trusted-origin", TRUSTED, "--fail-on", "low"]);
    assert_eq!(low.status.code(), Some(1), "{}", stdout(&low));
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "no target"),
        (&["ftp://127.0.0.1/"], "only http:// and https://"),
        (&["not a url"], "is not a URL"),
        (&["http://127.0.0.1:9/", "--trusted-origin", "https://app.example.com/"], "--trusted-origin"),
        (&["http://127.0.0.1:9/", "--trusted-origin", "HTTPS://APP.example.com"], "canonical"),
        (&["http://127.0.0.1:9/", "-H", "no colon"], "'Name: value'"),
        (&["http://127.0.0.1:9/", "-H", "Origin: https://x.example"], "sets `origin` itself"),
        (&["http://127.0.0.1:9/", "--rate", "fast"], "not a rate"),
        (&["http://127.0.0.1:9/", "--timeout", "0"], "not a timeout"),
        (&["http://127.0.0.1:9/", "--rate", "1e-300/s"], "not a rate"),
        (&["http://127.0.0.1:9/", "--rate", "1e300/s"], "not a rate"),
        (&["http://127.0.0.1:9/", "--rate", "NaN/s"], "not a rate"),
        (&["http://127.0.0.1:9/", "--timeout", "1e-300"], "not a timeout"),
        (&["http://127.0.0.1:9/", "--timeout", "1e300"], "not a timeout"),
        (&["http://127.0.0.1:9/", "--concurrency", "0"], "concurrency"),
        (&["http://127.0.0.1:9/", "--concurrency", "99999999999"], "concurrency"),
        (&["http://127.0.0.1:9/", "--fail-on", "severe"], "severe"),
        (&["--targets", "/nonexistent/corsguard-targets.txt"], "cannot read"),
    ];
    for (args, message) in cases {
        let output = corsguard(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(message), "{args:?}: {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
}

#[test]
fn targets_file_skips_comments_and_reports_one_object_per_target() {
    let (_rt, urls) = servers(&[Behaviour::NullOrigin, Behaviour::Correct]);
    let dir = std::env::temp_dir().join(format!("corsguard-audit-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("targets.txt");
    let content = format!("# staging API\n{}\n\n   # the other one\n{}\n", urls[0], urls[1]);
    std::fs::write(&file, content).expect("write targets");
    let output = corsguard(&[
        "--targets",
        file.to_str().unwrap_or_default(),
        "--trusted-origin",
        TRUSTED,
        "--format",
        "json",
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let reports = json.as_array().expect("an array for several targets");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["target"], urls[0].as_str());
    assert_eq!(reports[1]["target"], urls[1].as_str());
    let ids: Vec<&str> =
        reports[0]["findings"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).collect();
    assert!(ids.contains(&"null-origin"), "{json:#}");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn bad_line_in_targets_file_is_a_usage_error_with_its_line() {
    let dir = std::env::temp_dir().join(format!("corsguard-audit-bad-targets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("targets.txt");
    std::fs::write(&file, "# ok\nhttp://127.0.0.1:9/\nnonsense\n").expect("write targets");
    let output = corsguard(&["--targets", file.to_str().unwrap_or_default()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("targets.txt:3:"), "{}", stderr(&output));
}

#[test]
fn human_table_lists_the_most_severe_first_with_help() {
    let (_rt, urls) = servers(&[Behaviour::Reflection]);
    let output = corsguard(&[&urls[0], "--trusted-origin", TRUSTED]);
    let text = stdout(&output);
    assert!(!text.contains('\x1b'), "no colours off a terminal: {text}");
    assert!(text.contains("SEVERITY"), "{text}");
    let severities: Vec<usize> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|w| ["critical", "high", "medium", "low", "info"].iter().position(|s| *s == w))
        .collect();
    assert!(!severities.is_empty(), "{text}");
    assert!(severities.windows(2).all(|w| w[0] <= w[1]), "most severe first: {text}");
    assert!(text.lines().next().is_some_and(|l| l.contains(&urls[0])), "{text}");
    assert!(text.contains("critical  origin-reflection"), "{text}");
    assert!(text.contains("help: origin-reflection:"), "{text}");
    assert!(text.contains("finding(s) (") && text.contains("critical"), "{text}");
}

#[test]
fn sarif_output_is_a_sarif_2_1_0_log() {
    let (_rt, urls) = servers(&[Behaviour::PrefixMatch]);
    let output = corsguard(&[&urls[0], "--trusted-origin", TRUSTED, "--format", "sarif"]);
    let log: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "corsguard");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(rules.contains(&"prefix-match"), "{log:#}");
    let result = run["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["ruleId"] == "prefix-match")
        .expect("a prefix-match result");
    assert_eq!(result["level"], "error");
    assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], urls[0].as_str());
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}

#[test]
fn help_teaches_with_examples() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_corsguard")).args(["audit", "--help"]).output().expect("run");
    let text = stdout(&output);
    for needle in [
        "--trusted-origin",
        "--fail-on",
        "--targets",
        "Examples:",
        "corsguard audit http://127.0.0.1:8080",
        "Exit status",
    ] {
        assert!(text.contains(needle), "{needle} missing: {text}");
    }
}

#[test]
fn same_origin_redirects_are_followed_and_others_only_reported() {
    let (_rt, urls) = servers(&[Behaviour::Reflection]);
    let base = urls[0].trim_end_matches("/api/me");
    let moved = format!("{base}/old");
    let output = corsguard(&[&moved, "--trusted-origin", TRUSTED, "--format", "json"]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let notes = json["notes"].to_string();
    assert!(notes.contains("redirects (301)") && notes.contains("same origin"), "{json:#}");
    let reflection =
        json["findings"].as_array().into_iter().flatten().find(|f| f["id"] == "origin-reflection");
    assert_eq!(reflection.map(|f| f["url"].clone()), Some(Value::from(urls[0].as_str())), "{json:#}");

    let sso = format!("{base}/sso");
    let output = corsguard(&[&sso, "--trusted-origin", TRUSTED, "--format", "json"]);
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let notes = json["notes"].to_string();
    assert!(notes.contains("another origin") && notes.contains("not followed"), "{json:#}");
    assert!(json["findings"].as_array().into_iter().flatten().all(|f| f["url"] == sso.as_str()), "{json:#}");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn rate_spreads_the_probes_out() {
    let (_rt, urls) = servers(&[Behaviour::Correct]);
    let started = std::time::Instant::now();
    let output = corsguard(&[&urls[0], "--trusted-origin", TRUSTED, "--rate", "50/s", "--concurrency", "4"]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // About 55 requests at 50 per second cannot finish in under a second.
    assert!(elapsed >= std::time::Duration::from_secs(1), "{elapsed:?}");
}
