//! Reading HTTP/1.1 off a raw socket, for servers that must answer with exact bytes (scripted
//! and misbehaving upstreams), where a server library would tidy the bytes first.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads what the peer sends next onto `pending`; false when the stream ended or failed.
pub async fn read_more(stream: &mut (impl AsyncRead + Unpin), pending: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            pending.extend_from_slice(&buf[..n]);
            true
        }
    }
}

/// Reads until `pending` holds a whole message head and takes it off, its blank line
/// included; `None` when the stream ends first. What follows the head stays in `pending`, so
/// that pipelined requests and bodies are not lost.
pub async fn read_head(stream: &mut (impl AsyncRead + Unpin), pending: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end + 4]).into_owned();
            pending.drain(..end + 4);
            return Some(head);
        }
        if !read_more(stream, pending).await {
            return None;
        }
    }
}
