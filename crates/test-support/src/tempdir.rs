//! Temporary files for tests that hand a path to the code under test (a policy file, a TLS key).
//!
//! Each path is new (process id, time and a counter in its name), so that tests running in
//! parallel, and earlier runs, never share a file. Nothing is removed for the caller: a test
//! that starts a process on a file would otherwise race its deletion.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A path in the system's temp directory that nothing uses yet, `PREFIX-PID-NANOS-N`; it is
/// not created.
pub fn unique_path(prefix: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("{prefix}-{}-{nanos}-{n}", std::process::id()))
}

/// A new, empty directory (see [`unique_path`]).
pub fn fresh_dir(prefix: &str) -> PathBuf {
    let dir = unique_path(prefix);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to a file called `name` in a new directory, and returns its path: the file
/// keeps the name a test chose (error messages quote it), in a directory of its own.
pub fn write_file(prefix: &str, name: &str, text: &str) -> PathBuf {
    let path = fresh_dir(prefix).join(name);
    std::fs::write(&path, text).unwrap();
    path
}
