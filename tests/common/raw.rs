//! A raw loopback HTTP server for answers mockito cannot give: an answer that never comes, a
//! connection closed mid-way, a truncated body. Plain std threads, so both flavours use it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// What the server does with each request.
#[derive(Clone)]
pub enum Behaviour {
    /// Reads the request, then keeps the connection open without answering for this long.
    Hang(Duration),
    /// Reads the request, then closes the connection without a byte.
    Close,
    /// Reads the request, then writes these raw bytes and closes.
    Raw(Vec<u8>),
    /// Reads the request, writes these raw bytes (a head and the start of a body), then
    /// stalls for this long with the connection open.
    Stall(Vec<u8>, Duration),
}

/// A running raw server; it stops accepting when dropped (the listener thread ends after
/// the next connection attempt or after `lifetime`).
pub struct RawServer {
    pub url: String,
    hits: Arc<AtomicUsize>,
}

impl RawServer {
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        thread::spawn(move || {
            // Bounded: at most 16 connections, then the thread ends.
            for stream in listener.incoming().take(16) {
                let Ok(stream) = stream else { break };
                counter.fetch_add(1, Ordering::SeqCst);
                let behaviour = behaviour.clone();
                thread::spawn(move || serve(stream, behaviour));
            }
        });
        RawServer { url, hits }
    }

    /// How many connections were accepted.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    read_request(&mut stream);
    match behaviour {
        Behaviour::Hang(d) => thread::sleep(d),
        Behaviour::Close => {}
        Behaviour::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
        }
        Behaviour::Stall(bytes, d) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
            thread::sleep(d);
        }
    }
}

/// Reads the head and a `Content-Length` body, so the client is not cut off while sending.
fn read_request(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut chunk) else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            return;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
