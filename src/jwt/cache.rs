//! A pure, I/O-free key-cache state machine for JWKS fetching layers to drive.
//!
//! The cache holds the last good [`KeySet`] and decides, for each token's `kid`, whether the
//! caller can verify right away, should (re)fetch the JWKS first, or must give up. It never
//! fetches, sleeps or reads the clock itself: every method takes `now`, so a fetching layer
//! (blocking or async) wraps it in its own lock and tests drive it with a fake clock.
//!
//! # Driving it
//!
//! ```no_run
//! use std::sync::Mutex;
//! use std::time::Instant;
//! use decart::jwt::{
//!     parse_cache_control_max_age, CompactJws, KeyCache, KeySet, Lookup, VerifiedClientToken,
//!     VerifyError, VerifyOptions,
//! };
//!
//! /// Your HTTP GET of the JWKS URL: the body and the Cache-Control header, or an error text.
//! fn fetch_jwks() -> Result<(Vec<u8>, Option<String>), String> {
//!     unimplemented!()
//! }
//!
//! /// Fetches, and records the outcome. Called only by the caller the cache picked.
//! fn refresh(cache: &Mutex<KeyCache>) -> Result<(), VerifyError> {
//!     let outcome = fetch_jwks()
//!         .map_err(|e| VerifyError::jwks_unreachable(e, true))
//!         .and_then(|(body, cache_control)| {
//!             let keys = KeySet::from_json(&body)?;
//!             Ok((keys, cache_control.as_deref().and_then(parse_cache_control_max_age)))
//!         });
//!     let mut cache = cache.lock().unwrap();
//!     match outcome {
//!         Ok((keys, max_age)) => {
//!             cache.record_success(keys, max_age, Instant::now());
//!             Ok(())
//!         }
//!         Err(e) => {
//!             cache.record_failure(Instant::now()); // the last good keys are kept
//!             Err(e)
//!         }
//!     }
//! }
//!
//! fn verify(
//!     cache: &Mutex<KeyCache>,
//!     token: &str,
//!     options: &VerifyOptions,
//! ) -> Result<VerifiedClientToken, VerifyError> {
//!     let jws = CompactJws::parse(token)?; // cheap checks first: no fetch for garbage
//!     for _attempt in 0..2 {
//!         let lookup = cache.lock().unwrap().lookup(jws.kid(), Instant::now());
//!         match lookup {
//!             Lookup::Fresh(key) => return jws.verify(&key, options),
//!             Lookup::Stale { key, refresh: false } => return jws.verify(&key, options),
//!             Lookup::Stale { key, refresh: true } => match refresh(cache) {
//!                 // The stale key stands in only while the JWKS cannot be had.
//!                 Err(_) => return jws.verify(&key, options),
//!                 // A successful refresh decides: look up again in the new set, which may
//!                 // no longer list the kid (a rotated-out or revoked key).
//!                 Ok(()) => continue,
//!             },
//!             Lookup::UnknownKid { may_refetch: true } | Lookup::Empty { may_fetch: true } => {
//!                 refresh(cache)?;
//!             }
//!             Lookup::UnknownKid { may_refetch: false } => {
//!                 return Err(jws.unknown_kid());
//!             }
//!             Lookup::Empty { may_fetch: false } => {
//!                 return Err(VerifyError::jwks_unreachable("signing keys not available yet", true));
//!             }
//!         }
//!     }
//!     Err(jws.unknown_kid())
//! }
//! ```
//!
//! A layer that wants concurrent readers can keep the cache in an `RwLock`, try
//! [`KeyCache::peek`] under the read lock first (the common, fresh case) and take the write
//! lock for [`KeyCache::lookup`] only when that returns `None`.
//!
//! # Guarantees
//!
//! - At most one fetch is handed out at a time: the caller that gets `refresh: true`,
//!   `may_refetch: true` or `may_fetch: true` holds a claim until it calls
//!   [`record_success`](KeyCache::record_success), [`record_failure`](KeyCache::record_failure)
//!   or [`cancel_fetch`](KeyCache::cancel_fetch) (or until [`CacheConfig::fetch_timeout`]
//!   passes, for a caller that vanished, e.g. a dropped future).
//! - Unknown `kid`s trigger at most one refetch per [`CacheConfig::unknown_kid_cooldown`]
//!   (counted from the start of the last fetch of any kind): a flood of random `kid`s costs one
//!   fetch per window.
//! - After a failed fetch, no new fetch is handed out for [`CacheConfig::failure_backoff`].
//! - A failed refresh never drops the last good keys: they keep verifying known `kid`s as
//!   [`Lookup::Stale`] until `max_age + stale_if_error` after they were fetched.

use std::time::{Duration, Instant};

use super::keys::{Jwk, KeySet};

/// How long a fetched key set is fresh when the response gives no usable `Cache-Control`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// The shortest freshness a `Cache-Control: max-age` can set.
pub const MIN_MAX_AGE: Duration = Duration::from_secs(30);
/// The longest freshness a `Cache-Control: max-age` can set.
pub const MAX_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// The default minimum time between two refetches caused by unknown `kid`s.
pub const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
/// The default time, past a key set's freshness, during which its keys still verify when
/// refreshing fails.
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(60 * 60);
/// The default pause after a failed fetch before another fetch is handed out.
pub const DEFAULT_FAILURE_BACKOFF: Duration = Duration::from_secs(5);
/// The default time after which an unfinished fetch claim is considered abandoned.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The cache's timings. Start from [`CacheConfig::default`] and assign the fields to change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Freshness when the response gives no `max-age` (default 10 min).
    pub default_max_age: Duration,
    /// Lower clamp for a server-given `max-age` (default 30 s).
    pub min_max_age: Duration,
    /// Upper clamp for a server-given `max-age` (default 1 h).
    pub max_max_age: Duration,
    /// Minimum time between refetches for unknown `kid`s, counted from the start of the last
    /// fetch of any kind (default 30 s).
    pub unknown_kid_cooldown: Duration,
    /// How long past its freshness a key set still verifies known `kid`s while refreshes fail
    /// (default 1 h; tokens live at most 1 h).
    pub stale_if_error: Duration,
    /// Pause after a failed fetch before another is handed out (default 5 s).
    pub failure_backoff: Duration,
    /// After this long, a fetch claim that was neither recorded nor cancelled is dropped
    /// (default 30 s; keep it at least as long as the fetch's own timeout).
    pub fetch_timeout: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            default_max_age: DEFAULT_MAX_AGE,
            min_max_age: MIN_MAX_AGE,
            max_max_age: MAX_MAX_AGE,
            unknown_kid_cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
            stale_if_error: DEFAULT_STALE_IF_ERROR,
            failure_backoff: DEFAULT_FAILURE_BACKOFF,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }
}

/// What [`KeyCache::lookup`] tells the caller to do.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The key is known and the key set is fresh: verify with it.
    Fresh(Jwk),
    /// The key is known but the key set is past its freshness (within the stale-if-error
    /// bound). When `refresh` is false, verify with `key`. When `refresh` is true this caller
    /// was picked to refresh the key set (and must record the outcome): if the refresh fails,
    /// `key` is still good; if it succeeds, look up again and let the new set decide, since a
    /// key it no longer lists was rotated out (perhaps revoked) and must not verify.
    Stale {
        /// The last good key with that `kid`.
        key: Jwk,
        /// Whether this caller should fetch the JWKS now.
        refresh: bool,
    },
    /// The key set has no key with that `kid`. When `may_refetch` is true this caller was picked
    /// to refetch (a key rotation may have happened) and should look up again afterwards;
    /// otherwise the token must be rejected as [`UnknownKid`](super::VerifyError::UnknownKid).
    UnknownKid {
        /// Whether this caller should fetch the JWKS now.
        may_refetch: bool,
    },
    /// No usable key set: never fetched, or the last good one is past its stale-if-error bound
    /// (it is still kept, see [`KeyCache::keys`]). When `may_fetch` is true this caller was
    /// picked to fetch; otherwise a fetch is in flight or failed recently, and the token cannot
    /// be checked now ([`JwksUnreachable`](super::VerifyError::JwksUnreachable), retryable).
    Empty {
        /// Whether this caller should fetch the JWKS now.
        may_fetch: bool,
    },
}

/// The key-cache state machine (see the [module documentation](self)).
#[derive(Debug, Clone)]
pub struct KeyCache {
    config: CacheConfig,
    keys: Option<KeySet>,
    fetched_at: Option<Instant>,
    max_age: Duration,
    last_attempt: Option<Instant>,
    in_flight_since: Option<Instant>,
    last_failure: Option<Instant>,
    consecutive_failures: u32,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::with_config(CacheConfig::default())
    }
}

fn since(now: Instant, then: Instant) -> Duration {
    now.saturating_duration_since(then)
}

impl KeyCache {
    /// An empty cache with the default timings.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache with these timings.
    pub fn with_config(config: CacheConfig) -> Self {
        let max_age = config.default_max_age;
        KeyCache {
            config,
            keys: None,
            fetched_at: None,
            max_age,
            last_attempt: None,
            in_flight_since: None,
            last_failure: None,
            consecutive_failures: 0,
        }
    }

    /// The timings.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The key for `kid` if the key set is fresh, without changing any state: the fast path
    /// for a layer that keeps the cache in an `RwLock`. `None` means "call
    /// [`lookup`](Self::lookup)".
    #[inline]
    pub fn peek(&self, kid: &str, now: Instant) -> Option<Jwk> {
        let fetched_at = self.fetched_at?;
        if since(now, fetched_at) >= self.max_age {
            return None;
        }
        self.keys.as_ref()?.get(kid).cloned()
    }

    /// Looks `kid` up and says what to do (see [`Lookup`]). When the answer asks this caller to
    /// fetch, the cache records that a fetch is in flight, so other callers are not asked too.
    pub fn lookup(&mut self, kid: &str, now: Instant) -> Lookup {
        if let Some(since_claim) = self.in_flight_since.map(|t| since(now, t)) {
            if since_claim >= self.config.fetch_timeout {
                self.in_flight_since = None;
            }
        }
        let (Some(keys), Some(fetched_at)) = (&self.keys, self.fetched_at) else {
            return Lookup::Empty {
                may_fetch: self.try_begin(now, false),
            };
        };
        let age = since(now, fetched_at);
        if age >= self.max_age.saturating_add(self.config.stale_if_error) {
            return Lookup::Empty {
                may_fetch: self.try_begin(now, false),
            };
        }
        let fresh = age < self.max_age;
        match keys.get(kid) {
            Some(key) if fresh => Lookup::Fresh(key.clone()),
            Some(key) => {
                let key = key.clone();
                Lookup::Stale {
                    key,
                    refresh: self.try_begin(now, false),
                }
            }
            // A fresh set that lacks the kid: refetch at most once per cooldown. A stale set is
            // due for a refresh anyway.
            None => Lookup::UnknownKid {
                may_refetch: self.try_begin(now, fresh),
            },
        }
    }

    /// Hands out the fetch claim if no fetch is in flight, the failure backoff is over and (for
    /// unknown-kid refetches) the cooldown is over.
    fn try_begin(&mut self, now: Instant, cooldown: bool) -> bool {
        if self.in_flight_since.is_some() {
            return false;
        }
        if let Some(failed) = self.last_failure {
            if since(now, failed) < self.config.failure_backoff {
                return false;
            }
        }
        if cooldown {
            if let Some(attempt) = self.last_attempt {
                if since(now, attempt) < self.config.unknown_kid_cooldown {
                    return false;
                }
            }
        }
        self.in_flight_since = Some(now);
        self.last_attempt = Some(now);
        true
    }

    /// Claims a fetch outside of a lookup (for example to warm the cache at start-up, or a
    /// background refresh before the set goes stale). Returns whether the caller got the claim;
    /// if so it must record the outcome as after a lookup.
    pub fn begin_fetch(&mut self, now: Instant) -> bool {
        if let Some(since_claim) = self.in_flight_since.map(|t| since(now, t)) {
            if since_claim >= self.config.fetch_timeout {
                self.in_flight_since = None;
            }
        }
        self.try_begin(now, false)
    }

    /// Records a successful fetch: `keys` replace the previous set, fresh for `max_age` (a
    /// server-given `Cache-Control: max-age`, clamped to
    /// [`min_max_age`](CacheConfig::min_max_age)..=[`max_max_age`](CacheConfig::max_max_age);
    /// `None` for [`default_max_age`](CacheConfig::default_max_age)). Ends the fetch claim.
    pub fn record_success(&mut self, keys: KeySet, max_age: Option<Duration>, now: Instant) {
        self.max_age = match max_age {
            Some(max_age) => self.clamp_max_age(max_age),
            None => self.config.default_max_age,
        };
        self.keys = Some(keys);
        self.fetched_at = Some(now);
        self.in_flight_since = None;
        self.last_failure = None;
        self.consecutive_failures = 0;
        if self.last_attempt.is_none() {
            self.last_attempt = Some(now);
        }
    }

    /// Records a failed fetch (unreachable, bad status, invalid JWKS…). The last good keys are
    /// kept. Ends the fetch claim and starts the failure backoff.
    pub fn record_failure(&mut self, now: Instant) {
        self.in_flight_since = None;
        self.last_failure = Some(now);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
    }

    /// Gives the fetch claim back without an outcome (the fetch was cancelled), so another
    /// caller may fetch at once.
    pub fn cancel_fetch(&mut self) {
        self.in_flight_since = None;
    }

    /// Clamps a server-given max-age to the configured bounds.
    pub fn clamp_max_age(&self, max_age: Duration) -> Duration {
        max_age.clamp(
            self.config.min_max_age,
            self.config.max_max_age.max(self.config.min_max_age),
        )
    }

    /// The last good key set, even when past its stale-if-error bound.
    pub fn keys(&self) -> Option<&KeySet> {
        self.keys.as_ref()
    }

    /// When the last good key set was fetched.
    pub fn fetched_at(&self) -> Option<Instant> {
        self.fetched_at
    }

    /// How long the last good key set is fresh.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Whether there is a key set and it is fresh at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.fetched_at
            .is_some_and(|t| self.keys.is_some() && since(now, t) < self.max_age)
    }

    /// Whether a fetch claim is out (and not yet timed out) at `now`.
    pub fn is_fetch_in_flight(&self, now: Instant) -> bool {
        self.in_flight_since
            .is_some_and(|t| since(now, t) < self.config.fetch_timeout)
    }

    /// When the last failed fetch was recorded, if none succeeded since.
    pub fn last_failure(&self) -> Option<Instant> {
        self.last_failure
    }

    /// How many fetches failed in a row.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }
}

/// The `max-age` of a `Cache-Control` header value, unclamped (clamping happens in
/// [`KeyCache::record_success`]).
///
/// Directive names are case-insensitive and the value may be quoted; the first valid
/// `max-age` wins and an overlarge one saturates. `no-store` or `no-cache` give zero (so the
/// shortest freshness). `None` when there is no usable `max-age`.
///
/// ```
/// use std::time::Duration;
/// use decart::jwt::parse_cache_control_max_age;
///
/// assert_eq!(parse_cache_control_max_age("public, max-age=300"), Some(Duration::from_secs(300)));
/// assert_eq!(parse_cache_control_max_age("no-store"), Some(Duration::ZERO));
/// assert_eq!(parse_cache_control_max_age("public"), None);
/// ```
pub fn parse_cache_control_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, arg) = match directive.split_once('=') {
            Some((name, arg)) => (name.trim(), Some(arg.trim())),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if max_age.is_some() || !name.eq_ignore_ascii_case("max-age") {
            continue;
        }
        let Some(arg) = arg else { continue };
        let arg = arg
            .strip_prefix('"')
            .and_then(|a| a.strip_suffix('"'))
            .unwrap_or(arg);
        if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let secs = arg.parse::<u64>().unwrap_or(u64::MAX);
        max_age = Some(Duration::from_secs(secs));
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake monotonic clock: a base instant plus an offset.
    struct Clock {
        base: Instant,
        offset: Duration,
    }

    impl Clock {
        fn new() -> Self {
            Clock {
                base: Instant::now(),
                offset: Duration::ZERO,
            }
        }
        fn now(&self) -> Instant {
            self.base + self.offset
        }
        fn advance(&mut self, d: Duration) {
            self.offset += d;
        }
    }

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn keys(kids: &[&str]) -> KeySet {
        let entries: Vec<String> = kids
            .iter()
            .map(|k| format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"{k}","x":"{X}"}}"#))
            .collect();
        KeySet::from_json(format!("{{\"keys\":[{}]}}", entries.join(",")).as_bytes()).unwrap()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn empty_hands_out_one_fetch() {
        let clock = Clock::new();
        let mut cache = KeyCache::new();
        assert!(matches!(
            cache.lookup("k1", clock.now()),
            Lookup::Empty { may_fetch: true }
        ));
        for _ in 0..1000 {
            assert!(matches!(
                cache.lookup("k1", clock.now()),
                Lookup::Empty { may_fetch: false }
            ));
        }
        assert!(cache.is_fetch_in_flight(clock.now()));
        cache.record_success(keys(&["k1"]), None, clock.now());
        assert!(!cache.is_fetch_in_flight(clock.now()));
        assert!(
            matches!(cache.lookup("k1", clock.now()), Lookup::Fresh(k) if k.kid() == Some("k1"))
        );
        assert!(cache.peek("k1", clock.now()).is_some());
        assert!(cache.peek("k2", clock.now()).is_none());
    }

    #[test]
    fn fresh_then_stale_then_refresh() {
        let mut clock = Clock::new();
        let mut cache = KeyCache::new();
        assert!(cache.begin_fetch(clock.now()));
        cache.record_success(keys(&["k1"]), None, clock.now());
        clock.advance(secs(599));
        assert!(matches!(cache.lookup("k1", clock.now()), Lookup::Fresh(_)));
        clock.advance(secs(1));
        assert!(cache.peek("k1", clock.now()).is_none());
        assert!(!cache.is_fresh(clock.now()));
        assert!(matches!(
            cache.lookup("k1", clock.now()),
            Lookup::Stale { refresh: true, .. }
        ));
        // Others keep verifying with the stale key while the refresh is in flight.
        for _ in 0..100 {
            assert!(matches!(
                cache.lookup("k1", clock.now()),
                Lookup::Stale { refresh: false, .. }
            ));
        }
        cache.record_success(keys(&["k1", "k2"]), Some(secs(120)), clock.now());
        assert_eq!(cache.max_age(), secs(120));
        assert!(matches!(cache.lookup("k2", clock.now()), Lookup::Fresh(_)));
    }

    #[test]
    fn unknown_kid_flood_costs_one_fetch_per_cooldown() {
        let mut clock = Clock::new();
        let mut cache = KeyCache::new();
        assert!(cache.begin_fetch(clock.now()));
        cache.record_success(keys(&["k1"]), None, clock.now());
        // Within the cooldown after the initial fetch: no refetch at all.
        let mut fetches = 0;
        for i in 0..1000 {
            if let Lookup::UnknownKid { may_refetch: true } =
                cache.lookup(&format!("random-{i}"), clock.now())
            {
                fetches += 1;
            }
        }
        assert_eq!(fetches, 0);

        clock.advance(secs(31));
        let mut rng = 0x1234_5678_u64;
        for _ in 0..1000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            match cache.lookup(&format!("{rng:x}"), clock.now()) {
                Lookup::UnknownKid { may_refetch: true } => {
                    fetches += 1;
                    // The refetch completes (still without those kids) shortly after.
                    clock.advance(Duration::from_millis(200));
                    cache.record_success(keys(&["k1"]), None, clock.now());
                }
                Lookup::UnknownKid { may_refetch: false } => {}
                other => panic!("{other:?}"),
            }
            clock.advance(Duration::from_millis(10));
        }
        // 1000 lookups over ~10 s, all within one cooldown window: one fetch.
        assert_eq!(fetches, 1);
        // The next window allows one more.
        clock.advance(secs(30));
        assert!(matches!(
            cache.lookup("another", clock.now()),
            Lookup::UnknownKid { may_refetch: true }
        ));
    }

    #[test]
    fn rotation_is_picked_up_after_cooldown() {
        let mut clock = Clock::new();
        let mut cache = KeyCache::new();
        cache.begin_fetch(clock.now());
        cache.record_success(keys(&["old"]), None, clock.now());
        clock.advance(secs(45));
        assert!(matches!(
            cache.lookup("new", clock.now()),
            Lookup::UnknownKid { may_refetch: true }
        ));
        cache.record_success(keys(&["new"]), None, clock.now());
        assert!(matches!(cache.lookup("new", clock.now()), Lookup::Fresh(_)));
        // The old key was removed by the server: it is gone, and cannot refetch right away.
        assert!(matches!(
            cache.lookup("old", clock.now()),
            Lookup::UnknownKid { may_refetch: false }
        ));
    }

    #[test]
    fn failures_keep_last_good_keys_until_the_stale_bound() {
        let mut clock = Clock::new();
        let mut cache = KeyCache::new();
        cache.begin_fetch(clock.now());
        cache.record_success(keys(&["k1"]), Some(secs(60)), clock.now());
        clock.advance(secs(61));
        let Lookup::Stale { refresh: true, .. } = cache.lookup("k1", clock.now()) else {
            panic!()
        };
        cache.record_failure(clock.now());
        assert_eq!(cache.consecutive_failures(), 1);
        assert!(cache.last_failure().is_some());
        // Backoff: the stale key is served, no new fetch.
        clock.advance(secs(4));
        assert!(matches!(
            cache.lookup("k1", clock.now()),
            Lookup::Stale { refresh: false, .. }
        ));
        clock.advance(secs(1));
        assert!(matches!(
            cache.lookup("k1", clock.now()),
            Lookup::Stale { refresh: true, .. }
        ));
        cache.record_failure(clock.now());
        assert_eq!(cache.consecutive_failures(), 2);
        // An unknown kid while stale and backing off: no fetch.
        assert!(matches!(
            cache.lookup("zzz", clock.now()),
            Lookup::UnknownKid { may_refetch: false }
        ));
        // Up to max_age + stale_if_error (60 s + 1 h) after the fetch, known kids verify.
        clock.advance(secs(3600 + 60 - 66 - 1));
        assert!(matches!(
            cache.lookup("k1", clock.now()),
            Lookup::Stale { refresh: true, .. }
        ));
        cache.cancel_fetch();
        clock.advance(secs(1));
        assert!(matches!(
            cache.lookup("k1", clock.now()),
            Lookup::Empty { may_fetch: true }
        ));
        cache.record_failure(clock.now());
        // The keys are still kept, just not used.
        assert_eq!(cache.keys().unwrap().len(), 1);
        assert!(matches!(
            cache.lookup("k1", clock.now()),
            Lookup::Empty { may_fetch: false }
        ));
        clock.advance(secs(5));
        assert!(matches!(
            cache.lookup("k1", clock.now()),
            Lookup::Empty { may_fetch: true }
        ));
        cache.record_success(keys(&["k1"]), None, clock.now());
        assert_eq!(cache.consecutive_failures(), 0);
        assert!(matches!(cache.lookup("k1", clock.now()), Lookup::Fresh(_)));
    }

    #[test]
    fn abandoned_and_cancelled_claims() {
        let mut clock = Clock::new();
        let mut cache = KeyCache::new();
        assert!(matches!(
            cache.lookup("k", clock.now()),
            Lookup::Empty { may_fetch: true }
        ));
        clock.advance(secs(29));
        assert!(matches!(
            cache.lookup("k", clock.now()),
            Lookup::Empty { may_fetch: false }
        ));
        // The claimant vanished (a dropped future): after fetch_timeout the claim is free.
        clock.advance(secs(1));
        assert!(!cache.is_fetch_in_flight(clock.now()));
        assert!(matches!(
            cache.lookup("k", clock.now()),
            Lookup::Empty { may_fetch: true }
        ));
        cache.cancel_fetch();
        assert!(matches!(
            cache.lookup("k", clock.now()),
            Lookup::Empty { may_fetch: true }
        ));
        assert!(!cache.begin_fetch(clock.now()));
    }

    #[test]
    // Outside the crate, `CacheConfig` (non-exhaustive) can only be configured this way.
    #[allow(clippy::field_reassign_with_default)]
    fn max_age_clamping() {
        let clock = Clock::new();
        let mut cache = KeyCache::new();
        cache.record_success(keys(&["k"]), Some(secs(1)), clock.now());
        assert_eq!(cache.max_age(), secs(30));
        cache.record_success(keys(&["k"]), Some(secs(86_400)), clock.now());
        assert_eq!(cache.max_age(), secs(3600));
        cache.record_success(keys(&["k"]), Some(Duration::ZERO), clock.now());
        assert_eq!(cache.max_age(), secs(30));
        cache.record_success(keys(&["k"]), None, clock.now());
        assert_eq!(cache.max_age(), secs(600));
        let mut config = CacheConfig::default();
        config.default_max_age = secs(5);
        config.unknown_kid_cooldown = secs(1);
        let cache = KeyCache::with_config(config.clone());
        assert_eq!(cache.config(), &config);
        assert_eq!(cache.max_age(), secs(5));
    }

    #[test]
    fn cache_control_values() {
        let p = parse_cache_control_max_age;
        assert_eq!(p("max-age=300"), Some(secs(300)));
        assert_eq!(p("public, max-age=300, must-revalidate"), Some(secs(300)));
        assert_eq!(p("MAX-AGE=60"), Some(secs(60)));
        assert_eq!(p("max-age = 60"), Some(secs(60)));
        assert_eq!(p("max-age=\"60\""), Some(secs(60)));
        assert_eq!(p("max-age=60, max-age=120"), Some(secs(60)));
        assert_eq!(p("max-age=abc, max-age=120"), Some(secs(120)));
        assert_eq!(p("max-age=-5"), None);
        assert_eq!(p("max-age="), None);
        assert_eq!(p("max-age"), None);
        assert_eq!(p("s-maxage=10"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("no-cache"), Some(Duration::ZERO));
        assert_eq!(p("max-age=600, no-store"), Some(Duration::ZERO));
        assert_eq!(
            p("max-age=99999999999999999999999"),
            Some(Duration::from_secs(u64::MAX))
        );
    }
}
