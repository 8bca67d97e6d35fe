//! The gateway's Prometheus metrics.
//!
//! Every series is registered up front, so a dashboard or an alert sees a zero rather than a
//! missing series before the first event (`rate()` over a series that appears later misses its
//! first increments).

use std::sync::Arc;
use std::time::Duration;

use corsguard::{Reason, RequestKind};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// `kind`, `verdict`, `reason`.
type RequestLabels = [(&'static str, &'static str); 3];
/// One label, e.g. `result` or `error`.
type OneLabel = [(&'static str, &'static str); 1];

/// What went wrong talking to the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamError {
    /// Could not connect (refused, unreachable, TLS failure): 502.
    Connect,
    /// No response headers within `upstream_timeout`, or no connection within
    /// `connect_timeout`: 504.
    Timeout,
    /// The connection was reset or the response was not HTTP: 502.
    Protocol,
}

impl UpstreamError {
    /// The `error` label.
    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamError::Connect => "connect",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Protocol => "protocol",
        }
    }
}

/// What was wrong with a request the gateway answered with 400 itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// More than one `Host` header.
    DuplicateHost,
    /// A request body that could not be read: malformed chunked framing, or a client that
    /// went away before sending all of it.
    RequestBody,
}

impl ClientError {
    /// The `error` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientError::DuplicateHost => "duplicate_host",
            ClientError::RequestBody => "request_body",
        }
    }
}

/// Cheap to clone; every clone updates the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// The `requests` counters of every plausible combination, by [`request_slot`]: counting a
    /// request is then one atomic add, not a label-set hash and a lock.
    request_counters: Box<[Option<Counter>]>,
    /// One histogram for all workers. Per-worker ones would cost less while both observe at
    /// once, but prometheus-client 0.24 gives no read of a histogram's counts to sum them, so
    /// they could only be exposed with a worker label, a different series; the shared lock
    /// costs about 0.4 % of a proxied request then (BENCHMARKS.md, "Upstream latency histogram").
    upstream_latency: Histogram,
    upstream_errors: Family<OneLabel, Counter>,
    client_errors: Family<OneLabel, Counter>,
    reloads: Family<OneLabel, Counter>,
    connections: Gauge,
    report_mode: Gauge,
}

impl Metrics {
    /// A fresh registry with every corsguard series at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("corsguard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests seen by the gateway, by CORS kind, verdict (allowed or refused) and reason code",
            requests.clone(),
        );
        // Upstream latency spans sub-millisecond loopback answers to slow reports: 0.5 ms to ~65 s.
        let upstream_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 18));
        registry.register_with_unit(
            "upstream_response",
            "Time from forwarding a request to receiving the upstream's response headers",
            prometheus_client::registry::Unit::Seconds,
            upstream_latency.clone(),
        );
        let upstream_errors = Family::<OneLabel, Counter>::default();
        registry.register(
            "upstream_errors",
            "Requests answered by the gateway with 502 or 504, by cause (connect, timeout, protocol)",
            upstream_errors.clone(),
        );
        let client_errors = Family::<OneLabel, Counter>::default();
        registry.register(
            "client_errors",
            "Requests answered by the gateway with 400 because the client sent them malformed, by cause \
             (duplicate_host, request_body); never counted as upstream errors",
            client_errors.clone(),
        );
        let reloads = Family::<OneLabel, Counter>::default();
        registry.register(
            "reloads",
            "Policy reloads, by result (ok: now serving; failed: refused, the previous policy serves)",
            reloads.clone(),
        );
        let connections = Gauge::default();
        registry.register("connections", "Client connections currently open", connections.clone());
        let report_mode = Gauge::default();
        registry.register(
            "report_mode",
            "1 when the gateway runs in report-only mode (decisions logged, not enforced)",
            report_mode.clone(),
        );

        let mut request_counters = vec![None; KINDS.len() * Reason::ALL.len() * 2].into_boxed_slice();
        for kind in KINDS {
            for reason in Reason::ALL {
                for allowed in [true, false] {
                    if plausible(kind, *reason, allowed) {
                        let counter = requests.get_or_create(&request_labels(kind, allowed, *reason)).clone();
                        request_counters[request_slot(kind, allowed, *reason)] = Some(counter);
                    }
                }
            }
        }
        for error in [UpstreamError::Connect, UpstreamError::Timeout, UpstreamError::Protocol] {
            drop(upstream_errors.get_or_create(&[("error", error.as_str())]));
        }
        for error in [ClientError::DuplicateHost, ClientError::RequestBody] {
            drop(client_errors.get_or_create(&[("error", error.as_str())]));
        }
        for result in ["ok", "failed"] {
            drop(reloads.get_or_create(&[("result", result)]));
        }
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                request_counters,
                upstream_latency,
                upstream_errors,
                client_errors,
                reloads,
                connections,
                report_mode,
            }),
        }
    }

    /// Counts one decision.
    pub fn request(&self, kind: RequestKind, allowed: bool, reason: Reason) {
        match &self.inner.request_counters[request_slot(kind, allowed, reason)] {
            Some(counter) => counter.inc(),
            None => self.inner.requests.get_or_create(&request_labels(kind, allowed, reason)).inc(),
        };
    }

    /// Records how long the upstream took to answer.
    pub fn upstream_latency(&self, elapsed: Duration) {
        self.inner.upstream_latency.observe(elapsed.as_secs_f64());
    }

    /// Counts a request the upstream did not answer.
    pub fn upstream_error(&self, error: UpstreamError) {
        self.inner.upstream_errors.get_or_create(&[("error", error.as_str())]).inc();
    }

    /// Counts a request refused with 400 for the client's own error.
    pub fn client_error(&self, error: ClientError) {
        self.inner.client_errors.get_or_create(&[("error", error.as_str())]).inc();
    }

    /// Counts a reload.
    pub fn reload(&self, ok: bool) {
        let result = if ok { "ok" } else { "failed" };
        self.inner.reloads.get_or_create(&[("result", result)]).inc();
    }

    /// One more (or one fewer) open client connection.
    pub fn connection_opened(&self) {
        self.inner.connections.inc();
    }

    /// See [`Metrics::connection_opened`].
    pub fn connection_closed(&self) {
        self.inner.connections.dec();
    }

    /// Publishes the current mode.
    pub fn set_report_mode(&self, on: bool) {
        self.inner.report_mode.set(i64::from(on));
    }

    /// The whole registry in the Prometheus / OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail; an error here would be an encoder bug, and an
        // empty scrape is a better answer than a crashed gateway.
        if encode(&mut out, &self.inner.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

const KINDS: [RequestKind; 3] = [RequestKind::NotCors, RequestKind::Preflight, RequestKind::Actual];

fn request_labels(kind: RequestKind, allowed: bool, reason: Reason) -> RequestLabels {
    let verdict = if allowed { "allowed" } else { "refused" };
    [("kind", kind.as_str()), ("verdict", verdict), ("reason", reason.code())]
}

/// Where a combination's counter sits in `request_counters`.
fn request_slot(kind: RequestKind, allowed: bool, reason: Reason) -> usize {
    // `Reason` is a fieldless enum listed in declaration order in `Reason::ALL`.
    ((kind as usize) * Reason::ALL.len() + reason as usize) * 2 + usize::from(allowed)
}

/// The (kind, reason, verdict) combinations the decision can produce, pre-registered so that
/// they read as zero before they first happen.
fn plausible(kind: RequestKind, reason: Reason, allowed: bool) -> bool {
    match (kind, reason) {
        (RequestKind::NotCors, Reason::NoOrigin) => allowed,
        (RequestKind::NotCors, Reason::CrossOriginRequest) => !allowed,
        (RequestKind::NotCors, _) => false,
        (_, Reason::Allowed) => allowed,
        (RequestKind::Actual, Reason::SameOrigin) => allowed,
        (_, Reason::NoOrigin | Reason::SameOrigin) => false,
        _ => !allowed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_combination_has_its_own_slot() {
        let mut seen = std::collections::HashSet::new();
        for kind in KINDS {
            for reason in Reason::ALL {
                for allowed in [true, false] {
                    assert!(
                        seen.insert(request_slot(kind, allowed, *reason)),
                        "{kind:?} {reason:?} {allowed}"
                    );
                }
            }
        }
        assert_eq!(seen.len(), KINDS.len() * Reason::ALL.len() * 2);
        assert!(seen.iter().all(|slot| *slot < seen.len()));
    }

    #[test]
    fn requests_are_counted_under_their_labels() {
        let metrics = Metrics::new();
        metrics.request(RequestKind::Actual, false, Reason::OriginNotAllowed);
        metrics.request(RequestKind::Actual, false, Reason::OriginNotAllowed);
        metrics.request(RequestKind::Preflight, true, Reason::Allowed);
        let text = metrics.render();
        let count = |labels: &str| {
            text.lines()
                .find(|l| l.starts_with("corsguard_requests_total{") && l.contains(labels))
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_owned)
        };
        assert_eq!(
            count(r#"kind="actual",verdict="refused",reason="origin-not-allowed""#).as_deref(),
            Some("2")
        );
        assert_eq!(count(r#"kind="preflight",verdict="allowed",reason="allowed""#).as_deref(), Some("1"));
        assert_eq!(count(r#"kind="actual",verdict="allowed",reason="allowed""#).as_deref(), Some("0"));
    }

    #[test]
    fn upstream_latency_is_one_histogram_in_seconds() {
        let metrics = Metrics::new();
        metrics.upstream_latency(Duration::from_micros(300));
        metrics.upstream_latency(Duration::from_millis(3));
        let text = metrics.render();
        for line in [
            "# TYPE corsguard_upstream_response_seconds histogram",
            "# UNIT corsguard_upstream_response_seconds seconds",
            "corsguard_upstream_response_seconds_count 2",
            r#"corsguard_upstream_response_seconds_bucket{le="0.0005"} 1"#,
            r#"corsguard_upstream_response_seconds_bucket{le="0.001"} 1"#,
            r#"corsguard_upstream_response_seconds_bucket{le="+Inf"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
