//! `corsguard export --format nginx`, run by a real nginx in front of a loopback upstream and
//! compared, case by case, with corsguard's own gateway on the same corpus.

mod export_support;

use std::process::{Command, Stdio};

use export_support::*;
use test_support::process::{free_addr, wait_listening, Proc};

/// Cases where nginx answers differently from the gateway, and why. The test fails if the
/// differing cases are not exactly these. All three need a header repeated on several lines,
/// which browsers never send.
const KNOWN_DIFFERENCES_BEFORE_1_23: &[(&str, &str)] = &[
    (
        "any-origin-ipv6-noncanonical",
        "under `*` the expression accepts any bracketed hex-and-colon IPv6 host; the engine also \
         requires the RFC 5952 form (the answer is `*` without credentials either way)",
    ),
    (
        "origin-repeated",
        "nginx before 1.23 ($http_origin) reads only the first Origin line and allows it; the \
         engine refuses a repeated Origin",
    ),
    (
        "origin-repeated-second-evil",
        "nginx before 1.23 reads only the first Origin line and allows it; the engine refuses a \
         repeated Origin",
    ),
    (
        "preflight-acrh-second-line-refused",
        "nginx before 1.23 checks only the first Access-Control-Request-Headers line; the engine \
         checks every line (the browser still enforces the Access-Control-Allow-Headers list)",
    ),
];

/// Differences on every nginx version.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[(
    "any-origin-ipv6-noncanonical",
    "under `*` the expression accepts any bracketed hex-and-colon IPv6 host; the engine also \
     requires the RFC 5952 form (the answer is `*` without credentials either way)",
)];

/// nginx 1.23 and later join repeated lines with a comma, which the generated expressions
/// judge as the engine does.
fn known_differences() -> &'static [(&'static str, &'static str)] {
    let out = Command::new("/usr/sbin/nginx").arg("-v").output().expect("nginx -v");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let version = text.split("nginx/").nth(1).unwrap_or("").trim();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) < (1, 23) {
        KNOWN_DIFFERENCES_BEFORE_1_23
    } else {
        KNOWN_DIFFERENCES
    }
}

/// The http{} wrapper the docs show: the exported snippet is included as is.
fn wrapper(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        "events {{}}\nhttp {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    \
         proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    \
         scgi_temp_path {d}/scgi;\n    include {d}/corsguard.conf;\n}}\n"
    )
}

#[test]
fn nginx_agrees_with_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = Upstream::start();
    let listen = free_addr();
    let snippet = export(dir.path(), "nginx", listen, upstream.addr);
    std::fs::write(dir.path().join("corsguard.conf"), &snippet).unwrap();
    std::fs::write(dir.path().join("nginx.conf"), wrapper(dir.path())).unwrap();
    let prefix = format!("{}/", dir.path().display());
    let conf = dir.path().join("nginx.conf");
    let globals = format!("daemon off; pid {}/nginx.pid; error_log stderr;", dir.path().display());
    let test = Command::new("/usr/sbin/nginx")
        .args(["-t", "-p", &prefix, "-c", conf.to_str().unwrap(), "-g", &globals])
        .output()
        .expect("nginx is installed (scripts/test installs nginx-light)");
    assert!(test.status.success(), "nginx -t: {}\n{snippet}", String::from_utf8_lossy(&test.stderr));
    let child = Command::new("/usr/sbin/nginx")
        .args(["-p", &prefix, "-c", conf.to_str().unwrap(), "-g", &globals])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut nginx = Proc(child);
    wait_listening(listen, "nginx", &mut nginx.0);
    let (_gateway, reference) = start_gateway(dir.path(), upstream.addr);
    reference_matches_engine(reference);
    differential(listen, reference, known_differences());
}
