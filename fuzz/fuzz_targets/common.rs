//! The bodies of the fuzz targets, with the invariants they check.
//!
//! Shared by the libFuzzer targets (`cargo +nightly fuzz run …`) and by the main package's
//! bounded random smoke test (`tests/jwt_fuzz_smoke.rs`, which includes this file), so the
//! same checks run on stable too.
#![allow(dead_code)]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use decart::jwt::{
    CompactJws, Jwk, KeySet, MAX_JWKS_KEYS, MAX_TOKEN_BYTES, VerifyError, VerifyOptions,
    decode_client_token,
};
use ed25519_dalek::{Signer as _, SigningKey};

/// The fixed clock of every check.
pub const NOW: u64 = 1_750_000_000;

pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[1u8; 32])
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The key set every token is checked against: `k1` (the signing key) and `k2` (another).
pub static KEYS: LazyLock<KeySet> =
    LazyLock::new(|| KeySet::from_json(jwks_json().as_bytes()).expect("the fuzz key set parses"));

pub static OPTIONS: LazyLock<VerifyOptions> =
    LazyLock::new(|| VerifyOptions::new().fixed_time(UNIX_EPOCH + Duration::from_secs(NOW)));

pub fn jwks_json() -> String {
    let x1 = b64(&signing_key().verifying_key().to_bytes());
    let x2 = b64(&SigningKey::from_bytes(&[2u8; 32])
        .verifying_key()
        .to_bytes());
    format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"k1","x":"{x1}"}},{{"kty":"OKP","crv":"Ed25519","kid":"k2","x":"{x2}"}},{{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}}]}}"#
    )
}

/// Signs raw header and payload texts with the `k1` key.
pub fn sign(header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = signing_key().sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

/// Valid and nearly valid inputs to start from.
pub fn seed_tokens() -> Vec<String> {
    let header = r#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#;
    let claims = format!(
        r#"{{"sub":"user_1","iss":"https://platform.decart.ai","aud":"https://platform.decart.ai","iat":{},"exp":{},"jti":"j","organizationId":"o","service_tier":2,"priority":true,"models":["lucy-2.1"],"origins":["https://example.com"],"constraints":{{"realtime":{{"maxSessionDuration":60}}}},"realtimeConcurrentSessionLimit":2,"zeroDataRetention":false,"attribution":{{"team":"t"}}}}"#,
        NOW - 10,
        NOW + 600
    );
    vec![
        sign(header, &claims),
        sign(r#"{"alg":"Ed25519","kid":"k1"}"#, &claims),
        sign(header, r#"{"sub":"u","exp":1}"#),
        sign(r#"{"alg":"EdDSA","kid":"k2"}"#, &claims),
        sign(r#"{"alg":"HS256","kid":"k1"}"#, &claims),
        sign(r#"{"alg":"EdDSA","kid":"k1","crit":["x"]}"#, &claims),
        sign(header, r#"{"sub":"a","sub":"b"}"#),
        sign(header, r#"{"aud":["a",1],"exp":"1"}"#),
        "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UifQ.".to_owned(),
        String::new(),
        "..".to_owned(),
    ]
}

/// No segment that could be real token material — base64url characters only, at least 24 of
/// them (every segment of a real client token is longer) — may appear in `shown`. Shorter or
/// non-base64url segments are excluded because they can coincide with the messages' own words.
fn segments_leak(token: &str, shown: &str) {
    let secret_like = |seg: &str| {
        seg.len() >= 24
            && seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    for seg in token.split('.') {
        if secret_like(seg) {
            assert!(
                !shown.contains(seg),
                "output shows a token segment: {shown:?}"
            );
        }
    }
}

fn check_error(token: &str, e: &VerifyError) {
    segments_leak(token, &e.to_string());
    segments_leak(token, &format!("{e:?}"));
    assert!(!e.is_retryable(), "a token error is never retryable: {e:?}");
    assert!(
        matches!(
            e.code(),
            "TOKEN_INVALID" | "TOKEN_EXPIRED" | "TOKEN_DECODE_ERROR"
        ),
        "{e:?}"
    );
}

/// Target `verify`: the three verification entry points agree, and fail cleanly.
pub fn verify(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let token = token.as_ref();
    let keys = &*KEYS;
    let options = &*OPTIONS;

    let direct = keys.verify(token, options);
    let two_phase = CompactJws::parse(token).and_then(|jws| {
        let key = keys.get(jws.kid()).ok_or_else(|| jws.unknown_kid())?;
        jws.verify(key, options)
    });
    let generic = keys.verify_with::<serde_json::Value>(token, options);
    match (&direct, &two_phase) {
        (Ok(a), Ok(b)) => assert_eq!(a.user_id(), b.user_id()),
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("verify and the two-phase path disagree"),
    }
    match &direct {
        Ok(t) => {
            // Only the holder of the k1/k2 keys could have made this token.
            assert!(generic.is_ok(), "generic verification must accept it too");
            assert!(matches!(t.kid(), "k1" | "k2"));
            let u = decode_client_token(token).expect("a verified token decodes");
            assert_eq!(u.user_id(), Some(t.user_id()));
            assert_eq!(u.service_tier(), t.service_tier());
            assert_eq!(u.allowed_models(), t.allowed_models());
            let _ = t.claims();
            assert!(!format!("{t:?}").contains(token));
        }
        Err(e) => {
            check_error(token, e);
            if token.len() > MAX_TOKEN_BYTES {
                assert!(matches!(e, VerifyError::Malformed { .. }), "{e:?}");
            }
        }
    }
    if let Err(e) = &generic {
        check_error(token, e);
    }
}

/// Target `decode`: the unverified decoder never panics, reports `DecodeFailed`, and accepts
/// everything the verifier accepts.
pub fn decode(data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let token = token.as_ref();
    match decode_client_token(token) {
        Ok(u) => {
            let _ = (
                u.user_id(),
                u.organization_id(),
                u.api_key_id(),
                u.api_key_name(),
                u.service_tier(),
                u.pool(),
                u.allowed_models(),
                u.allowed_origins(),
                u.allows_model("lucy-2.1"),
                u.allows_origin("https://example.com"),
                u.constraints(),
                u.realtime_concurrent_session_limit(),
                u.zero_data_retention(),
                u.attribution(),
                u.expires_at(),
                u.issued_at(),
                u.not_before(),
                u.kid(),
                u.alg(),
            );
            if let Some(tier) = u.service_tier() {
                assert!(tier <= 3);
            }
            let claims = u.claims().clone();
            assert_eq!(u.clone().into_claims(), claims);
            if token.len() >= 16 {
                assert!(!format!("{u:?}").contains(token));
            }
        }
        Err(e) => {
            assert!(matches!(e, VerifyError::DecodeFailed { .. }), "{e:?}");
            assert_eq!(e.code(), "TOKEN_DECODE_ERROR");
            check_error(token, &e);
            // What cannot be decoded cannot be verified either.
            assert!(KEYS.verify(token, &OPTIONS).is_err());
        }
    }
}

/// Target `jwks`: key-set parsing never panics and only keeps usable keys.
pub fn jwks(data: &[u8]) {
    match KeySet::from_json(data) {
        Ok(set) => {
            assert!(!set.is_empty() && set.len() <= MAX_JWKS_KEYS);
            let mut kids: Vec<&str> = set.keys().iter().map(|k| k.kid().unwrap()).collect();
            kids.sort_unstable();
            kids.dedup();
            assert_eq!(kids.len(), set.len(), "kids are unique");
            for key in set.keys() {
                assert!(
                    Jwk::from_public_key_bytes(None, &key.public_key_bytes()).is_ok(),
                    "a kept key is a valid, non-weak point"
                );
                assert_eq!(
                    key.verify_raw(b"message", &[0u8; 64]),
                    Err(VerifyError::BadSignature)
                );
            }
            let _ = format!("{set:?}");
        }
        Err(e) => {
            assert!(matches!(e, VerifyError::InvalidJwks { .. }), "{e:?}");
            assert_eq!(e.code(), "TOKEN_VERIFY_ERROR");
        }
    }
    if let Ok(jwk) = Jwk::from_json(data) {
        assert!(Jwk::from_public_key_bytes(jwk.kid(), &jwk.public_key_bytes()).is_ok());
    }
}

/// The current time is not used anywhere above: every check runs at [`NOW`].
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}
