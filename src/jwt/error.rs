//! The error of offline token verification.

use std::time::Duration;

/// At most this many characters of a value taken from a token (a `kid`, an `alg`, an issuer…)
/// are kept in an error. Longer values are cut and marked with `…`.
const MAX_ECHO_CHARS: usize = 64;

/// Why a client token (or the key set used to check it) was rejected.
///
/// Messages name what failed and never contain the token or any whole segment of it; values
/// copied from the token (`kid`, `alg`, issuer, audience) are cut to a few dozen characters.
///
/// [`code`](Self::code) gives a stable machine-readable code and
/// [`is_retryable`](Self::is_retryable) tells whether the same check may succeed later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is not a well-formed compact JWS/JWT: wrong number of segments, bad base64url,
    /// header or payload that is not a JSON object, duplicate JSON members, oversize…
    #[error("malformed token: {reason}")]
    Malformed {
        /// What is wrong, in words.
        reason: String,
    },

    /// [`decode_client_token`](super::decode_client_token) could not decode the token (the same
    /// failures as [`Malformed`](Self::Malformed), reported by the unverified decoder).
    #[error("could not decode token: {reason}")]
    DecodeFailed {
        /// What is wrong, in words.
        reason: String,
    },

    /// The header's `alg` is not `EdDSA` (or `Ed25519`): `HS256`, `RS256`, `none`…
    #[error("unsupported algorithm {alg:?}: only EdDSA (Ed25519) is accepted")]
    UnsupportedAlgorithm {
        /// The `alg` named by the token.
        alg: String,
    },

    /// The header has no `kid`, so no key can be selected.
    #[error("token header has no kid")]
    MissingKid,

    /// No usable key of the key set has the token's `kid`.
    #[error("no signing key with kid {kid:?}")]
    UnknownKid {
        /// The `kid` named by the token.
        kid: String,
    },

    /// The Ed25519 signature does not verify (or does not have 64 bytes).
    #[error("bad signature")]
    BadSignature,

    /// The token's `exp` is past (beyond the leeway).
    #[error("token expired {}s ago", .ago.as_secs())]
    Expired {
        /// How long before the check the token expired (whole seconds are shown).
        ago: Duration,
    },

    /// The token's `nbf` is in the future (beyond the leeway).
    #[error("token not valid yet (valid in {}s)", .valid_in.as_secs())]
    NotYetValid {
        /// How long until the token becomes valid.
        valid_in: Duration,
    },

    /// The token's `iat` is in the future (beyond the leeway).
    #[error("token issued in the future ({}s ahead)", .ahead.as_secs())]
    IssuedInFuture {
        /// How far in the future `iat` lies.
        ahead: Duration,
    },

    /// The token's `iss` is not the expected issuer.
    #[error("wrong issuer {found:?}, expected {expected:?}")]
    WrongIssuer {
        /// The issuer the policy expects.
        expected: String,
        /// The token's `iss`.
        found: String,
    },

    /// The token's `aud` does not contain the expected audience.
    #[error("wrong audience {found:?}, expected {expected:?}")]
    WrongAudience {
        /// The audience the policy expects.
        expected: String,
        /// The token's `aud` values.
        found: Vec<String>,
    },

    /// A claim the policy requires is absent.
    #[error("missing required claim {name:?}")]
    MissingClaim {
        /// The claim's name (`exp`, `sub`, …).
        name: String,
    },

    /// A claim has the wrong type or an unusable value (a string `exp`, a non-array `models`…).
    #[error("invalid claim {name:?}: {reason}")]
    InvalidClaim {
        /// The claim's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The header has a `crit` member; no extension is understood, so the token is rejected
    /// (RFC 7515 section 4.1.11).
    #[error("token header has a crit member; no critical extension is supported")]
    CritHeader,

    /// The JWKS document is unusable: too large, not JSON, no usable key…
    #[error("invalid JWKS: {reason}")]
    InvalidJwks {
        /// What is wrong, in words.
        reason: String,
    },

    /// The JWKS could not be fetched (built by the I/O layer that fetches keys).
    #[error("JWKS unreachable: {message}")]
    JwksUnreachable {
        /// What went wrong (connect error, HTTP status…).
        message: String,
        /// Whether a later attempt may succeed.
        retryable: bool,
    },
}

impl VerifyError {
    /// A stable, machine-readable code:
    ///
    /// | code | errors |
    /// |---|---|
    /// | `TOKEN_EXPIRED` | [`Expired`](Self::Expired) |
    /// | `TOKEN_DECODE_ERROR` | [`DecodeFailed`](Self::DecodeFailed) (from [`decode_client_token`](super::decode_client_token)) |
    /// | `TOKEN_VERIFY_ERROR` | [`JwksUnreachable`](Self::JwksUnreachable), [`InvalidJwks`](Self::InvalidJwks) |
    /// | `TOKEN_INVALID` | every other verification failure |
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Expired { .. } => "TOKEN_EXPIRED",
            VerifyError::DecodeFailed { .. } => "TOKEN_DECODE_ERROR",
            VerifyError::JwksUnreachable { .. } | VerifyError::InvalidJwks { .. } => {
                "TOKEN_VERIFY_ERROR"
            }
            _ => "TOKEN_INVALID",
        }
    }

    /// Whether the same check may succeed later: true only for a
    /// [`JwksUnreachable`](Self::JwksUnreachable) error built as retryable. A token that failed
    /// verification never becomes valid by trying again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            VerifyError::JwksUnreachable {
                retryable: true,
                ..
            }
        )
    }

    /// Builds a [`JwksUnreachable`](Self::JwksUnreachable) error, for code that fetches the
    /// key set itself and drives a [`KeyCache`](super::KeyCache).
    ///
    /// The message must not contain the token being verified.
    pub fn jwks_unreachable(message: impl Into<String>, retryable: bool) -> Self {
        VerifyError::JwksUnreachable {
            message: message.into(),
            retryable,
        }
    }

    /// Builds an [`UnknownKid`](Self::UnknownKid) error for `kid` (cut if very long), for code
    /// that selects keys itself (for example through a [`KeyCache`](super::KeyCache)).
    pub fn unknown_kid(kid: &str) -> Self {
        VerifyError::UnknownKid { kid: echo(kid) }
    }

    pub(crate) fn malformed(reason: impl Into<String>) -> Self {
        VerifyError::Malformed {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_claim(name: &str, reason: impl Into<String>) -> Self {
        VerifyError::InvalidClaim {
            name: echo(name),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_jwks(reason: impl Into<String>) -> Self {
        VerifyError::InvalidJwks {
            reason: reason.into(),
        }
    }

    /// The same failure, as reported by the unverified decoder.
    pub(crate) fn into_decode_error(self) -> Self {
        match self {
            VerifyError::Malformed { reason } => VerifyError::DecodeFailed { reason },
            other => VerifyError::DecodeFailed {
                reason: other.to_string(),
            },
        }
    }
}

impl VerifyError {
    /// Makes sure the error shows no segment of `token`: a value copied from the token (a
    /// `kid`, an issuer, a duplicate member's name…) could have been crafted to repeat another
    /// segment of the same token. Such values are replaced by `<redacted>`. Only runs on the
    /// error path.
    ///
    /// Segments shorter than [`MIN_SECRET_SEGMENT`] characters are not considered: every
    /// segment of a real token is longer (the shortest, an EdDSA header with a `kid`, has more
    /// than 30), and tiny segments would match ordinary words of the messages.
    pub(crate) fn scrub(mut self, token: &str) -> Self {
        let leaks = |s: &str| {
            s.len() >= MIN_SECRET_SEGMENT
                && token
                    .split('.')
                    .any(|seg| seg.len() >= MIN_SECRET_SEGMENT && s.contains(seg))
        };
        let redact = |s: &mut String| {
            if leaks(s) {
                *s = "<redacted>".to_owned();
            }
        };
        match &mut self {
            VerifyError::Malformed { reason }
            | VerifyError::DecodeFailed { reason }
            | VerifyError::InvalidJwks { reason } => redact(reason),
            VerifyError::UnsupportedAlgorithm { alg } => redact(alg),
            VerifyError::UnknownKid { kid } => redact(kid),
            VerifyError::WrongIssuer { expected, found } => {
                redact(expected);
                redact(found);
            }
            VerifyError::WrongAudience { expected, found } => {
                redact(expected);
                found.iter_mut().for_each(redact);
            }
            VerifyError::MissingClaim { name } => redact(name),
            VerifyError::InvalidClaim { name, reason } => {
                redact(name);
                redact(reason);
            }
            VerifyError::JwksUnreachable { message, .. } => redact(message),
            VerifyError::MissingKid
            | VerifyError::BadSignature
            | VerifyError::Expired { .. }
            | VerifyError::NotYetValid { .. }
            | VerifyError::IssuedInFuture { .. }
            | VerifyError::CritHeader => {}
        }
        self
    }
}

/// See [`VerifyError::scrub`].
const MIN_SECRET_SEGMENT: usize = 16;

/// A value copied from a token into a message: at most [`MAX_ECHO_CHARS`] characters.
pub(crate) fn echo(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHO_CHARS) {
        None => value.to_owned(),
        Some((cut, _)) => {
            let mut s = String::with_capacity(cut + 3);
            s.push_str(&value[..cut]);
            s.push('…');
            s
        }
    }
}

/// A longer free-text reason (for example a serde message, which may quote a claim value):
/// at most 200 characters.
pub(crate) fn bounded_reason(reason: impl std::fmt::Display) -> String {
    let s = reason.to_string();
    match s.char_indices().nth(200) {
        None => s,
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert<T: Send + Sync + 'static + std::error::Error>() {}
        assert::<VerifyError>();
    }

    #[test]
    fn codes() {
        assert_eq!(
            VerifyError::Expired {
                ago: Duration::from_secs(42)
            }
            .code(),
            "TOKEN_EXPIRED"
        );
        assert_eq!(
            VerifyError::Expired {
                ago: Duration::from_millis(42_900)
            }
            .to_string(),
            "token expired 42s ago"
        );
        assert_eq!(VerifyError::BadSignature.code(), "TOKEN_INVALID");
        assert_eq!(VerifyError::malformed("x").code(), "TOKEN_INVALID");
        assert_eq!(
            VerifyError::malformed("x").into_decode_error().code(),
            "TOKEN_DECODE_ERROR"
        );
        assert_eq!(VerifyError::invalid_jwks("x").code(), "TOKEN_VERIFY_ERROR");
        let e = VerifyError::jwks_unreachable("connect refused", true);
        assert_eq!(e.code(), "TOKEN_VERIFY_ERROR");
        assert!(e.is_retryable());
        assert!(!VerifyError::jwks_unreachable("404", false).is_retryable());
        assert!(!VerifyError::BadSignature.is_retryable());
        assert!(!VerifyError::invalid_jwks("x").is_retryable());
    }

    #[test]
    fn scrub_redacts_token_segments_only() {
        let header = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0";
        let payload = "eyJzdWIiOiJ1c2VyXzEyMyIsImV4cCI6MTcwMDAwMDAwMH0";
        let token = format!("{header}.{payload}.c2lnbmF0dXJlc2lnbmF0dXJl");
        let e = VerifyError::unknown_kid(payload).scrub(&token);
        assert_eq!(
            e,
            VerifyError::UnknownKid {
                kid: "<redacted>".into()
            }
        );
        let e = VerifyError::WrongAudience {
            expected: "https://platform.decart.ai".into(),
            found: vec!["fine".into(), format!("x{header}y")],
        }
        .scrub(&token);
        assert_eq!(
            e,
            VerifyError::WrongAudience {
                expected: "https://platform.decart.ai".into(),
                found: vec!["fine".into(), "<redacted>".into()],
            }
        );
        // Ordinary values, and short segments that match common words, are kept.
        let e = VerifyError::malformed("expected 3 dot-separated segments, found 4")
            .scrub("separated.at.x.y");
        assert_eq!(
            e.to_string(),
            "malformed token: expected 3 dot-separated segments, found 4"
        );
        assert_eq!(
            VerifyError::BadSignature.scrub(&token),
            VerifyError::BadSignature
        );
    }

    #[test]
    fn echo_cuts_long_values() {
        assert_eq!(echo("abc"), "abc");
        let long = "é".repeat(100);
        let e = echo(&long);
        assert_eq!(e.chars().count(), MAX_ECHO_CHARS + 1);
        assert!(e.ends_with('…'));
    }
}
