//! The request log: what each request looked like, for assertions.

/// The headers whose values the log never keeps (it keeps `"<redacted>"`).
pub(crate) const REDACTED_HEADERS: [&str; 4] = [
    "x-api-key",
    "authorization",
    "cookie",
    "proxy-authorization",
];

/// The kind of credential a request carried in `X-API-KEY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Credential {
    /// One of the emulator's permanent API keys.
    Permanent,
    /// An `ek_…` client key the emulator minted, not expired.
    ClientKey,
    /// A client-token JWT the emulator signed (with a published key), not expired.
    ClientJwt,
    /// A client key or JWT the emulator issued, now expired.
    Expired,
    /// Anything else (an empty value included).
    Invalid,
}

/// One part of a multipart request, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedPart {
    /// The field name (`data`, `prompt`, `file`, …).
    pub name: String,
    /// The filename of a file part.
    pub filename: Option<String>,
    /// The part's own content type.
    pub content_type: Option<String>,
    /// Bytes in the part's body.
    pub size: u64,
    /// SHA-256 of the part's body, lower-case hex.
    pub sha256: String,
    /// The value of a text part (no filename) of at most 4 KiB of UTF-8; `None` otherwise.
    pub value: Option<String>,
}

/// One request the emulator received, faulted ones included.
///
/// The `X-API-KEY` value is never kept: [`credential`](Self::credential) says what kind of key
/// it was, and the header list shows `"<redacted>"` in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// Method, upper case as sent.
    pub method: String,
    /// Path as sent (percent-encoded), without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Every header, names in lower case, in order; secrets replaced by `"<redacted>"`.
    pub headers: Vec<(String, String)>,
    /// The kind of `X-API-KEY` sent; `None` when the header was absent.
    pub credential: Option<Credential>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// Bytes of body received (after de-chunking).
    pub body_size: u64,
    /// The parts of a multipart body, in order (empty otherwise, or if it could not be parsed).
    pub parts: Vec<LoggedPart>,
    /// A non-multipart body of at most 64 KiB of UTF-8 (the JSON of a token request).
    pub body_text: Option<String>,
    /// The status answered; `None` when the connection was dropped without an answer.
    pub status: Option<u16>,
    /// The injected fault that acted on this request ([`Fault::describe`](super::Fault::describe)).
    pub fault: Option<String>,
}

impl LoggedRequest {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether an `X-API-KEY` header was sent.
    pub fn has_api_key(&self) -> bool {
        self.credential.is_some()
    }

    /// The multipart field names, in order.
    pub fn field_names(&self) -> Vec<&str> {
        self.parts.iter().map(|p| p.name.as_str()).collect()
    }

    /// The first part with this name.
    pub fn part(&self, name: &str) -> Option<&LoggedPart> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// The body as JSON, when [`body_text`](Self::body_text) holds JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.body_text.as_deref()?).ok()
    }

    /// Whether this is a request with this method (case-insensitive; `"*"` for any) on a path
    /// starting with `path_prefix`.
    pub fn matches(&self, method: &str, path_prefix: &str) -> bool {
        (method == "*" || method.is_empty() || self.method.eq_ignore_ascii_case(method))
            && self.path.starts_with(path_prefix)
    }
}
