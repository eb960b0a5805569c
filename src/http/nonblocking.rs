//! The async transport: `reqwest` 0.13 on tokio, and `tokio::time::sleep` between retries.

use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};

use super::{Body, Method, Request};
use crate::config::Config;
use crate::error::{TransportError, TransportErrorKind};

/// The HTTP client a caller may bring: a `reqwest::Client`.
pub type HttpClient = reqwest::Client;

/// Sends requests with the key and `User-Agent` of one client.
#[derive(Clone)]
pub(crate) struct Transport {
    client: reqwest::Client,
    api_key: HeaderValue,
    user_agent: HeaderValue,
}

impl Transport {
    pub(crate) fn new(
        config: &Config,
        custom: Option<reqwest::Client>,
    ) -> Result<Self, crate::Error> {
        let client = match custom {
            Some(client) => client,
            None => default_client(config.connect_timeout)?,
        };
        let mut api_key = header_value("api_key", config.api_key.expose())?;
        api_key.set_sensitive(true);
        Ok(Transport {
            client,
            api_key,
            user_agent: header_value("integration", &config.user_agent)?,
        })
    }

    /// Sends one request and returns the answer's head; the body is read by the caller.
    pub(crate) async fn send(&self, req: &Request) -> Result<Response, TransportError> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .client
            .request(method, req.url.as_str())
            .header("x-api-key", self.api_key.clone())
            .header(header::USER_AGENT, self.user_agent.clone())
            .header(header::ACCEPT, "application/json")
            .timeout(req.timeout);
        match &req.body {
            Body::Empty => {}
            Body::Json(bytes) => {
                builder = builder
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(bytes.clone());
            }
        }
        let response = builder.send().await.map_err(map_error)?;
        Ok(Response {
            status: response.status().as_u16(),
            inner: response,
        })
    }
}

fn default_client(connect_timeout: Duration) -> Result<reqwest::Client, crate::Error> {
    let builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none());
    #[cfg(all(feature = "rustls", feature = "async"))]
    let builder = builder.tls_backend_preconfigured(rustls_config()?);
    builder.build().map_err(|e| crate::Error::Transport {
        operation: crate::Operation::ClientSetup,
        source: TransportError::new(
            TransportErrorKind::Other,
            "could not build the HTTP client",
            Some(Box::new(e)),
        ),
    })
}

/// rustls with the ring provider and the platform's trust store, without touching the
/// process-wide default provider.
#[cfg(all(feature = "rustls", feature = "async"))]
fn rustls_config() -> Result<rustls::ClientConfig, crate::Error> {
    use std::sync::Arc;
    let setup = |e: rustls::Error| crate::Error::Transport {
        operation: crate::Operation::ClientSetup,
        source: TransportError::new(
            TransportErrorKind::Tls,
            "could not set up TLS",
            Some(Box::new(e)),
        ),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(setup)?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

fn header_value(field: &str, value: &str) -> Result<HeaderValue, crate::Error> {
    HeaderValue::from_str(value).map_err(|_| {
        crate::Error::invalid_input(field, "must be printable ASCII to be sent as a header")
    })
}

/// An answer whose head has arrived.
pub(crate) struct Response {
    pub(crate) status: u16,
    inner: reqwest::Response,
}

impl Response {
    /// A header's value, if present and valid text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        headers_get(self.inner.headers(), name)
    }

    /// Reads at most `limit + 1` bytes of the body, so the caller can tell an oversize body.
    pub(crate) async fn read_limited(mut self, limit: usize) -> Result<Vec<u8>, TransportError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.inner.chunk().await.map_err(map_error)? {
            let room = (limit + 1).saturating_sub(out.len());
            out.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if out.len() > limit {
                break;
            }
        }
        Ok(out)
    }
}

fn headers_get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// Sleeps without blocking the runtime.
pub(crate) async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}

fn map_error(e: reqwest::Error) -> TransportError {
    use TransportErrorKind as K;
    use std::error::Error as _;
    // Walk the chain: hyper and std::io errors tell what really happened.
    let mut io_kind = None;
    let mut tls = false;
    let mut cause = e.source();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        #[cfg(all(feature = "rustls", feature = "async"))]
        if c.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        cause = c.source();
    }
    let kind = if e.is_timeout() {
        K::Timeout
    } else if e.is_connect() {
        if tls { K::Tls } else { K::Connect }
    } else if e.is_body() || e.is_decode() || io_kind.is_some() || e.is_request() {
        K::Io
    } else {
        K::Other
    };
    // A connect or TLS-handshake failure happens before any byte of the request is sent.
    let unsent = e.is_connect();
    let err = TransportError::new(kind, e.to_string(), Some(Box::new(e)));
    if unsent { err.before_connect() } else { err }
}
