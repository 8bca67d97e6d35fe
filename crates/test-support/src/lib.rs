//! What corsguard's test suites share. Dev-only: nothing here ships.
//!
//! - [`conformance`]: the table of requests and the decision each must get, from the WHATWG
//!   Fetch standard's CORS protocol and DESIGN.md, which `decide`, the tower layer and the
//!   gateway are all held to.

pub mod conformance;
