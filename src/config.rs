//! Configuration shared by both flavours: secrets, defaults, environment names, timeouts and
//! the retry policy.

// Without an HTTP flavour only the public types here are used.
#![cfg_attr(not(any(feature = "blocking", feature = "async")), allow(dead_code))]

use std::fmt;
use std::time::Duration;

use crate::error::Error;

/// The default base URL of the Decart API.
pub const DEFAULT_BASE_URL: &str = "https://api.decart.ai";
/// The environment variable the API key is read from when none is given in code.
pub const ENV_API_KEY: &str = "DECART_API_KEY";
/// The environment variable the base URL is read from, together with [`ENV_API_KEY`] (only
/// when no API key is given in code, and no base URL either).
pub const ENV_BASE_URL: &str = "DECART_BASE_URL";
/// Default time allowed to establish a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for a whole JSON call (connect, send, receive).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest connect or request timeout a client accepts.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest JSON response body the client reads (anything larger is a decode error).
pub const MAX_JSON_BODY: usize = 4 * 1024 * 1024;

/// A secret credential: a permanent API key, an `ek_…` client key, or a client-token JWT.
///
/// `Debug` and `Display` never print the value; use [`expose`](Secret::expose) to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a raw secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value. Handle with care: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first characters of the value (at most 6), enough to tell keys apart in a log,
    /// never enough to use one.
    pub fn prefix(&self) -> &str {
        let end = self
            .0
            .char_indices()
            .nth(6)
            .map(|(i, _)| i)
            .unwrap_or(self.0.len());
        // Never reveal more than a third of a short secret.
        let end = end.min(self.0.len() / 3);
        let mut end = end;
        while !self.0.is_char_boundary(end) {
            end -= 1;
        }
        &self.0[..end]
    }

    /// The length of the value in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(\"{}…\", {} bytes)", self.prefix(), self.0.len())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.prefix())
    }
}

/// When and how the client retries a failed call.
///
/// Only 429, 5xx and transport failures are retried, with exponential backoff and full jitter:
/// before retry `n` (1-based) the client sleeps a random time in
/// `[0, min(max_delay, base_delay · 2ⁿ⁻¹)]`, or what the server's `Retry-After` asks (capped by
/// [`max_retry_after`](RetryPolicy::max_retry_after)) if that is longer. A request whose body
/// cannot be replayed is never re-sent, and a request that must be submitted once (a video job)
/// is retried only when it provably did not reach the server (connect failure) or the server
/// answered 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 500 ms base delay, 8 s cap, `Retry-After` honoured up to 30 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The default policy (see [`Default`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// No retries: every call is attempted once.
    pub fn disabled() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Total attempts including the first (at least 1; 1 disables retries).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The delay before the first retry, doubled for each further one.
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.base_delay = delay;
        self
    }

    /// The longest backoff between two attempts.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// The longest `Retry-After` the client honours; a server asking for more gets this.
    pub fn max_retry_after(mut self, delay: Duration) -> Self {
        self.max_retry_after = delay;
        self
    }

    /// Total attempts including the first.
    pub fn attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn base(&self) -> Duration {
        self.base_delay
    }

    pub(crate) fn cap(&self) -> Duration {
        self.max_delay
    }

    pub(crate) fn retry_after_cap(&self) -> Duration {
        self.max_retry_after
    }
}

/// Reads an environment variable, treating unset, non-UTF-8 and blank values as absent.
pub(crate) fn env_var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Checks an API key: trimmed, and not empty.
pub(crate) fn api_key(raw: Option<String>) -> Result<Secret, Error> {
    // An explicit key wins over the environment, even when it is blank (then it is missing).
    let key = match raw {
        Some(k) => Some(k.trim().to_owned()).filter(|k| !k.is_empty()),
        None => env_var(ENV_API_KEY),
    };
    match key {
        Some(key) if !key.chars().any(|c| c.is_control()) => Ok(Secret(key)),
        Some(_) => Err(Error::invalid_input(
            "api_key",
            "the API key contains control characters",
        )),
        None => Err(Error::MissingApiKey),
    }
}

/// Checks and normalises a base URL: `http` or `https`, a host, no query or fragment, no
/// trailing slash (so that paths join without `//`).
pub(crate) fn base_url(raw: &str) -> Result<String, Error> {
    let invalid = |reason: &str| Error::InvalidBaseUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = raw.trim();
    let url = url::Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the URL must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("the URL must not carry credentials"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The `User-Agent` of every request: `decart-rust-sdk/{version} lang/rust[ {integration}]`.
pub(crate) fn user_agent(integration: Option<&str>) -> String {
    let base = concat!("decart-rust-sdk/", env!("CARGO_PKG_VERSION"), " lang/rust");
    match integration.map(str::trim).filter(|s| !s.is_empty()) {
        Some(extra) => format!("{base} {extra}"),
        None => base.to_owned(),
    }
}

/// Everything the flavour-neutral part of a client needs, validated.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) api_key: Secret,
    pub(crate) base_url: String,
    pub(crate) user_agent: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// The flavour-neutral builder state behind both `ClientBuilder`s.
#[derive(Clone, Default)]
pub(crate) struct ConfigBuilder {
    pub(crate) api_key: Option<String>,
    pub(crate) base_url: Option<String>,
    pub(crate) integration: Option<String>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) retry: Option<RetryPolicy>,
}

impl ConfigBuilder {
    /// Checks the settings. The environment is read only when no API key was given, and then
    /// for the key and the base URL together: `DECART_API_KEY`, and `DECART_BASE_URL` unless a
    /// base URL was given. A key given in code is never sent to a base URL that came from the
    /// environment, and a key from the environment goes where the environment says.
    pub(crate) fn build(self) -> Result<Config, Error> {
        let from_env = self.api_key.is_none();
        let base_url_raw = self
            .base_url
            .or_else(|| from_env.then(|| env_var(ENV_BASE_URL)).flatten());
        let base_url = base_url(base_url_raw.as_deref().unwrap_or(DEFAULT_BASE_URL))?;
        let api_key = api_key(self.api_key)?;
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if let Some(value) = value {
                if value.is_zero() || value > MAX_TIMEOUT {
                    return Err(Error::invalid_input(
                        name,
                        format!(
                            "a timeout must be longer than zero and at most 24 hours, got {value:?}"
                        ),
                    ));
                }
            }
        }
        Ok(Config {
            api_key,
            base_url,
            user_agent: user_agent(self.integration.as_deref()),
            connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            request_timeout: self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            retry: self.retry.unwrap_or_default(),
        })
    }
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("integration", &self.integration)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert_eq!(
            base_url("https://api.decart.ai/").unwrap(),
            "https://api.decart.ai"
        );
        assert_eq!(
            base_url("http://127.0.0.1:8080/proxy/").unwrap(),
            "http://127.0.0.1:8080/proxy"
        );
        for bad in [
            "",
            "api.decart.ai",
            "ftp://api.decart.ai",
            "https://",
            "not a url",
            "file:///etc/passwd",
            "https://api.decart.ai/?x=1",
            "https://user:pw@api.decart.ai",
        ] {
            let err = base_url(bad).unwrap_err();
            assert_eq!(err.code(), "INVALID_BASE_URL", "{bad}");
        }
    }

    #[test]
    fn user_agent_format() {
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(user_agent(None), format!("decart-rust-sdk/{v} lang/rust"));
        assert_eq!(
            user_agent(Some("my-app/1.2")),
            format!("decart-rust-sdk/{v} lang/rust my-app/1.2")
        );
        assert_eq!(
            user_agent(Some("  ")),
            format!("decart-rust-sdk/{v} lang/rust")
        );
    }

    #[test]
    fn timeouts_are_bounded() {
        for bad in [
            Duration::ZERO,
            MAX_TIMEOUT + Duration::from_secs(1),
            Duration::MAX,
        ] {
            let builder = ConfigBuilder {
                api_key: Some("k".into()),
                request_timeout: Some(bad),
                ..ConfigBuilder::default()
            };
            assert_eq!(builder.build().unwrap_err().code(), "INVALID_INPUT");
        }
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("sk_live_abcdefghijklmnop");
        let shown = format!("{s:?} {s}");
        assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
        assert_eq!(s.prefix(), "sk_liv");
        assert_eq!(Secret::new("abc").prefix(), "a");
        assert_eq!(Secret::new("").prefix(), "");
    }
}
