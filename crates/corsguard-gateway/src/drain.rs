//! Draining a worker's client connections when the gateway stops: every connection is told to
//! finish (HTTP/1.1 after its current response, HTTP/2 with a GOAWAY after its open streams),
//! and the worker waits until all of them have.
//!
//! hyper-util's `GracefulShutdown` does the same, but only for a connection future it drives
//! itself, which leaves no way to also end a connection for being idle (`serve::idle`); so the
//! signal is tokio-util's `CancellationToken` and the count of open connections its
//! `TaskTracker`, and each connection future chooses how to finish.

use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::{TaskTracker, TaskTrackerToken};

/// The worker's side: tells the connections to finish, then waits for them.
#[derive(Debug)]
pub(crate) struct Drain {
    finish: CancellationToken,
    open: TaskTracker,
}

/// A connection's side, held for as long as the connection is served.
#[derive(Debug)]
pub(crate) struct Connection {
    finish: CancellationToken,
    // Counts the connection as open until it is dropped.
    _open: TaskTrackerToken,
}

impl Drain {
    pub(crate) fn new() -> Drain {
        Drain { finish: CancellationToken::new(), open: TaskTracker::new() }
    }

    /// Registers one more connection.
    pub(crate) fn connection(&self) -> Connection {
        Connection { finish: self.finish.clone(), _open: self.open.token() }
    }

    /// Tells every registered connection to finish and waits until all have been dropped.
    pub(crate) async fn finish(self) {
        self.finish.cancel();
        self.open.close();
        self.open.wait().await;
    }
}

impl Connection {
    /// Resolves when the worker is draining.
    pub(crate) async fn told_to_finish(&mut self) {
        self.finish.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_drain_waits_for_every_connection_and_tells_each_one() {
        let drain = Drain::new();
        let mut told = Vec::new();
        for _ in 0..3 {
            let mut connection = drain.connection();
            told.push(tokio::spawn(async move {
                connection.told_to_finish().await;
                // Still open a little after being told, as a connection finishing a response.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }));
        }
        let started = std::time::Instant::now();
        drain.finish().await;
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "the drain returned before the connections ended"
        );
        for task in told {
            assert!(task.is_finished());
        }
    }

    #[tokio::test]
    async fn a_drain_without_connections_returns_at_once() {
        tokio::time::timeout(Duration::from_secs(1), Drain::new().finish()).await.unwrap();
    }
}
