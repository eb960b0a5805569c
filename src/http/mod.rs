//! The flavour-neutral description of a request; each flavour's transport sends it.

use std::time::Duration;

#[cfg(feature = "blocking")]
pub(crate) mod blocking;
#[cfg(feature = "async")]
pub(crate) mod nonblocking;

/// The HTTP methods the API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // GET and DELETE arrive with the job and file endpoints.
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// A request body.
#[derive(Debug, Clone)]
#[allow(dead_code)] // Empty arrives with the job and file endpoints.
pub(crate) enum Body {
    /// No body.
    Empty,
    /// A JSON document, sent with `Content-Type: application/json`.
    Json(Vec<u8>),
}

/// One API request, before the transport adds the key, the `User-Agent` and its timeouts.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) body: Body,
    /// The whole exchange (connect, send, receive the answer) must end within this.
    pub(crate) timeout: Duration,
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
