//! The HTTP/1.1 layer of the emulator: std sockets and threads, `httparse` for request heads,
//! chunk sizes and trailers.
//!
//! Why not a server crate: the emulator must close a connection without answering, cut a body
//! short and close, and bound every read in time and size. `tiny_http` 0.12 (the small sync
//! server) hides its sockets, so it can do none of that: no socket timeouts, no way to drop a
//! connection, unbounded header lines and counts. Here the parsing is `httparse`'s (hyper's
//! parser); this file only frames bodies and writes answers, each step bounded.
//!
//! One thread per connection (at most [`Limits::max_connections`]); the handler runs on it.
//! Shutdown: stop flag, wake the accept loop with a connection to itself, shut every open
//! socket down (which ends any blocked read or write), join every thread.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::util::lock;

/// At most this many header fields in a request head (more: 431).
pub(crate) const MAX_HEADERS: usize = 64;
/// At most this many bytes in a request head (more: 431).
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The connection's read buffer.
const BUF_SIZE: usize = 64 * 1024;
/// A chunk-size line longer than this is malformed.
const MAX_CHUNK_LINE: usize = 1024;
/// Trailers after the last chunk, at most.
const MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Per-server limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Every read from a socket (an idle keep-alive wait included) gives up after this.
    pub read_timeout: Duration,
    /// Every write to a socket gives up after this.
    pub write_timeout: Duration,
    /// Open connections at most; more are answered 503 and closed.
    pub max_connections: usize,
}

/// The stop signal, with an interruptible sleep.
#[derive(Debug, Default)]
pub(crate) struct Stopper {
    stopped: Mutex<bool>,
    cv: Condvar,
    flag: AtomicBool,
}

impl Stopper {
    pub(crate) fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        *lock(&self.stopped) = true;
        self.cv.notify_all();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Sleeps for `d`, or less if the server stops meanwhile; returns whether it stopped.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let guard = lock(&self.stopped);
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard
    }

    /// Blocks until the server stops.
    pub(crate) fn wait(&self) {
        let mut guard = lock(&self.stopped);
        while !*guard {
            guard = self
                .cv
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    pub method: String,
    /// The path, without the query, as sent (still percent-encoded).
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names, values as lossy UTF-8, in order.
    pub headers: Vec<(String, String)>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
}

impl RequestHead {
    /// The first value of a header (`name` in lower case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn keep_alive(&self) -> bool {
        let connection = self.header("connection").unwrap_or("").to_ascii_lowercase();
        let tokens = || connection.split(',').map(str::trim);
        if self.minor_version >= 1 {
            !tokens().any(|t| t == "close")
        } else {
            tokens().any(|t| t == "keep-alive")
        }
    }
}

/// An answer's body.
pub(crate) enum ResponseBody {
    Bytes(Vec<u8>),
    /// A body produced on the fly, of exactly this length.
    Stream(Box<dyn Read + Send>, u64),
}

/// An answer.
pub(crate) struct Response {
    pub status: u16,
    /// Extra headers (`content-length` and `connection` are written by the server).
    pub headers: Vec<(String, String)>,
    pub body: ResponseBody,
}

impl Response {
    pub(crate) fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: ResponseBody::Bytes(body),
        }
    }

    pub(crate) fn empty(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: ResponseBody::Bytes(Vec::new()),
        }
    }

    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    fn body_len(&self) -> u64 {
        match &self.body {
            ResponseBody::Bytes(b) => b.len() as u64,
            ResponseBody::Stream(_, len) => *len,
        }
    }
}

/// What the handler wants done with the connection.
pub(crate) enum Outcome {
    /// Answer normally.
    Respond(Response),
    /// Write the head with the full `Content-Length` but only part of the body, then close.
    Truncate(Response),
    /// Close the connection without answering.
    Drop,
}

/// The request handler: called on the connection's thread with the head and the body.
pub(crate) trait Handler: Send + Sync + 'static {
    fn handle(&self, head: &RequestHead, body: &mut Body<'_>) -> Outcome;
}

/// A running server.
pub(crate) struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    stopper: Arc<Stopper>,
    limits: Limits,
    conns: Mutex<Conns>,
}

#[derive(Default)]
struct Conns {
    next_id: u64,
    /// A clone of each open socket, to shut it down on stop.
    open: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

impl Server {
    /// Starts serving `listener` with `handler`.
    pub(crate) fn start<H: Handler>(
        listener: TcpListener,
        handler: Arc<H>,
        stopper: Arc<Stopper>,
        limits: Limits,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopper,
            limits,
            conns: Mutex::new(Conns::default()),
        });
        let inner = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("decart-emulator-accept".into())
            .spawn(move || accept_loop(&listener, &inner, &handler))?;
        Ok(Server {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection and joins every thread.
    pub(crate) fn shutdown(&mut self) {
        self.shared.stopper.stop();
        wake(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        // The accept loop is gone: no connection registers after this sweep.
        let threads = {
            let mut conns = lock(&self.shared.conns);
            for stream in conns.open.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut conns.threads)
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Unblocks the accept loop by connecting to it.
pub(crate) fn wake(addr: SocketAddr) {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&target, Duration::from_secs(1));
}

fn accept_loop<H: Handler>(listener: &TcpListener, shared: &Arc<Shared>, handler: &Arc<H>) {
    for incoming in listener.incoming() {
        if shared.stopper.is_stopped() {
            break;
        }
        let stream = match incoming {
            Ok(stream) => stream,
            Err(_) => {
                // Out of file descriptors and the like: wait a little, keep serving.
                if shared.stopper.sleep(Duration::from_millis(20)) {
                    break;
                }
                continue;
            }
        };
        let mut conns = lock(&shared.conns);
        // Reap finished connection threads so the list stays short.
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut conns.threads)
            .into_iter()
            .partition(JoinHandle::is_finished);
        conns.threads = running;
        drop(done);
        if conns.open.len() >= shared.limits.max_connections {
            drop(conns);
            refuse(stream, shared.limits);
            continue;
        }
        let Ok(clone) = stream.try_clone() else {
            continue;
        };
        let id = conns.next_id;
        conns.next_id += 1;
        conns.open.insert(id, clone);
        let (inner, handler) = (Arc::clone(shared), Arc::clone(handler));
        let spawned = thread::Builder::new()
            .name("decart-emulator-conn".into())
            .spawn(move || {
                // Unregisters the connection however the thread ends.
                struct Registered<'a>(&'a Shared, u64);
                impl Drop for Registered<'_> {
                    fn drop(&mut self) {
                        lock(&self.0.conns).open.remove(&self.1);
                    }
                }
                let _registered = Registered(&inner, id);
                serve_connection(stream, &inner, &*handler);
            });
        match spawned {
            Ok(t) => conns.threads.push(t),
            Err(_) => {
                conns.open.remove(&id);
            }
        }
    }
}

/// Too many connections: a short 503, then close.
fn refuse(mut stream: TcpStream, limits: Limits) {
    let _ = stream.set_write_timeout(Some(limits.write_timeout));
    let body = br#"{"detail":"Too many connections to the emulator"}"#;
    let _ = write_head(&mut stream, 503, &json_headers(), body.len() as u64, true);
    let _ = stream.write_all(body);
    let _ = stream.shutdown(Shutdown::Both);
}

fn json_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), "application/json".into())]
}

/// The connection: a socket and its read buffer.
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Conn {
    fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "read buffer full",
            ));
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads straight into `out` when the buffer is empty (large bodies skip a copy).
    fn read_into(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end && out.len() >= 8 * 1024 {
            loop {
                match self.stream.read(out) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => return other,
                }
            }
        }
        if self.start == self.end && self.fill()? == 0 {
            return Ok(0);
        }
        let n = self.available().len().min(out.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.consume(n);
        Ok(n)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

enum HeadRead {
    Head(RequestHead),
    /// The peer closed (or went quiet) between requests.
    Closed,
    /// Answer this status and close.
    Bad(u16, &'static str),
}

fn read_head(conn: &mut Conn) -> HeadRead {
    loop {
        if !conn.available().is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(conn.available()) {
                Ok(httparse::Status::Complete(n)) if n > MAX_HEAD_BYTES => {
                    return HeadRead::Bad(431, "Request head too large");
                }
                Ok(httparse::Status::Complete(n)) => {
                    let (method, target) = (req.method.unwrap_or(""), req.path.unwrap_or(""));
                    let (path, query) = match target.split_once('?') {
                        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
                        None => (target.to_owned(), None),
                    };
                    let head = RequestHead {
                        method: method.to_owned(),
                        path,
                        query,
                        headers: req
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_ascii_lowercase(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect(),
                        minor_version: req.version.unwrap_or(1),
                    };
                    conn.consume(n);
                    return HeadRead::Head(head);
                }
                Ok(httparse::Status::Partial) => {
                    if conn.available().len() >= MAX_HEAD_BYTES {
                        return HeadRead::Bad(431, "Request head too large");
                    }
                }
                Err(httparse::Error::TooManyHeaders) => {
                    return HeadRead::Bad(431, "Too many header fields");
                }
                Err(_) => return HeadRead::Bad(400, "Malformed request head"),
            }
        }
        let had_bytes = !conn.available().is_empty();
        match conn.fill() {
            Ok(0) => return HeadRead::Closed,
            Ok(_) => {}
            Err(e) if is_timeout(&e) && had_bytes => {
                return HeadRead::Bad(408, "Timed out reading the request head");
            }
            Err(_) => return HeadRead::Closed,
        }
    }
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailers,
    Done,
}

fn framing(head: &RequestHead) -> Result<BodyState, (u16, &'static str)> {
    let te: Vec<&str> = head
        .headers
        .iter()
        .filter(|(n, _)| n == "transfer-encoding")
        .map(|(_, v)| v.as_str())
        .collect();
    let cl: Vec<&str> = head
        .headers
        .iter()
        .filter(|(n, _)| n == "content-length")
        .map(|(_, v)| v.trim())
        .collect();
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err((400, "Both Transfer-Encoding and Content-Length"));
        }
        let codings: Vec<String> = te
            .iter()
            .flat_map(|v| v.split(','))
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty())
            .collect();
        return if codings == ["chunked"] {
            Ok(BodyState::ChunkSize)
        } else {
            Err((501, "Unsupported Transfer-Encoding"))
        };
    }
    let Some(first) = cl.first() else {
        return Ok(BodyState::Length(0));
    };
    if cl.iter().any(|v| v != first)
        || first.is_empty()
        || !first.bytes().all(|b| b.is_ascii_digit())
    {
        return Err((400, "Invalid Content-Length"));
    }
    first
        .parse::<u64>()
        .map(BodyState::Length)
        .map_err(|_| (400, "Invalid Content-Length"))
}

/// The request body, de-framed (`Content-Length` or chunked), as a stream.
pub(crate) struct Body<'c> {
    conn: &'c mut Conn,
    state: BodyState,
    read: u64,
    error: Option<io::ErrorKind>,
}

impl Body<'_> {
    /// The connection's socket, for a handler that takes the connection over (a WebSocket).
    #[cfg(feature = "realtime")]
    pub(crate) fn socket(&mut self) -> &mut TcpStream {
        &mut self.conn.stream
    }

    /// Bytes of body read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Reads and discards the rest of the body.
    pub(crate) fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }

    fn read_framed(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.state {
                BodyState::Done => return Ok(0),
                BodyState::Length(0) => self.state = BodyState::Done,
                BodyState::Length(rem) | BodyState::ChunkData(rem) => {
                    let want = out.len().min(usize::try_from(rem).unwrap_or(usize::MAX));
                    let n = self.conn.read_into(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    let left = rem - n as u64;
                    self.state = match self.state {
                        BodyState::Length(_) => BodyState::Length(left),
                        _ if left == 0 => BodyState::ChunkDataEnd,
                        _ => BodyState::ChunkData(left),
                    };
                    return Ok(n);
                }
                BodyState::ChunkSize => match httparse::parse_chunk_size(self.conn.available()) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.conn.consume(used);
                        self.state = if size == 0 {
                            BodyState::Trailers
                        } else {
                            BodyState::ChunkData(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        if self.conn.available().len() > MAX_CHUNK_LINE {
                            return Err(invalid("chunk size line too long"));
                        }
                        self.fill_or_eof()?;
                    }
                    Err(_) => return Err(invalid("malformed chunk size")),
                },
                BodyState::ChunkDataEnd => {
                    if self.conn.available().len() < 2 {
                        self.fill_or_eof()?;
                        continue;
                    }
                    if &self.conn.available()[..2] != b"\r\n" {
                        return Err(invalid("chunk not followed by CRLF"));
                    }
                    self.conn.consume(2);
                    self.state = BodyState::ChunkSize;
                }
                BodyState::Trailers => {
                    let mut trailers = [httparse::EMPTY_HEADER; 16];
                    match httparse::parse_headers(self.conn.available(), &mut trailers) {
                        Ok(httparse::Status::Complete((used, _))) => {
                            self.conn.consume(used);
                            self.state = BodyState::Done;
                        }
                        Ok(httparse::Status::Partial) => {
                            if self.conn.available().len() > MAX_TRAILER_BYTES {
                                return Err(invalid("trailers too large"));
                            }
                            self.fill_or_eof()?;
                        }
                        Err(_) => return Err(invalid("malformed trailers")),
                    }
                }
            }
        }
    }

    fn fill_or_eof(&mut self) -> io::Result<()> {
        match self.conn.fill()? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Read for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(kind) = self.error {
            return Err(io::Error::new(kind, "request body already failed"));
        }
        if out.is_empty() {
            return Ok(0);
        }
        match self.read_framed(out) {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) => {
                self.error = Some(e.kind());
                Err(e)
            }
        }
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared, handler: &dyn Handler) {
    let limits = shared.limits;
    let _ = stream.set_nodelay(true);
    if stream.set_read_timeout(Some(limits.read_timeout)).is_err()
        || stream
            .set_write_timeout(Some(limits.write_timeout))
            .is_err()
    {
        return;
    }
    let mut conn = Conn {
        stream,
        buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
        start: 0,
        end: 0,
    };
    loop {
        if shared.stopper.is_stopped() {
            break;
        }
        let head = match read_head(&mut conn) {
            HeadRead::Head(head) => head,
            HeadRead::Closed => break,
            HeadRead::Bad(status, detail) => {
                let _ = write_response(&mut conn.stream, error_response(status, detail), true);
                break;
            }
        };
        let state = match framing(&head) {
            Ok(state) => state,
            Err((status, detail)) => {
                let _ = write_response(&mut conn.stream, error_response(status, detail), true);
                break;
            }
        };
        if let Some(expect) = head.header("expect") {
            if !expect.trim().eq_ignore_ascii_case("100-continue") {
                let resp = error_response(417, "Unsupported Expect header");
                let _ = write_response(&mut conn.stream, resp, true);
                break;
            }
            if state != BodyState::Length(0)
                && conn
                    .stream
                    .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                    .is_err()
            {
                break;
            }
        }
        let keep_alive = head.keep_alive();
        let mut body = Body {
            conn: &mut conn,
            state,
            read: 0,
            error: None,
        };
        // A panic would be a bug of the emulator: answer 500 and close rather than lose the
        // thread silently (the state's locks survive poisoning).
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handler.handle(&head, &mut body)
        }))
        .unwrap_or_else(|_| {
            body.error = Some(io::ErrorKind::Other);
            Outcome::Respond(error_response(500, "The emulator failed on this request"))
        });
        // Whatever the handler left unread is drained, so the next request starts in place.
        let body_ok = body.error.is_none() && body.drain().is_ok();
        match outcome {
            Outcome::Respond(mut resp) => {
                let close = !keep_alive || !body_ok || shared.stopper.is_stopped();
                if head.method == "HEAD" {
                    // No route answers HEAD (405), but its answer must not carry a body.
                    resp.body = ResponseBody::Bytes(Vec::new());
                }
                if write_response(&mut conn.stream, resp, close).is_err() || close {
                    break;
                }
            }
            Outcome::Truncate(resp) => {
                let _ = write_truncated(&mut conn.stream, resp);
                break;
            }
            Outcome::Drop => break,
        }
    }
    let _ = conn.stream.shutdown(Shutdown::Both);
}

/// `{"detail": ...}` with this status.
pub(crate) fn error_response(status: u16, detail: &str) -> Response {
    let body = serde_json::json!({ "detail": detail })
        .to_string()
        .into_bytes();
    Response::new(status, "application/json", body)
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_head(
    w: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    content_length: u64,
    close: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        // Header values come from the emulator or from a fault's configuration: keep them on
        // one line whatever they contain.
        let value: String = value.chars().filter(|c| *c != '\r' && *c != '\n').collect();
        head.push_str(name);
        head.push_str(": ");
        head.push_str(&value);
        head.push_str("\r\n");
    }
    let no_body = status == 204 || status == 304 || (100..200).contains(&status);
    if !no_body {
        head.push_str(&format!("content-length: {content_length}\r\n"));
    }
    head.push_str("server: decart-emulator\r\n");
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())
}

fn write_response(stream: &mut TcpStream, resp: Response, close: bool) -> io::Result<()> {
    let len = resp.body_len();
    write_head(stream, resp.status, &resp.headers, len, close)?;
    match resp.body {
        ResponseBody::Bytes(bytes) => stream.write_all(&bytes)?,
        ResponseBody::Stream(reader, len) => {
            let copied = io::copy(&mut reader.take(len), stream)?;
            if copied != len {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
    stream.flush()
}

/// The head with the full length, then at most half of the body (none if it is empty, with a
/// declared length of 1), then the caller closes.
fn write_truncated(stream: &mut TcpStream, resp: Response) -> io::Result<()> {
    let len = resp.body_len();
    let declared = len.max(1);
    let send = len / 2;
    write_head(stream, resp.status, &resp.headers, declared, false)?;
    match resp.body {
        ResponseBody::Bytes(bytes) => stream.write_all(&bytes[..send as usize])?,
        ResponseBody::Stream(reader, _) => {
            io::copy(&mut reader.take(send), stream)?;
        }
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "POST".into(),
            path: "/".into(),
            query: None,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            minor_version: 1,
        }
    }

    #[test]
    fn framing_rules() {
        assert_eq!(framing(&head(&[])), Ok(BodyState::Length(0)));
        assert_eq!(
            framing(&head(&[("content-length", "12")])),
            Ok(BodyState::Length(12))
        );
        assert_eq!(
            framing(&head(&[("transfer-encoding", "Chunked")])),
            Ok(BodyState::ChunkSize)
        );
        for bad in [
            vec![("content-length", "-1")],
            vec![("content-length", "1x")],
            vec![("content-length", "")],
            vec![("content-length", "99999999999999999999999")],
            vec![("content-length", "1"), ("content-length", "2")],
            vec![("transfer-encoding", "chunked"), ("content-length", "2")],
            vec![("transfer-encoding", "gzip, chunked")],
        ] {
            assert!(framing(&head(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keep_alive_rules() {
        assert!(head(&[]).keep_alive());
        assert!(!head(&[("connection", "Close")]).keep_alive());
        let mut h10 = head(&[]);
        h10.minor_version = 0;
        assert!(!h10.keep_alive());
        h10.headers.push(("connection".into(), "keep-alive".into()));
        assert!(h10.keep_alive());
    }
}
