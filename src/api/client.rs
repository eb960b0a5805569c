//! The client and its builder, written once and compiled into both flavours.
//!
//! Code here is compiled twice: in `decart::blocking` every `async fn` becomes a plain `fn`
//! (`maybe_async::must_be_sync`), in `decart::nonblocking` it stays async.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::files::Files;
use super::maybe_async;
use super::process::Process;
use super::queue::Queue;
use super::tokens::Tokens;
use super::transport::{self, HttpClient, Transport};
use crate::config::{Config, ConfigBuilder, MAX_JSON_BODY, RetryPolicy};
use crate::error::{ApiError, Error};
use crate::http::{self, Call, Request, SendError};
use crate::retry::{self, Failure};

/// How much of an error answer's body is read (the rest is dropped).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// A Decart API client.
///
/// Cheap to clone (the state is shared behind an `Arc`), `Send` and `Sync`; its `Debug` output
/// never shows the API key. Build one with [`Client::new`], [`Client::from_env`] or
/// [`Client::builder`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    transport: Transport,
    #[cfg(feature = "jwt")]
    jwks: JwksSettings,
}

/// How `tokens().verify` builds its verifier, and the verifier once built (shared by clones).
#[cfg(feature = "jwt")]
#[derive(Default)]
struct JwksSettings {
    url: Option<String>,
    options: Option<crate::jwt::VerifyOptions>,
    verifier: std::sync::OnceLock<super::jwks::JwksVerifier>,
}

impl Client {
    /// A client with this API key and every default (base URL `https://api.decart.ai`, 10 s
    /// connect timeout, 60 s request timeout, 3 attempts).
    ///
    /// # Errors
    ///
    /// [`Error::MissingApiKey`] if the key is empty or white space only.
    pub fn new(api_key: impl Into<String>) -> Result<Self, Error> {
        Self::builder().api_key(api_key).build()
    }

    /// A client configured from the environment: the key from `DECART_API_KEY` (trimmed) and,
    /// if set, the base URL from `DECART_BASE_URL`. The same as `Client::builder().build()`.
    ///
    /// # Errors
    ///
    /// [`Error::MissingApiKey`] if `DECART_API_KEY` is unset or blank,
    /// [`Error::InvalidBaseUrl`] if `DECART_BASE_URL` is not an http(s) URL with a host.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// A builder for every setting.
    ///
    /// The environment is read only when no key is given with [`ClientBuilder::api_key`],
    /// and then for the key and the base URL together: the key from `DECART_API_KEY`, the base
    /// URL from `DECART_BASE_URL` (unless [`ClientBuilder::base_url`] is given). A key given in
    /// code never goes to a base URL from the environment, and a key from the environment
    /// never goes to the default API when the environment names another base URL.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Client tokens: short-lived keys (and signed JWTs) for browsers and other clients.
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens::new(self)
    }

    /// Image edits.
    pub fn process(&self) -> Process<'_> {
        Process::new(self)
    }

    /// Video jobs: submit, poll, wait, download.
    pub fn queue(&self) -> Queue<'_> {
        Queue::new(self)
    }

    /// Uploaded files.
    pub fn files(&self) -> Files<'_> {
        Files::new(self)
    }

    /// The client's JWKS verifier (built on first use, shared by clones of this client).
    #[cfg(feature = "jwt")]
    pub(crate) fn jwks_verifier(&self) -> Result<&super::jwks::JwksVerifier, Error> {
        let settings = &self.inner.jwks;
        if let Some(v) = settings.verifier.get() {
            return Ok(v);
        }
        // The client's own HTTP client (no redirects, per-request timeouts): no second TLS
        // set-up and connection pool.
        let mut builder =
            super::jwks::JwksVerifier::builder().http_client(self.inner.transport.http_client());
        if let Some(url) = &settings.url {
            builder = builder.jwks_url(url.clone());
        }
        if let Some(options) = &settings.options {
            builder = builder.options(options.clone());
        }
        let verifier = builder.build()?;
        Ok(settings.verifier.get_or_init(|| verifier))
    }

    /// The API key (for realtime sessions, which send it in the URL).
    #[cfg(feature = "realtime")]
    pub(crate) fn api_key(&self) -> &crate::config::Secret {
        &self.inner.config.api_key
    }

    /// The base URL calls go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.config.base_url
    }

    /// The `User-Agent` sent with every call.
    pub fn user_agent(&self) -> &str {
        &self.inner.config.user_agent
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.config.retry
    }

    /// Sends a call with retries and returns the head of its 2xx answer (body unread).
    ///
    /// Each attempt gets the call's [`Timeouts`](crate::http::Timeouts); a job wait's
    /// deadline shortens each attempt and ends the retries.
    #[maybe_async]
    pub(crate) async fn execute(&self, mut call: Call) -> Result<transport::Response, Error> {
        let operation = call.operation;
        let config = &self.inner.config;
        let url = http::join(&config.base_url, &call.path);
        let policy = config.retry;
        let mut attempt = 1;
        // A fresh payload always has a first body; `None` can only mean a one-shot reader
        // that was consumed, which the retry below checks before sleeping.
        let mut body = call.payload.body().ok_or_else(|| {
            Error::invalid_input("input", "a one-shot reader can be sent only once")
        })?;
        loop {
            let request = Request {
                operation,
                method: call.method,
                url: url.clone(),
                body,
                timeouts: call.timeouts(config.connect_timeout, config.request_timeout),
                accept: call.accept(),
            };
            let (error, retryable, retry_after) = match self.inner.transport.send(request).await {
                Ok(response) if (200..300).contains(&response.status) => return Ok(response),
                Ok(response) => {
                    let status = response.status;
                    let retry_after = http::retry_after(response.header("retry-after"));
                    let body = response
                        .read_limited(ERROR_BODY_LIMIT)
                        .await
                        .unwrap_or_default();
                    let error = ApiError::from_response(operation, status, &body, retry_after);
                    let retryable = retry::should_retry(call.replay, &Failure::Status(status));
                    (Error::Api(error), retryable, retry_after)
                }
                Err(SendError::Input(error)) => return Err(error),
                Err(SendError::Transport(source)) => {
                    let retryable = retry::should_retry(call.replay, &Failure::Transport(&source));
                    (Error::Transport { operation, source }, retryable, None)
                }
            };
            let out_of_time = call.deadline.is_some_and(|d| Instant::now() >= d);
            if !retryable || attempt >= policy.attempts() || out_of_time {
                return Err(error);
            }
            // Never re-send a body that cannot be replayed: report the failure as it is.
            body = match call.payload.body() {
                Some(next) => next,
                None => return Err(error),
            };
            let delay = retry::delay(&policy, attempt, retry_after, retry::random_unit());
            log::debug!(
                "{operation}: attempt {attempt} of {} failed ({}); retrying in {delay:?}",
                policy.attempts(),
                error.report()
            );
            transport::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Sends a call with a JSON answer, with retries, and returns the body of its 2xx answer.
    #[maybe_async]
    pub(crate) async fn call_json(&self, call: Call) -> Result<Vec<u8>, Error> {
        let operation = call.operation;
        let response = self.execute(call).await?;
        let body = response
            .read_limited(MAX_JSON_BODY)
            .await
            .map_err(|source| Error::Transport { operation, source })?;
        if body.len() > MAX_JSON_BODY {
            return Err(Error::decode(
                operation,
                format!("the body is larger than {MAX_JSON_BODY} bytes"),
                &body,
            ));
        }
        Ok(body)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("Client")
            .field("base_url", &c.base_url)
            .field("user_agent", &c.user_agent)
            .field("connect_timeout", &c.connect_timeout)
            .field("request_timeout", &c.request_timeout)
            .field("retry", &c.retry)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Client`]. Every setting is optional but the API key, which falls back to
/// `DECART_API_KEY`.
#[derive(Default)]
pub struct ClientBuilder {
    config: ConfigBuilder,
    http_client: Option<HttpClient>,
    #[cfg(feature = "jwt")]
    jwks_url: Option<String>,
    #[cfg(feature = "jwt")]
    verify_options: Option<crate::jwt::VerifyOptions>,
}

impl ClientBuilder {
    /// The API key sent as `X-API-KEY` (a permanent key, or an `ek_…` client key). With a key
    /// given here the environment is not read at all (neither `DECART_API_KEY` nor
    /// `DECART_BASE_URL`); a blank key is an error, not a fall-back to the environment.
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.config.api_key = Some(api_key.into());
        self
    }

    /// The base URL (default `https://api.decart.ai`, or `DECART_BASE_URL` when the key also
    /// comes from the environment); an `http://` or `https://` URL with a host. A trailing
    /// slash is fine.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.config.base_url = Some(base_url.into());
        self
    }

    /// A string appended to the `User-Agent`, such as `"my-app/1.2"`.
    pub fn integration(mut self, integration: impl Into<String>) -> Self {
        self.config.integration = Some(integration.into());
        self
    }

    /// Time allowed to connect (TCP and TLS); default 10 s, at most 24 h.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = Some(timeout);
        self
    }

    /// Time allowed for one attempt of a JSON call, from connect to the end of the answer,
    /// and the longest an upload or download may stall; default 60 s, at most 24 h.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = Some(timeout);
        self
    }

    /// When and how failed calls are retried; default [`RetryPolicy::default`].
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.config.retry = Some(policy);
        self
    }

    /// Turns retries off: every call is attempted once.
    pub fn no_retries(self) -> Self {
        self.retry_policy(RetryPolicy::disabled())
    }

    /// Sends through your own HTTP client (a `ureq::Agent` in `decart::blocking`, a
    /// `reqwest::Client` in `decart::nonblocking`), for proxies, custom TLS roots or connection
    /// pools shared with the rest of your program.
    ///
    /// The SDK's guarantees hold whatever client you pass:
    ///
    /// - **Redirects.** The API key must never follow a redirect to another origin. A
    ///   `ureq::Agent` is told per request to follow none. A `reqwest::Client` cannot be told
    ///   so per request, so it must be built with
    ///   `.redirect(reqwest::redirect::Policy::none())`: [`build`](Self::build) refuses one
    ///   that follows redirects. Either way an answer that comes from another URL than the
    ///   one asked is refused (a `Redirect` transport error).
    /// - **Timeouts.** The SDK's own (connect, per call, per stall) still apply. A
    ///   `ureq::Agent` gets them per request, in place of its own; a `reqwest::Client`'s own
    ///   limits apply too (the shorter wins), and its connect timeout is its own.
    /// - **Cost.** The SDK's own `ureq::Agent` resolves an IP address in place and reuses a
    ///   host's addresses for a second; a `ureq::Agent` of yours resolves on every call, on a
    ///   thread of its own under a timeout (about 80 µs of CPU per call on loopback).
    /// - **TLS.** With the `rustls` feature this crate builds reqwest without a default crypto
    ///   provider (to keep aws-lc and its C toolchain out of the graph): a `reqwest::Client`
    ///   you build yourself then needs one, from reqwest's own `rustls` feature in your crate
    ///   or `rustls::crypto::ring::default_provider().install_default()`.
    pub fn http_client(mut self, client: HttpClient) -> Self {
        self.http_client = Some(client);
        self
    }

    /// The JWKS URL `tokens().verify` fetches keys from (default
    /// `https://platform.decart.ai/api/auth/jwks`; `http` only on loopback).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// The policy `tokens().verify` applies (default: Decart's issuer and audience, 30 s
    /// leeway).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn verify_options(mut self, options: crate::jwt::VerifyOptions) -> Self {
        self.verify_options = Some(options);
        self
    }

    /// Checks the settings and builds the client.
    ///
    /// # Errors
    ///
    /// [`Error::MissingApiKey`] when no key was given and `DECART_API_KEY` is unset or blank;
    /// [`Error::InvalidBaseUrl`] for a base URL that is not http(s) with a host;
    /// [`Error::InvalidInput`] for a zero timeout, a key or integration string that cannot be
    /// sent as a header, or a caller's `reqwest::Client` that follows redirects; a
    /// `CLIENT_SETUP_ERROR` if the TLS stack cannot be set up.
    pub fn build(self) -> Result<Client, Error> {
        let config = self.config.build()?;
        let transport = Transport::new(&config, self.http_client)?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                transport,
                #[cfg(feature = "jwt")]
                jwks: JwksSettings {
                    url: self.jwks_url,
                    options: self.verify_options,
                    verifier: std::sync::OnceLock::new(),
                },
            }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}
