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
use tungstenite::{HandshakeError, Message, WebSocket};

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
        .spawn(move || run(&dial, &rx, &out))
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
    match connect(dial, deadline) {
        Ok(Connected::Plain(ws, tcp)) => serve(*ws, &tcp, commands, out, dial),
        #[cfg(feature = "rustls")]
        Ok(Connected::Tls(ws, tcp)) => serve(*ws, &tcp, commands, out, dial),
        Err(e) => {
            out.deliver(Inbound::Ended(scrubbed(e)));
        }
    }
}

impl RealtimeError {
    fn with_status_opt(self, status: Option<u16>) -> Self {
        match status {
            Some(s) => self.with_status(s),
            None => self,
        }
    }
}

#[cfg(feature = "rustls")]
type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

enum Connected {
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

fn connect(dial: &Dial, deadline: Option<Instant>) -> Result<Connected, RealtimeError> {
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
    // The handshake's reads and writes are bounded by what is left of the connect timeout.
    let bound = left(deadline)?;
    control
        .set_read_timeout(bound)
        .and_then(|()| control.set_write_timeout(bound))
        .map_err(|e| connect_error(format!("socket: {e}")))?;
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(dial.url.as_str())
            .map_err(|_| connect_error(format!("invalid URL {}", dial.redacted)))?;
    if let Ok(v) = tungstenite::http::HeaderValue::from_str(&dial.user_agent) {
        request.headers_mut().insert("user-agent", v);
    }
    if tls {
        #[cfg(feature = "rustls")]
        {
            let stream = tls_stream(&host, tcp)?;
            let ws = handshake(request, stream)?;
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
    let ws = handshake(request, tcp)?;
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

fn handshake<S: Read + Write>(
    request: tungstenite::handshake::client::Request,
    stream: S,
) -> Result<WebSocket<S>, RealtimeError> {
    let config = tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    match tungstenite::client::client_with_config(request, stream, Some(config)) {
        Ok((ws, _response)) => Ok(ws),
        Err(HandshakeError::Interrupted(_)) => Err(connect_timeout()),
        Err(HandshakeError::Failure(e)) => Err(upgrade_error(e)),
    }
}

/// A failed upgrade: the refusal's status and `detail`, or what broke.
fn upgrade_error(e: tungstenite::Error) -> RealtimeError {
    match e {
        tungstenite::Error::Http(response) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().unwrap_or_default();
            let detail = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_else(|| crate::error::snippet(body).trim().to_owned());
            // tungstenite keeps only the body bytes that came with the head.
            let detail = if detail.is_empty() {
                response
                    .status()
                    .canonical_reason()
                    .unwrap_or_default()
                    .to_owned()
            } else {
                detail
            };
            RealtimeError::new(RealtimeErrorKind::Rejected, detail).with_status(status)
        }
        tungstenite::Error::Io(io) if is_timeout(&io) => connect_timeout(),
        tungstenite::Error::Io(io) => RealtimeError::new(
            RealtimeErrorKind::Connect,
            format!("during the upgrade: {io}"),
        ),
        tungstenite::Error::Tls(tls) => {
            RealtimeError::new(RealtimeErrorKind::Connect, format!("TLS: {tls}"))
        }
        other => RealtimeError::new(
            RealtimeErrorKind::Connect,
            format!("the WebSocket upgrade failed: {other}"),
        ),
    }
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
                break closed(describe_close(frame.as_ref()));
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
