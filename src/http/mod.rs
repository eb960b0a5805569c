//! The HTTP layer: the flavour-neutral description of a call, and the contract that each
//! flavour's transport meets.
//!
//! # The transport contract
//!
//! `blocking.rs` (ureq) and `nonblocking.rs` (reqwest on tokio) each provide, under the same
//! names, so that the endpoint code in `src/api` compiles against either:
//!
//! | item | what it does |
//! |---|---|
//! | `HttpClient` | the type of a caller's own client (`ureq::Agent`, `reqwest::Client`) |
//! | `Transport::new(&Config, Option<HttpClient>)` | the client's transport; refuses a caller's client that would follow redirects |
//! | `Transport::send(Request) -> Result<Response, SendError>` | one attempt: adds the key, the `User-Agent`, `Accept`, the body's `Content-Type` and, when the whole length is known, `Content-Length`; opens the body's sources first (an unreadable input is `SendError::Input`, nothing sent); enforces [`Timeouts`]; refuses an answer from another URL ([`redirected`]) |
//! | `Transport::http_client()` | the client, for the JWKS fetcher |
//! | `Response::{status, header, read_limited, copy_to, copy_to_path}` | the answer; its body is read under the attempt's idle timeout; `copy_to_path` writes a temporary file ([`PartFile`], removed unless renamed into place) |
//! | `PublicClient::get(url, timeout, limit)` | a GET without the key (the JWKS): total timeout, no redirects, a size cap |
//! | `FetchLock` | serialises JWKS fetches (std or tokio mutex) |
//! | `sleep`, `sleep_or_cancel`, `Sink` | waiting between attempts and polls; where results stream to |
//!
//! Everything else (what a call is, the timeout model, error texts, redaction, length checks
//! of streamed inputs, header values) lives here, once.
//!
//! # The timeout model
//!
//! One model in both flavours, from the client's `connect_timeout` and `request_timeout`:
//!
//! | call | connect | whole attempt | longest stall (no byte sent or received) |
//! |---|---|---|---|
//! | JSON call (tokens, job status, files) | `connect_timeout` | `request_timeout`, and a job wait's deadline | (bounded by the whole) |
//! | media (image edit, upload, job submission, result download) | `connect_timeout` | none: a large transfer may take as long as it takes | `request_timeout` |
//! | input URL fetched for an upload | `connect_timeout` | none | `request_timeout` |
//! | JWKS fetch | the JWKS client's | the verifier's `fetch_timeout` (5 s) | (bounded by the whole) |
//!
//! A caller's `reqwest::Client` may add its own, shorter limits; they apply too. A caller's
//! `ureq::Agent` gets these per request, in place of its own.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{ApiError, Error, Operation, TransportError, TransportErrorKind};
use crate::retry::Replay;

#[cfg(feature = "blocking")]
pub(crate) mod blocking;
pub(crate) mod multipart;
#[cfg(feature = "async")]
pub(crate) mod nonblocking;

pub(crate) use multipart::{Multipart, Segment};

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    #[cfg_attr(not(feature = "blocking"), allow(dead_code))]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// One API call as an endpoint describes it; `Client::execute` sends it with retries.
pub(crate) struct Call {
    pub(crate) operation: Operation,
    pub(crate) method: Method,
    /// The path after the base URL, starting with `/`.
    pub(crate) path: String,
    pub(crate) payload: Payload,
    pub(crate) replay: Replay,
    /// The answer is media (an image, a video) read as a stream: `Accept: */*` and an idle
    /// timeout instead of a total one.
    pub(crate) media_answer: bool,
    /// A job wait's deadline: it shortens each attempt and ends the retries.
    pub(crate) deadline: Option<Instant>,
}

impl Call {
    /// A call with a JSON answer.
    pub(crate) fn new(
        operation: Operation,
        method: Method,
        path: impl Into<String>,
        payload: Payload,
        replay: Replay,
    ) -> Self {
        Call {
            operation,
            method,
            path: path.into(),
            payload,
            replay,
            media_answer: false,
            deadline: None,
        }
    }

    /// A `GET` (idempotent, no body) with a JSON answer.
    pub(crate) fn get(operation: Operation, path: impl Into<String>) -> Self {
        Call::new(
            operation,
            Method::Get,
            path,
            Payload::Empty,
            Replay::Idempotent,
        )
    }

    /// The answer is media, streamed.
    pub(crate) fn media_answer(mut self) -> Self {
        self.media_answer = true;
        self
    }

    /// Over by `deadline` at the latest.
    pub(crate) fn deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Whether any part of the exchange is streamed media (then an idle timeout applies).
    pub(crate) fn is_streamed(&self) -> bool {
        self.media_answer || matches!(self.payload, Payload::Multipart(_))
    }

    /// The `Accept` header.
    pub(crate) fn accept(&self) -> &'static str {
        if self.media_answer {
            "*/*"
        } else {
            "application/json"
        }
    }

    /// The timeouts of the next attempt (see the module's timeout model).
    pub(crate) fn timeouts(&self, connect: Duration, request: Duration) -> Timeouts {
        if self.is_streamed() {
            return Timeouts::idle(connect, request);
        }
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        // At least a millisecond: a zero timeout means "none" to some backends.
        let total = left
            .map_or(request, |left| request.min(left))
            .max(Duration::from_millis(1));
        Timeouts::total(connect, total)
    }
}

/// A request body for one attempt.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// A JSON document, sent with `Content-Type: application/json`.
    Json(Vec<u8>),
    /// A streamed `multipart/form-data` body: its content type and its segments.
    Multipart(String, Vec<Segment>),
}

/// A request body that may be sent more than once.
pub(crate) enum Payload {
    Empty,
    Json(Vec<u8>),
    Multipart(Multipart),
}

impl Payload {
    /// The body of the next attempt, or `None` if it cannot be sent again.
    pub(crate) fn body(&mut self) -> Option<Body> {
        Some(match self {
            Payload::Empty => Body::Empty,
            Payload::Json(bytes) => Body::Json(bytes.clone()),
            Payload::Multipart(m) => Body::Multipart(m.content_type(), m.segments()?),
        })
    }
}

/// The time limits of one attempt (see the module's timeout model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// Connecting (TCP and TLS).
    pub(crate) connect: Duration,
    /// The whole attempt, from connect to the end of the answer; `None` for media.
    pub(crate) total: Option<Duration>,
    /// The longest any single read or write may stall.
    pub(crate) idle: Duration,
}

impl Timeouts {
    /// A JSON exchange: over within `total`.
    pub(crate) fn total(connect: Duration, total: Duration) -> Self {
        Timeouts {
            connect,
            total: Some(total),
            idle: total,
        }
    }

    /// A streamed exchange: no overall bound, but no stall longer than `idle`.
    pub(crate) fn idle(connect: Duration, idle: Duration) -> Self {
        Timeouts {
            connect,
            total: None,
            idle,
        }
    }
}

/// One attempt of an API request, before the transport adds the key and the `User-Agent`.
pub(crate) struct Request {
    pub(crate) operation: Operation,
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) body: Body,
    pub(crate) timeouts: Timeouts,
    /// The `Accept` header.
    pub(crate) accept: &'static str,
}

/// How many redirects the fetch of an input URL follows (it carries no API key).
pub(crate) const MAX_INPUT_REDIRECTS: u32 = 5;

/// Why a request got no answer.
pub(crate) enum SendError {
    /// The connection failed.
    Transport(TransportError),
    /// An input could not be opened (missing file, unreachable URL): not retryable.
    Input(Error),
}

/// The `Retry-After` of an answer, relative to now.
pub(crate) fn retry_after(value: Option<&str>) -> Option<Duration> {
    crate::retry::parse_retry_after(value?, std::time::SystemTime::now())
}

/// Joins the base URL (checked when the client was built: http(s), a host, no query) and an
/// absolute path, so that the result is always on the base URL's host.
pub(crate) fn join(base: &str, path: &str) -> String {
    let mut url = String::with_capacity(base.len() + path.len() + 1);
    url.push_str(base);
    // A path without its leading `/` would otherwise extend the host name
    // (`https://api.decart.ai` + `.example.com/x`).
    if !path.starts_with('/') {
        url.push('/');
    }
    url.push_str(path);
    url
}

/// An id (of a job, a file, a room) as one percent-encoded path segment. A blank id, and the
/// ids `.` and `..` (which URL normalisation resolves, however they are encoded, so that they
/// would name another endpoint) are refused.
pub(crate) fn segment(field: &str, id: &str) -> Result<String, Error> {
    if id.trim().is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    if id == "." || id == ".." {
        return Err(Error::invalid_input(
            field,
            format!("{id:?} is not an id: it would name another endpoint"),
        ));
    }
    Ok(url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20"))
}

/// The `X-API-KEY` (marked sensitive, so the HTTP stacks redact it) and `User-Agent` values.
pub(crate) fn auth_headers(
    config: &crate::config::Config,
) -> Result<(::http::HeaderValue, ::http::HeaderValue), Error> {
    let value = |field: &str, value: &str| {
        ::http::HeaderValue::from_str(value).map_err(|_| {
            Error::invalid_input(field, "must be printable ASCII to be sent as a header")
        })
    };
    let mut api_key = value("api_key", config.api_key.expose())?;
    api_key.set_sensitive(true);
    Ok((api_key, value("integration", &config.user_agent)?))
}

/// The refusal of an answer that came from another URL than the one asked: the HTTP client
/// followed a redirect (a caller's own client can be set to). `None` when they are the same.
pub(crate) fn redirected(requested: &str, answered: &url::Url) -> Option<TransportError> {
    // The cheap check first: the answer's URL is usually the very string asked for.
    let same =
        answered.as_str() == requested || url::Url::parse(requested).is_ok_and(|r| &r == answered);
    (!same).then(|| {
        TransportError::new(
            TransportErrorKind::Redirect,
            format!(
                "the answer came from {}: redirects are refused",
                crate::models::file::redacted_url(answered)
            ),
            None,
        )
    })
}

/// The error of a transfer that made no progress for `idle` (ureq reports its own).
#[cfg_attr(not(feature = "async"), allow(dead_code))]
pub(crate) fn stalled(idle: Duration) -> TransportError {
    TransportError::new(
        TransportErrorKind::Timeout,
        format!("nothing sent or received for {idle:?}"),
        None,
    )
}

/// The error of an input that could not be read.
pub(crate) fn input_io(operation: Operation, path: Option<&Path>, source: io::Error) -> Error {
    Error::Io {
        operation,
        what: "cannot read input",
        path: path.map(Into::into),
        source,
    }
}

/// The error of a result that could not be written.
pub(crate) fn output_io(operation: Operation, path: Option<&Path>, source: io::Error) -> Error {
    Error::Io {
        operation,
        what: "cannot write result",
        path: path.map(Into::into),
        source,
    }
}

/// The error of an input URL that answered with an error status.
pub(crate) fn input_status(status: u16, body: &[u8]) -> Error {
    Error::Api(ApiError::from_response(
        Operation::InputFetch,
        status,
        body,
        None,
    ))
}

/// The temporary file of a download to `path`, next to it: removed when dropped unless it was
/// renamed into place, so a failed download, or an async one whose future is dropped, leaves
/// no partial file behind.
pub(crate) struct PartFile {
    path: std::path::PathBuf,
    renamed: bool,
}

impl PartFile {
    pub(crate) fn next_to(path: &Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "download".into());
        PartFile {
            path: path.with_file_name(format!(".{name}.{}.part", fastrand::u64(..))),
            renamed: false,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file now stands at its final name: nothing to remove.
    pub(crate) fn renamed(mut self) {
        self.renamed = true;
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The length of a whole body, when every part's length is known.
pub(crate) fn total_len(parts: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    parts
        .into_iter()
        .try_fold(0u64, |sum, len| sum.checked_add(len?))
}

/// Counts the bytes a streamed input yields against the length announced for it (in
/// `Content-Length`), so that an input that changes size while it is sent (a growing file, a
/// reader with a wrong declared length) fails the upload instead of sending a corrupt body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LenCheck {
    expected: Option<u64>,
    seen: u64,
}

impl LenCheck {
    pub(crate) fn new(expected: Option<u64>) -> Self {
        LenCheck { expected, seen: 0 }
    }

    /// Records `n` more bytes (0 at the end of the input).
    pub(crate) fn advance(&mut self, n: usize) -> io::Result<()> {
        let Some(expected) = self.expected else {
            return Ok(());
        };
        self.seen = self.seen.saturating_add(n as u64);
        let wrong = if n == 0 {
            self.seen != expected
        } else {
            self.seen > expected
        };
        if wrong {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the input's length changed while it was sent: {expected} bytes announced, {}{} read",
                    self.seen,
                    if n == 0 { "" } else { " or more" }
                ),
            ));
        }
        Ok(())
    }
}

/// A reader whose bytes are checked against its announced length (the blocking transport's;
/// the async one checks its chunks with [`LenCheck`] directly).
#[cfg_attr(not(feature = "blocking"), allow(dead_code))]
pub(crate) struct Checked<R> {
    pub(crate) inner: R,
    pub(crate) check: LenCheck,
}

impl<R: io::Read> io::Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !buf.is_empty() {
            self.check.advance(n)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_one_segment_that_stays_under_its_path() {
        assert_eq!(segment("job_id", "job_1").unwrap(), "job_1");
        assert_eq!(segment("job_id", "a/b c?#+").unwrap(), "a%2Fb%20c%3F%23%2B");
        assert_eq!(segment("job_id", "a..b").unwrap(), "a..b");
        for bad in ["", " ", ".", ".."] {
            let err = segment("job_id", bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_INPUT", "{bad:?}");
        }
        // Whatever the id, the URL keeps the path it was put under.
        for id in ["...", "%2e%2e", "%2E", "a/../..", "../x", "%2e%2e%2fx"] {
            let url = join(
                "https://gw.example/decart",
                &format!("/v1/files/{}", segment("f", id).unwrap()),
            );
            let parsed = url::Url::parse(&url).unwrap();
            assert!(
                parsed.path().starts_with("/decart/v1/files/"),
                "{id:?}: {parsed}"
            );
        }
    }

    #[test]
    fn a_join_never_changes_the_host() {
        let base = "https://api.decart.ai";
        assert_eq!(join(base, "/v1/x"), "https://api.decart.ai/v1/x");
        let joined = join(base, ".example.com/x");
        let url = url::Url::parse(&joined).unwrap();
        assert_eq!(url.host_str(), Some("api.decart.ai"), "{joined}");
        for evil in [
            "@evil.example/x",
            ":1@evil.example",
            "\\evil.example",
            "?x",
            "#y",
        ] {
            let joined = join(base, evil);
            let url = url::Url::parse(&joined).unwrap();
            assert_eq!(url.host_str(), Some("api.decart.ai"), "{joined}");
        }
    }

    #[test]
    fn lengths_add_up_only_when_all_known() {
        assert_eq!(total_len([Some(1), Some(2)]), Some(3));
        assert_eq!(total_len([Some(1), None]), None);
        assert_eq!(total_len([Some(u64::MAX), Some(1)]), None);
    }

    #[test]
    fn a_length_check_refuses_short_and_long_inputs() {
        use std::io::Read;
        let read = |data: &[u8], expected| {
            let mut r = Checked {
                inner: data,
                check: LenCheck::new(expected),
            };
            let mut out = Vec::new();
            r.read_to_end(&mut out).map(|_| out)
        };
        assert_eq!(read(b"abc", Some(3)).unwrap(), b"abc");
        assert_eq!(read(b"abc", None).unwrap(), b"abc");
        let short = read(b"ab", Some(3)).unwrap_err();
        assert_eq!(short.kind(), io::ErrorKind::InvalidData);
        assert!(
            short.to_string().contains("3 bytes announced, 2 read"),
            "{short}"
        );
        assert!(read(b"abcd", Some(3)).is_err());
    }

    #[test]
    fn a_redirected_answer_is_refused_without_its_query() {
        let asked = "http://127.0.0.1:1/v1/jobs/a";
        assert!(redirected(asked, &url::Url::parse(asked).unwrap()).is_none());
        let other = url::Url::parse("http://127.0.0.1:2/v1/jobs/a?sig=secret").unwrap();
        let err = redirected(asked, &other).unwrap();
        assert_eq!(err.kind(), TransportErrorKind::Redirect);
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
