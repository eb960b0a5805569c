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
    /// Like `Stall`, but watches for the client to close the connection (up to 20 s) and
    /// records when it did ([`RawServer::closed`]).
    StallWatched(Vec<u8>),
    /// Reads the request head only, answers with these raw bytes at once (before the body),
    /// then drains what comes for up to 10 s.
    AnswerEarly(Vec<u8>),
}

/// A running raw server; it stops accepting when dropped (the listener thread ends after
/// the next connection attempt or after `lifetime`).
pub struct RawServer {
    pub url: String,
    hits: Arc<AtomicUsize>,
    closed: Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

impl RawServer {
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let closed = Arc::new(std::sync::Mutex::new(Vec::new()));
        let closings = closed.clone();
        thread::spawn(move || {
            // Bounded: at most 16 connections, then the thread ends.
            for stream in listener.incoming().take(16) {
                let Ok(stream) = stream else { break };
                counter.fetch_add(1, Ordering::SeqCst);
                let behaviour = behaviour.clone();
                let closings = closings.clone();
                thread::spawn(move || {
                    if serve(stream, behaviour) {
                        closings.lock().unwrap().push(std::time::Instant::now());
                    }
                });
            }
        });
        RawServer { url, hits, closed }
    }

    /// When clients closed `StallWatched` connections.
    pub fn closed(&self) -> Vec<std::time::Instant> {
        self.closed.lock().unwrap().clone()
    }

    /// How many connections were accepted.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Serves one connection; `true` when a watched client closed it.
fn serve(mut stream: TcpStream, behaviour: Behaviour) -> bool {
    if let Behaviour::AnswerEarly(bytes) = &behaviour {
        read_head(&mut stream);
        let _ = stream.write_all(bytes);
        let _ = stream.flush();
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut sink = [0u8; 65536];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        return false;
    }
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
        Behaviour::StallWatched(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
            let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
            let started = std::time::Instant::now();
            let mut buf = [0u8; 64];
            while started.elapsed() < Duration::from_secs(20) {
                match stream.read(&mut buf) {
                    Ok(0) => return true,
                    Ok(_) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => return true,
                }
            }
        }
        Behaviour::AnswerEarly(_) => {}
    }
    false
}

/// Reads up to the end of the request head.
fn read_head(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while find(&buf, b"\r\n\r\n").is_none() {
        match stream.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return,
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
