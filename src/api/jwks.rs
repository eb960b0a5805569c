//! Client-token verification against a remote JWKS with a key cache, written once for both
//! flavours. The verification itself is the pure `decart::jwt`; this file fetches keys.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::maybe_async;
use super::transport::{FetchLock, HttpClient, PublicClient};
use crate::error::Error;
use crate::jwt::{
    CacheConfig, CompactJws, DEFAULT_JWKS_URL, Jwk, KeyCache, KeySet, Lookup, MAX_JWKS_BYTES,
    VerifiedClientToken, VerifyError, VerifyOptions, parse_cache_control_max_age,
};

/// How long one JWKS fetch may take.
pub const DEFAULT_JWKS_TIMEOUT: Duration = Duration::from_secs(5);

type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Verifies Decart client-token JWTs offline, with the signing keys fetched from a JWKS URL and
/// cached.
///
/// - Keys are kept for their freshness (10 minutes by default; the answer's
///   `Cache-Control: max-age` within 30 s–1 h).
/// - A token whose `kid` is unknown triggers at most one refetch per cooldown (30 s by
///   default), so a flood of made-up `kid`s costs at most one upstream request per cooldown.
/// - Concurrent verifications that need keys share one fetch.
/// - A failed refresh never drops the last good keys: they keep verifying known `kid`s for a
///   bounded stale period (1 hour past freshness by default).
/// - A fetch has a 5 s timeout, follows no redirect, and reads at most 64 KiB.
///
/// Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct JwksVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    options: VerifyOptions,
    cache: RwLock<KeyCache>,
    fetch_lock: FetchLock,
    http: PublicClient,
    timeout: Duration,
    clock: Clock,
    fetches: AtomicU64,
}

impl JwksVerifier {
    /// A verifier for Decart's own keys, issuer and audience, with every default.
    ///
    /// # Errors
    ///
    /// A `CLIENT_SETUP_ERROR` if the HTTP client cannot be built.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// A builder for the URL, the policy, the cache timings, the clock and the HTTP client.
    pub fn builder() -> JwksVerifierBuilder {
        JwksVerifierBuilder::default()
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> &str {
        &self.inner.url
    }

    /// How many times the JWKS was requested, successfully or not.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Verifies a client token: its signature with the cached key named by its `kid`, then
    /// its claims per the verifier's [`VerifyOptions`].
    ///
    /// # Errors
    ///
    /// [`Error::Token`] with the [`VerifyError`] naming what failed: malformed token,
    /// unsupported algorithm, missing or unknown `kid`, bad signature, expired (with how long
    /// ago), not yet valid, wrong issuer or audience, missing claim, or the JWKS unreachable
    /// (retryable). No error contains the token.
    #[maybe_async]
    pub async fn verify(&self, token: &str) -> Result<VerifiedClientToken, Error> {
        let jws = CompactJws::parse(token)?;
        let key = self.key_for(&jws).await?;
        Ok(jws.verify(&key, &self.inner.options)?)
    }

    /// Fetches the key set now (for example at start-up, so that the first request does not
    /// wait for it).
    ///
    /// # Errors
    ///
    /// [`Error::Token`] with [`VerifyError::JwksUnreachable`] or
    /// [`VerifyError::InvalidJwks`].
    #[maybe_async]
    pub async fn refresh(&self) -> Result<(), Error> {
        let _guard = self.inner.fetch_lock.lock().await;
        let now = (self.inner.clock)();
        let claimed = self.write_cache().begin_fetch(now);
        if !claimed {
            return Ok(());
        }
        Ok(self.fetch(now).await?)
    }

    /// The key for the token's `kid`, fetching the key set when the cache says so.
    #[maybe_async]
    async fn key_for(&self, jws: &CompactJws<'_>) -> Result<Jwk, VerifyError> {
        let kid = jws.kid();
        // Fast path: a fresh key set that has the kid, under a shared read lock.
        let now = (self.inner.clock)();
        if let Some(key) = self.read_cache().peek(kid, now) {
            return Ok(key);
        }
        // Slow path: one caller at a time decides (and fetches); the others then find the
        // fresh keys that fetch brought.
        let _guard = self.inner.fetch_lock.lock().await;
        let now = (self.inner.clock)();
        let decision = self.write_cache().lookup(kid, now);
        match decision {
            Lookup::Fresh(key) => Ok(key),
            Lookup::Stale {
                key,
                refresh: false,
            } => Ok(key),
            Lookup::Stale { key, refresh: true } => match self.fetch(now).await {
                // The stale key may stand in only while the JWKS cannot be had.
                Err(e) => {
                    log::warn!("JWKS refresh failed, verifying with the last good keys: {e}");
                    Ok(key)
                }
                // A successful fetch is the truth: a kid it no longer lists was rotated out
                // (perhaps revoked) and its tokens are refused from this call on.
                Ok(()) => {
                    let now = (self.inner.clock)();
                    self.read_cache()
                        .peek(kid, now)
                        .ok_or_else(|| jws.unknown_kid())
                }
            },
            Lookup::UnknownKid { may_refetch: false } => Err(jws.unknown_kid()),
            Lookup::UnknownKid { may_refetch: true } | Lookup::Empty { may_fetch: true } => {
                self.fetch(now).await?;
                let now = (self.inner.clock)();
                match self.write_cache().lookup(kid, now) {
                    Lookup::Fresh(key) | Lookup::Stale { key, .. } => Ok(key),
                    _ => Err(jws.unknown_kid()),
                }
            }
            Lookup::Empty { may_fetch: false } => Err(VerifyError::jwks_unreachable(
                "no usable key set: the last fetch failed moments ago",
                true,
            )),
        }
    }

    /// Fetches the key set (the caller holds the fetch claim) and records the outcome.
    #[maybe_async]
    async fn fetch(&self, now: Instant) -> Result<(), VerifyError> {
        // If this future is dropped mid-fetch (a caller's timeout), give the claim back at
        // once; otherwise every verification would see "a fetch is in flight" until the
        // claim expires.
        let mut claim = ClaimGuard {
            verifier: self,
            settled: false,
        };
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let result = self
            .inner
            .http
            .get(&self.inner.url, self.inner.timeout, MAX_JWKS_BYTES)
            .await;
        let outcome = match result {
            // The whole chain: this error keeps no source, so the reason (refused, DNS, …)
            // must be in its text.
            Err(e) => Err(VerifyError::jwks_unreachable(
                format!("GET {}: {}", self.inner.url, crate::error::Report::new(&e)),
                true,
            )),
            Ok((status, _, _)) if !(200..300).contains(&status) => {
                Err(VerifyError::jwks_unreachable(
                    format!("GET {}: HTTP {status}", self.inner.url),
                    crate::error::is_retryable_status(status) || (300..400).contains(&status),
                ))
            }
            Ok((_, cache_control, body)) => KeySet::from_json(&body).map(|keys| {
                let max_age = cache_control
                    .as_deref()
                    .and_then(parse_cache_control_max_age);
                (keys, max_age)
            }),
        };
        claim.settled = true;
        let mut cache = self.write_cache();
        match outcome {
            Ok((keys, max_age)) => {
                cache.record_success(keys, max_age, now);
                Ok(())
            }
            Err(e) => {
                cache.record_failure(now);
                Err(e)
            }
        }
    }

    fn read_cache(&self) -> std::sync::RwLockReadGuard<'_, KeyCache> {
        self.inner.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_cache(&self) -> std::sync::RwLockWriteGuard<'_, KeyCache> {
        self.inner.cache.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// Cancels the fetch claim unless the fetch recorded an outcome.
struct ClaimGuard<'a> {
    verifier: &'a JwksVerifier,
    settled: bool,
}

impl Drop for ClaimGuard<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.verifier.write_cache().cancel_fetch();
        }
    }
}

impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("jwks_url", &self.inner.url)
            .field("options", &self.inner.options)
            .field("fetches", &self.fetch_count())
            .finish_non_exhaustive()
    }
}

/// Builds a [`JwksVerifier`].
#[derive(Default)]
pub struct JwksVerifierBuilder {
    url: Option<String>,
    options: Option<VerifyOptions>,
    cache: Option<CacheConfig>,
    timeout: Option<Duration>,
    clock: Option<Clock>,
    http_client: Option<HttpClient>,
}

impl JwksVerifierBuilder {
    /// The JWKS URL (default `https://platform.decart.ai/api/auth/jwks`). It must be `https`,
    /// or `http` on a loopback host (a local emulator or test server).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The verification policy: issuer, audience, leeway, required claims, clock (default:
    /// Decart's issuer and audience, 30 s leeway).
    pub fn options(mut self, options: VerifyOptions) -> Self {
        self.options = Some(options);
        self
    }

    /// The key cache's timings.
    pub fn cache_config(mut self, config: CacheConfig) -> Self {
        self.cache = Some(config);
        self
    }

    /// The timeout of one JWKS fetch (default 5 s).
    pub fn fetch_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The monotonic clock of the key cache (for tests: a fake clock you advance).
    pub fn cache_clock(mut self, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Fetches through your own HTTP client. Make sure it follows no redirects.
    pub fn http_client(mut self, client: HttpClient) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Builds the verifier. Nothing is fetched until the first verification (or
    /// [`JwksVerifier::refresh`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a JWKS URL that is not https (or http on loopback); a
    /// `CLIENT_SETUP_ERROR` if the HTTP client cannot be built.
    pub fn build(self) -> Result<JwksVerifier, Error> {
        let url = check_jwks_url(self.url.as_deref().unwrap_or(DEFAULT_JWKS_URL))?;
        Ok(JwksVerifier {
            inner: Arc::new(Inner {
                url,
                options: self.options.unwrap_or_default(),
                cache: RwLock::new(KeyCache::with_config(self.cache.unwrap_or_default())),
                fetch_lock: FetchLock::default(),
                http: PublicClient::new(self.http_client)?,
                timeout: self.timeout.unwrap_or(DEFAULT_JWKS_TIMEOUT),
                clock: self.clock.unwrap_or_else(|| Arc::new(Instant::now)),
                fetches: AtomicU64::new(0),
            }),
        })
    }
}

impl fmt::Debug for JwksVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksVerifierBuilder")
            .field("jwks_url", &self.url)
            .field("options", &self.options)
            .field("cache", &self.cache)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `https://…`, or `http://` on a loopback host only.
fn check_jwks_url(raw: &str) -> Result<String, Error> {
    let invalid = |why: &str| Error::invalid_input("jwks_url", format!("{raw:?}: {why}"));
    let url = url::Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid("the URL has no host")),
    };
    match url.scheme() {
        "https" => Ok(url.into()),
        "http" if loopback => Ok(url.into()),
        "http" => Err(invalid("plain http is allowed only for a loopback host")),
        _ => Err(invalid("the scheme must be https")),
    }
}
