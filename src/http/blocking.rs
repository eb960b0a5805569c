//! The blocking transport: `ureq` 3, and `std::thread::sleep` between retries.

use std::io::{self, Read};
use std::time::Duration;

use ureq::http;

use super::{Body, Request};
use crate::config::Config;
use crate::error::{TransportError, TransportErrorKind};

/// The HTTP client a caller may bring: a `ureq::Agent`.
pub type HttpClient = ureq::Agent;

/// Sends requests with the key and `User-Agent` of one client.
#[derive(Clone)]
pub(crate) struct Transport {
    agent: ureq::Agent,
    api_key: http::HeaderValue,
    user_agent: http::HeaderValue,
    connect_timeout: Duration,
}

impl Transport {
    pub(crate) fn new(config: &Config, custom: Option<ureq::Agent>) -> Result<Self, crate::Error> {
        let agent = custom.unwrap_or_else(|| default_agent(config.connect_timeout));
        let mut api_key = header_value("api_key", config.api_key.expose())?;
        api_key.set_sensitive(true);
        Ok(Transport {
            agent,
            api_key,
            user_agent: header_value("integration", &config.user_agent)?,
            connect_timeout: config.connect_timeout,
        })
    }

    /// Sends one request and returns the answer's head; the body is read by the caller.
    pub(crate) fn send(&self, req: &Request) -> Result<Response, TransportError> {
        match &req.body {
            Body::Empty => self.run(req, None, ()),
            Body::Json(bytes) => self.run(req, Some("application/json"), bytes.as_slice()),
        }
    }

    fn run(
        &self,
        req: &Request,
        content_type: Option<&'static str>,
        body: impl ureq::AsSendBody,
    ) -> Result<Response, TransportError> {
        let mut builder = http::Request::builder()
            .method(req.method.as_str())
            .uri(req.url.as_str())
            .header("x-api-key", self.api_key.clone())
            .header(http::header::USER_AGENT, self.user_agent.clone())
            .header(http::header::ACCEPT, "application/json");
        if let Some(ct) = content_type {
            builder = builder.header(http::header::CONTENT_TYPE, ct);
        }
        let request = builder.body(body).map_err(|e| {
            TransportError::new(
                TransportErrorKind::Other,
                "invalid request",
                Some(Box::new(e)),
            )
        })?;
        // Per-request settings, so that a caller's own agent behaves the same.
        let request = self
            .agent
            .configure_request(request)
            .http_status_as_error(false)
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(req.timeout))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .build();
        let response = self.agent.run(request).map_err(map_error)?;
        let (parts, body) = response.into_parts();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

fn default_agent(connect_timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(connect_timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false);
    #[cfg(all(feature = "native-tls", not(feature = "rustls")))]
    let config = config.tls_config(
        ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .build(),
    );
    config.build().new_agent()
}

fn header_value(field: &str, value: &str) -> Result<http::HeaderValue, crate::Error> {
    http::HeaderValue::from_str(value).map_err(|_| {
        crate::Error::invalid_input(field, "must be printable ASCII to be sent as a header")
    })
}

/// An answer whose head has arrived.
pub(crate) struct Response {
    pub(crate) status: u16,
    headers: http::HeaderMap,
    body: ureq::Body,
}

impl Response {
    /// A header's value, if present and valid text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// Reads at most `limit + 1` bytes of the body, so the caller can tell an oversize body.
    pub(crate) fn read_limited(mut self, limit: usize) -> Result<Vec<u8>, TransportError> {
        let mut out = Vec::new();
        self.body
            .with_config()
            .limit(u64::MAX)
            .reader()
            .take(limit as u64 + 1)
            .read_to_end(&mut out)
            .map_err(map_io)?;
        Ok(out)
    }
}

/// Sleeps the current thread.
pub(crate) fn sleep(duration: Duration) {
    std::thread::sleep(duration);
}

fn map_error(e: ureq::Error) -> TransportError {
    use TransportErrorKind as K;
    let (kind, unsent) = match &e {
        ureq::Error::Timeout(t) => (
            K::Timeout,
            matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve),
        ),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => (K::Connect, true),
        ureq::Error::Io(io) => return map_io_kind(io.kind(), e),
        ureq::Error::Tls(_) => (K::Tls, false),
        #[cfg(feature = "rustls")]
        ureq::Error::Rustls(_) | ureq::Error::Pem(_) => (K::Tls, false),
        #[cfg(feature = "native-tls")]
        ureq::Error::NativeTls(_) | ureq::Error::Der(_) => (K::Tls, false),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => (K::Other, true),
        _ => (K::Other, false),
    };
    let err = TransportError::new(kind, e.to_string(), Some(Box::new(e)));
    if unsent { err.before_connect() } else { err }
}

fn map_io_kind(kind: io::ErrorKind, e: ureq::Error) -> TransportError {
    use TransportErrorKind as K;
    let k = match kind {
        io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrNotAvailable => K::Connect,
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => K::Timeout,
        _ => K::Io,
    };
    TransportError::new(k, e.to_string(), Some(Box::new(e)))
}

fn map_io(e: io::Error) -> TransportError {
    // ureq wraps its own errors (timeouts among them) in io::Error while reading a body.
    map_error(ureq::Error::from(e))
}
