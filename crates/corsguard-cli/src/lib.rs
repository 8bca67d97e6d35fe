//! The long-running parts of the `corsguard` command, as a library so that they can be started
//! in-process (tests, embedding): the gateway behind `corsguard serve` and the `corsguard demo`.
//!
//! The one-shot commands (`check`, `explain`, `audit`) live in the binary.
#![warn(missing_docs)]

pub mod decision_json;
pub mod demo;
pub mod serve;
pub mod tls_client;
