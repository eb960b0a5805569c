//! The async transport: `reqwest` 0.13 on tokio, and `tokio::time::sleep` between retries.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{
    Body, LenCheck, Method, Request, Segment, SendError, Timeouts, input_io, input_status,
    output_io, stalled,
};
use crate::config::Config;
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
            Some(client) => follows_no_redirects(client)?,
            None => default_client(config.connect_timeout)?,
        };
        let (api_key, user_agent) = super::auth_headers(config)?;
        Ok(Transport {
            client,
            api_key,
            user_agent,
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
            timeouts,
            accept,
        } = req;
        let progress = Progress::new();
        let mut builder = self
            .client
            .request(reqwest_method(method), url.as_str())
            .header("x-api-key", self.api_key.clone())
            .header(header::USER_AGENT, self.user_agent.clone())
            .header(header::ACCEPT, accept);
        if let Some(total) = timeouts.total {
            builder = builder.timeout(total);
        }
        builder = match body {
            Body::Empty => builder,
            Body::Json(bytes) => builder
                .header(header::CONTENT_TYPE, "application/json")
                .body(bytes),
            Body::Multipart(content_type, segments) => {
                let (stream, len) = self.open(operation, segments, timeouts).await?;
                // Every chunk the HTTP stack takes is progress: a stalled upload takes none.
                let watched = progress.clone();
                let stream = stream.inspect(move |_| watched.touch());
                let builder = builder
                    .header(header::CONTENT_TYPE, content_type)
                    .body(reqwest::Body::wrap_stream(stream));
                // hyper sends a stream chunked unless the length is given as a header.
                match len {
                    Some(len) => builder.header(header::CONTENT_LENGTH, len),
                    None => builder,
                }
            }
        };
        // The stall clock starts once the inputs are open (an input URL's answer included).
        progress.touch();
        let response = within(&progress, timeouts, builder.send())
            .await
            .map_err(SendError::Transport)?
            .map_err(|e| SendError::Transport(map_error(e)))?;
        if let Some(refused) = super::redirected(&url, response.url()) {
            return Err(SendError::Transport(refused));
        }
        Ok(Response::new(response, timeouts))
    }

    /// Opens every source of a multipart body (so a missing file or a dead URL fails before
    /// anything is sent) and returns one stream of chunks, with the whole length when every
    /// source's is known.
    async fn open(
        &self,
        operation: Operation,
        segments: Vec<Segment>,
        timeouts: Timeouts,
    ) -> Result<
        (
            impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> + Send + 'static,
            Option<u64>,
        ),
        SendError,
    > {
        let mut opened = VecDeque::with_capacity(segments.len());
        let mut lens = Vec::with_capacity(segments.len());
        for segment in segments {
            let (source, len) = match segment {
                Segment::Bytes(b) => {
                    let len = b.len() as u64;
                    (Opened::Bytes(b), Some(len))
                }
                Segment::Path(path) => {
                    let file = tokio::fs::File::open(&path)
                        .await
                        .map_err(|e| SendError::Input(input_io(operation, Some(&path), e)))?;
                    // A regular file's length; none for a pipe or a device.
                    let len = file
                        .metadata()
                        .await
                        .ok()
                        .filter(|m| m.is_file())
                        .map(|m| m.len());
                    (Opened::File(file), len)
                }
                Segment::Reader(r, len) => (Opened::Reader(Some(r)), len),
                Segment::Url(url) => {
                    let response = self.fetch(&url, timeouts).await?;
                    let len = response.content_length();
                    (Opened::Url(response), len)
                }
            };
            opened.push_back((source, LenCheck::new(len)));
            lens.push(len);
        }
        Ok((
            // Each source read is bounded too: once the server has answered (early, say with
            // a 413), hyper may go on pulling the body in the background, where no other
            // timeout watches a stalled input.
            futures_util::stream::try_unfold(opened, move |queue| async move {
                tokio::time::timeout(timeouts.idle, next_chunk(queue))
                    .await
                    .unwrap_or_else(|_| {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("an input gave nothing for {:?}", timeouts.idle),
                        ))
                    })
            }),
            super::total_len(lens),
        ))
    }

    /// Starts fetching an input URL (no API key: it goes to somebody else's server, so
    /// redirects are followed, by hand since the SDK's client itself follows none).
    async fn fetch(
        &self,
        url: &url::Url,
        timeouts: Timeouts,
    ) -> Result<reqwest::Response, SendError> {
        let fail = |source| {
            SendError::Input(crate::Error::Transport {
                operation: Operation::InputFetch,
                source,
            })
        };
        let mut url = url.clone();
        let mut redirects = 0;
        loop {
            let request = self
                .client
                .get(url.as_str())
                .header(header::USER_AGENT, self.user_agent.clone())
                .send();
            let fetch = Timeouts::idle(timeouts.connect, timeouts.idle);
            let response = within(&Progress::new(), fetch, request)
                .await
                .map_err(fail)?
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
                    let body = Response::new(response, fetch)
                        .read_limited(4096)
                        .await
                        .unwrap_or_default();
                    return Err(SendError::Input(input_status(status, &body)));
                }
            }
        }
    }
}

/// When a transfer last moved, for the idle timeout of a streamed exchange.
#[derive(Clone)]
struct Progress {
    start: Instant,
    /// Milliseconds after `start`.
    last: Arc<AtomicU64>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let now = self.start.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// How long since the last progress.
    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Runs `work` under the attempt's timeouts: a JSON exchange is bounded by its total timeout
/// (reqwest's own, set on the request); a streamed one fails once `progress` has not moved for
/// the idle timeout.
async fn within<F: Future>(
    progress: &Progress,
    timeouts: Timeouts,
    work: F,
) -> Result<F::Output, TransportError> {
    if timeouts.total.is_some() {
        return Ok(work.await);
    }
    let mut work = std::pin::pin!(work);
    loop {
        let left = timeouts.idle.saturating_sub(progress.idle_for());
        if left.is_zero() {
            return Err(stalled(timeouts.idle));
        }
        if let Ok(out) = tokio::time::timeout(left, work.as_mut()).await {
            return Ok(out);
        }
    }
}

/// Refuses a caller's client that follows redirects: reqwest keeps custom headers (the API
/// key) on a redirect to another host, and its policy cannot be changed per request. reqwest
/// shows a non-default policy in the client's `Debug`; anything but `Policy::none()` (or a
/// `Debug` this check cannot read) is refused, so the check fails closed.
fn follows_no_redirects(client: reqwest::Client) -> Result<reqwest::Client, crate::Error> {
    if format!("{client:?}").contains(r#"redirect_policy: "Policy(None)""#) {
        return Ok(client);
    }
    Err(crate::Error::invalid_input(
        "http_client",
        "the reqwest::Client follows redirects, which would send the API key to wherever a \
         redirect points: build it with .redirect(reqwest::redirect::Policy::none())",
    ))
}

const CHUNK: usize = 64 * 1024;

enum Opened {
    Bytes(std::sync::Arc<[u8]>),
    File(tokio::fs::File),
    Reader(Option<Box<dyn std::io::Read + Send>>),
    Url(reqwest::Response),
}

/// The next chunk of a multipart body; each source's bytes are checked against its announced
/// length.
async fn next_chunk(
    mut queue: VecDeque<(Opened, LenCheck)>,
) -> std::io::Result<Option<(Vec<u8>, VecDeque<(Opened, LenCheck)>)>> {
    use tokio::io::AsyncReadExt;
    while let Some((front, check)) = queue.front_mut() {
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
        check.advance(chunk.len())?;
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
        // No client-wide read timeout: each request gets the SDK's own (see `Timeouts`).
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

/// An answer whose head has arrived.
pub(crate) struct Response {
    pub(crate) status: u16,
    inner: reqwest::Response,
    /// The idle timeout of a streamed answer's body (a JSON answer's is bounded by the
    /// request's total timeout, which reqwest applies to the body too).
    idle: Option<Duration>,
}

impl Response {
    fn new(inner: reqwest::Response, timeouts: Timeouts) -> Self {
        Response {
            status: inner.status().as_u16(),
            idle: timeouts.total.is_none().then_some(timeouts.idle),
            inner,
        }
    }

    /// A header's value, if present and valid text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        headers_get(self.inner.headers(), name)
    }

    /// The next piece of the body, within the idle timeout.
    async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, TransportError> {
        let next = self.inner.chunk();
        match self.idle {
            Some(idle) => tokio::time::timeout(idle, next)
                .await
                .map_err(|_| stalled(idle))?
                .map_err(map_error),
            None => next.await.map_err(map_error),
        }
    }

    /// Reads at most `limit + 1` bytes of the body, so the caller can tell an oversize body.
    pub(crate) async fn read_limited(mut self, limit: usize) -> Result<Vec<u8>, TransportError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.chunk().await? {
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
            let chunk = self
                .chunk()
                .await
                .map_err(|source| Error::Transport { operation, source })?;
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
        let temp = super::PartFile::next_to(path);
        let mut file = tokio::fs::File::create(temp.path())
            .await
            .map_err(|e| output_io(operation, Some(path), e))?;
        let written = self.copy_to(operation, &mut file).await?;
        file.sync_all()
            .await
            .map_err(|e| output_io(operation, Some(path), e))?;
        tokio::fs::rename(temp.path(), path)
            .await
            .map_err(|e| output_io(operation, Some(path), e))?;
        temp.renamed();
        Ok(written)
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
    // reqwest's text names the URL, query included (an input URL's signature): drop it. The
    // text stays in the source; this error's own says only the kind.
    let err = TransportError::new(kind, String::new(), Some(Box::new(e.without_url())));
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
            // A caller's client may follow redirects: the key set must come from its URL.
            if let Some(refused) = super::redirected(url, response.url()) {
                return Err(refused);
            }
            let cache_control = headers_get(response.headers(), "cache-control").map(str::to_owned);
            let response = Response::new(response, Timeouts::total(Duration::ZERO, timeout));
            let status = response.status;
            Ok((status, cache_control, response.read_limited(limit).await?))
        };
        // One bound on the whole fetch, whatever the client's own settings.
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

#[cfg(all(test, feature = "rustls"))]
mod tests {
    use super::*;

    /// Pins how reqwest shows its redirect policy: if an upgrade changes it, this fails here,
    /// not in users' programs (where the check would refuse every client, failing closed).
    #[test]
    fn only_a_client_that_follows_no_redirects_is_accepted() {
        let with = |policy| {
            reqwest::Client::builder()
                .tls_backend_preconfigured(rustls_config().unwrap())
                .redirect(policy)
                .build()
                .unwrap()
        };
        use reqwest::redirect::Policy;
        assert!(follows_no_redirects(with(Policy::none())).is_ok());
        assert!(follows_no_redirects(default_client(Duration::from_secs(1)).unwrap()).is_ok());
        for follows in [
            Policy::default(),
            Policy::limited(1),
            Policy::custom(|attempt| attempt.stop()),
        ] {
            let err = follows_no_redirects(with(follows)).unwrap_err();
            assert_eq!(err.code(), "INVALID_INPUT");
        }
    }
}
