//! The sharded histogram the gateway used for its upstream latency until it was measured
//! (BENCHMARKS.md, "Upstream latency histogram"), kept here unchanged so that the comparison can
//! be rerun. It did not pay: one prometheus-client `Histogram` per worker was as fast, and a
//! shared one cost about 0.4 % of a proxied request's CPU when both workers observed at once.
//!
//! Its reasoning: prometheus-client's `Histogram` takes a write lock for every observation. The
//! upstream latency is observed on every proxied request, from every worker thread: the workers
//! then pass the lock's cache line back and forth, and a worker the scheduler preempts while it
//! holds the lock stalls the others. Here each thread adds to a shard of its own (a few atomics
//! on cache lines no other thread writes), and a scrape sums the shards.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

/// Upper bounds, in seconds, including the final `+Inf` one.
const MAX_BUCKETS: usize = 32;
/// Threads are spread over this many shards; more threads than that share.
const SHARDS: usize = 16;

/// A histogram of durations, in seconds.
#[derive(Clone)]
pub struct ShardedHistogram {
    inner: Arc<Inner>,
}

struct Inner {
    /// Ascending upper bounds in seconds; the last is `f64::MAX`, encoded as `+Inf`.
    bounds: Vec<f64>,
    shards: Box<[Shard]>,
}

/// One thread's counts, alone on its cache lines.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    count: AtomicU64,
    sum_nanos: AtomicU64,
    buckets: [AtomicU64; MAX_BUCKETS],
}

impl ShardedHistogram {
    /// A histogram with `bounds` (seconds, ascending; at most 31 of them) and a `+Inf` bucket.
    pub fn new(bounds: impl IntoIterator<Item = f64>) -> ShardedHistogram {
        let mut bounds: Vec<f64> = bounds.into_iter().take(MAX_BUCKETS - 1).collect();
        bounds.push(f64::MAX);
        let shards = (0..SHARDS).map(|_| Shard::default()).collect();
        ShardedHistogram { inner: Arc::new(Inner { bounds, shards }) }
    }

    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        // The last bound is `f64::MAX`, so every duration finds one.
        let last = self.inner.bounds.len() - 1;
        let bucket = self.inner.bounds.iter().position(|bound| seconds <= *bound).unwrap_or(last);
        let shard = &self.inner.shards[shard_index()];
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        shard.sum_nanos.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        shard.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Sum (seconds), count, and each bucket's own count (not cumulative), over all shards.
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = self.inner.bounds.iter().map(|bound| (*bound, 0)).collect();
        let (mut sum_nanos, mut count) = (0u64, 0u64);
        for shard in self.inner.shards.iter() {
            count += shard.count.load(Ordering::Relaxed);
            sum_nanos = sum_nanos.saturating_add(shard.sum_nanos.load(Ordering::Relaxed));
            for (total, bucket) in buckets.iter_mut().zip(&shard.buckets) {
                total.1 += bucket.load(Ordering::Relaxed);
            }
        }
        (sum_nanos as f64 / 1e9, count, buckets)
    }
}

/// This thread's shard: threads are numbered as they first observe.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|index| *index)
}

impl fmt::Debug for ShardedHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sum, count, _) = self.snapshot();
        f.debug_struct("ShardedHistogram").field("sum", &sum).field("count", &count).finish()
    }
}

impl EncodeMetric for ShardedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let (sum, count, buckets) = self.snapshot();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
