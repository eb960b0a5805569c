//! The compact JWS: splitting, header rules, signature, registered claims.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ed25519_dalek::Signature;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::b64;
use super::claims::{UntrustedClientToken, VerifiedClientToken};
use super::error::{VerifyError, bounded_reason, echo};
use super::json::{self, Claim, Claims, Member, Parsed};
use super::keys::Jwk;
use super::options::VerifyOptions;

/// The longest token accepted, in bytes (8 KiB), checked before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The three segments of a compact serialization.
type Segments<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// Splits a compact serialization into its three segments.
fn split(token: &str) -> Result<Segments<'_>, String> {
    let bytes = token.as_bytes();
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(format!("token longer than {MAX_TOKEN_BYTES} bytes"));
    }
    if bytes.is_empty() {
        return Err("empty token".to_owned());
    }
    // `str::find` with a one-byte pattern runs a fast memchr-style scan.
    let found = |count: usize| format!("expected 3 dot-separated segments, found {count}");
    let Some(first) = token.find('.') else {
        return Err(found(1));
    };
    let rest = &token[first + 1..];
    let Some(second) = rest.find('.') else {
        return Err(found(2));
    };
    let second = first + 1 + second;
    if token[second + 1..].contains('.') {
        return Err(found(bytes.iter().filter(|&&b| b == b'.').count() + 1));
    }
    Ok((
        &bytes[..first],
        &bytes[first + 1..second],
        &bytes[second + 1..],
    ))
}

/// A compact JWS whose shape and header have been checked, but whose signature has not.
///
/// This is the building block for code that selects the key itself (for example through a
/// [`KeyCache`](super::KeyCache)): parse, look the key up by [`kid`](Self::kid), then
/// [`verify`](Self::verify). [`KeySet::verify`](super::KeySet::verify) does all three.
///
/// `Debug` shows the `kid` and `alg` only, never the token.
pub struct CompactJws<'a> {
    token: &'a str,
    signing_input: &'a [u8],
    payload: Vec<u8>,
    kid: String,
    alg: &'static str,
    /// `None` when the signature segment is valid base64url of another length than 64 bytes.
    signature: Option<Signature>,
}

impl<'a> CompactJws<'a> {
    /// Checks the token's size (at most [`MAX_TOKEN_BYTES`], before anything else), its three
    /// strict-base64url segments, and its header: a JSON object without duplicate members
    /// whose `alg` is `EdDSA` or `Ed25519`, without `crit`, and with a string `kid`. `jwk`,
    /// `jku`, `x5u` and `x5c` are ignored.
    ///
    /// # Errors
    ///
    /// [`VerifyError::Malformed`], [`VerifyError::UnsupportedAlgorithm`],
    /// [`VerifyError::CritHeader`] or [`VerifyError::MissingKid`].
    pub fn parse(token: &'a str) -> Result<Self, VerifyError> {
        Self::parse_inner(token).map_err(|e| e.scrub(token))
    }

    fn parse_inner(token: &'a str) -> Result<Self, VerifyError> {
        let (h, p, s) = split(token).map_err(VerifyError::malformed)?;
        let header_bytes =
            b64::decode(h).map_err(|e| VerifyError::malformed(format!("header: {e}")))?;
        let header = json::parse_header(&header_bytes)
            .map_err(|e| VerifyError::malformed(format!("header: {e}")))?;
        let alg = match &header.alg {
            Member::Present(alg) => match &**alg {
                "EdDSA" => "EdDSA",
                "Ed25519" => "Ed25519",
                other => {
                    return Err(VerifyError::UnsupportedAlgorithm { alg: echo(other) });
                }
            },
            Member::NotString => return Err(VerifyError::malformed("header alg is not a string")),
            Member::Absent => return Err(VerifyError::malformed("header has no alg")),
        };
        if header.crit {
            return Err(VerifyError::CritHeader);
        }
        let kid = match header.kid {
            Member::Present(kid) => kid.into_owned(),
            Member::NotString => return Err(VerifyError::malformed("header kid is not a string")),
            Member::Absent => return Err(VerifyError::MissingKid),
        };
        let signature = b64::decode_exact::<64>(s)
            .map_err(|e| VerifyError::malformed(format!("signature: {e}")))?
            .map(|bytes| Signature::from_bytes(&bytes));
        let payload =
            b64::decode(p).map_err(|e| VerifyError::malformed(format!("payload: {e}")))?;
        Ok(CompactJws {
            token,
            signing_input: &token.as_bytes()[..h.len() + 1 + p.len()],
            payload,
            kid,
            alg,
            signature,
        })
    }

    /// The header's `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The header's `alg`: `EdDSA` or `Ed25519`.
    pub fn alg(&self) -> &'static str {
        self.alg
    }

    /// The [`VerifyError::UnknownKid`] error for this token's `kid`, for callers that select
    /// keys themselves (for example through a [`KeyCache`](super::KeyCache)). Prefer it to
    /// [`VerifyError::unknown_kid`]: it also makes sure a `kid` crafted to repeat another
    /// segment of the token is not shown.
    pub fn unknown_kid(&self) -> VerifyError {
        VerifyError::unknown_kid(&self.kid).scrub(self.token)
    }

    /// Checks the signature with `key` (normally the key whose `kid` is [`kid`](Self::kid)),
    /// then the claims per `options`, and returns the Decart client-token view of them.
    ///
    /// # Errors
    ///
    /// [`VerifyError::UnknownKid`] when `key` has another `kid`, [`VerifyError::BadSignature`],
    /// then the first failed claim check ([`Expired`](VerifyError::Expired),
    /// [`WrongIssuer`](VerifyError::WrongIssuer), [`MissingClaim`](VerifyError::MissingClaim),
    /// [`InvalidClaim`](VerifyError::InvalidClaim), …) or [`VerifyError::Malformed`] for a
    /// payload that is not a JSON object.
    pub fn verify(
        &self,
        key: &Jwk,
        options: &VerifyOptions,
    ) -> Result<VerifiedClientToken, VerifyError> {
        let (claims, registered) = self.verified_claims(key, options)?;
        VerifiedClientToken::from_claims(claims, self.payload.clone(), registered, self.kid.clone())
            .map_err(|e| e.scrub(self.token))
    }

    /// Like [`verify`](Self::verify), deserializing the claims into the caller's own type after
    /// the same signature and registered-claim checks.
    ///
    /// # Errors
    ///
    /// As [`verify`](Self::verify), and [`VerifyError::InvalidClaim`] named `claims` when `C`
    /// cannot be deserialized.
    pub fn verify_with<C: DeserializeOwned>(
        &self,
        key: &Jwk,
        options: &VerifyOptions,
    ) -> Result<Verified<C>, VerifyError> {
        let (_, registered) = self.verified_claims(key, options)?;
        let claims = serde_json::from_slice::<C>(&self.payload).map_err(|e| {
            VerifyError::invalid_claim("claims", bounded_reason(e)).scrub(self.token)
        })?;
        Ok(Verified {
            claims,
            kid: self.kid.clone(),
            registered,
        })
    }

    fn verified_claims(
        &self,
        key: &Jwk,
        options: &VerifyOptions,
    ) -> Result<(Claims<'_>, Registered), VerifyError> {
        self.verified_claims_inner(key, options)
            .map_err(|e| e.scrub(self.token))
    }

    fn verified_claims_inner(
        &self,
        key: &Jwk,
        options: &VerifyOptions,
    ) -> Result<(Claims<'_>, Registered), VerifyError> {
        if key.kid().is_some_and(|kid| kid != self.kid) {
            return Err(self.unknown_kid());
        }
        let signature = self.signature.as_ref().ok_or(VerifyError::BadSignature)?;
        key.verify_signature(self.signing_input, signature)?;
        let claims = json::parse_claims(&self.payload)
            .map_err(|e| VerifyError::malformed(format!("payload: {e}")))?;
        let registered = check_registered(&claims, options)?;
        Ok((claims, registered))
    }
}

impl fmt::Debug for CompactJws<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactJws")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Claims of the caller's own type, after signature and registered-claim checks; from
/// [`KeySet::verify_with`](super::KeySet::verify_with).
#[derive(Debug, Clone)]
pub struct Verified<C> {
    claims: C,
    kid: String,
    registered: Registered,
}

impl<C> Verified<C> {
    /// The claims.
    pub fn claims(&self) -> &C {
        &self.claims
    }

    /// The claims, by value.
    pub fn into_claims(self) -> C {
        self.claims
    }

    /// The `kid` of the key that signed the token.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `exp`, when present.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.registered.exp
    }

    /// `nbf`, when present.
    pub fn not_before(&self) -> Option<SystemTime> {
        self.registered.nbf
    }

    /// `iat`, when present.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.registered.iat
    }
}

/// The registered time claims, converted.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Registered {
    pub(crate) exp: Option<SystemTime>,
    pub(crate) nbf: Option<SystemTime>,
    pub(crate) iat: Option<SystemTime>,
}

/// Seconds since the epoch, negative before it.
fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

fn seconds(d: f64) -> Duration {
    Duration::try_from_secs_f64(d.max(0.0)).unwrap_or(Duration::MAX)
}

/// A NumericDate claim: a JSON number (integer or fraction) of seconds since the epoch.
///
/// `Ok(None)` when absent; null or any other type is invalid.
fn numeric_date(
    claims: &Claims<'_>,
    claim: Claim,
    name: &str,
) -> Result<Option<(f64, SystemTime)>, VerifyError> {
    if matches!(claims.get(claim), Parsed::Absent) {
        return Ok(None);
    }
    let Some(secs) = claims.value(claim).and_then(Value::as_f64) else {
        return Err(VerifyError::invalid_claim(
            name,
            "must be a JSON number (NumericDate)",
        ));
    };
    let time =
        numeric_to_time(secs).ok_or_else(|| VerifyError::invalid_claim(name, "out of range"))?;
    Ok(Some((secs, time)))
}

pub(crate) fn numeric_to_time(secs: f64) -> Option<SystemTime> {
    if !secs.is_finite() {
        return None;
    }
    if secs >= 0.0 {
        UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(secs).ok()?)
    } else {
        UNIX_EPOCH.checked_sub(Duration::try_from_secs_f64(-secs).ok()?)
    }
}

/// Required claims, `exp`/`nbf`/`iat` with leeway, `iss`, `aud`, and the types of `sub`.
fn check_registered(
    claims: &Claims<'_>,
    options: &VerifyOptions,
) -> Result<Registered, VerifyError> {
    for name in options.required() {
        if !claims.has(name) {
            return Err(VerifyError::MissingClaim { name: echo(name) });
        }
    }
    let exp = numeric_date(claims, Claim::Exp, "exp")?;
    let nbf = numeric_date(claims, Claim::Nbf, "nbf")?;
    let iat = numeric_date(claims, Claim::Iat, "iat")?;
    if exp.is_some() || nbf.is_some() || iat.is_some() {
        let now = unix_seconds(options.now());
        let leeway = options.leeway.as_secs_f64();
        if let Some((exp, _)) = exp {
            if exp <= now - leeway {
                return Err(VerifyError::Expired {
                    ago: seconds(now - exp),
                });
            }
        }
        if let Some((nbf, _)) = nbf {
            if nbf > now + leeway {
                return Err(VerifyError::NotYetValid {
                    valid_in: seconds(nbf - now),
                });
            }
        }
        if let Some((iat, _)) = iat {
            if iat > now + leeway {
                return Err(VerifyError::IssuedInFuture {
                    ahead: seconds(iat - now),
                });
            }
        }
    }
    match claims.get(Claim::Sub) {
        Parsed::Absent | Parsed::Null | Parsed::Text(_) => {}
        _ => return Err(VerifyError::invalid_claim("sub", "must be a string")),
    }
    match (claims.get(Claim::Iss), options.issuer.as_deref()) {
        (Parsed::Absent | Parsed::Null, Some(_)) => {
            return Err(VerifyError::MissingClaim {
                name: "iss".to_owned(),
            });
        }
        (Parsed::Text(iss), Some(expected)) if iss != expected => {
            return Err(VerifyError::WrongIssuer {
                expected: expected.to_owned(),
                found: echo(iss),
            });
        }
        (Parsed::Absent | Parsed::Null | Parsed::Text(_), _) => {}
        _ => return Err(VerifyError::invalid_claim("iss", "must be a string")),
    }
    let expected = options.audience.as_deref();
    match claims.get(Claim::Aud) {
        Parsed::Absent | Parsed::Null => {
            if expected.is_some() {
                return Err(VerifyError::MissingClaim {
                    name: "aud".to_owned(),
                });
            }
        }
        Parsed::Text(aud) => {
            if let Some(expected) = expected {
                if aud != expected {
                    return Err(VerifyError::WrongAudience {
                        expected: expected.to_owned(),
                        found: vec![echo(aud)],
                    });
                }
            }
        }
        Parsed::TextList(auds) => {
            if let Some(expected) = expected {
                if !auds.iter().any(|a| a == expected) {
                    return Err(VerifyError::WrongAudience {
                        expected: expected.to_owned(),
                        found: auds.iter().take(8).map(|a| echo(a)).collect(),
                    });
                }
            }
        }
        _ => {
            return Err(VerifyError::invalid_claim(
                "aud",
                "must be a string or an array of strings",
            ));
        }
    }
    Ok(Registered {
        exp: exp.map(|(_, t)| t),
        nbf: nbf.map(|(_, t)| t),
        iat: iat.map(|(_, t)| t),
    })
}

/// Decodes a client token WITHOUT verifying it: no signature check, no key, no network, no
/// claim check. The result is an [`UntrustedClientToken`], a different type from
/// [`VerifiedClientToken`] so it cannot be mistaken for one. Use it for logging, debugging
/// or routing, never for authorization.
///
/// The token must still be well formed: at most [`MAX_TOKEN_BYTES`], three strict base64url
/// segments, a header and a payload that are JSON objects without duplicate members. Claims of
/// the wrong type are shown as absent (see [`UntrustedClientToken`]).
///
/// ```
/// let token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1c2VyXzEiLCJzZXJ2aWNlX3RpZXIiOjJ9.";
/// let untrusted = decart::jwt::decode_client_token(token)?;
/// assert_eq!(untrusted.user_id(), Some("user_1"));
/// assert_eq!(untrusted.service_tier(), Some(2));
/// # Ok::<(), decart::jwt::VerifyError>(())
/// ```
///
/// # Errors
///
/// [`VerifyError::DecodeFailed`] (code `TOKEN_DECODE_ERROR`) naming what is malformed.
pub fn decode_client_token(token: &str) -> Result<UntrustedClientToken, VerifyError> {
    decode_inner(token).map_err(|e| e.into_decode_error().scrub(token))
}

fn decode_inner(token: &str) -> Result<UntrustedClientToken, VerifyError> {
    let (h, p, s) = split(token).map_err(VerifyError::malformed)?;
    let header_bytes =
        b64::decode(h).map_err(|e| VerifyError::malformed(format!("header: {e}")))?;
    let header = json::parse_header(&header_bytes)
        .map_err(|e| VerifyError::malformed(format!("header: {e}")))?;
    b64::decode(s).map_err(|e| VerifyError::malformed(format!("signature: {e}")))?;
    let payload = b64::decode(p).map_err(|e| VerifyError::malformed(format!("payload: {e}")))?;
    let claims = json::parse_claims(&payload)
        .map_err(|e| VerifyError::malformed(format!("payload: {e}")))?;
    let text = |m: Member<std::borrow::Cow<'_, str>>| match m {
        Member::Present(s) => Some(s.into_owned()),
        _ => None,
    };
    UntrustedClientToken::from_claims(claims, payload.clone(), text(header.alg), text(header.kid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_counts_segments() {
        assert_eq!(split("a.b.c").unwrap(), (&b"a"[..], &b"b"[..], &b"c"[..]));
        assert_eq!(split("..").unwrap(), (&b""[..], &b""[..], &b""[..]));
        assert!(split("").unwrap_err().contains("empty"));
        assert!(split("abc").unwrap_err().contains("found 1"));
        assert!(split("a.b").unwrap_err().contains("found 2"));
        assert!(split("a.b.c.d").unwrap_err().contains("found 4"));
        assert!(split("a.b.c.d.e").unwrap_err().contains("found 5"));
        let long = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert!(split(&long).unwrap_err().contains("longer"));
    }

    #[test]
    fn numeric_dates() {
        assert_eq!(numeric_to_time(0.0), Some(UNIX_EPOCH));
        assert_eq!(
            numeric_to_time(1.5),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
        assert!(numeric_to_time(1e300).is_none());
        assert!(numeric_to_time(f64::NAN).is_none());
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(5)), 5.0);
        assert_eq!(seconds(-3.0), Duration::ZERO);
        assert_eq!(seconds(1e300), Duration::MAX);
    }
}
