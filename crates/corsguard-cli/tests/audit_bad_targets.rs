//! Broken targets give each a clear error of their own, while the other targets are audited:
//! a closed port, TLS spoken to a plain-HTTP server, a server that never answers, one that sends
//! garbage and one that sends a 10 MB header.

mod audit_fixture;

use std::process::Command;
use std::time::{Duration, Instant};

use audit_fixture::Behaviour;
use serde_json::Value;
use test_support::upstream::dead_addr;

#[test]
fn every_broken_target_gets_its_own_clear_error_and_the_others_complete() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (closed, plain, silent, garbage, huge, good) = runtime.block_on(async {
        (
            dead_addr().await,
            audit_fixture::serve(Behaviour::Correct, "https://app.example.com").await,
            audit_fixture::silent().await,
            audit_fixture::garbage().await,
            audit_fixture::huge_header().await,
            audit_fixture::serve(Behaviour::Reflection, "http://api.example.com").await,
        )
    });
    let targets = [
        (format!("http://{closed}/"), "connection refused"),
        (format!("https://{plain}/api/me"), "plain http:// on this port"),
        (format!("http://{silent}/"), "timed out after 1s while waiting for the response headers"),
        (format!("http://{garbage}/"), "malformed HTTP response"),
        (format!("http://{huge}/"), "exceeds 64 KiB"),
    ];
    let good = format!("http://{good}/api/me");
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_corsguard"))
        .args(["audit", "--format", "json", "--timeout", "1"])
        .args(targets.iter().map(|(url, _)| url.as_str()))
        .arg(&good)
        .output()
        .expect("run corsguard");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let json: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{stderr}", String::from_utf8_lossy(&output.stdout)));
    let reports = json.as_array().expect("one object per target");
    assert_eq!(reports.len(), targets.len() + 1);
    for ((url, expected), report) in targets.iter().zip(reports) {
        assert_eq!(report["target"], url.as_str());
        let error = report["error"].as_str().unwrap_or_else(|| panic!("no error for {url}: {report:#}"));
        assert!(error.contains(expected), "{url}: expected {expected:?} in {error:?}");
        assert_eq!(report["findings"], serde_json::json!([]));
        assert!(stderr.contains(&format!("error: {url}: ")), "{url} not on stderr: {stderr}");
    }
    let last = &reports[targets.len()];
    assert!(last.get("error").is_none(), "{last:#}");
    let ids: Vec<&str> =
        last["findings"].as_array().into_iter().flatten().filter_map(|f| f["id"].as_str()).collect();
    assert!(ids.contains(&"origin-reflection"), "{last:#}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Some targets could not be audited: exit 3, unless a --fail-on finding makes it 1.
    assert_eq!(output.status.code(), Some(3), "{stderr}");
}

#[test]
fn a_broken_target_with_a_failing_finding_elsewhere_exits_1() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (closed, good) = runtime.block_on(async {
        (dead_addr().await, audit_fixture::serve(Behaviour::Reflection, "http://api.example.com").await)
    });
    let output = Command::new(env!("CARGO_BIN_EXE_corsguard"))
        .args(["audit", "--fail-on", "high", &format!("http://{closed}/"), &format!("http://{good}/")])
        .output()
        .expect("run corsguard");
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("could not be audited"), "{text}");
    assert!(text.contains("connection refused"), "{text}");
}
