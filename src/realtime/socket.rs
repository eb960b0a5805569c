//! The control socket's I/O thread, shared by both flavours.
//!
//! One std thread per session owns the WebSocket (tungstenite over a `TcpStream`, with rustls
//! for `wss://`). It dials, then alternates between short timed reads and the commands the
//! session sends it, and hands every frame to the session through a [`Deliver`] channel: a std
//! channel in the blocking flavour, a tokio channel in the async one. So the async flavour
//! never blocks its runtime and the blocking flavour needs no runtime at all.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

use super::error::{RealtimeError, RealtimeErrorKind};
use super::messages::{ParseError, ServerMessage};
use super::scrub;

/// How long one read waits before the thread looks at its commands again.
const POLL: Duration = Duration::from_millis(10);
/// Every write gives up after this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// After sending a close frame, how long to wait for the server's.
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// A text frame, at most (a room-info message is well under 8 KiB).
const MAX_MESSAGE: usize = 1024 * 1024;

/// What the thread reports to the session.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// The upgrade succeeded.
    Open,
    /// A message from the server.
    Message(ServerMessage),
    /// A text frame that is not a valid message.
    Malformed(ParseError),
    /// The socket ended: closed by either side, or broken. Always the last item.
    Ended(RealtimeError),
    /// The media thread publishes: frames can be sent.
    MediaReady,
    /// A frame from the inference server.
    Frame(crate::realtime::VideoFrame),
    /// The media thread ended (the last item from it).
    MediaEnded(RealtimeError),
}

/// What a wait on the session's channel gave.
pub(crate) enum Recv {
    Item(Inbound),
    TimedOut,
    /// The I/O thread is gone (it always reports its end first, so this comes after `Ended`).
    Gone,
}

/// What the session asks of the thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send this JSON text frame.
    Send(String),
    /// Close the socket cleanly and end.
    Close,
}

/// The sending end of the flavour's channel.
pub(crate) trait Deliver: Send + 'static {
    /// Hands over one item; `false` when the session is gone.
    fn deliver(&self, item: Inbound) -> bool;
}

impl Deliver for mpsc::Sender<Inbound> {
    fn deliver(&self, item: Inbound) -> bool {
        self.send(item).is_ok()
    }
}

#[cfg(feature = "async")]
impl Deliver for tokio::sync::mpsc::UnboundedSender<Inbound> {
    fn deliver(&self, item: Inbound) -> bool {
        self.send(item).is_ok()
    }
}

/// Where and how to dial.
pub(crate) struct Dial {
    /// The URL with the key (never shown).
    pub url: String,
    /// The URL with the key redacted (for messages).
    pub redacted: String,
    /// The raw key, scrubbed from any message.
    pub secret: String,
    /// The `User-Agent` header sent with the upgrade.
    pub user_agent: String,
    /// TCP, TLS and the upgrade, all within this.
    pub connect_timeout: Duration,
}

/// Starts the thread. Commands sent before the upgrade completes are sent right after it.
pub(crate) fn spawn<D: Deliver>(
    dial: Dial,
    out: D,
) -> Result<(mpsc::Sender<Command>, JoinHandle<()>), RealtimeError> {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("decart-realtime".into())
        .spawn(move || {
            let ran =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&dial, &rx, &out)));
            if ran.is_err() {
                // The session still learns that its socket ended (never a silent stall).
                out.deliver(Inbound::Ended(closed(
                    "the session thread stopped on an internal error (a bug: please report it)",
                )));
            }
        })
        .map_err(|e| {
            RealtimeError::new(
                RealtimeErrorKind::Connect,
                format!("cannot start the session thread: {e}"),
            )
        })?;
    Ok((tx, handle))
}

fn run<D: Deliver>(dial: &Dial, commands: &mpsc::Receiver<Command>, out: &D) {
    let deadline = Instant::now().checked_add(dial.connect_timeout);
    let scrubbed = |e: RealtimeError| {
        RealtimeError::new(e.kind(), scrub(e.message(), &dial.secret)).with_status_opt(e.status())
    };
    match connect(dial, deadline, MAX_MESSAGE) {
        Ok(Connected::Plain(ws, tcp)) => serve(*ws, &tcp, commands, out, dial),
        #[cfg(feature = "rustls")]
        Ok(Connected::Tls(ws, tcp)) => serve(*ws, &tcp, commands, out, dial),
        Err(e) => {
            out.deliver(Inbound::Ended(scrubbed(e)));
        }
    }
}

impl RealtimeError {
    pub(crate) fn with_status_opt(self, status: Option<u16>) -> Self {
        match status {
            Some(s) => self.with_status(s),
            None => self,
        }
    }
}

#[cfg(feature = "rustls")]
type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

pub(crate) enum Connected {
    Plain(Box<WebSocket<TcpStream>>, TcpStream),
    #[cfg(feature = "rustls")]
    Tls(Box<WebSocket<TlsStream>>, TcpStream),
}

fn left(deadline: Option<Instant>) -> Result<Option<Duration>, RealtimeError> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) {
                Err(connect_timeout())
            } else {
                Ok(Some(left))
            }
        }
    }
}

fn connect_timeout() -> RealtimeError {
    RealtimeError::new(
        RealtimeErrorKind::ConnectTimeout,
        "the WebSocket did not open within the connect timeout",
    )
}

/// Dials and upgrades: TCP, TLS for `wss://`, the upgrade, all before `deadline`; frames up to
/// `max_message` bytes.
pub(crate) fn connect(
    dial: &Dial,
    deadline: Option<Instant>,
    max_message: usize,
) -> Result<Connected, RealtimeError> {
    let parsed = url::Url::parse(&dial.url).map_err(|_| {
        RealtimeError::new(
            RealtimeErrorKind::Connect,
            format!("invalid URL {}", dial.redacted),
        )
    })?;
    let tls = parsed.scheme() == "wss";
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed
        .port_or_known_default()
        .unwrap_or(if tls { 443 } else { 80 });
    let connect_error = |what: String| RealtimeError::new(RealtimeErrorKind::Connect, what);
    // Host names in brackets (IPv6) resolve without them.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| connect_error(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        let timeout = left(deadline)?;
        let attempt = match timeout {
            Some(t) => TcpStream::connect_timeout(&addr, t),
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match (tcp, last) {
        (Some(s), _) => s,
        (None, Some(e)) if is_timeout(&e) => return Err(connect_timeout()),
        (None, Some(e)) => {
            return Err(connect_error(format!(
                "cannot connect to {host}:{port}: {e}"
            )));
        }
        (None, None) => return Err(connect_error(format!("{host} has no address"))),
    };
    let _ = tcp.set_nodelay(true);
    let control = tcp
        .try_clone()
        .map_err(|e| connect_error(format!("socket: {e}")))?;
    // The handshake's reads and writes are bounded by what is left of the connect timeout:
    // re-armed before every read, so a server that drips its answer cannot stretch it.
    let rearm = || {
        let bound = left(deadline)?;
        control
            .set_read_timeout(bound)
            .and_then(|()| control.set_write_timeout(bound))
            .map_err(|e| connect_error(format!("socket: {e}")))
    };
    rearm()?;
    // The upgrade request is written here, not by tungstenite, whose client logs the whole
    // request (and so the key in the query) at trace level.
    let request = UpgradeRequest {
        target: parsed[url::Position::BeforePath..url::Position::AfterQuery].to_owned(),
        host: match parsed.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        },
        user_agent: dial.user_agent.clone(),
    };
    if tls {
        #[cfg(feature = "rustls")]
        {
            let stream = tls_stream(&host, tcp)?;
            let ws = handshake(&request, stream, &rearm, max_message)?;
            return Ok(Connected::Tls(Box::new(ws), control));
        }
        #[cfg(not(feature = "rustls"))]
        {
            let _ = (request, tcp);
            return Err(connect_error(
                "wss:// sessions need the `rustls` feature of decart-sdk".into(),
            ));
        }
    }
    let ws = handshake(&request, tcp, &rearm, max_message)?;
    Ok(Connected::Plain(Box::new(ws), control))
}

#[cfg(feature = "rustls")]
fn tls_stream(host: &str, tcp: TcpStream) -> Result<TlsStream, RealtimeError> {
    use std::sync::{Arc, OnceLock};
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| RealtimeError::new(RealtimeErrorKind::Connect, format!("TLS set-up: {e}")))?;
    let name = rustls::pki_types::ServerName::try_from(
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
    .map_err(|_| {
        RealtimeError::new(
            RealtimeErrorKind::Connect,
            format!("invalid TLS host name {host}"),
        )
    })?;
    let conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| RealtimeError::new(RealtimeErrorKind::Connect, format!("TLS: {e}")))?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// What the upgrade request says.
struct UpgradeRequest {
    /// Path and query (with the key: never logged).
    target: String,
    host: String,
    user_agent: String,
}

/// The upgrade's answer head, at most.
const MAX_ANSWER_HEAD: usize = 16 * 1024;
/// Of a refusal's body, at most this is read (for its `detail`).
const MAX_REFUSAL_BODY: usize = 4 * 1024;

fn io_error(e: &io::Error) -> RealtimeError {
    if is_timeout(e) {
        connect_timeout()
    } else {
        RealtimeError::new(
            RealtimeErrorKind::Connect,
            format!("during the upgrade: {e}"),
        )
    }
}

/// The WebSocket upgrade (RFC 6455 section 4), then tungstenite on the open stream.
/// `rearm` bounds the next read by what is left of the connect timeout (an error once none is).
fn handshake<S: Read + Write>(
    request: &UpgradeRequest,
    mut stream: S,
    rearm: &dyn Fn() -> Result<(), RealtimeError>,
    max_message: usize,
) -> Result<WebSocket<S>, RealtimeError> {
    let key = tungstenite::handshake::client::generate_key();
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nUser-Agent: {}\r\n\r\n",
        request.target, request.host, request.user_agent
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| io_error(&e))?;
    // The answer's head.
    let mut buf = Vec::with_capacity(1024);
    let head_len = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_ANSWER_HEAD {
            return Err(RealtimeError::new(
                RealtimeErrorKind::Connect,
                "the upgrade's answer head is too large",
            ));
        }
        let mut chunk = [0u8; 2048];
        rearm()?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(RealtimeError::new(
                    RealtimeErrorKind::Connect,
                    "the server closed the connection during the upgrade",
                ));
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(&e)),
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut answer = httparse::Response::new(&mut headers);
    let not_http = || {
        RealtimeError::new(
            RealtimeErrorKind::Connect,
            "the upgrade's answer is not HTTP",
        )
    };
    match answer.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(not_http()),
    }
    let status = answer.code.ok_or_else(not_http)?;
    let header = |name: &str| {
        answer
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
    };
    if status != 101 {
        let length = header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
            .min(MAX_REFUSAL_BODY);
        let reason = answer.reason.unwrap_or_default().to_owned();
        let mut body = buf[head_len..].to_vec();
        while body.len() < length && rearm().is_ok() {
            let mut chunk = [0u8; 1024];
            match stream.read(&mut chunk) {
                Ok(n) if n > 0 => body.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        body.truncate(length);
        return Err(refusal(status, &reason, &body));
    }
    let expected = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let upgraded = header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && header("sec-websocket-accept").as_deref() == Some(expected.as_str());
    if !upgraded {
        return Err(RealtimeError::new(
            RealtimeErrorKind::Connect,
            "the server answered 101 without a valid WebSocket upgrade",
        ));
    }
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let rest = buf[head_len..].to_vec();
    Ok(WebSocket::from_partially_read(
        stream,
        rest,
        tungstenite::protocol::Role::Client,
        Some(config),
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A refused upgrade: the status, and the body's `detail` (or the body, or the reason phrase).
fn refusal(status: u16, reason: &str, body: &[u8]) -> RealtimeError {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
        .unwrap_or_else(|| crate::error::snippet(body).trim().to_owned());
    let detail = if detail.is_empty() {
        reason.to_owned()
    } else {
        detail
    };
    RealtimeError::new(RealtimeErrorKind::Rejected, detail).with_status(status)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn closed(message: impl Into<String>) -> RealtimeError {
    RealtimeError::new(RealtimeErrorKind::Closed, message)
}

/// The open socket: send what the session asks, deliver what the server sends.
fn serve<S: Read + Write, D: Deliver>(
    mut ws: WebSocket<S>,
    tcp: &TcpStream,
    commands: &mpsc::Receiver<Command>,
    out: &D,
    dial: &Dial,
) {
    if tcp.set_read_timeout(Some(POLL)).is_err()
        || tcp.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
        || !out.deliver(Inbound::Open)
    {
        let _ = tcp.shutdown(Shutdown::Both);
        return;
    }
    let ended = loop {
        // Everything the session queued, in order.
        let mut close = false;
        let mut failed = None;
        loop {
            match commands.try_recv() {
                Ok(Command::Send(text)) => {
                    if let Err(e) = ws.send(Message::text(text)) {
                        failed = Some(closed(format!(
                            "cannot send: {}",
                            scrub(&e.to_string(), &dial.secret)
                        )));
                        break;
                    }
                }
                Ok(Command::Close) | Err(mpsc::TryRecvError::Disconnected) => {
                    close = true;
                    break;
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        if let Some(e) = failed {
            break e;
        }
        if close {
            close_cleanly(&mut ws, tcp);
            break closed("the session was closed");
        }
        match ws.read() {
            Ok(Message::Text(text)) => {
                let item = match ServerMessage::parse(text.as_str()) {
                    Ok(m) => Inbound::Message(m),
                    Err(e) if e.skippable => {
                        // As the peers: a status message the session can do without.
                        log::warn!("realtime: skipping a malformed message: {}", e.message);
                        continue;
                    }
                    Err(e) => Inbound::Malformed(e),
                };
                if !out.deliver(item) {
                    close_cleanly(&mut ws, tcp);
                    return;
                }
            }
            Ok(Message::Close(frame)) => {
                // tungstenite answers the close; the next read ends the connection.
                let _ = ws.flush();
                let error = closed(scrub(&describe_close(frame.as_ref()), &dial.secret));
                break match &frame {
                    Some(f) => error.with_close(f.code.into(), &f.reason),
                    None => error,
                };
            }
            // Binary frames are not part of the protocol; pings are answered by tungstenite.
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                break closed("the server closed the connection");
            }
            Err(tungstenite::Error::Io(e)) => {
                break closed(format!("the connection broke: {e}"));
            }
            Err(tungstenite::Error::Protocol(p)) => {
                break closed(format!("the connection broke: {p}"));
            }
            Err(e) => {
                break RealtimeError::new(
                    RealtimeErrorKind::Protocol,
                    scrub(&e.to_string(), &dial.secret),
                );
            }
        }
    };
    let _ = tcp.shutdown(Shutdown::Both);
    out.deliver(Inbound::Ended(ended));
}

fn describe_close(frame: Option<&CloseFrame>) -> String {
    match frame {
        Some(f) if !f.reason.is_empty() => {
            format!(
                "the server closed the connection ({} {})",
                u16::from(f.code),
                f.reason
            )
        }
        Some(f) => format!("the server closed the connection ({})", u16::from(f.code)),
        None => "the server closed the connection".to_owned(),
    }
}

/// Sends a close frame and waits a little for the server's, then shuts the socket.
fn close_cleanly<S: Read + Write>(ws: &mut WebSocket<S>, tcp: &TcpStream) {
    if ws.close(None).is_ok() {
        let until = Instant::now() + CLOSE_WAIT;
        while Instant::now() < until {
            match ws.read() {
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {}
                Err(_) => break,
            }
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
}
