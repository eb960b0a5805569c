//! Fault injection: what the next matching requests get instead of (or on top of) a normal
//! answer.

use std::fmt;
use std::time::Duration;

/// A fault to inject with [`Emulator::inject`](super::Emulator::inject).
///
/// Build one from a constructor (what happens), then narrow it with modifiers (to which
/// requests, how often, with what delay). By default a fault matches **every** request (any
/// method, any path, the JWKS included) and fires **once**.
///
/// | constructor | the matching request gets |
/// |---|---|
/// | [`status(code)`](Fault::status) | that status with `{"detail":"Injected fault: HTTP <code>"}`; add [`retry_after`](Fault::retry_after), [`body`](Fault::body), [`header`](Fault::header) |
/// | [`garbage()`](Fault::garbage) | 200, `Content-Type: application/json`, a body that is not JSON |
/// | [`html()`](Fault::html) | 200, `Content-Type: text/html`, a proxy's error page |
/// | [`empty()`](Fault::empty) | 200, `Content-Type: application/json`, an empty body |
/// | [`truncated()`](Fault::truncated) | the normal answer, but the connection closes after half of the body (`Content-Length` announces all of it; an empty body is announced as 1 byte) |
/// | [`drop_connection()`](Fault::drop_connection) | no answer: the connection is closed |
/// | [`delay(d)`](Fault::delay) | the normal answer, `d` later |
///
/// Except for `truncated` (which needs the real answer) and `delay`, the request is **not
/// processed** (no job is created, no token minted) unless
/// [`after_processing`](Fault::after_processing) is set. The request body is always read to its
/// end first, so the client sees the fault, not a reset while it still sends.
///
/// ```
/// use std::time::Duration;
/// use decart::emulator::Fault;
///
/// // The next two job submissions get a 503 asking to retry after a second.
/// let f = Fault::status(503).retry_after(1).times(2).on("POST", "/v1/jobs/");
/// // A job submission is processed, then its answer is lost.
/// let g = Fault::drop_connection().after_processing().on("POST", "/v1/jobs/");
/// // Every JWKS fetch is slow.
/// let h = Fault::delay(Duration::from_millis(300)).always().on("GET", "/api/auth/jwks");
/// # let _ = (f, g, h);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Fault {
    pub(crate) method: Option<String>,
    pub(crate) path_prefix: String,
    /// `None`: every matching request, forever.
    pub(crate) remaining: Option<u32>,
    pub(crate) delay: Duration,
    pub(crate) action: Action,
    pub(crate) after_processing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Answer normally (after the delay).
    Proceed,
    Respond {
        status: u16,
        content_type: String,
        body: Vec<u8>,
        headers: Vec<(String, String)>,
    },
    Truncate,
    Drop,
}

/// The body of [`Fault::garbage`]: starts like JSON, is not.
pub const GARBAGE_BODY: &[u8] = b"{\"detail\": \x00\xff\xfe garbage from the emulator <<<";

/// The body of [`Fault::html`].
pub const HTML_BODY: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\
<body><center><h1>502 Bad Gateway</h1></center><hr><center>emulated proxy</center></body></html>\n";

impl Fault {
    fn new(action: Action) -> Self {
        Fault {
            method: None,
            path_prefix: "/".into(),
            remaining: Some(1),
            delay: Duration::ZERO,
            action,
            after_processing: false,
        }
    }

    /// Answer with this status and `{"detail":"Injected fault: HTTP <code>"}`.
    pub fn status(code: u16) -> Self {
        let body = serde_json::json!({ "detail": format!("Injected fault: HTTP {code}") })
            .to_string()
            .into_bytes();
        Fault::new(Action::Respond {
            status: code,
            content_type: "application/json".into(),
            body,
            headers: Vec::new(),
        })
    }

    /// Answer 200 with a body that claims to be JSON and is not ([`GARBAGE_BODY`]).
    pub fn garbage() -> Self {
        Fault::status(200).body("application/json", GARBAGE_BODY)
    }

    /// Answer 200 with an HTML error page ([`HTML_BODY`]), as a misconfigured proxy does;
    /// add [`with_status`](Fault::with_status) for the usual 502.
    pub fn html() -> Self {
        Fault::status(200).body("text/html; charset=utf-8", HTML_BODY.as_bytes())
    }

    /// Answer 200 with an empty body (`Content-Type: application/json`, `Content-Length: 0`).
    pub fn empty() -> Self {
        Fault::status(200).body("application/json", Vec::new())
    }

    /// Process the request, then send its answer's head and only half of its body, and close.
    pub fn truncated() -> Self {
        Fault::new(Action::Truncate)
    }

    /// Close the connection without answering.
    pub fn drop_connection() -> Self {
        Fault::new(Action::Drop)
    }

    /// Answer normally, after `d`.
    pub fn delay(d: Duration) -> Self {
        Fault::new(Action::Proceed).delayed(d)
    }

    /// Waits `d` before doing what the fault does (the wait ends early if the emulator stops).
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Sets the status of an answering fault (`status`, `garbage`, `html`, `empty`); no effect
    /// on the others.
    pub fn with_status(mut self, code: u16) -> Self {
        if let Action::Respond { status, .. } = &mut self.action {
            *status = code;
        }
        self
    }

    /// Adds `Retry-After: <seconds>` to an answering fault.
    pub fn retry_after(self, seconds: u64) -> Self {
        self.header("retry-after", seconds.to_string())
    }

    /// Adds `Retry-After` with any value (an HTTP date, or something invalid, to test parsing).
    pub fn retry_after_value(self, value: impl Into<String>) -> Self {
        self.header("retry-after", value)
    }

    /// Adds a header to an answering fault (line breaks in the value are removed).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Action::Respond { headers, .. } = &mut self.action {
            headers.push((name.into().to_ascii_lowercase(), value.into()));
        }
        self
    }

    /// Replaces the body (and content type) of an answering fault.
    pub fn body(mut self, content_type: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        if let Action::Respond {
            content_type: ct,
            body,
            ..
        } = &mut self.action
        {
            *ct = content_type.into();
            *body = bytes.into();
        }
        self
    }

    /// Fires for the next `n` matching requests (default 1). `times(0)` never fires.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Fires for every matching request until [`Emulator::clear_faults`](super::Emulator::clear_faults).
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    /// Matches only this method (case-insensitive; `"*"` or `""` for any) and paths starting
    /// with `path_prefix` (the raw path, without the query: `"/v1/jobs/"` matches submissions,
    /// status and content requests; `"/"` matches everything).
    pub fn on(mut self, method: &str, path_prefix: &str) -> Self {
        self.method = match method.trim() {
            "" | "*" => None,
            m => Some(m.to_ascii_uppercase()),
        };
        self.path_prefix = path_prefix.to_owned();
        self
    }

    /// Matches any method on paths starting with `path_prefix`.
    pub fn on_path(self, path_prefix: &str) -> Self {
        self.on("*", path_prefix)
    }

    /// Lets the request be processed first (a job is created, a token minted, a file stored),
    /// then replaces its answer: the "answer lost on the way back" case. For `status`,
    /// `garbage`, `html`, `empty` and `drop_connection`; `truncated` and `delay` always process.
    pub fn after_processing(mut self) -> Self {
        self.after_processing = true;
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        self.remaining != Some(0)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }

    /// Whether the request is processed before the fault acts.
    pub(crate) fn processes(&self) -> bool {
        self.after_processing || matches!(self.action, Action::Truncate | Action::Proceed)
    }

    /// A short description, as the request log shows it (`status 503`, `drop`, …).
    pub fn describe(&self) -> String {
        let what = match &self.action {
            Action::Proceed => "delay".to_owned(),
            Action::Respond {
                status,
                content_type,
                body,
                ..
            } => {
                if body.as_slice() == GARBAGE_BODY {
                    format!("garbage {status}")
                } else if body.is_empty() {
                    format!("empty {status}")
                } else if content_type.starts_with("text/html") {
                    format!("html {status}")
                } else {
                    format!("status {status}")
                }
            }
            Action::Truncate => "truncated".to_owned(),
            Action::Drop => "drop".to_owned(),
        };
        let mut s = what;
        if !self.delay.is_zero() && !matches!(self.action, Action::Proceed) {
            s.push_str(&format!(" after {:?}", self.delay));
        } else if matches!(self.action, Action::Proceed) {
            s.push_str(&format!(" {:?}", self.delay));
        }
        if self.after_processing {
            s.push_str(" (after processing)");
        }
        s
    }
}

impl fmt::Debug for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fault")
            .field("what", &self.describe())
            .field("method", &self.method.as_deref().unwrap_or("*"))
            .field("path_prefix", &self.path_prefix)
            .field("remaining", &self.remaining)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let f = Fault::status(503).on("post", "/v1/jobs/");
        assert!(f.matches("POST", "/v1/jobs/lucy-2.1"));
        assert!(!f.matches("GET", "/v1/jobs/lucy-2.1"));
        assert!(!f.matches("POST", "/v1/files"));
        assert!(Fault::drop_connection().matches("GET", "/api/auth/jwks"));
        assert!(!Fault::empty().times(0).matches("GET", "/"));
        assert!(
            Fault::empty()
                .on("*", "/v1")
                .matches("DELETE", "/v1/files/x")
        );
    }

    #[test]
    fn descriptions() {
        assert_eq!(Fault::status(503).describe(), "status 503");
        assert_eq!(Fault::garbage().describe(), "garbage 200");
        assert_eq!(Fault::html().with_status(502).describe(), "html 502");
        assert_eq!(Fault::empty().describe(), "empty 200");
        assert_eq!(
            Fault::drop_connection().after_processing().describe(),
            "drop (after processing)"
        );
        assert_eq!(
            Fault::delay(Duration::from_millis(5)).describe(),
            "delay 5ms"
        );
        assert!(Fault::truncated().processes());
        assert!(!Fault::status(500).processes());
    }
}
