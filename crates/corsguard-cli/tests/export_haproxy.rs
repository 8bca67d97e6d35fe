//! `corsguard export --format haproxy`, run by a real HAProxy in front of a loopback upstream
//! and compared, case by case, with corsguard's own gateway on the same corpus.

mod export_support;

use std::process::{Command, Stdio};

use export_support::*;
use test_support::process::{free_addr, wait_listening, Proc};

/// Cases where HAProxy answers differently from the gateway, and why. The test fails if the
/// differing cases are not exactly these. None gives a browser more than the engine does.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "any-origin-ipv6-noncanonical",
    "under `*` the expression accepts any bracketed hex-and-colon IPv6 host; the engine also \
     requires the RFC 5952 form (the answer is `*` without credentials either way)",
)];

/// The operator's part, as the docs show it: `global` and `defaults`, then the export.
const OPERATOR: &str = "global\n    log stderr format raw local0\n\ndefaults\n    mode http\n    \
                        timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n\n";

/// Debian installs it in /usr/sbin, which is not on every user's PATH.
fn haproxy() -> &'static str {
    if std::path::Path::new("/usr/sbin/haproxy").exists() {
        "/usr/sbin/haproxy"
    } else {
        "haproxy"
    }
}

#[test]
fn haproxy_agrees_with_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start();
    let listen = free_addr();
    let sections = export(dir.path(), "haproxy", listen, upstream.addr);
    let conf = dir.path().join("haproxy.cfg");
    std::fs::write(&conf, format!("{OPERATOR}{sections}")).unwrap();
    let check = Command::new(haproxy())
        .args(["-c", "-f", conf.to_str().unwrap()])
        .output()
        .expect("haproxy is installed (scripts/test installs it)");
    assert!(check.status.success(), "haproxy -c: {}\n{sections}", String::from_utf8_lossy(&check.stderr));
    let child = Command::new(haproxy())
        .args(["-f", conf.to_str().unwrap(), "-db"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut haproxy = Proc(child);
    wait_listening(listen, "haproxy", &mut haproxy.0);
    let (_gateway, reference) = start_gateway(dir.path(), upstream.addr);
    differential(listen, reference, KNOWN_DIFFERENCES);
}
