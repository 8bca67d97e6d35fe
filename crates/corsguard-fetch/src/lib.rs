//! The browser's side of CORS: what the Fetch standard lets a page send without a preflight
//! ([`safelist`]), the checks a browser applies to the answers ([`check`]), a small HTTP/1.1
//! client that sends what `fetch()` sends ([`client`]), and the whole exchange run against a
//! live API step by step ([`live`]), behind `corsguard explain URL` and `corsguard audit`.
//!
//! ```no_run
//! use corsguard_fetch::client::{Client, ClientOptions};
//! use corsguard_fetch::live::{explain, PageRequest};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(ClientOptions::new("corsguard"), false);
//! let mut request = PageRequest::get("http://127.0.0.1:3000/api/me".parse()?, "http://127.0.0.1:8000");
//! request.credentials = true;
//! let verdict = explain(&client, request).await.map_err(|e| e.0)?;
//! if let Some(blocked) = &verdict.blocked {
//!     println!("{}: {} ({})", blocked.failure.check.code(), blocked.failure.message, blocked.failure.help);
//! }
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

pub mod check;
pub mod client;
pub mod live;
pub mod safelist;
