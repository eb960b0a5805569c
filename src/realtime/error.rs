//! Realtime failures: one type, [`RealtimeError`], with a [`kind`](RealtimeError::kind) and the
//! peers' rule for what not to retry. It converts into [`crate::Error::Realtime`].

use std::fmt;

/// The substrings (matched case-insensitively) that make an error permanent: both peers stop
/// retrying on them (`config-realtime.ts` `permanentErrorSubstrings`, Python's retry predicate).
pub const PERMANENT_ERROR_SUBSTRINGS: [&str; 6] = [
    "permission denied",
    "not allowed",
    "invalid session",
    "401",
    "invalid api key",
    "unauthorized",
];

/// What kind of realtime failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RealtimeErrorKind {
    /// The client-token JWT had expired; nothing was dialled.
    TokenExpired,
    /// The TCP connection, TLS or the WebSocket upgrade failed (refused, reset, bad TLS).
    Connect,
    /// The TCP connection, TLS and upgrade did not complete within the connect timeout.
    ConnectTimeout,
    /// The server refused the WebSocket upgrade with an HTTP status (401 for a bad key, …).
    Rejected,
    /// The server sent an `error` message.
    Server,
    /// The server answered a prompt or an image with `success: false`; the session goes on.
    AckRejected,
    /// No room info, or no acknowledgement, arrived in time.
    Timeout,
    /// The socket was closed or broke (by the server, the network, or a close of the session).
    Closed,
    /// The server sent a frame that is not a valid message (on the control socket or
    /// LiveKit's signal socket), or media the session cannot take.
    Protocol,
    /// The media path failed: ICE found no working route to the LiveKit server within the
    /// media timeout, or lost it; or WebRTC (DTLS, SRTP) failed.
    Ice,
    /// `send_frame` found the media thread's queue full
    /// ([`MAX_QUEUED_FRAMES`](crate::realtime::MAX_QUEUED_FRAMES)): the frame was not sent and
    /// the session goes on.
    Backpressure,
}

impl RealtimeErrorKind {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            RealtimeErrorKind::TokenExpired => "TOKEN_EXPIRED",
            RealtimeErrorKind::Connect => "REALTIME_CONNECT_ERROR",
            RealtimeErrorKind::ConnectTimeout => "REALTIME_CONNECT_TIMEOUT",
            RealtimeErrorKind::Rejected => "REALTIME_REJECTED",
            RealtimeErrorKind::Server => "REALTIME_SERVER_ERROR",
            RealtimeErrorKind::AckRejected => "REALTIME_ACK_REJECTED",
            RealtimeErrorKind::Timeout => "REALTIME_TIMEOUT",
            RealtimeErrorKind::Closed => "REALTIME_CLOSED",
            RealtimeErrorKind::Protocol => "REALTIME_PROTOCOL_ERROR",
            RealtimeErrorKind::Ice => "REALTIME_ICE_ERROR",
            RealtimeErrorKind::Backpressure => "REALTIME_BACKPRESSURE",
        }
    }
}

/// A realtime session failed, or one of its requests did.
///
/// `Display` says what failed; it never contains the API key or the session URL with it (the
/// URL appears as `…?api_key=<redacted>&…` when at all).
#[derive(Clone, PartialEq, Eq)]
pub struct RealtimeError {
    kind: RealtimeErrorKind,
    message: String,
    status: Option<u16>,
    close_code: Option<u16>,
    /// A close that names a terminal reason (policy violation, a refused credential).
    terminal_close: bool,
}

/// WebSocket close code 1008, "policy violation": the server ended the session for good
/// (moderation, a refused credential); the next (unreleased) JS SDK does not reconnect after
/// it.
pub const POLICY_VIOLATION_CLOSE: u16 = 1008;

/// Whether a server's text names one of [`PERMANENT_ERROR_SUBSTRINGS`] (case-insensitive).
fn names_permanent(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    PERMANENT_ERROR_SUBSTRINGS.iter().any(|s| text.contains(s))
}

impl RealtimeError {
    pub(crate) fn new(kind: RealtimeErrorKind, message: impl Into<String>) -> Self {
        RealtimeError {
            kind,
            message: message.into(),
            status: None,
            close_code: None,
            terminal_close: false,
        }
    }

    /// A close frame's code and reason: 1008 (policy violation) or a reason naming one of
    /// [`PERMANENT_ERROR_SUBSTRINGS`] makes the close permanent.
    pub(crate) fn with_close(mut self, code: u16, reason: &str) -> Self {
        self.close_code = Some(code);
        self.terminal_close = code == POLICY_VIOLATION_CLOSE || names_permanent(reason);
        self
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> RealtimeErrorKind {
        self.kind
    }

    /// The message: the server's own words for [`Server`](RealtimeErrorKind::Server) and
    /// [`AckRejected`](RealtimeErrorKind::AckRejected), else a description.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status of a refused upgrade ([`Rejected`](RealtimeErrorKind::Rejected)).
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The code of the server's WebSocket close frame ([`Closed`](RealtimeErrorKind::Closed)
    /// by the server with a close frame): 1000 normal, 1008 policy violation, 1011 server
    /// error, 1013 try again later, …
    pub fn close_code(&self) -> Option<u16> {
        self.close_code
    }

    /// The stable error code (`REALTIME_SERVER_ERROR`, …).
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// Whether connecting again cannot help: an expired token, a refused credential (401, 403,
    /// or another 4xx but 408 and 429), a rejected request, a protocol violation, a server
    /// error naming one of [`PERMANENT_ERROR_SUBSTRINGS`] (the peers' rule), or a close by the
    /// server with code 1008 ([`POLICY_VIOLATION_CLOSE`]) or a reason naming one of them.
    pub fn is_permanent(&self) -> bool {
        match self.kind {
            RealtimeErrorKind::TokenExpired
            | RealtimeErrorKind::AckRejected
            | RealtimeErrorKind::Protocol => true,
            RealtimeErrorKind::Rejected => match self.status {
                Some(s) => (400..500).contains(&s) && s != 408 && s != 429,
                None => true,
            },
            RealtimeErrorKind::Server => names_permanent(&self.message),
            RealtimeErrorKind::Closed => self.terminal_close,
            RealtimeErrorKind::Connect
            | RealtimeErrorKind::ConnectTimeout
            | RealtimeErrorKind::Timeout
            | RealtimeErrorKind::Ice
            | RealtimeErrorKind::Backpressure => false,
        }
    }

    /// Whether a new session may succeed later (the opposite of
    /// [`is_permanent`](Self::is_permanent)).
    pub fn is_retryable(&self) -> bool {
        !self.is_permanent()
    }
}

impl fmt::Debug for RealtimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealtimeError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("status", &self.status)
            .field("close_code", &self.close_code)
            .finish()
    }
}

impl fmt::Display for RealtimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            RealtimeErrorKind::TokenExpired => "the client token has expired",
            RealtimeErrorKind::Connect => "could not connect",
            RealtimeErrorKind::ConnectTimeout => "timed out connecting",
            RealtimeErrorKind::Rejected => "the server refused the session",
            RealtimeErrorKind::Server => "server error",
            RealtimeErrorKind::AckRejected => "the server rejected the request",
            RealtimeErrorKind::Timeout => "timed out",
            RealtimeErrorKind::Closed => "the connection closed",
            RealtimeErrorKind::Protocol => "protocol error",
            RealtimeErrorKind::Ice => "the media connection failed",
            RealtimeErrorKind::Backpressure => "too many frames queued",
        };
        write!(f, "realtime session: {what}")?;
        if let Some(s) = self.status {
            write!(f, " (HTTP {s})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for RealtimeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanence_follows_the_peers() {
        let server = |m: &str| RealtimeError::new(RealtimeErrorKind::Server, m);
        assert!(server("Invalid API key").is_permanent());
        assert!(server("HTTP 401").is_permanent());
        assert!(server("Permission denied for model").is_permanent());
        assert!(!server("Server at capacity. Please try again later.").is_permanent());
        let rejected = |s| RealtimeError::new(RealtimeErrorKind::Rejected, "").with_status(s);
        assert!(rejected(401).is_permanent());
        assert!(rejected(403).is_permanent());
        assert!(!rejected(429).is_permanent());
        assert!(!rejected(503).is_permanent());
        assert!(RealtimeError::new(RealtimeErrorKind::Closed, "").is_retryable());
        let closed = |code, reason| {
            RealtimeError::new(RealtimeErrorKind::Closed, "").with_close(code, reason)
        };
        assert!(closed(1008, "").is_permanent());
        assert!(closed(1000, "Unauthorized").is_permanent());
        assert!(closed(1011, "internal error").is_retryable());
        assert!(closed(1013, "try again later").is_retryable());
        assert_eq!(closed(1011, "").close_code(), Some(1011));
        assert!(RealtimeError::new(RealtimeErrorKind::TokenExpired, "").is_permanent());
    }

    #[test]
    fn display() {
        let e = RealtimeError::new(RealtimeErrorKind::Rejected, "Invalid API key").with_status(401);
        assert_eq!(
            e.to_string(),
            "realtime session: the server refused the session (HTTP 401): Invalid API key"
        );
        assert_eq!(e.code(), "REALTIME_REJECTED");
    }
}
