//! What corsguard's test suites share. Dev-only: nothing here ships.
//!
//! - [`conformance`]: the table of requests and the decision each must get, from the WHATWG
//!   Fetch standard's CORS protocol and DESIGN.md, which `decide`, the tower layer and the
//!   gateway are all held to.
//! - [`http`]: a pooled HTTP/1.1 and h2c client, and responses read to the end.
//! - [`upstream`]: upstreams on loopback for a proxy under test, well-behaved and broken.
//! - [`wire`]: reading HTTP/1.1 off a raw socket, for servers that answer with exact bytes.
//! - [`app`]: an axum app served on loopback, for middleware tests.
//! - [`pages`]: HTML pages on loopback under chosen host names, for the browser tests
//!   (the browser itself is in the `browser-harness` crate).
//! - [`process`]: real servers (nginx, HAProxy, `corsguard serve`) as child processes.
//! - [`tempdir`]: fresh temporary files and directories.
//! - `gateway` (feature `gateway`): corsguard's gateway started in-process.
//!
//! Everything listens on loopback only.

pub mod app;
pub mod conformance;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod http;
pub mod pages;
pub mod process;
pub mod tempdir;
pub mod upstream;
pub mod wire;
