//! The flavour-neutral description of a request; each flavour's transport sends it.

use std::time::Duration;

use crate::error::{Error, Operation, TransportError};

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

    /// Whether the body is streamed media (then an idle timeout applies, not a total one).
    pub(crate) fn is_media(&self) -> bool {
        matches!(self, Payload::Multipart(_))
    }
}

/// How long one attempt may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// The whole exchange (connect, send, receive the answer) ends within this (JSON calls).
    Total(Duration),
    /// No overall bound, but no single read or write may stall longer than this (media).
    Idle(Duration),
}

/// One API request, before the transport adds the key, the `User-Agent` and its timeouts.
pub(crate) struct Request {
    pub(crate) operation: Operation,
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) body: Body,
    pub(crate) timeout: Timeout,
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

/// Joins the base URL (no trailing slash) and a path that starts with `/`.
pub(crate) fn join(base: &str, path: &str) -> String {
    debug_assert!(path.starts_with('/'));
    let mut url = String::with_capacity(base.len() + path.len());
    url.push_str(base);
    url.push_str(path);
    url
}

/// Percent-encodes an id for use as one path segment (`.` and `..` too, which URL
/// normalisation would otherwise resolve).
pub(crate) fn segment(id: &str) -> String {
    if id == "." || id == ".." {
        return id.replace('.', "%2E");
    }
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The error of an input that could not be read.
pub(crate) fn input_io(
    operation: Operation,
    path: Option<&std::path::Path>,
    source: std::io::Error,
) -> Error {
    Error::Io {
        operation,
        what: "cannot read input",
        path: path.map(Into::into),
        source,
    }
}

/// The error of an input URL that answered with an error status.
pub(crate) fn input_status(url: &url::Url, status: u16, body: &[u8]) -> Error {
    let _ = url;
    Error::Api(crate::error::ApiError::from_response(
        Operation::InputFetch,
        status,
        body,
        None,
    ))
}

/// A temporary name next to `path` for a download in progress.
pub(crate) fn temp_path(path: &std::path::Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "download".into());
    path.with_file_name(format!(".{name}.{}.part", fastrand::u64(..)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_become_one_segment() {
        assert_eq!(super::segment("job_1"), "job_1");
        assert_eq!(super::segment("a/b c?#+"), "a%2Fb%20c%3F%23%2B");
        assert_eq!(super::segment(".."), "%2E%2E");
        assert_eq!(super::segment("."), "%2E");
        assert_eq!(super::segment("a..b"), "a..b");
    }
}
