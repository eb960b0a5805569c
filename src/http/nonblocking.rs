//! The async transport: `reqwest` 0.13 on tokio, and `tokio::time::sleep` between retries.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Body, Method, Request, Segment, SendError, Timeout, input_io, input_status};
use crate::config::{Config, DEFAULT_REQUEST_TIMEOUT};
use crate::error::{Error, Operation, TransportError, TransportErrorKind};

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

    /// The underlying HTTP client (cheap to clone: shared state).
    #[cfg(feature = "jwt")]
    pub(crate) fn http_client(&self) -> HttpClient {
        self.client.clone()
    }

    /// Sends one request and returns the answer's head; the body is read by the caller.
    pub(crate) async fn send(&self, req: Request) -> Result<Response, SendError> {
        let Request {
            operation,
            method,
            url,
            body,
            timeout,
            accept,
        } = req;
        let mut builder = self
            .client
            .request(reqwest_method(method), url.as_str())
            .header("x-api-key", self.api_key.clone())
            .header(header::USER_AGENT, self.user_agent.clone())
            .header(header::ACCEPT, accept);
        if let Timeout::Total(d) = timeout {
            builder = builder.timeout(d);
        }
        builder = match body {
            Body::Empty => builder,
            Body::Json(bytes) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes),
            Body::Multipart(content_type, segments) => {
                let stream = self.open(operation, segments).await?;
                builder
                    .header(header::CONTENT_TYPE, content_type)
                    .body(reqwest::Body::wrap_stream(stream))
            }
        };
        // An idle timeout is the client's read timeout (set on the default client).
        let response = builder
            .send()
            .await
            .map_err(|e| SendError::Transport(map_error(e)))?;
        Ok(Response {
            status: response.status().as_u16(),
            inner: response,
        })
    }

    /// Opens every source of a multipart body (so a missing file or a dead URL fails before
    /// anything is sent) and returns one stream of chunks.
    async fn open(
        &self,
        operation: Operation,
        segments: Vec<Segment>,
    ) -> Result<
        impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static,
        SendError,
    > {
        let mut opened = VecDeque::with_capacity(segments.len());
        for segment in segments {
            opened.push_back(match segment {
                Segment::Bytes(b) => Opened::Bytes(b),
                Segment::Path(path) => match tokio::fs::File::open(&path).await {
                    Ok(file) => Opened::File(file),
                    Err(e) => return Err(SendError::Input(input_io(operation, Some(&path), e))),
                },
                Segment::Reader(r) => Opened::Reader(Some(r)),
                Segment::Url(url) => Opened::Url(self.fetch(&url).await?),
            });
        }
        Ok(futures_util::stream::try_unfold(opened, next_chunk))
    }

    /// Starts fetching an input URL (no API key: it goes to somebody else's server, so
    /// redirects are followed, by hand since the client itself follows none).
    async fn fetch(&self, url: &url::Url) -> Result<reqwest::Response, SendError> {
        let fail = |source| {
            SendError::Input(crate::Error::Transport {
                operation: Operation::InputFetch,
                source,
            })
        };
        let mut url = url.clone();
        let mut redirects = 0;
        loop {
            let response = self
                .client
                .get(url.as_str())
                .header(header::USER_AGENT, self.user_agent.clone())
                .send()
                .await
                .map_err(|e| fail(map_error(e)))?;
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(response);
            }
            let location = matches!(status, 301 | 302 | 303 | 307 | 308)
                .then(|| headers_get(response.headers(), "location"))
                .flatten()
                .and_then(|l| url.join(l).ok())
                .filter(|next| matches!(next.scheme(), "http" | "https"));
            match location {
                Some(next) if redirects < super::MAX_INPUT_REDIRECTS => {
                    redirects += 1;
                    url = next;
                }
                _ => {
                    let body = Response {
                        status,
                        inner: response,
                    }
                    .read_limited(4096)
                    .await
                    .unwrap_or_default();
                    return Err(SendError::Input(input_status(&url, status, &body)));
                }
            }
        }
    }
}

const CHUNK: usize = 64 * 1024;

enum Opened {
    Bytes(std::sync::Arc<[u8]>),
    File(tokio::fs::File),
    Reader(Option<Box<dyn std::io::Read + Send>>),
    Url(reqwest::Response),
}

/// The next chunk of a multipart body.
async fn next_chunk(
    mut queue: VecDeque<Opened>,
) -> std::io::Result<Option<(Vec<u8>, VecDeque<Opened>)>> {
    use tokio::io::AsyncReadExt;
    while let Some(front) = queue.front_mut() {
        let chunk = match front {
            Opened::Bytes(b) => {
                let chunk = b.to_vec();
                queue.pop_front();
                return Ok(Some((chunk, queue)));
            }
            Opened::File(file) => {
                let mut buf = vec![0u8; CHUNK];
                let n = file.read(&mut buf).await?;
                buf.truncate(n);
                buf
            }
            Opened::Reader(slot) => {
                // A std reader blocks: read it on the blocking pool, one chunk at a time.
                let Some(mut reader) = slot.take() else {
                    queue.pop_front();
                    continue;
                };
                let (reader, result) = tokio::task::spawn_blocking(move || {
                    let mut buf = vec![0u8; CHUNK];
                    let result = loop {
                        match reader.read(&mut buf) {
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                            other => {
                                break other.map(|n| {
                                    buf.truncate(n);
                                    buf
                                });
                            }
                        }
                    };
                    (reader, result)
                })
                .await
                .map_err(std::io::Error::other)?;
                *slot = Some(reader);
                result?
            }
            Opened::Url(response) => response
                .chunk()
                .await
                .map_err(std::io::Error::other)?
                .map(|b| b.to_vec())
                .unwrap_or_default(),
        };
        if chunk.is_empty() {
            queue.pop_front();
            continue;
        }
        return Ok(Some((chunk, queue)));
    }
    Ok(None)
}

fn reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Delete => reqwest::Method::DELETE,
    }
}

fn default_client(connect_timeout: Duration) -> Result<reqwest::Client, crate::Error> {
    let builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        // No read may stall longer than this, on any call (uploads and downloads included).
        .read_timeout(DEFAULT_REQUEST_TIMEOUT)
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

/// Where a streamed result can be written: any [`tokio::io::AsyncWrite`] that is `Unpin + Send`.
pub trait Sink: AsyncWrite + Unpin + Send {}
impl<W: AsyncWrite + Unpin + Send + ?Sized> Sink for W {}

impl Response {
    /// Streams the body into a writer; returns the number of bytes written.
    pub(crate) async fn copy_to<W: Sink + ?Sized>(
        mut self,
        operation: Operation,
        writer: &mut W,
    ) -> Result<u64, Error> {
        let mut total = 0u64;
        loop {
            let chunk = self.inner.chunk().await.map_err(|e| Error::Transport {
                operation,
                source: map_error(e),
            })?;
            let Some(chunk) = chunk else { break };
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| output_io(operation, None, e))?;
            total += chunk.len() as u64;
        }
        writer
            .flush()
            .await
            .map_err(|e| output_io(operation, None, e))?;
        Ok(total)
    }

    /// Streams the body into a file: written next to it under a temporary name, then renamed,
    /// so a failed download never leaves a partial file at `path`.
    pub(crate) async fn copy_to_path(
        self,
        operation: Operation,
        path: &Path,
    ) -> Result<u64, Error> {
        let temp = super::temp_path(path);
        let result = async {
            let mut file = tokio::fs::File::create(&temp)
                .await
                .map_err(|e| output_io(operation, Some(path), e))?;
            let written = self.copy_to(operation, &mut file).await?;
            file.sync_all()
                .await
                .map_err(|e| output_io(operation, Some(path), e))?;
            tokio::fs::rename(&temp, path)
                .await
                .map_err(|e| output_io(operation, Some(path), e))?;
            Ok(written)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }
}

fn output_io(operation: Operation, path: Option<&Path>, source: std::io::Error) -> Error {
    Error::Io {
        operation,
        what: "cannot write result",
        path: path.map(Into::into),
        source,
    }
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
    #[allow(unused_mut)] // only rustls errors are recognised as TLS failures
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

/// Sleeps, or returns `true` early when the handle is cancelled.
pub(crate) async fn sleep_or_cancel(
    duration: Duration,
    cancel: Option<&crate::models::CancelHandle>,
) -> bool {
    match cancel {
        Some(handle) => handle.sleep_async(duration).await,
        None => {
            sleep(duration).await;
            false
        }
    }
}

/// A GET without the API key, for public documents (the JWKS): no redirects, a total timeout,
/// a size cap.
#[cfg(feature = "jwt")]
#[derive(Clone)]
pub(crate) struct PublicClient {
    client: reqwest::Client,
}

#[cfg(feature = "jwt")]
impl PublicClient {
    pub(crate) fn new(custom: Option<reqwest::Client>) -> Result<Self, Error> {
        Ok(PublicClient {
            client: match custom {
                Some(c) => c,
                None => default_client(crate::config::DEFAULT_CONNECT_TIMEOUT)?,
            },
        })
    }

    /// Status, `Cache-Control`, and at most `limit + 1` bytes of the body.
    pub(crate) async fn get(
        &self,
        url: &str,
        timeout: Duration,
        limit: usize,
    ) -> Result<(u16, Option<String>, Vec<u8>), TransportError> {
        let work = async {
            let response = self
                .client
                .get(url)
                .header(header::ACCEPT, "application/json")
                .header(header::USER_AGENT, crate::config::user_agent(None))
                .send()
                .await
                .map_err(map_error)?;
            let status = response.status().as_u16();
            let cache_control = headers_get(response.headers(), "cache-control").map(str::to_owned);
            let body = Response {
                status,
                inner: response,
            }
            .read_limited(limit)
            .await?;
            Ok((status, cache_control, body))
        };
        // A total bound, redirects or not (a caller's client may follow them: a 3xx is
        // rejected by the caller as a non-2xx status only if it is not followed).
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::new(
                TransportErrorKind::Timeout,
                format!("no answer within {timeout:?}"),
                None,
            )),
        }
    }
}

/// Serialises JWKS fetches so that concurrent callers share one.
#[cfg(feature = "jwt")]
#[derive(Default)]
pub(crate) struct FetchLock(tokio::sync::Mutex<()>);

#[cfg(feature = "jwt")]
impl FetchLock {
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.lock().await
    }
}
