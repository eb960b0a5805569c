//! The one error type of the crate, shared by the blocking and the async client.
//!
//! Every error has a stable [`Error::code`] (the JS SDK's names where one exists), and
//! [`Error::is_retryable`] tells whether trying the same call again later may succeed.
//! No backend type (ureq, reqwest) appears here: transport failures are an opaque
//! [`TransportError`] whose backend error is reachable only through
//! [`std::error::Error::source`].

// Without an HTTP flavour the constructors of call errors are unused.
#![cfg_attr(not(any(feature = "blocking", feature = "async")), allow(dead_code))]

use std::fmt;
use std::time::Duration;

/// How many bytes of a server's answer an error keeps, at most.
pub const BODY_SNIPPET_LIMIT: usize = 512;

/// Everything that can go wrong in the SDK.
///
/// `Display` says what failed in one line and never repeats its cause: walk
/// [`source`](std::error::Error::source) for the causes, or print [`Error::report`] for the
/// whole chain in one line. `Debug` prints the message, the code and the causes, as
/// `anyhow` does, so `fn main() -> Result<(), decart::Error>` shows a readable failure.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No API key was given and `DECART_API_KEY` is not set (or is blank).
    #[error(
        "missing API key: pass one to Client::new / ClientBuilder::api_key, or set the DECART_API_KEY environment variable"
    )]
    MissingApiKey,

    /// The base URL is not an `http://` or `https://` URL with a host.
    #[error("invalid base URL {url:?}: {reason}")]
    #[non_exhaustive]
    InvalidBaseUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An argument broke a documented rule; nothing was sent.
    #[error("invalid input: {field}: {message}")]
    #[non_exhaustive]
    InvalidInput {
        /// The option or field that broke the rule (`expires_in`, `allowed_origins[2]`, …).
        field: String,
        /// The rule, in words.
        message: String,
    },

    /// No model of that name (and kind) is in the registry.
    #[error("Model {name} not found")]
    #[non_exhaustive]
    ModelNotFound {
        /// The name asked for.
        name: String,
    },

    /// A local file could not be read (an input) or written (a result).
    #[error("{operation} failed: {what}{}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    #[non_exhaustive]
    Io {
        /// What the SDK was doing.
        operation: Operation,
        /// `"cannot read input"` or `"cannot write result"`.
        what: &'static str,
        /// The file concerned, when there is one (a writer has none).
        path: Option<std::path::PathBuf>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A video job ended in the `failed` state.
    #[error("job {job_id} failed: {reason}")]
    #[non_exhaustive]
    JobFailed {
        /// The job's id.
        job_id: String,
        /// The server's reason, or a default when it gave none.
        reason: String,
    },

    /// Waiting for a job ran past its deadline; the job may still finish on the server.
    #[error("gave up waiting for job {job_id} after {waited:?} (last status: {last_status})")]
    #[non_exhaustive]
    JobTimeout {
        /// The job's id, to check on it later.
        job_id: String,
        /// How long the SDK waited.
        waited: Duration,
        /// The last status the server reported.
        last_status: String,
    },

    /// The wait was cancelled through a [`CancelHandle`](crate::CancelHandle).
    #[error("waiting for job {job_id} was cancelled")]
    #[non_exhaustive]
    Cancelled {
        /// The job's id; the job itself goes on on the server.
        job_id: String,
    },

    /// The server answered with a non-2xx status.
    #[error(transparent)]
    Api(#[from] ApiError),

    /// A client-token JWT failed verification, or its key set could not be had.
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    #[error(transparent)]
    Token(#[from] crate::jwt::VerifyError),

    /// A realtime session, or one of its requests, failed (feature `realtime`).
    #[cfg(feature = "realtime")]
    #[cfg_attr(docsrs, doc(cfg(feature = "realtime")))]
    #[error(transparent)]
    Realtime(#[from] crate::realtime::RealtimeError),

    /// The request did not get an HTTP answer: connect, TLS, timeout, I/O.
    #[error("{operation} failed")]
    #[non_exhaustive]
    Transport {
        /// What the SDK was doing.
        operation: Operation,
        /// The failure, with its kind.
        #[source]
        source: TransportError,
    },

    /// The server answered 2xx, but the body is not what the API promises.
    #[error("{operation} failed: could not decode the response: {message}")]
    #[non_exhaustive]
    Decode {
        /// What the SDK was doing.
        operation: Operation,
        /// What was wrong with the body.
        message: String,
        /// The start of the body (at most [`BODY_SNIPPET_LIMIT`] bytes, lossy UTF-8).
        body_snippet: String,
    },
}

impl Error {
    /// A stable, machine-readable code for this error.
    ///
    /// Codes follow the JS SDK where it has one: `INVALID_API_KEY`, `INVALID_BASE_URL`,
    /// `INVALID_INPUT`, and per-operation codes such as `TOKEN_CREATE_ERROR` for failed calls.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingApiKey => "INVALID_API_KEY",
            Error::InvalidBaseUrl { .. } => "INVALID_BASE_URL",
            Error::InvalidInput { .. } => "INVALID_INPUT",
            Error::ModelNotFound { .. } => "MODEL_NOT_FOUND",
            Error::JobFailed { .. } => "QUEUE_JOB_FAILED",
            Error::JobTimeout { .. } => "QUEUE_WAIT_TIMEOUT",
            Error::Cancelled { .. } => "CANCELLED",
            Error::Io { operation, .. } => operation.code(),
            Error::Api(e) => e.operation.code(),
            #[cfg(feature = "jwt")]
            Error::Token(e) => e.code(),
            #[cfg(feature = "realtime")]
            Error::Realtime(e) => e.code(),
            Error::Transport { operation, .. } | Error::Decode { operation, .. } => {
                operation.code()
            }
        }
    }

    /// The HTTP status, when the server answered with an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// The operation that failed, for errors that come from a call.
    pub fn operation(&self) -> Option<Operation> {
        match self {
            Error::Api(e) => Some(e.operation),
            Error::Transport { operation, .. }
            | Error::Decode { operation, .. }
            | Error::Io { operation, .. } => Some(*operation),
            _ => None,
        }
    }

    /// Whether the same call may succeed if tried again later (429, 5xx, transport failures).
    ///
    /// The client already retries these per its [`RetryPolicy`](crate::RetryPolicy); this is
    /// for callers who add their own outer retry.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => is_retryable_status(e.status),
            Error::Transport { .. } => true,
            #[cfg(feature = "jwt")]
            Error::Token(e) => e.is_retryable(),
            #[cfg(feature = "realtime")]
            Error::Realtime(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The message and every cause, in one line (`get file failed: could not connect:
    /// Connection refused (os error 111)`), each said once. What the `decart` command prints.
    pub fn report(&self) -> Report<'_> {
        Report::new(self)
    }

    pub(crate) fn invalid_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A decode error of an answer that may carry credentials (a client key, a JWT, a LiveKit
    /// token): its body is not kept.
    pub(crate) fn decode_withheld(operation: Operation, message: impl Into<String>) -> Self {
        Error::Decode {
            operation,
            message: message.into(),
            body_snippet: "(withheld: the answer may carry credentials)".to_owned(),
        }
    }

    pub(crate) fn decode(operation: Operation, message: impl Into<String>, body: &[u8]) -> Self {
        Error::Decode {
            operation,
            message: message.into(),
            body_snippet: snippet(body),
        }
    }
}

impl fmt::Debug for Error {
    /// The message with its code, then the causes, one a line (as `anyhow` prints them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} [{}]", self.code())?;
        let causes: Vec<String> = Report::new(self).causes().collect();
        if !causes.is_empty() {
            f.write_str("\n\nCaused by:")?;
            for (i, cause) in causes.iter().enumerate() {
                write!(f, "\n    {i}: {cause}")?;
            }
        }
        Ok(())
    }
}

/// An error and its chain of causes, displayed once each in one line: `outer: cause: root`.
///
/// A cause whose text its parent's already contains (some HTTP stacks repeat their source in
/// their own message) is skipped. Works for any error, not only [`Error`].
///
/// ```
/// let io = std::io::Error::other("disk on fire");
/// assert_eq!(decart::Report::new(&io).to_string(), "disk on fire");
/// ```
#[derive(Clone, Copy)]
pub struct Report<'a>(&'a (dyn std::error::Error + 'static));

impl<'a> Report<'a> {
    /// The report of `error`.
    pub fn new(error: &'a (dyn std::error::Error + 'static)) -> Self {
        Report(error)
    }

    /// The texts of the causes that say something their parent did not.
    fn causes(self) -> impl Iterator<Item = String> + 'a {
        let mut parent = self.0.to_string();
        let mut next = self.0.source();
        std::iter::from_fn(move || {
            loop {
                let cause = next?;
                next = cause.source();
                let text = cause.to_string();
                let repeated = text.is_empty() || parent.contains(&text);
                parent = text.clone();
                if !repeated {
                    return Some(text);
                }
            }
        })
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        for cause in self.causes() {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// 429 and every 5xx may succeed later.
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// The server answered a call with an error status.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// What the SDK was doing.
    pub operation: Operation,
    /// The HTTP status.
    pub status: u16,
    /// The server's `detail` field, when the body was JSON with one.
    pub detail: Option<String>,
    /// The start of the body (at most [`BODY_SNIPPET_LIMIT`] bytes, lossy UTF-8).
    pub body_snippet: String,
    /// The delay the server asked for in `Retry-After`, when it gave one.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Builds the error from a status and the (possibly partial) body of the answer.
    pub(crate) fn from_response(
        operation: Operation,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Self {
        ApiError {
            operation,
            status,
            detail: detail_of(body),
            body_snippet: snippet(body),
            retry_after,
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("operation", &self.operation)
            .field("status", &self.status)
            .field("detail", &self.detail)
            .field("body_snippet", &self.body_snippet)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: HTTP {}", self.operation, self.status)?;
        match &self.detail {
            Some(detail) => write!(f, ": {detail}"),
            None if !self.body_snippet.trim().is_empty() => {
                write!(f, ": {}", self.body_snippet.trim())
            }
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

/// The `detail` of a JSON error body (`{"detail": "..."}`); FastAPI's validation errors
/// (`{"detail": [{"msg": ...}]}`) are kept as compact JSON.
fn detail_of(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get("detail")? {
        serde_json::Value::String(s) => Some(bounded(s)),
        serde_json::Value::Null => None,
        other => Some(bounded(&other.to_string())),
    }
}

fn bounded(s: &str) -> String {
    if s.len() <= BODY_SNIPPET_LIMIT {
        return s.to_owned();
    }
    let mut end = BODY_SNIPPET_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The first [`BODY_SNIPPET_LIMIT`] bytes of a body as lossy UTF-8.
pub(crate) fn snippet(body: &[u8]) -> String {
    let cut = body.len().min(BODY_SNIPPET_LIMIT);
    let mut s = String::from_utf8_lossy(&body[..cut]).into_owned();
    if body.len() > cut {
        s.push('…');
    }
    s
}

/// The API operation that failed; its [`code`](Operation::code) is the error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST /v1/client/tokens`.
    TokenCreate,
    /// `POST /v1/generate/{model}`: an image edit.
    Process,
    /// `POST /v1/jobs/{model}`: submitting a video job.
    QueueSubmit,
    /// `GET /v1/jobs/{id}`: a job's status.
    QueueStatus,
    /// `GET /v1/jobs/{id}/content`: a job's result.
    QueueResult,
    /// `POST /v1/files`.
    FilesUpload,
    /// `GET /v1/files/{id}`.
    FilesGet,
    /// `DELETE /v1/files/{id}`.
    FilesDelete,
    /// Fetching an input given as an http(s) URL.
    InputFetch,
    /// Building the client's HTTP stack (TLS set-up).
    ClientSetup,
    /// `POST /watch-stream/{room}`: a viewer's LiveKit credentials for a realtime session.
    RealtimeWatch,
}

impl Operation {
    /// The stable error code of a failed call of this operation.
    pub fn code(self) -> &'static str {
        match self {
            Operation::TokenCreate => "TOKEN_CREATE_ERROR",
            Operation::Process => "PROCESSING_ERROR",
            Operation::QueueSubmit => "QUEUE_SUBMIT_ERROR",
            Operation::QueueStatus => "QUEUE_STATUS_ERROR",
            Operation::QueueResult => "QUEUE_RESULT_ERROR",
            Operation::FilesUpload => "FILES_UPLOAD_ERROR",
            Operation::FilesGet => "FILES_GET_ERROR",
            Operation::FilesDelete => "FILES_DELETE_ERROR",
            Operation::InputFetch => "INPUT_FETCH_ERROR",
            Operation::ClientSetup => "CLIENT_SETUP_ERROR",
            Operation::RealtimeWatch => "REALTIME_WATCH_ERROR",
        }
    }

    /// A short human description ("create client token").
    pub fn describe(self) -> &'static str {
        match self {
            Operation::TokenCreate => "create client token",
            Operation::Process => "image edit",
            Operation::QueueSubmit => "submit video job",
            Operation::QueueStatus => "get job status",
            Operation::QueueResult => "get job result",
            Operation::FilesUpload => "upload file",
            Operation::FilesGet => "get file",
            Operation::FilesDelete => "delete file",
            Operation::InputFetch => "fetch input URL",
            Operation::ClientSetup => "set up the HTTP client",
            Operation::RealtimeWatch => "get realtime viewer credentials",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The connect, request or body timeout ran out.
    Timeout,
    /// The host could not be resolved or the connection was refused.
    Connect,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The connection broke while sending or receiving (reset, closed early, truncated).
    Io,
    /// The answer was a redirect, or came from another URL than the one asked (a caller's
    /// own HTTP client followed a redirect): refused, since the API and the JWKS never
    /// redirect and the API key must not follow one.
    Redirect,
    /// Anything else the HTTP backend reported (malformed response, protocol error, …).
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Timeout => "timed out",
            TransportErrorKind::Connect => "could not connect",
            TransportErrorKind::Tls => "TLS error",
            TransportErrorKind::Io => "connection error",
            TransportErrorKind::Redirect => "redirect refused",
            TransportErrorKind::Other => "HTTP error",
        })
    }
}

/// An HTTP request that got no usable answer. Opaque: ask [`kind`](TransportError::kind),
/// and find the backend's error through [`source`](std::error::Error::source). `Display` gives
/// the kind and the SDK's own context, never the backend's text (that is the source's).
pub struct TransportError {
    kind: TransportErrorKind,
    unsent: bool,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TransportError {
    pub(crate) fn new(
        kind: TransportErrorKind,
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        TransportError {
            kind,
            unsent: kind == TransportErrorKind::Connect,
            message: message.into(),
            source,
        }
    }

    /// Marks a failure that happened before the connection was made (a connect timeout).
    pub(crate) fn before_connect(mut self) -> Self {
        self.unsent = true;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether the request provably never reached the server (the connection was never made:
    /// refused, unresolvable, or the connect timeout ran out), so that even a request that must
    /// be submitted once can be sent again safely.
    pub fn is_request_unsent(&self) -> bool {
        self.unsent
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("unsent", &self.unsent)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.message)
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }

    #[test]
    fn api_error_keeps_detail_and_bounded_snippet() {
        let body = format!("{{\"detail\":\"nope\",\"pad\":\"{}\"}}", "x".repeat(2000));
        let e = ApiError::from_response(Operation::TokenCreate, 401, body.as_bytes(), None);
        assert_eq!(e.detail.as_deref(), Some("nope"));
        assert!(e.body_snippet.len() <= BODY_SNIPPET_LIMIT + '…'.len_utf8());
        assert_eq!(e.to_string(), "create client token failed: HTTP 401: nope");
    }

    #[test]
    fn api_error_plain_text_body() {
        let e = ApiError::from_response(Operation::TokenCreate, 502, b"Bad Gateway\n", None);
        assert_eq!(e.detail, None);
        assert_eq!(
            e.to_string(),
            "create client token failed: HTTP 502: Bad Gateway"
        );
        assert!(Error::Api(e).is_retryable());
    }

    #[test]
    fn snippet_cuts_on_bytes_lossily() {
        let body = "é".repeat(BODY_SNIPPET_LIMIT);
        let s = snippet(body.as_bytes());
        assert!(s.ends_with('…'));
    }
}
