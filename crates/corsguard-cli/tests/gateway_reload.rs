//! Hot reload and graceful shutdown of the gateway, in-process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use corsguard_gateway::metrics::Metrics;
use corsguard_gateway::proxy::{Mode, ModeSwitch};
use corsguard_gateway::reload::{Outcome, Reloader};
use corsguard_gateway::settings::{Overrides, Settings};
use http::StatusCode;
use test_support::gateway::*;

const NEW_ORIGIN: &str = "http://new.localhost:5000";

fn policy_with(origin: &str) -> String {
    POLICY.replace(
        "origins = [\"http://localhost:3000\", \"http://app.localhost:*\"]",
        &format!("origins = [\"{origin}\"]"),
    )
}

struct File(std::path::PathBuf);

impl File {
    fn new(text: &str) -> File {
        let path = test_support::tempdir::unique_path("corsguard-reload").with_extension("toml");
        std::fs::write(&path, text).unwrap();
        File(path)
    }

    fn write(&self, text: &str) {
        // Written beside and renamed, as editors and ConfigMaps do, so a reader never sees a
        // half-written file.
        let tmp = self.0.with_extension("tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.0).unwrap();
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn a_broken_policy_is_refused_and_the_old_one_keeps_serving() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let file = File::new(POLICY);
    let metrics = Metrics::new();
    let mut reloader = Reloader::new(&file.0, None, gw.policy.clone(), POLICY).with_metrics(metrics.clone());

    assert_eq!(reloader.check(false).await, Outcome::Unchanged);

    // Not TOML, then valid TOML with a lint error: both refused.
    file.write("[policy\norigins = [");
    assert_eq!(reloader.check(false).await, Outcome::Refused);
    assert_eq!(reloader.check(false).await, Outcome::Unchanged, "a broken file is reported once");
    file.write(&policy_with("*"));
    assert_eq!(reloader.check(false).await, Outcome::Refused);

    let reply = gw.client.get("/api/items", Some(ALLOWED)).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED), "old policy still serving");
    let text = metrics.render();
    assert!(text.contains(r#"corsguard_reloads_total{result="failed"} 2"#), "{text}");

    // A missing file is refused too, and its return is picked up.
    std::fs::remove_file(&file.0).unwrap();
    assert_eq!(reloader.check(false).await, Outcome::Refused);
    file.write(&policy_with(NEW_ORIGIN));
    assert_eq!(reloader.check(false).await, Outcome::Reloaded);
    let reply = gw.client.get("/api/items", Some(NEW_ORIGIN)).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(NEW_ORIGIN));
    let reply = gw.client.get("/api/items", Some(ALLOWED)).await;
    assert!(reply.header("access-control-allow-origin").is_none());
    assert!(metrics.render().contains(r#"corsguard_reloads_total{result="ok"} 1"#));
}

#[tokio::test]
async fn remembered_preflight_answers_are_the_same_and_follow_a_reload() {
    let up = upstream().await;
    // One worker, so that every preflight after the first is answered from its cache.
    let gw = gateway(POLICY, &up.url(), |options| options.workers = 1).await;
    let ask = |origin| gw.client.preflight("/api/items", origin, "PUT", Some("authorization"));

    let first = ask(ALLOWED).await;
    assert_eq!(first.status, StatusCode::NO_CONTENT);
    for _ in 0..3 {
        let again = ask(ALLOWED).await;
        assert_eq!(again.status, StatusCode::NO_CONTENT);
        let without_date = |reply: &Reply| {
            let mut headers = reply.headers.clone();
            headers.remove("date");
            headers
        };
        assert_eq!(without_date(&again), without_date(&first));
    }
    // A shape never allowed is still decided (and refused), not taken from the cache.
    let other = gw.client.preflight("/api/items", ALLOWED, "PUT", Some("authorization, x-secret")).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let counted = gw.metrics.render();
    assert!(
        counted
            .contains(r#"corsguard_requests_total{kind="preflight",verdict="allowed",reason="allowed"} 4"#),
        "cached answers are counted like decided ones: {counted}"
    );

    gw.policy.reload_toml(&policy_with(NEW_ORIGIN), None).unwrap();
    let refused = ask(ALLOWED).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "the new policy no longer allows the origin");
    assert!(refused.header("access-control-allow-origin").is_none());
    let allowed = ask(NEW_ORIGIN).await;
    assert_eq!(allowed.status, StatusCode::NO_CONTENT);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(NEW_ORIGIN));
    assert_eq!(up.hits(), 0, "preflights never reach the upstream");
}

#[tokio::test]
async fn file_changes_are_picked_up_by_the_watcher_and_sighup_forces_a_reload() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let file = File::new(POLICY);
    let metrics = Metrics::new();
    let reloader = Reloader::new(&file.0, None, gw.policy.clone(), POLICY).with_metrics(metrics.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(reloader.run(Duration::from_millis(50), stopped));

    file.write(&policy_with(NEW_ORIGIN));
    let mut allowed = false;
    for _ in 0..100 {
        let reply = gw.client.get("/api/items", Some(NEW_ORIGIN)).await;
        if reply.header("access-control-allow-origin") == Some(NEW_ORIGIN) {
            allowed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(allowed, "the watcher reloaded the changed file");

    // SIGHUP reloads even when the contents did not change.
    let before = metrics.render();
    assert!(before.contains(r#"corsguard_reloads_total{result="ok"} 1"#), "{before}");
    // Registered here too so that the signal can never hit the default action (terminate).
    let _hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let status = std::process::Command::new("kill").args(["-HUP", &std::process::id().to_string()]).status();
    assert!(status.unwrap().success());
    let mut reloaded = false;
    for _ in 0..100 {
        if metrics.render().contains(r#"corsguard_reloads_total{result="ok"} 2"#) {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reloaded, "SIGHUP forced a reload");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_reload_can_switch_report_mode_off() {
    let up = upstream().await;
    let mode = ModeSwitch::new(Mode::Report);
    let mode_for_gw = mode.clone();
    let gw = gateway(POLICY, &up.url(), move |o| o.mode = mode_for_gw).await;
    let with_gateway =
        |m: &str| format!("{POLICY}\n[gateway]\nupstream = \"{}\"\nmode = \"{m}\"\n", up.url());
    let initial = with_gateway("report");
    let file = File::new(&initial);
    let path = file.0.clone();
    let settings = Settings::from_file_text(&initial, &path, &Overrides::default()).unwrap();
    let mut reloader = Reloader::new(&path, None, gw.policy.clone(), &initial).with_gateway(
        settings,
        Overrides::default(),
        mode.clone(),
        None,
    );

    let refused = gw.client.preflight("/x", FOREIGN, "GET", None).await;
    assert_eq!(refused.status, StatusCode::OK, "report mode forwards preflights");

    file.write(&with_gateway("enforce"));
    assert_eq!(reloader.check(false).await, Outcome::Reloaded);
    assert_eq!(mode.get(), Mode::Enforce);
    let refused = gw.client.preflight("/x", FOREIGN, "GET", None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    file.write(&with_gateway("loud"));
    assert_eq!(reloader.check(false).await, Outcome::Refused, "an invalid mode refuses the reload");
    assert_eq!(mode.get(), Mode::Enforce);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_concurrent_load_fail_no_request() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let file = File::new(POLICY);
    let mut reloader = Reloader::new(&file.0, None, gw.policy.clone(), POLICY);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

    let mut workers = Vec::new();
    for i in 0..8 {
        let client = Http::new(gw.addr());
        let (done, ok, failed) = (Arc::clone(&done), Arc::clone(&ok), Arc::clone(&failed));
        workers.push(tokio::spawn(async move {
            // Bounded: at most 5000 requests per worker even if the reloads stall.
            for n in 0..5000 {
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let reply = if (n + i) % 2 == 0 {
                    client.try_send(http::Method::GET, "/api/items", &[("origin", ALLOWED)], "").await
                } else {
                    client
                        .try_send(
                            http::Method::OPTIONS,
                            "/api/items",
                            &[("origin", ALLOWED), ("access-control-request-method", "PUT")],
                            "",
                        )
                        .await
                };
                match reply {
                    Ok(r) if r.status.is_success() && r.header("access-control-allow-origin").is_some() => {
                        ok.fetch_add(1, Ordering::SeqCst)
                    }
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    // Both policies allow ALLOWED, so every request must succeed whichever one it meets.
    let other = POLICY.replace("max_age        = 600", "max_age        = 60");
    for round in 0..20 {
        file.write(if round % 2 == 0 { &other } else { POLICY });
        assert_eq!(reloader.check(false).await, Outcome::Reloaded);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    done.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    assert_eq!(failed, 0, "{failed} requests failed during reloads ({ok} succeeded)");
    assert!(ok > 100, "the load was real: {ok} requests");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_connections() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let addr = gw.addr();
    let client = gw.client.clone();
    let in_flight = tokio::spawn(async move { client.get("/slow", Some(ALLOWED)).await });
    // Let the request reach the upstream before shutting down.
    for _ in 0..100 {
        if up.hits() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(up.hits(), 1);
    let shutdown = tokio::spawn(gw.gateway.shutdown(Duration::from_secs(10)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no new connections while draining");

    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "slow");
    assert!(shutdown.await.unwrap(), "drained within the grace period");
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let up = upstream().await;
    let gw = gateway(POLICY, &up.url(), |_| {}).await;
    let client = gw.client.clone();
    let in_flight = tokio::spawn(async move { client.stream("/hold").await });
    for _ in 0..100 {
        if up.hits() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _response = in_flight.await.unwrap();
    let started = std::time::Instant::now();
    assert!(!gw.gateway.shutdown(Duration::from_millis(200)).await, "a stuck body is not waited for forever");
    assert!(started.elapsed() < Duration::from_secs(2));
}
