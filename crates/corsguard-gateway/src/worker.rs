//! One event loop per core, as nginx's worker processes: each worker thread runs a
//! single-threaded Tokio runtime with its own client connections and its own upstream pool,
//! so a request, the upstream connection serving it and the tasks driving both stay on one
//! thread (no cross-thread wakeups, no work stealing on the hot path).
//!
//! The listener stays in the runtime that started the gateway; accepted connections are
//! handed to the workers in turn, which spreads them evenly whatever the kernel's wake-up
//! order.

use std::io;
use std::net::SocketAddr;

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error};

/// An accepted client connection on its way to a worker.
pub(crate) type Accepted = (std::net::TcpStream, SocketAddr);

/// What a worker does with the connections it is handed: serve each until the channel closes,
/// then drain them. Implemented by the proxy.
pub(crate) trait Serve: Send + 'static {
    fn serve(self, connections: mpsc::UnboundedReceiver<Accepted>) -> impl std::future::Future<Output = ()>;
}

/// The running workers, seen from the accept loop.
pub(crate) struct Workers {
    senders: Vec<mpsc::UnboundedSender<Accepted>>,
    done: Vec<oneshot::Receiver<()>>,
    next: usize,
    /// Set on drop: workers stop at once, dropping whatever they still serve.
    force: watch::Sender<bool>,
}

impl Workers {
    /// Starts one worker thread per element of `workers`.
    pub(crate) fn spawn<W: Serve>(workers: Vec<W>) -> io::Result<Workers> {
        let (force, _) = watch::channel(false);
        let mut started = Workers { senders: Vec::new(), done: Vec::new(), next: 0, force };
        for (index, worker) in workers.into_iter().enumerate() {
            let (sender, receiver) = mpsc::unbounded_channel();
            let done = spawn_thread(index, worker, receiver, started.force.subscribe())?;
            started.senders.push(sender);
            started.done.push(done);
        }
        Ok(started)
    }

    /// Hands a connection to the next worker; a worker that is gone is skipped.
    pub(crate) fn dispatch(&mut self, mut accepted: Accepted) {
        for _ in 0..self.senders.len() {
            let index = self.next % self.senders.len();
            self.next = self.next.wrapping_add(1);
            match self.senders[index].send(accepted) {
                Ok(()) => return,
                Err(mpsc::error::SendError(back)) => accepted = back,
            }
        }
        error!(peer = %accepted.1, "no gateway worker is running; connection dropped");
    }

    /// Closes the workers' queues and waits until every worker has drained its connections.
    pub(crate) async fn drain(mut self) {
        self.senders.clear();
        for done in std::mem::take(&mut self.done) {
            // An error means the thread is gone already, which is as done as it gets.
            let _ = done.await;
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // After a drain this is a no-op; when the accept loop is aborted (grace period over,
        // or its runtime shut down) it stops the workers instead of leaving them serving.
        self.force.send_replace(true);
    }
}

fn spawn_thread<W: Serve>(
    index: usize,
    worker: W,
    connections: mpsc::UnboundedReceiver<Accepted>,
    mut force: watch::Receiver<bool>,
) -> io::Result<oneshot::Receiver<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (done, finished) = oneshot::channel();
    std::thread::Builder::new().name(format!("corsguard-worker-{index}")).spawn(move || {
        runtime.block_on(async {
            tokio::select! {
                () = worker.serve(connections) => {}
                _ = force.wait_for(|stop| *stop) => debug!(worker = index, "worker stopped before draining"),
            }
        });
        // Dropping the runtime closes every connection still open before `done` is sent.
        drop(runtime);
        let _ = done.send(());
    })?;
    Ok(finished)
}
