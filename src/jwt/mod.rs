//! Offline verification of Decart client-token JWTs (EdDSA / Ed25519).
//!
//! `tokens.create` returns, besides the opaque `ek_…` key, a signed JWT carrying the same
//! scope. A gateway in front of your own services can check such a token without calling
//! Decart: fetch Decart's public keys (a JWKS) once, then verify every token locally.
//!
//! This module is the pure verifier: no I/O, no HTTP, no async (it builds with
//! `--no-default-features --features jwt`). It parses the JWKS ([`KeySet`]), applies a policy
//! ([`VerifyOptions`]), and yields a [`VerifiedClientToken`] exposing the claims as the Python
//! SDK does. [`KeyCache`] is the state machine that decides when to (re)fetch the key set;
//! the crate's clients drive it over HTTP, and you can drive it yourself.
//!
//! # A gateway
//!
//! ```no_run
//! use decart::jwt::{KeySet, VerifyError, VerifyOptions, DEFAULT_JWKS_URL};
//!
//! # fn http_get(_url: &str) -> Vec<u8> { unimplemented!() }
//! // Once (and again when the keys are rotated; see `KeyCache`):
//! let keys = KeySet::from_json(&http_get(DEFAULT_JWKS_URL))?;
//! let options = VerifyOptions::new(); // Decart's issuer and audience, 30 s leeway
//!
//! // Per request:
//! # let bearer = "";
//! match keys.verify(bearer, &options) {
//!     Ok(token) if token.allows_model("lucy-2.1") => {
//!         println!("user {} in the {:?} pool", token.user_id(), token.pool());
//!     }
//!     Ok(_) => println!("model not allowed for this token"),
//!     Err(e @ VerifyError::Expired { .. }) => println!("{} ({})", e, e.code()),
//!     Err(e) => println!("rejected: {e}"),
//! }
//! # Ok::<(), VerifyError>(())
//! ```
//!
//! # What is checked, in order
//!
//! 1. Size and shape: at most [`MAX_TOKEN_BYTES`] (before any decoding), exactly three
//!    segments, each strict base64url (no padding, no `+` or `/`, no whitespace, canonical
//!    trailing bits).
//! 2. Header: a JSON object without duplicate members; `alg` `EdDSA` (or `Ed25519`) only —
//!    `HS256`, `RS256`, `none`… are [`VerifyError::UnsupportedAlgorithm`]; no `crit`; a `kid`.
//!    `jwk`, `jku`, `x5u` and `x5c` are ignored: keys come only from the key set.
//! 3. Key selection: the usable key whose `kid` is exactly the header's.
//! 4. Signature: Ed25519 with `verify_strict` (canonical `S`, no small-order points). A bad
//!    signature is reported before any claim problem.
//! 5. Claims: a JSON object without duplicate members; required claims present (default
//!    `exp`, `sub`, `iss`, `aud`); `exp`, `nbf`, `iat` JSON numbers (a string is invalid),
//!    checked with the leeway (expired when `exp <= now - leeway`, not yet valid when
//!    `nbf > now + leeway`, issued in the future when `iat > now + leeway`); `iss` equal to the
//!    expected issuer; `aud` a string or an array of strings containing the expected audience;
//!    the mapped claims of [`VerifiedClientToken`] of their documented types.
//!
//! # Defaults
//!
//! | setting | default |
//! |---|---|
//! | JWKS URL | [`DEFAULT_JWKS_URL`] (`https://platform.decart.ai/api/auth/jwks`) |
//! | issuer, audience | [`DEFAULT_ISSUER`], [`DEFAULT_AUDIENCE`] (`https://platform.decart.ai`) |
//! | leeway | [`DEFAULT_LEEWAY`] (30 s) |
//! | required claims | `exp`, `sub`, `iss`, `aud` |
//! | token size | at most [`MAX_TOKEN_BYTES`] (8 KiB) |
//! | JWKS size | at most [`MAX_JWKS_BYTES`] (64 KiB) and [`MAX_JWKS_KEYS`] (64) entries |
//! | key-set freshness | [`DEFAULT_MAX_AGE`] (10 min), or the response's `Cache-Control: max-age` clamped to 30 s–1 h |
//! | unknown-`kid` refetch cooldown | [`DEFAULT_UNKNOWN_KID_COOLDOWN`] (30 s) |
//! | stale keys kept verifying while refreshes fail | [`DEFAULT_STALE_IF_ERROR`] (1 h past freshness) |
//!
//! # Untrusted decoding
//!
//! [`decode_client_token`] reads a token's claims without any check, into an
//! [`UntrustedClientToken`]: a different type, so it cannot be passed where a verified token is
//! expected. It still rejects malformed tokens.
//!
//! # Your own claims type
//!
//! [`KeySet::verify_with`] runs the same header, signature and registered-claim checks and
//! deserializes the payload into any `serde::de::DeserializeOwned` type.
//!
//! # Errors
//!
//! Every failure is a [`VerifyError`] naming what failed; [`VerifyError::code`] gives
//! `TOKEN_EXPIRED`, `TOKEN_INVALID`, `TOKEN_DECODE_ERROR` or `TOKEN_VERIFY_ERROR`. No error
//! message or log line contains the token or a whole segment of it.

mod b64;
pub mod cache;
mod claims;
mod error;
mod json;
mod keys;
mod options;
mod token;

pub use cache::{
    CacheConfig, DEFAULT_FAILURE_BACKOFF, DEFAULT_FETCH_TIMEOUT, DEFAULT_MAX_AGE,
    DEFAULT_STALE_IF_ERROR, DEFAULT_UNKNOWN_KID_COOLDOWN, KeyCache, Lookup, MAX_MAX_AGE,
    MIN_MAX_AGE, parse_cache_control_max_age,
};
pub use claims::{Pool, UntrustedClientToken, VerifiedClientToken};
pub use error::VerifyError;
pub use keys::{Jwk, KeySet, MAX_JWKS_BYTES, MAX_JWKS_KEYS, SkippedKey};
pub use options::{
    DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEFAULT_JWKS_URL, DEFAULT_LEEWAY, DEFAULT_REQUIRED_CLAIMS,
    VerifyOptions,
};
pub use token::{CompactJws, MAX_TOKEN_BYTES, Verified, decode_client_token};
