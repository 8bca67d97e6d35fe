//! Runs the `corsguard audit` fixture servers on 127.0.0.1 and prints one line per server,
//! `NAME<TAB>URL<TAB>TRUSTED_ORIGIN`, then `ready`. It stops when standard input closes, or after
//! ten minutes, so a crashed caller never leaves it behind for long. `scripts/compare-scanners`
//! drives it.

#[path = "../tests/audit_fixture/mod.rs"]
mod audit_fixture;

use std::io::{Read, Write};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let fixtures = audit_fixture::start_all().await;
    let mut out = std::io::stdout().lock();
    for f in &fixtures {
        let _ = writeln!(out, "{}\t{}\t{}", f.name, f.url, f.trusted);
    }
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    drop(out);
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    });
    tokio::select! {
        _ = stdin_closed => {}
        _ = tokio::time::sleep(Duration::from_secs(600)) => {}
    }
}
