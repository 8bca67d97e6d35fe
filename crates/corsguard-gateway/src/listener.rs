//! The gateway's listening socket, with an accept queue deep enough for connection bursts.
//!
//! `TcpListener::bind` asks the kernel for a queue of 1024 finished handshakes. When a burst
//! overflows it (10,000 clients connecting at once does), Linux drops new handshakes: a SYN,
//! which the client sends again a second later, or the handshake's last ACK, after which the
//! client believes it is connected and its request waits for the server's SYN-ACK to be sent
//! again. Either way a request waits a second or more. The gateway asks for the largest queue
//! instead, as nginx deployments do with `backlog=`; the kernel caps it at
//! `net.core.somaxconn` (4096 by default since Linux 5.4).

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The accept queue asked for; the kernel lowers it to `net.core.somaxconn`.
const BACKLOG: u32 = 65_535;

/// Binds `addr` (`host:port`; a name is resolved and its addresses tried in turn) with the
/// deep accept queue.
pub(crate) async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last_error = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match bind_one(addr) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the address resolves to nothing")))
}

fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As `TcpListener::bind` does: a restarted gateway can bind while its old connections
    // are still in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use super::*;

    /// The kernel's cap on accept queues, which no listener can exceed.
    fn somaxconn() -> usize {
        std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(4096)
    }

    #[tokio::test]
    async fn a_burst_larger_than_tokios_default_queue_is_held_until_accepted() {
        // More connections than `TcpListener::bind`'s 1024, none accepted while they arrive:
        // every one must be waiting in the queue afterwards, not dropped for a retransmit.
        let burst = somaxconn().min(2000);
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let clients: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
            (0..burst)
                .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
                .collect()
        })
        .await
        .unwrap();
        assert_eq!(
            clients.len(),
            burst,
            "handshakes were dropped, or `ulimit -n` is below {} (scripts/test raises it)",
            burst + 64
        );
        let listener = listener.into_std().unwrap();
        // Well under the one second after which a dropped handshake would be tried again.
        let deadline = Instant::now() + Duration::from_millis(300);
        let mut queued = 0;
        while queued < burst && Instant::now() < deadline {
            match listener.accept() {
                Ok(_) => queued += 1,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        assert_eq!(queued, burst, "{burst} clients connected, {queued} were queued");
    }

    #[tokio::test]
    async fn names_are_resolved_and_bad_addresses_refused() {
        assert!(bind("localhost:0").await.is_ok());
        assert!(bind("127.0.0.1:99999").await.is_err());
        assert!(bind("no port").await.is_err());
    }
}
