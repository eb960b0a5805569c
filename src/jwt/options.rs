//! The verification policy.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The issuer Decart client tokens carry, and the default expected issuer.
pub const DEFAULT_ISSUER: &str = "https://platform.decart.ai";

/// The audience Decart client tokens carry, and the default expected audience.
pub const DEFAULT_AUDIENCE: &str = "https://platform.decart.ai";

/// The default clock leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Where Decart publishes its token-signing keys.
pub const DEFAULT_JWKS_URL: &str = "https://platform.decart.ai/api/auth/jwks";

/// The claims required by default.
pub const DEFAULT_REQUIRED_CLAIMS: [&str; 4] = ["exp", "sub", "iss", "aud"];

type ClockFn = dyn Fn() -> SystemTime + Send + Sync;

/// The verification policy: expected issuer and audience, clock leeway, required claims and
/// the clock.
///
/// The defaults match Decart's platform: issuer and audience [`DEFAULT_ISSUER`], leeway 30 s,
/// required claims `exp`, `sub`, `iss`, `aud`, and the system clock. Every one can be changed,
/// for a staging platform or a test server.
///
/// ```
/// use std::time::Duration;
/// use decart::jwt::VerifyOptions;
///
/// let options = VerifyOptions::new()
///     .issuer("https://staging.example")
///     .audience("https://staging.example")
///     .leeway(Duration::from_secs(5));
/// # let _ = options;
/// ```
///
/// Cloning is cheap; share one value between threads (it is `Send + Sync`).
#[derive(Clone)]
pub struct VerifyOptions {
    pub(crate) issuer: Option<Arc<str>>,
    pub(crate) audience: Option<Arc<str>>,
    pub(crate) leeway: Duration,
    pub(crate) required: Arc<[Box<str>]>,
    clock: Option<Arc<ClockFn>>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            issuer: Some(Arc::from(DEFAULT_ISSUER)),
            audience: Some(Arc::from(DEFAULT_AUDIENCE)),
            leeway: DEFAULT_LEEWAY,
            required: DEFAULT_REQUIRED_CLAIMS
                .iter()
                .map(|s| Box::from(*s))
                .collect(),
            clock: None,
        }
    }
}

impl VerifyOptions {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    /// Expects this `iss` (compared exactly). A token without `iss` is then rejected.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(Arc::from(issuer.into()));
        self
    }

    /// Accepts any `iss` (or none, unless `iss` is a required claim).
    pub fn any_issuer(mut self) -> Self {
        self.issuer = None;
        self
    }

    /// Expects this value in `aud` (a string, or one element of an array of strings, compared
    /// exactly). A token without `aud` is then rejected.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(Arc::from(audience.into()));
        self
    }

    /// Accepts any `aud` (or none, unless `aud` is a required claim). A present `aud` must still
    /// be a string or an array of strings.
    pub fn any_audience(mut self) -> Self {
        self.audience = None;
        self
    }

    /// The clock leeway applied to `exp`, `nbf` and `iat` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Replaces the list of claims that must be present (default `exp`, `sub`, `iss`, `aud`).
    ///
    /// [`KeySet::verify`](super::KeySet::verify) always needs `sub` (it becomes
    /// [`user_id`](super::VerifiedClientToken::user_id)) and `exp` (it becomes
    /// [`expires_at`](super::VerifiedClientToken::expires_at)), whatever this list says;
    /// [`KeySet::verify_with`](super::KeySet::verify_with) follows the list exactly.
    pub fn required_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required = claims
            .into_iter()
            .map(|s| s.into().into_boxed_str())
            .collect();
        self
    }

    /// Uses `clock` instead of the system clock (for tests, or a clock of your own).
    pub fn clock<F>(mut self, clock: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks tokens as if the time were always `now` (shorthand for a fixed [`clock`](Self::clock)).
    pub fn fixed_time(self, now: SystemTime) -> Self {
        self.clock(move || now)
    }

    /// The current time per this policy's clock.
    pub fn now(&self) -> SystemTime {
        match &self.clock {
            Some(clock) => clock(),
            None => SystemTime::now(),
        }
    }

    /// The expected issuer (`None`: any).
    pub fn expected_issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The expected audience (`None`: any).
    pub fn expected_audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The clock leeway.
    pub fn leeway_duration(&self) -> Duration {
        self.leeway
    }

    /// The required claims.
    pub fn required(&self) -> impl Iterator<Item = &str> {
        self.required.iter().map(|s| &**s)
    }
}

impl fmt::Debug for VerifyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .field("required", &self.required)
            .field(
                "clock",
                &if self.clock.is_some() {
                    "custom"
                } else {
                    "system"
                },
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let o = VerifyOptions::new();
        assert_eq!(o.expected_issuer(), Some(DEFAULT_ISSUER));
        assert_eq!(o.expected_audience(), Some(DEFAULT_AUDIENCE));
        assert_eq!(o.leeway_duration(), Duration::from_secs(30));
        assert_eq!(
            o.required().collect::<Vec<_>>(),
            ["exp", "sub", "iss", "aud"]
        );
        fn assert_send_sync<T: Send + Sync + Clone + fmt::Debug>() {}
        assert_send_sync::<VerifyOptions>();
    }

    #[test]
    fn overrides() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let o = VerifyOptions::new()
            .any_issuer()
            .audience("a")
            .required_claims(["exp"])
            .fixed_time(t);
        assert_eq!(o.expected_issuer(), None);
        assert_eq!(o.expected_audience(), Some("a"));
        assert_eq!(o.now(), t);
        assert_eq!(o.required().collect::<Vec<_>>(), ["exp"]);
        assert!(format!("{o:?}").contains("custom"));
    }
}
