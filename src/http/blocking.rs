//! The blocking transport: `ureq` 3, and `std::thread::sleep` between retries.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use ureq::http;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

use super::{
    Body, Checked, LenCheck, Request, Segment, SendError, Timeouts, input_io, input_status,
    output_io,
};
use crate::config::Config;
use crate::error::{Error, Operation, TransportError, TransportErrorKind};

/// The HTTP client a caller may bring: a `ureq::Agent`.
pub type HttpClient = ureq::Agent;

/// Sends requests with the key and `User-Agent` of one client.
#[derive(Clone)]
pub(crate) struct Transport {
    agent: ureq::Agent,
    api_key: http::HeaderValue,
    user_agent: http::HeaderValue,
}

impl Transport {
    /// A caller's agent is fine as it is: every request overrides its redirect policy.
    pub(crate) fn new(config: &Config, custom: Option<ureq::Agent>) -> Result<Self, crate::Error> {
        let agent = custom.unwrap_or_else(|| default_agent(config.connect_timeout));
        let (api_key, user_agent) = super::auth_headers(config)?;
        Ok(Transport {
            agent,
            api_key,
            user_agent,
        })
    }

    /// The underlying HTTP client (cheap to clone: shared state).
    #[cfg(feature = "jwt")]
    pub(crate) fn http_client(&self) -> HttpClient {
        self.agent.clone()
    }

    /// Sends one request and returns the answer's head; the body is read by the caller.
    pub(crate) fn send(&self, req: Request) -> Result<Response, SendError> {
        let Request {
            operation,
            method,
            url,
            body,
            timeouts,
            accept,
        } = req;
        let builder = http::Request::builder()
            .method(method.as_str())
            .uri(url.as_str())
            .header("x-api-key", self.api_key.clone())
            .header(http::header::USER_AGENT, self.user_agent.clone())
            .header(http::header::ACCEPT, accept);
        match body {
            Body::Empty => run(&self.agent, builder.body(()), timeouts, 0),
            Body::Json(bytes) => run(
                &self.agent,
                builder
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(bytes),
                timeouts,
                0,
            ),
            Body::Multipart(content_type, segments) => {
                let (reader, len) = self.open(operation, segments, timeouts)?;
                let builder = builder.header(http::header::CONTENT_TYPE, content_type);
                // ureq sends a reader chunked unless the length is given as a header.
                let builder = match len {
                    Some(len) => builder.header(http::header::CONTENT_LENGTH, len),
                    None => builder,
                };
                run(
                    &self.agent,
                    builder.body(ureq::SendBody::from_owned_reader(reader)),
                    timeouts,
                    0,
                )
            }
        }
        .map_err(SendError::Transport)
    }

    /// Opens every source of a multipart body (so a missing file or a dead URL fails before
    /// anything is sent) and chains them into one reader; with the whole length when every
    /// source's is known.
    fn open(
        &self,
        operation: Operation,
        segments: Vec<Segment>,
        timeouts: Timeouts,
    ) -> Result<(Chain, Option<u64>), SendError> {
        let mut readers: VecDeque<Box<dyn Read + Send>> = VecDeque::with_capacity(segments.len());
        let mut lens = Vec::with_capacity(segments.len());
        for segment in segments {
            let (reader, len): (Box<dyn Read + Send>, _) = match segment {
                Segment::Bytes(b) => {
                    let len = b.len() as u64;
                    (Box::new(io::Cursor::new(b)), Some(len))
                }
                Segment::Path(path) => {
                    let file = std::fs::File::open(&path)
                        .map_err(|e| SendError::Input(input_io(operation, Some(&path), e)))?;
                    // A regular file's length; none for a pipe or a device.
                    let len = file
                        .metadata()
                        .ok()
                        .filter(|m| m.is_file())
                        .map(|m| m.len());
                    (checked(file, len), len)
                }
                Segment::Reader(r, len) => (checked(r, len), len),
                Segment::Url(url) => {
                    let response = self.fetch(&url, timeouts)?;
                    let len = response.content_length();
                    let reader = response.body.into_with_config().limit(u64::MAX).reader();
                    (checked(reader, len), len)
                }
            };
            readers.push_back(reader);
            lens.push(len);
        }
        Ok((Chain { readers }, super::total_len(lens)))
    }

    /// Starts fetching an input URL (no API key: it goes to somebody else's server, so
    /// redirects, from CDNs or short links, are safe to follow).
    fn fetch(&self, url: &url::Url, timeouts: Timeouts) -> Result<Response, SendError> {
        let request = http::Request::builder()
            .method("GET")
            .uri(url.as_str())
            .header(http::header::USER_AGENT, self.user_agent.clone())
            .body(());
        let fetch = Timeouts::idle(timeouts.connect, timeouts.idle);
        let response =
            run(&self.agent, request, fetch, super::MAX_INPUT_REDIRECTS).map_err(|source| {
                SendError::Input(crate::Error::Transport {
                    operation: Operation::InputFetch,
                    source,
                })
            })?;
        if !(200..300).contains(&response.status) {
            let status = response.status;
            let body = response.read_limited(4096).unwrap_or_default();
            return Err(SendError::Input(input_status(status, &body)));
        }
        Ok(response)
    }
}

/// Checks a streamed source against its announced length.
fn checked(reader: impl Read + Send + 'static, len: Option<u64>) -> Box<dyn Read + Send> {
    match len {
        Some(_) => Box::new(Checked {
            inner: reader,
            check: LenCheck::new(len),
        }),
        None => Box::new(reader),
    }
}

/// Sends one request with per-request settings, so that a caller's own agent behaves the same:
/// error statuses as answers, the SDK's timeouts, at most `redirects` redirects followed.
fn run(
    agent: &ureq::Agent,
    request: Result<http::Request<impl ureq::AsSendBody>, http::Error>,
    timeouts: Timeouts,
    redirects: u32,
) -> Result<Response, TransportError> {
    let request = request.map_err(|e| {
        TransportError::new(
            TransportErrorKind::Other,
            "invalid request",
            Some(Box::new(e)),
        )
    })?;
    let config = agent
        .configure_request(request)
        .http_status_as_error(false)
        .timeout_connect(Some(timeouts.connect))
        .max_redirects(redirects)
        .max_redirects_will_error(false);
    let request = match timeouts.total {
        Some(total) => config.timeout_global(Some(total)),
        None => config
            .timeout_global(None)
            .timeout_per_read(Some(timeouts.idle))
            .timeout_per_write(Some(timeouts.idle)),
    }
    .build();
    let asked = (redirects == 0).then(|| request.uri().clone());
    let response = agent.run(request).map_err(map_error)?;
    // The agent was told to follow no redirect; whatever it is, the answer must come from the
    // URL asked.
    if let Some(asked) = asked {
        let answered = ureq::ResponseExt::get_uri(&response);
        if *answered != asked {
            let answered = url::Url::parse(&answered.to_string()).map_err(|e| {
                TransportError::new(
                    TransportErrorKind::Redirect,
                    "the answer came from another URL",
                    Some(Box::new(e)),
                )
            })?;
            if let Some(refused) = super::redirected(&asked.to_string(), &answered) {
                return Err(refused);
            }
        }
    }
    let (parts, body) = response.into_parts();
    Ok(Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

/// Reads the sources of a multipart body one after the other.
struct Chain {
    readers: VecDeque<Box<dyn Read + Send>>,
}

impl Read for Chain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(front) = self.readers.front_mut() {
            let n = front.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.readers.pop_front();
        }
        Ok(0)
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
    ureq::Agent::with_parts(
        config.build(),
        ureq::unversioned::transport::DefaultConnector::default(),
        QuickResolver::default(),
    )
}

/// How long the addresses of a host name are reused for new connections.
const ADDRESS_REUSE: Duration = Duration::from_secs(1);

/// The resolver of the SDK's own agent.
///
/// ureq resolves the host of every request before it looks in its pool, so also for a request
/// that a pooled connection then serves, and when the request has a total timeout (the SDK's
/// JSON calls always do) it resolves on a thread spawned for that one lookup, which tripled the
/// CPU time of a keep-alive call (issue 10). This resolver answers an IP literal in place (it
/// is parsed, never looked up, so nothing can block) and reuses the addresses of a host name
/// for [`ADDRESS_REUSE`]; anything else is resolved by ureq's own resolver within the
/// request's timeout, as before. Timeouts are untouched. `Resolver` and `Agent::with_parts`
/// are ureq's `unversioned` API (outside its semver promise); drop this once ureq looks in its
/// pool before resolving.
#[derive(Debug, Default)]
struct QuickResolver {
    inner: DefaultResolver,
    /// Recent lookups (a handful of hosts at most).
    recent: std::sync::Mutex<Vec<Recent>>,
}

#[derive(Debug)]
struct Recent {
    scheme: String,
    host: String,
    port: Option<u16>,
    family: ureq::config::IpFamily,
    at: std::time::Instant,
    addrs: ResolvedSocketAddrs,
}

impl Recent {
    fn is(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.scheme == scheme && self.host == host && self.port == port
    }

    fn fresh(&self, now: std::time::Instant) -> bool {
        now.saturating_duration_since(self.at) < ADDRESS_REUSE
    }
}

impl Resolver for QuickResolver {
    fn resolve(
        &self,
        uri: &http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let (scheme, host, port) = (
            uri.scheme_str().unwrap_or_default(),
            uri.host().unwrap_or_default(),
            uri.port_u16(),
        );
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_ok() {
            // Without a timeout ureq resolves in place, and std parses a literal address
            // without a lookup.
            return self.inner.resolve(uri, config, NextTimeout::default());
        }
        let family = config.ip_family();
        let now = std::time::Instant::now();
        {
            let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            let hit = recent
                .iter()
                .find(|r| r.is(scheme, host, port) && r.family == family && r.fresh(now));
            if let Some(hit) = hit {
                return Ok(hit.addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|r| r.fresh(now) && !r.is(scheme, host, port));
        if recent.len() < 8 {
            recent.push(Recent {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
                port,
                family,
                at: now,
                addrs: addrs.clone(),
            });
        }
        Ok(addrs)
    }
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

    /// The body's announced length.
    fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
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

/// Where a streamed result can be written: any [`std::io::Write`].
pub trait Sink: Write {}
impl<W: Write + ?Sized> Sink for W {}

impl Response {
    /// Streams the body into a writer; returns the number of bytes written.
    pub(crate) fn copy_to<W: Sink + ?Sized>(
        mut self,
        operation: Operation,
        writer: &mut W,
    ) -> Result<u64, Error> {
        let mut reader = self.body.with_config().limit(u64::MAX).reader();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Transport {
                        operation,
                        source: map_io(e),
                    });
                }
            };
            writer
                .write_all(&buf[..n])
                .map_err(|e| output_io(operation, None, e))?;
            total += n as u64;
        }
        writer.flush().map_err(|e| output_io(operation, None, e))?;
        Ok(total)
    }

    /// Streams the body into a file: written next to it under a temporary name, then renamed,
    /// so a failed download never leaves a partial file at `path`.
    pub(crate) fn copy_to_path(self, operation: Operation, path: &Path) -> Result<u64, Error> {
        let temp = super::PartFile::next_to(path);
        let mut file =
            std::fs::File::create(temp.path()).map_err(|e| output_io(operation, Some(path), e))?;
        let written = self.copy_to(operation, &mut io::BufWriter::new(&mut file))?;
        file.sync_all()
            .map_err(|e| output_io(operation, Some(path), e))?;
        std::fs::rename(temp.path(), path).map_err(|e| output_io(operation, Some(path), e))?;
        temp.renamed();
        Ok(written)
    }
}

/// Sleeps the current thread.
pub(crate) fn sleep(duration: Duration) {
    std::thread::sleep(duration);
}

/// The kind of a ureq failure; its text stays in the source (see `TransportError`).
fn map_error(e: ureq::Error) -> TransportError {
    use TransportErrorKind as K;
    let (kind, unsent) = match &e {
        ureq::Error::Timeout(t) => (
            K::Timeout,
            matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve),
        ),
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => (K::Connect, true),
        // ureq resolves through std, whose failed look-up is a plain I/O error with this text
        // (and a kind stable Rust cannot name): the host could not be resolved, nothing sent.
        ureq::Error::Io(io) if io.to_string().starts_with("failed to lookup address") => {
            (K::Connect, true)
        }
        ureq::Error::Io(io) => match io.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::AddrNotAvailable => {
                (K::Connect, true)
            }
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => (K::Timeout, false),
            _ => (K::Io, false),
        },
        ureq::Error::Tls(_) => (K::Tls, false),
        #[cfg(feature = "rustls")]
        ureq::Error::Rustls(_) | ureq::Error::Pem(_) => (K::Tls, false),
        #[cfg(feature = "native-tls")]
        ureq::Error::NativeTls(_) | ureq::Error::Der(_) => (K::Tls, false),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => (K::Other, true),
        _ => (K::Other, false),
    };
    let err = TransportError::new(kind, String::new(), Some(Box::new(e)));
    if unsent { err.before_connect() } else { err }
}

fn map_io(e: io::Error) -> TransportError {
    // ureq wraps its own errors (timeouts among them) in io::Error while reading a body.
    map_error(ureq::Error::from(e))
}

/// Sleeps, or returns `true` early when the handle is cancelled.
pub(crate) fn sleep_or_cancel(
    duration: Duration,
    cancel: Option<&crate::models::CancelHandle>,
) -> bool {
    match cancel {
        Some(handle) => handle.sleep(duration),
        None => {
            sleep(duration);
            false
        }
    }
}

/// A GET without the API key, for public documents (the JWKS): no redirects, a total timeout,
/// a size cap.
#[cfg(feature = "jwt")]
#[derive(Clone)]
pub(crate) struct PublicClient {
    agent: ureq::Agent,
}

#[cfg(feature = "jwt")]
impl PublicClient {
    pub(crate) fn new(custom: Option<ureq::Agent>) -> Result<Self, Error> {
        Ok(PublicClient {
            agent: custom.unwrap_or_else(|| default_agent(crate::config::DEFAULT_CONNECT_TIMEOUT)),
        })
    }

    /// Status, `Cache-Control`, and at most `limit + 1` bytes of the body.
    pub(crate) fn get(
        &self,
        url: &str,
        timeout: Duration,
        limit: usize,
    ) -> Result<(u16, Option<String>, Vec<u8>), TransportError> {
        let request = http::Request::builder()
            .method("GET")
            .uri(url)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, crate::config::user_agent(None))
            .body(());
        let response = run(
            &self.agent,
            request,
            Timeouts::total(crate::config::DEFAULT_CONNECT_TIMEOUT, timeout),
            0,
        )?;
        let status = response.status;
        let cache_control = response.header("cache-control").map(str::to_owned);
        Ok((status, cache_control, response.read_limited(limit)?))
    }
}

/// Serialises JWKS fetches so that concurrent callers share one.
#[cfg(feature = "jwt")]
#[derive(Default)]
pub(crate) struct FetchLock(std::sync::Mutex<()>);

#[cfg(feature = "jwt")]
impl FetchLock {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unresolvable_host_is_a_connect_failure_before_sending() {
        // What std's resolver returns (ureq passes it on as `Error::Io`).
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        let err = map_error(ureq::Error::Io(dns));
        assert_eq!(err.kind(), TransportErrorKind::Connect);
        assert!(err.is_request_unsent());
        let reset = map_error(ureq::Error::Io(io::ErrorKind::ConnectionReset.into()));
        assert_eq!(reset.kind(), TransportErrorKind::Io);
        assert!(!reset.is_request_unsent());
    }

    /// A timeout already over: a lookup ureq starts with it fails at once.
    fn expired() -> NextTimeout {
        NextTimeout {
            after: std::time::Duration::ZERO.into(),
            ..NextTimeout::default()
        }
    }

    fn config() -> ureq::config::Config {
        ureq::Agent::config_builder().build()
    }

    #[test]
    fn an_ip_literal_is_parsed_in_place_whatever_the_timeout() {
        let resolver = QuickResolver::default();
        for (url, want) in [
            ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
            ("https://127.0.0.1/", "127.0.0.1:443"),
            ("http://[::1]:9/", "[::1]:9"),
        ] {
            let uri: http::Uri = url.parse().unwrap();
            let addrs = resolver.resolve(&uri, &config(), expired()).unwrap();
            assert_eq!(addrs.len(), 1, "{url}");
            assert_eq!(addrs[0].to_string(), want);
        }
        assert!(resolver.recent.lock().unwrap().is_empty());
    }

    #[test]
    fn an_ip_literal_of_the_wrong_family_is_not_found() {
        let config = ureq::Agent::config_builder()
            .ip_family(ureq::config::IpFamily::Ipv4Only)
            .build();
        let uri: http::Uri = "http://[::1]:9/".parse().unwrap();
        let err = QuickResolver::default()
            .resolve(&uri, &config, NextTimeout::default())
            .unwrap_err();
        assert!(matches!(err, ureq::Error::HostNotFound), "{err:?}");
    }

    #[test]
    fn a_host_name_is_looked_up_within_the_timeout_then_reused_briefly() {
        let resolver = QuickResolver::default();
        let uri: http::Uri = "http://localhost:9/".parse().unwrap();
        let timeout = || NextTimeout {
            after: std::time::Duration::from_secs(30).into(),
            ..NextTimeout::default()
        };
        let first = resolver.resolve(&uri, &config(), timeout()).unwrap();
        let looked_up = {
            let mut recent = resolver.recent.lock().unwrap();
            assert_eq!(recent.len(), 1);
            recent[0].at -= Duration::from_millis(1);
            recent[0].at
        };
        // Reused: no lookup (the expired timeout would end one), the entry untouched.
        let again = resolver.resolve(&uri, &config(), expired()).unwrap();
        assert_eq!(first[..], again[..]);
        assert_eq!(resolver.recent.lock().unwrap()[0].at, looked_up);
        // Another port is another entry.
        let other: http::Uri = "http://localhost:10/".parse().unwrap();
        resolver.resolve(&other, &config(), timeout()).unwrap();
        assert_eq!(resolver.recent.lock().unwrap().len(), 2);
        // A stale entry is looked up again and replaced.
        let stale = looked_up - ADDRESS_REUSE;
        resolver.recent.lock().unwrap()[0].at = stale;
        resolver.resolve(&uri, &config(), timeout()).unwrap();
        let recent = resolver.recent.lock().unwrap();
        assert_eq!(recent.len(), 2);
        assert!(recent.iter().all(|r| r.at > stale));
    }
}
