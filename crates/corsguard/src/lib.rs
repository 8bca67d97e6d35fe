//! corsguard: a CORS policy engine that makes the safe policy the easy one.
//!
//! A [`Policy`] is an allowlist of exact origins and safe patterns, validated up front (every
//! problem is returned as a [`Diagnostic`], never a panic), and [`Policy::decide`] gives the
//! spec-exact answer for any request without allocating.
//!
//! ```
//! use corsguard::{Action, Policy, RequestKind};
//! use http::{Request, StatusCode};
//!
//! let policy = Policy::from_toml(
//!     r#"
//!     [policy]
//!     methods = ["GET", "POST", "PUT"]
//!     allow_headers = ["Content-Type", "Authorization"]
//!     credentials = true
//!
//!     [profiles.production]
//!     origins = ["https://app.example.com", "https://*.staging.example.com"]
//!     "#,
//!     None,
//! )?;
//!
//! // A preflight from an allowed origin is answered with 204 and the CORS headers.
//! let preflight = Request::options("/api/items")
//!     .header("origin", "https://app.example.com")
//!     .header("access-control-request-method", "PUT")
//!     .header("access-control-request-headers", "authorization,content-type")
//!     .body(())
//!     .unwrap();
//! let decision = policy.decide(&preflight);
//! assert_eq!(decision.kind(), RequestKind::Preflight);
//! assert_eq!(decision.action(), Action::Answer(StatusCode::NO_CONTENT));
//!
//! // Prefix tricks never match: origins are compared label by label.
//! let attack = Request::get("/api/items")
//!     .header("origin", "https://app.example.com.evil.net")
//!     .body(())
//!     .unwrap();
//! let decision = policy.decide(&attack);
//! assert!(!decision.is_allowed());
//! assert_eq!(decision.reason().code(), "origin-not-allowed");
//! assert!(decision.headers().allow_origin().is_none());
//! # Ok::<(), corsguard::Diagnostics>(())
//! ```
//!
//! CORS is not a security boundary: it decides which *browser scripts* may read responses, and
//! does not stop a request from reaching the server. corsguard adds cross-origin request
//! protection for unsafe methods (refusing cross-site POST/PUT/DELETE from untrusted origins,
//! as Go's `CrossOriginProtection` does), but it never replaces authentication, authorization,
//! rate limiting or input validation.
#![warn(missing_docs)]

mod config;
mod cors_headers;
mod decision;
mod diagnostic;
mod headers;
#[cfg(feature = "json")]
pub mod json;
mod lint;
mod lint_code;
mod origin;
mod pattern;
mod policy;
mod reason;
mod reload;
#[cfg(feature = "render")]
pub mod render;
mod rules;
#[cfg(feature = "tower")]
pub mod tower;

pub use cors_headers::{CorsHeaders, OwnedCorsHeaders};
pub use decision::{Action, Decision, OwnedDecision, RequestKind, RequestView, DECISION_HEADERS};
pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use lint_code::LintCode;
pub use origin::{Origin, OriginError};
pub use pattern::{OriginPattern, PortSpec};
pub use policy::{check_toml, profile_names, Policy, PolicyBuilder, RequestError, Route, RouteBuilder};
pub use reason::Reason;
pub use reload::{PolicyGuard, PolicyHandle};
pub use rules::Rules;

/// The budgets every decision enforces on what a request sends.
pub mod limits {
    pub use crate::headers::{MAX_REQUEST_HEADERS_LEN, MAX_REQUEST_HEADER_NAMES};
    pub use crate::origin::MAX_ORIGIN_LEN;
}

/// The README's Rust examples, compiled as doc tests so they keep working as written (the
/// middleware example needs the `tower` feature, which the test suite enables).
#[cfg(all(doctest, feature = "tower"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
