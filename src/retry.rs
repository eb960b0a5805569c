//! Retry decisions and backoff math. No sleeping here: the flavours sleep.

use std::time::{Duration, SystemTime};

use crate::config::RetryPolicy;
use crate::error::{TransportError, is_retryable_status};

/// How a request may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Sending it twice is harmless (reads, deletes, token creation): retry 429, 5xx and any
    /// transport failure.
    Idempotent,
    /// Sending it twice costs the user (a video job): retry only when the request provably did
    /// not reach the server (connect failure) or the server refused it with 429.
    SubmitOnce,
}

/// What went wrong with one attempt.
pub(crate) enum Failure<'a> {
    Status(u16),
    Transport(&'a TransportError),
}

/// Whether this failure may be retried for a request of this kind.
pub(crate) fn should_retry(replay: Replay, failure: &Failure<'_>) -> bool {
    match (replay, failure) {
        (Replay::Idempotent, Failure::Status(s)) => is_retryable_status(*s),
        (Replay::Idempotent, Failure::Transport(_)) => true,
        (Replay::SubmitOnce, Failure::Status(s)) => *s == 429,
        (Replay::SubmitOnce, Failure::Transport(e)) => e.is_request_unsent(),
    }
}

/// The delay before retry number `retry` (1 for the first retry): full jitter over an
/// exponentially growing window, or the server's `Retry-After` (capped) when that is longer.
pub(crate) fn delay(
    policy: &RetryPolicy,
    retry: u32,
    retry_after: Option<Duration>,
    random_unit: f64,
) -> Duration {
    let window = backoff_window(policy, retry);
    // Not `mul_f64`: it panics when the product rounds above `Duration::MAX`.
    let jittered = Duration::try_from_secs_f64(window.as_secs_f64() * random_unit.clamp(0.0, 1.0))
        .unwrap_or(window);
    match retry_after {
        Some(asked) => jittered.max(asked.min(policy.retry_after_cap())),
        None => jittered,
    }
}

/// `min(cap, base · 2^(retry-1))`.
pub(crate) fn backoff_window(policy: &RetryPolicy, retry: u32) -> Duration {
    let exp = retry.saturating_sub(1).min(30);
    policy
        .base()
        .checked_mul(1u32 << exp)
        .unwrap_or(Duration::MAX)
        .min(policy.cap())
}

/// The wait before retry number `retry` of a realtime connect: "equal jitter", between half
/// the backoff window and the whole of it, so that the waits stay close to the peers' fixed
/// 1, 2, 4, 8, 10 s while clients dropped together do not come back in step.
#[cfg(feature = "realtime")]
pub(crate) fn realtime_delay(policy: &RetryPolicy, retry: u32, random_unit: f64) -> Duration {
    let half = backoff_window(policy, retry) / 2;
    // Not `mul_f64`: it panics when the product rounds above `Duration::MAX`.
    let jitter = Duration::try_from_secs_f64(half.as_secs_f64() * random_unit.clamp(0.0, 1.0))
        .unwrap_or(half);
    half.saturating_add(jitter)
}

/// A uniformly random number in `[0, 1]` for the jitter.
pub(crate) fn random_unit() -> f64 {
    fastrand::f64()
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (relative to `now`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurd values; the policy caps them anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    #[cfg(feature = "realtime")]
    #[test]
    fn realtime_waits_are_between_half_the_window_and_all_of_it() {
        let policy = crate::realtime::default_realtime_retry();
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        for (retry, low, high) in [
            (1, ms(500), s(1)),
            (2, s(1), s(2)),
            (3, s(2), s(4)),
            (4, s(4), s(8)),
            (5, s(5), s(10)),
            (40, s(5), s(10)),
        ] {
            assert_eq!(realtime_delay(&policy, retry, 0.0), low, "retry {retry}");
            assert_eq!(realtime_delay(&policy, retry, 1.0), high, "retry {retry}");
            let mid = realtime_delay(&policy, retry, 0.5);
            assert!(low < mid && mid < high, "retry {retry}: {mid:?}");
        }
        // Out-of-range randomness and huge windows stay bounded.
        assert_eq!(realtime_delay(&policy, 1, 7.0), s(1));
        let huge = RetryPolicy::new()
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        assert!(realtime_delay(&huge, 3, 1.0) >= Duration::MAX / 2);
    }

    use super::*;
    use crate::error::TransportErrorKind;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy::new()
            .base_delay(Duration::from_millis(100))
            .max_delay(Duration::from_millis(350));
        assert_eq!(backoff_window(&p, 1), Duration::from_millis(100));
        assert_eq!(backoff_window(&p, 2), Duration::from_millis(200));
        assert_eq!(backoff_window(&p, 3), Duration::from_millis(350));
        assert_eq!(backoff_window(&p, 64), Duration::from_millis(350));
        assert_eq!(delay(&p, 2, None, 0.5), Duration::from_millis(100));
        assert_eq!(delay(&p, 2, None, 0.0), Duration::ZERO);
        // No overflow with absurd settings.
        let huge = RetryPolicy::new()
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        assert_eq!(delay(&huge, 3, None, 1.0), Duration::MAX);
    }

    #[test]
    fn retry_after_wins_when_longer_but_is_capped() {
        let p = RetryPolicy::new()
            .base_delay(Duration::from_millis(100))
            .max_retry_after(Duration::from_secs(5));
        assert_eq!(
            delay(&p, 1, Some(Duration::from_secs(2)), 1.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            delay(&p, 1, Some(Duration::from_secs(3600)), 1.0),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn submit_once_retries_only_connect_and_429() {
        let connect = TransportError::new(TransportErrorKind::Connect, "", None);
        let timeout = TransportError::new(TransportErrorKind::Timeout, "", None);
        assert!(should_retry(Replay::SubmitOnce, &Failure::Status(429)));
        assert!(!should_retry(Replay::SubmitOnce, &Failure::Status(500)));
        assert!(!should_retry(Replay::SubmitOnce, &Failure::Status(503)));
        assert!(should_retry(
            Replay::SubmitOnce,
            &Failure::Transport(&connect)
        ));
        assert!(!should_retry(
            Replay::SubmitOnce,
            &Failure::Transport(&timeout)
        ));
        assert!(should_retry(Replay::Idempotent, &Failure::Status(503)));
        assert!(should_retry(
            Replay::Idempotent,
            &Failure::Transport(&timeout)
        ));
        assert!(!should_retry(Replay::Idempotent, &Failure::Status(400)));
        assert!(!should_retry(Replay::Idempotent, &Failure::Status(404)));
    }
}
