//! `corsguard serve` as an operator runs it: the real binary, its JSON logs, its admin
//! listener, SIGHUP and SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::Value;
use test_support::gateway::*;

const BIN: &str = env!("CARGO_BIN_EXE_corsguard");

/// The gateway process and its log lines, parsed.
struct Serve {
    child: Child,
    logs: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    /// Lines before this index have been waited past: a wait only matches what came after
    /// the previous match, so an old line cannot stand in for a new event.
    unread: usize,
}

impl Serve {
    fn start(config: &std::path::Path) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--log-format", "json", "--config"])
            .arg(config)
            .env_remove("CORSGUARD_PROFILE")
            .env_remove("CORSGUARD_LOG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("corsguard runs");
        let stderr = child.stderr.take().unwrap();
        let (tx, logs) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Serve { child, logs, seen: Vec::new(), unread: 0 }
    }

    /// Waits up to 10 s for a log line with this message.
    fn wait_for(&mut self, message: &str) -> Value {
        self.wait_until(|v| v["message"] == message, message)
    }

    /// Waits up to 10 s for a log line that matches, written after the line the previous wait
    /// matched.
    fn wait_until(&mut self, matches: impl Fn(&Value) -> bool, what: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        if let Some(at) = self.seen[self.unread..].iter().position(&matches) {
            self.unread += at + 1;
            return self.seen[self.unread - 1].clone();
        }
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.logs.recv_timeout(left) {
                Ok(value) => {
                    self.seen.push(value.clone());
                    if matches(&value) {
                        self.unread = self.seen.len();
                        return value;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no `{what}` log line; saw: {:#?}", self.seen);
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(ok.unwrap().success());
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "corsguard did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    test_support::tempdir::write_file("corsguard-cli", name, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reloads_on_sighup_refuses_a_broken_file_and_drains_on_sigterm() {
    let up = upstream().await;
    let config_text = format!(
        "{POLICY}\n[gateway]\nlisten = \"127.0.0.1:0\"\nupstream = \"{}\"\nadmin = \"127.0.0.1:0\"\nshutdown_timeout = 10\n",
        up.url()
    );
    let config = temp_file("corsguard.toml", &config_text);
    let mut serve = Serve::start(&config);
    let started = serve.wait_for("corsguard gateway listening");
    assert_eq!(started["profile"], "development");
    assert_eq!(started["mode"], "enforce");
    let listen: std::net::SocketAddr = started["listen"].as_str().unwrap().parse().unwrap();
    let admin = started["admin"].as_str().unwrap().to_owned();
    let client = Http::new(listen);

    let reply = client.get("/api/items", Some(ALLOWED)).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));

    let refused = client.preflight("/api/items", FOREIGN, "GET", None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let line = serve.wait_for("request refused by the CORS policy");
    assert_eq!(line["reason"], "origin-not-allowed");
    assert_eq!(line["origin"], FOREIGN);
    assert_eq!(line["level"], "INFO");

    let admin_client = Http::new(admin.parse().unwrap());
    assert_eq!(admin_client.get("/healthz", None).await.status, StatusCode::OK);
    assert_eq!(admin_client.get("/readyz", None).await.status, StatusCode::OK);
    let metrics = admin_client.get("/metrics", None).await;
    assert!(metrics.header("content-type").unwrap().contains("openmetrics"));
    assert!(metrics.text().contains(
        r#"corsguard_requests_total{kind="preflight",verdict="refused",reason="origin-not-allowed"} 1"#
    ));

    // A broken file, then SIGHUP: refused with its diagnostics, the old policy serves on.
    std::fs::write(&config, config_text.replace("\"http://localhost:3000\"", "\"null\"")).unwrap();
    serve.signal("HUP");
    let diag = serve.wait_until(|v| v["code"] == "null-origin", "null-origin diagnostic");
    assert_eq!(diag["level"], "ERROR");
    assert!(diag["line"].as_u64().unwrap() > 0);
    serve.wait_for("policy reload refused; the previous policy keeps serving");
    let reply = client.get("/api/items", Some(ALLOWED)).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    let metrics = admin_client.get("/metrics", None).await.text();
    assert!(metrics.contains(r#"corsguard_reloads_total{result="failed"} 1"#), "{metrics}");

    // SIGTERM while a request is in flight: it completes, then the process exits 0.
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.get("/slow", Some(ALLOWED)).await }
    });
    for _ in 0..500 {
        if up.last().path == "/slow" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The signal must find the request in flight, or the test shows nothing about draining.
    assert_eq!(up.last().path, "/slow", "the slow request never reached the upstream");
    serve.signal("TERM");
    serve.wait_for("shutting down: draining in-flight requests");
    let reply = slow.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "slow");
    let status = tokio::task::block_in_place(|| serve.wait_exit());
    assert!(status.success(), "{status:?}");
    serve.wait_for("all connections drained; bye");
}

#[test]
fn configuration_errors_exit_with_a_reason() {
    let no_upstream = temp_file("a.toml", POLICY);
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&no_upstream).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no upstream"));

    let broken = temp_file("b.toml", &POLICY.replace("\"http://localhost:3000\"", "\"null\""));
    let out = Command::new(BIN)
        .args(["serve", "--upstream", "http://127.0.0.1:9", "--config"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("null-origin"), "{stderr}");

    let out = Command::new(BIN).args(["serve", "--config", "/nonexistent/corsguard.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let bad_mode = temp_file("c.toml", &format!("{POLICY}\n[gateway]\nmode = \"loud\"\n"));
    let out = Command::new(BIN)
        .args(["serve", "--upstream", "http://127.0.0.1:9", "--config"])
        .arg(&bad_mode)
        .output()
        .unwrap();
    // A bad value in the file is an error in the file, as `corsguard check` reports it: exit 1,
    // with the code and the line.
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mode is \"enforce\" or \"report\""), "{stderr}");
    assert!(stderr.contains("invalid-gateway-value") && stderr.contains("line="), "{stderr}");
}

#[test]
fn help_teaches_with_examples() {
    for command in ["serve", "demo"] {
        let out = Command::new(BIN).args([command, "--help"]).output().unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Examples:"), "{command} --help has examples:\n{help}");
        assert!(help.contains(&format!("corsguard {command}")));
    }
}
