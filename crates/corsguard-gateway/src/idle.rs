//! Closing client connections that hold a socket without asking for anything, where hyper
//! alone would keep them open for ever: a connection that never gets past its first bytes
//! (hyper-util waits for the protocol preface without a deadline), and an HTTP/2 connection
//! between requests (hyper's `header_read_timeout` covers HTTP/1.1 only). Either is the
//! cheapest way to tie up a gateway's sockets, one connection at a time.
//!
//! The service marks each request in an [`Activity`]; [`Activity::idle`] resolves when a
//! whole period passed without one, and the connection is then shut down gracefully (an
//! HTTP/2 client gets a GOAWAY and opens a new connection for its next request; the proxy
//! drops a connection whose client ignores the GOAWAY one period later).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use http::Version;

/// What one client connection has asked for so far.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Starts and ends of HTTP/2 requests.
    events: AtomicUsize,
    /// HTTP/2 requests whose response head is not out yet.
    in_flight: AtomicUsize,
    /// The connection speaks HTTP/1.x, whose idle time hyper limits itself.
    http1: AtomicBool,
}

/// An HTTP/2 request being answered; dropping it (answered or cancelled) ends it.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
        self.0.events.fetch_add(1, Relaxed);
    }
}

impl Activity {
    /// Marks the start of a request of `version`.
    pub(crate) fn request(self: &Arc<Self>, version: Version) -> Option<InFlight> {
        if version != Version::HTTP_2 {
            self.http1.store(true, Relaxed);
            return None;
        }
        self.in_flight.fetch_add(1, Relaxed);
        self.events.fetch_add(1, Relaxed);
        Some(InFlight(Arc::clone(self)))
    }

    /// Whether [`Activity::idle`] can still resolve: not for an HTTP/1.x connection, which a
    /// caller may then stop polling it for (a timer poll per wake-up on the hot path).
    pub(crate) fn watched(&self) -> bool {
        !self.http1.load(Relaxed)
    }

    /// Resolves once a whole `period` has gone by in which no request started or was
    /// answered and none waited for its answer: after between one and two periods of
    /// idleness. Never resolves for an HTTP/1.x connection once its first request came.
    pub(crate) async fn idle(&self, period: Duration) {
        let mut seen = 0;
        loop {
            tokio::time::sleep(period).await;
            if !self.watched() {
                return std::future::pending().await;
            }
            let events = self.events.load(Relaxed);
            if events == seen && self.in_flight.load(Relaxed) == 0 {
                return;
            }
            seen = events;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_secs(10);

    /// Whether `idle` resolves within `within` of (paused) time.
    async fn idle_within(activity: &Activity, within: Duration) -> bool {
        tokio::time::timeout(within, activity.idle(PERIOD)).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_any_request_is_idle_after_one_period() {
        let activity = Activity::default();
        assert!(!idle_within(&activity, PERIOD - Duration::from_millis(1)).await);
        assert!(idle_within(&activity, PERIOD + Duration::from_millis(1)).await);
    }

    #[tokio::test(start_paused = true)]
    async fn an_http2_connection_is_idle_between_one_and_two_periods_after_its_last_answer() {
        let activity = Arc::new(Activity::default());
        let watched = Arc::clone(&activity);
        let idle = tokio::spawn(async move {
            watched.idle(PERIOD).await;
            tokio::time::Instant::now()
        });
        tokio::time::sleep(PERIOD / 2).await;
        let answering = activity.request(Version::HTTP_2);
        assert!(answering.is_some());
        // In flight for three periods, and never idle meanwhile.
        tokio::time::sleep(PERIOD * 3).await;
        assert!(!idle.is_finished());
        drop(answering);
        let answered = tokio::time::Instant::now();
        // Answered half-way through a period: that one and the next are watched whole.
        assert_eq!(idle.await.unwrap() - answered, PERIOD * 3 / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn an_http1_connection_is_left_to_hyper_once_it_sent_a_request() {
        let activity = Arc::new(Activity::default());
        assert!(activity.request(Version::HTTP_11).is_none());
        assert!(!idle_within(&activity, PERIOD * 5).await);
    }
}
