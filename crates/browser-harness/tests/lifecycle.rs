//! Sessions clean up after themselves in every engine: dropping a [`Browser`] without closing
//! it (as a panicking test does) ends the driver, the browser and every helper process they
//! started, and removes the profile directory.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use browser_harness::{Browser, Engine};
use test_support::pages::PageServer;

/// Every live process and its parent, from /proc.
fn parents() -> BTreeMap<u32, u32> {
    let mut map = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The command name, in parentheses, may hold spaces; the fields after it do not.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Zombies are already dead: only their parent has not reaped them yet.
        if fields.first() == Some(&"Z") {
            continue;
        }
        if let Some(ppid) = fields.get(1).and_then(|s| s.parse().ok()) {
            map.insert(pid, ppid);
        }
    }
    map
}

/// The test binary's descendants: the drivers it started and everything under them, including
/// helpers that moved to sessions or process groups of their own; and Firefox's crash helper,
/// which is not a descendant (its parent is init) but names the Firefox it watches.
fn descendants() -> BTreeSet<u32> {
    let parents = parents();
    let crash_helpers: Vec<(u32, u32)> = parents
        .keys()
        .filter_map(|pid| {
            let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok()?;
            let mut args = cmdline.split('\0');
            let program = args.next()?;
            let watched = args.next()?.parse().ok()?;
            program.ends_with("/crashhelper").then_some((*pid, watched))
        })
        .collect();
    let mut found = BTreeSet::from([std::process::id()]);
    loop {
        let before = found.len();
        for (pid, ppid) in &parents {
            if found.contains(ppid) {
                found.insert(*pid);
            }
        }
        for (pid, watched) in &crash_helpers {
            if found.contains(watched) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            found.remove(&std::process::id());
            return found;
        }
    }
}

browser_harness::in_every_engine!(dropping_the_browser_ends_every_process);

/// One browser at a time: "the test binary's descendants" must be this test's processes only.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn dropping_the_browser_ends_every_process(engine: Engine) {
    let _serial = ONE_AT_A_TIME.lock().await;
    let browser = Browser::launch_engine(engine).await.expect("the headless browser starts");
    assert_eq!(browser.engine(), engine);
    let page = PageServer::start("app.localhost").await.expect("page server");
    browser.open(&page.url()).await.expect("open a page");
    assert_eq!(browser.origin().await.expect("origin"), page.origin());
    let profile_dir = browser.profile_dir().to_owned();
    let started = descendants();
    assert!(started.len() >= 2, "{engine}: a driver and a browser at least: {started:?}");

    drop(browser);

    // SIGKILL is not instant, but it does not take seconds: a helper left to exit by itself
    // (Firefox's crash helper does, a few seconds after its browser) fails the test.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left: BTreeSet<u32> =
            started.intersection(&parents().keys().copied().collect()).copied().collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{engine}: still running after drop: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!profile_dir.exists(), "{engine}: {} is removed", profile_dir.display());
}
