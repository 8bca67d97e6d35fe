//! corsguard's gateway started in-process on port 0, in front of an upstream from
//! [`crate::upstream`], with a client bound to it. Behind the `gateway` feature, which only
//! corsguard-cli's tests enable, so that the engine's own tests never depend on the engine
//! through this crate.
//!
//! Also a prelude: a gateway test writes `use test_support::gateway::*;` and has the upstreams,
//! the client and the raw-socket readers it needs besides.

use std::net::SocketAddr;
use std::time::Duration;

use corsguard::{Policy, PolicyHandle};
use corsguard_gateway::metrics::Metrics;
use corsguard_gateway::proxy::{self, Gateway, Options, Upstream as UpstreamUrl};
use tokio::net::TcpListener;

pub use crate::http::{collect_body, Http, Reply};
pub use crate::upstream::{big_body, broken_upstream, dead_addr, upstream, Seen, Upstream};
pub use crate::wire::{read_head, read_more};

/// The policy most tests use: a development profile (so refusals carry `corsguard-reason`),
/// credentials on, localhost origins.
pub const POLICY: &str = r#"
default_profile = "development"

[policy]
methods        = ["GET", "POST", "PUT"]
allow_headers  = ["Content-Type", "Authorization"]
expose_headers = ["X-Request-Id"]
credentials    = true
max_age        = 600
cross_origin_protection = true

[profiles.development]
origins = ["http://localhost:3000", "http://app.localhost:*"]
"#;

/// An allowed origin of [`POLICY`].
pub const ALLOWED: &str = "http://localhost:3000";
/// An origin [`POLICY`] does not allow.
pub const FOREIGN: &str = "http://evil.localhost:4000";

/// A gateway running in-process, with the handles a test needs to reload its policy and read
/// its metrics.
pub struct Running {
    pub gateway: Gateway,
    pub policy: PolicyHandle,
    pub metrics: Metrics,
    pub client: Http,
}

impl Running {
    /// Where the gateway listens.
    pub fn addr(&self) -> SocketAddr {
        self.gateway.local_addr()
    }
}

/// Starts the gateway in front of `upstream` with policy `toml`; `tweak` adjusts options. The
/// upstream timeout is 5 s rather than the default, so that a test of a hung upstream ends soon.
pub async fn gateway(toml: &str, upstream: &str, tweak: impl FnOnce(&mut Options)) -> Running {
    let policy = PolicyHandle::new(Policy::from_toml(toml, None).expect("valid test policy"));
    let mut options = Options::new(UpstreamUrl::parse(upstream).expect("valid upstream URL"));
    options.upstream_timeout = Duration::from_secs(5);
    tweak(&mut options);
    let metrics = options.metrics.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway = proxy::start(listener, policy.clone(), options).expect("gateway starts");
    let client = Http::new(gateway.local_addr());
    Running { gateway, policy, metrics, client }
}
