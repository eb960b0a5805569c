//! Offline verification of client tokens: the Python SDK's `test_token_verify.py` cases, and
//! every rule of the verifier (strict base64url, duplicate members, `crit`, NumericDate types,
//! audience arrays, `nbf`/`iat`, size limits…).
#![cfg(feature = "jwt")]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use decart::jwt::{
    CompactJws, KeyCache, KeySet, Lookup, Pool, VerifiedClientToken, VerifyError, VerifyOptions,
    decode_client_token,
};
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

const NOW: u64 = 1_750_000_000;
const PLATFORM: &str = "https://platform.decart.ai";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn options() -> VerifyOptions {
    VerifyOptions::new().fixed_time(now())
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn jwks(entries: &[(&str, &SigningKey)]) -> KeySet {
    let keys: Vec<Value> = entries
        .iter()
        .map(|(kid, sk)| {
            json!({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":kid,
                   "x": b64(&sk.verifying_key().to_bytes())})
        })
        .collect();
    KeySet::from_json(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

/// The platform's key set: kid `k1` → key 1.
fn platform() -> KeySet {
    jwks(&[("k1", &key(1))])
}

/// Signs raw header and payload JSON texts (so tests can write duplicate members).
fn sign_raw(header: &str, payload: &str, sk: &SigningKey) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = sk.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

const HEADER: &str = r#"{"alg":"EdDSA","kid":"k1","typ":"JWT"}"#;

fn sign(claims: &Value) -> String {
    sign_raw(HEADER, &claims.to_string(), &key(1))
}

/// The claims the platform puts in a client token.
fn claims() -> Value {
    json!({
        "sub": "user_123",
        "iss": PLATFORM,
        "aud": PLATFORM,
        "iat": NOW - 10,
        "exp": NOW + 600,
        "jti": "jti_abc",
        "organizationId": "org_9",
        "parent_api_key_id": "key_parent",
        "api_key_name": "gateway",
        "service_tier": 2,
        "models": ["lucy-2.1", "lucy-restyle-2"],
        "origins": ["https://example.com"],
        "constraints": {"realtime": {"maxSessionDuration": 120}},
        "realtimeConcurrentSessionLimit": 4,
        "zeroDataRetention": true,
        "attribution": {"team": "video", "project": "demo"}
    })
}

fn with(mut base: Value, patch: Value) -> Value {
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            base.as_object_mut().unwrap().remove(k);
        } else {
            base[k] = v.clone();
        }
    }
    base
}

fn verify(token: &str) -> Result<VerifiedClientToken, VerifyError> {
    platform().verify(token, &options())
}

fn segments(token: &str) -> Vec<&str> {
    token.split('.').collect()
}

/// No message or debug output may contain a whole segment of the token.
fn assert_no_leak(token: &str, e: &VerifyError) {
    let shown = format!("{e} / {e:?}");
    for seg in token.split('.') {
        if seg.len() >= 8 {
            assert!(!shown.contains(seg), "error leaks a token segment: {shown}");
        }
    }
    assert!(!shown.contains(token) || token.is_empty());
}

fn rejected(token: &str) -> VerifyError {
    let e = verify(token).unwrap_err();
    assert_no_leak(token, &e);
    e
}

fn malformed(token: &str) -> String {
    match rejected(token) {
        VerifyError::Malformed { reason } => reason,
        other => panic!("expected malformed, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The Python SDK's test_token_verify.py cases.

#[test]
fn valid_token_exposes_claims() {
    let t = verify(&sign(&claims())).unwrap();
    assert_eq!(t.user_id(), "user_123");
    assert_eq!(t.organization_id(), Some("org_9"));
    assert_eq!(t.api_key_id(), Some("key_parent"));
    assert_eq!(t.api_key_name(), Some("gateway"));
    assert_eq!(t.service_tier(), Some(2));
    assert_eq!(t.pool(), Pool::Paid);
    assert_eq!(
        t.allowed_models().unwrap(),
        ["lucy-2.1".to_owned(), "lucy-restyle-2".to_owned()]
    );
    assert!(t.allows_model("lucy-2.1"));
    assert!(!t.allows_model("lucy-2.5"));
    assert_eq!(
        t.allowed_origins().unwrap(),
        ["https://example.com".to_owned()]
    );
    assert!(t.allows_origin("https://example.com"));
    assert!(!t.allows_origin("https://example.com/"));
    assert!(!t.allows_origin("https://EXAMPLE.com"));
    assert!(!t.allows_origin("http://example.com"));
    assert_eq!(
        t.constraints().unwrap(),
        &json!({"realtime": {"maxSessionDuration": 120}})
    );
    assert_eq!(t.realtime_concurrent_session_limit(), Some(4));
    assert!(t.zero_data_retention());
    let attribution = t.attribution().unwrap();
    assert_eq!(attribution["team"], "video");
    assert_eq!(attribution["project"], "demo");
    assert_eq!(t.expires_at(), now() + Duration::from_secs(600));
    assert_eq!(t.issued_at(), Some(now() - Duration::from_secs(10)));
    assert_eq!(t.not_before(), None);
    assert_eq!(t.kid(), "k1");
    assert_eq!(t.claims()["jti"], "jti_abc");
    assert_eq!(t.claims().len(), claims().as_object().unwrap().len());
    // Debug shows claims, never the token.
    let token = sign(&claims());
    let dbg = format!("{t:?}");
    assert!(dbg.contains("user_123"));
    for seg in segments(&token) {
        assert!(!dbg.contains(seg));
    }
    let raw = t.clone().into_claims();
    assert_eq!(Value::Object(raw), claims());
}

#[test]
fn free_tier_and_fallbacks() {
    let c = json!({"sub": "u", "iss": PLATFORM, "aud": PLATFORM, "exp": NOW + 60,
                   "jti": "jti_only", "service_tier": 0});
    let t = verify(&sign(&c)).unwrap();
    assert_eq!(t.service_tier(), Some(0));
    assert_eq!(t.pool(), Pool::Free);
    assert_eq!(t.pool().as_str(), "free");
    assert_eq!(t.api_key_id(), Some("jti_only"));
    assert_eq!(t.organization_id(), None);
    assert_eq!(t.api_key_name(), None);
    assert_eq!(t.allowed_models(), None);
    assert!(t.allows_model("anything"));
    assert_eq!(t.allowed_origins(), None);
    assert!(t.allows_origin("https://any.where"));
    assert_eq!(t.constraints(), None);
    assert_eq!(t.realtime_concurrent_session_limit(), None);
    assert!(!t.zero_data_retention());
    assert_eq!(t.attribution(), None);
    assert_eq!(t.issued_at(), None);

    // No tier at all: paid pool. No key id at all: none.
    let c = json!({"sub": "u", "iss": PLATFORM, "aud": PLATFORM, "exp": NOW + 60});
    let t = verify(&sign(&c)).unwrap();
    assert_eq!(t.service_tier(), None);
    assert_eq!(t.pool(), Pool::Paid);
    assert_eq!(t.api_key_id(), None);
}

#[test]
fn tampered_signature() {
    let token = sign(&claims());
    let mut parts: Vec<String> = segments(&token).iter().map(|s| s.to_string()).collect();
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&parts[2])
        .unwrap();
    sig[10] ^= 0x01;
    parts[2] = b64(&sig);
    assert_eq!(rejected(&parts.join(".")), VerifyError::BadSignature);
    // A signature of the wrong length.
    parts[2] = b64(&sig[..63]);
    assert_eq!(rejected(&parts.join(".")), VerifyError::BadSignature);
    parts[2] = String::new();
    assert_eq!(rejected(&parts.join(".")), VerifyError::BadSignature);
}

#[test]
fn tampered_payload() {
    let token = sign(&with(claims(), json!({"service_tier": 0})));
    let parts = segments(&token);
    let forged = b64(with(claims(), json!({"service_tier": 3}))
        .to_string()
        .as_bytes());
    let forged_token = format!("{}.{}.{}", parts[0], forged, parts[2]);
    let e = rejected(&forged_token);
    assert_eq!(e, VerifyError::BadSignature);
    assert_eq!(e.code(), "TOKEN_INVALID");
    // The unverified decoder happily shows the forged tier: that is why it is untrusted.
    let untrusted = decode_client_token(&forged_token).unwrap();
    assert_eq!(untrusted.service_tier(), Some(3));
}

#[test]
fn another_key_with_the_same_kid() {
    let token = sign_raw(HEADER, &claims().to_string(), &key(2));
    assert_eq!(rejected(&token), VerifyError::BadSignature);
}

#[test]
fn expiry_around_the_leeway() {
    assert!(verify(&sign(&with(claims(), json!({"exp": NOW - 29})))).is_ok());
    let e = rejected(&sign(&with(claims(), json!({"exp": NOW - 31}))));
    assert_eq!(
        e,
        VerifyError::Expired {
            ago: Duration::from_secs(31)
        }
    );
    assert_eq!(e.to_string(), "token expired 31s ago");
    assert_eq!(e.code(), "TOKEN_EXPIRED");
    assert!(!e.is_retryable());
    // Exactly at the boundary it is expired (as PyJWT: exp <= now - leeway).
    assert!(matches!(
        rejected(&sign(&with(claims(), json!({"exp": NOW - 30})))),
        VerifyError::Expired { .. }
    ));
    // The same token with another clock or leeway.
    let token = sign(&with(claims(), json!({"exp": NOW - 31})));
    let keys = platform();
    assert!(
        keys.verify(&token, &options().leeway(Duration::from_secs(60)))
            .is_ok()
    );
    assert!(
        keys.verify(
            &token,
            &VerifyOptions::new().fixed_time(now() - Duration::from_secs(2))
        )
        .is_ok()
    );
    // With no leeway, one second past exp fails.
    let token = sign(&with(claims(), json!({"exp": NOW - 1})));
    assert!(matches!(
        keys.verify(&token, &options().leeway(Duration::ZERO)),
        Err(VerifyError::Expired { ago }) if ago == Duration::from_secs(1)
    ));
    // A fractional exp is a valid NumericDate.
    let token = sign(&with(claims(), json!({"exp": NOW as f64 + 0.5})));
    let t = verify(&token).unwrap();
    assert_eq!(t.expires_at(), now() + Duration::from_millis(500));
}

#[test]
fn wrong_issuer() {
    let e = rejected(&sign(&with(
        claims(),
        json!({"iss": "https://evil.example"}),
    )));
    assert_eq!(
        e,
        VerifyError::WrongIssuer {
            expected: PLATFORM.into(),
            found: "https://evil.example".into()
        }
    );
    assert_eq!(e.code(), "TOKEN_INVALID");
}

#[test]
fn wrong_audience() {
    let e = rejected(&sign(&with(
        claims(),
        json!({"aud": "https://other.example"}),
    )));
    assert_eq!(
        e,
        VerifyError::WrongAudience {
            expected: PLATFORM.into(),
            found: vec!["https://other.example".into()]
        }
    );
}

#[test]
fn missing_iss() {
    let e = rejected(&sign(&with(claims(), json!({"iss": null}))));
    assert_eq!(e, VerifyError::MissingClaim { name: "iss".into() });
    // Also when iss is not in the required list: an expected issuer needs one.
    let token = sign(&with(claims(), json!({"iss": null})));
    let e = platform()
        .verify(&token, &options().required_claims(["exp", "sub"]))
        .unwrap_err();
    assert_eq!(e, VerifyError::MissingClaim { name: "iss".into() });
}

#[test]
fn other_missing_claims() {
    for name in ["exp", "sub", "aud"] {
        let e = rejected(&sign(&with(claims(), json!({ name: null }))));
        assert_eq!(e, VerifyError::MissingClaim { name: name.into() });
    }
    // null counts as missing.
    let mut c = claims();
    c["sub"] = Value::Null;
    assert_eq!(
        rejected(&sign(&c)),
        VerifyError::MissingClaim { name: "sub".into() }
    );
}

#[test]
fn hs256_and_none_are_unsupported() {
    for alg in [
        "HS256", "none", "RS256", "ES256", "PS256", "eddsa", "ED25519", "",
    ] {
        let header = format!(r#"{{"alg":"{alg}","kid":"k1","typ":"JWT"}}"#);
        // Signed with the right Ed25519 key: the algorithm alone is the problem.
        let token = sign_raw(&header, &claims().to_string(), &key(1));
        let e = rejected(&token);
        assert_eq!(
            e,
            VerifyError::UnsupportedAlgorithm { alg: alg.into() },
            "{alg}"
        );
        // An unsecured token without a signature.
        let parts = segments(&token);
        let unsecured = format!("{}.{}.", parts[0], parts[1]);
        assert_eq!(
            rejected(&unsecured),
            VerifyError::UnsupportedAlgorithm { alg: alg.into() }
        );
    }
    // "Ed25519" (RFC 9864's fully specified name) is accepted as well as "EdDSA".
    let token = sign_raw(
        r#"{"alg":"Ed25519","kid":"k1"}"#,
        &claims().to_string(),
        &key(1),
    );
    assert!(verify(&token).is_ok());
    let e = rejected(&sign_raw(r#"{"kid":"k1"}"#, &claims().to_string(), &key(1)));
    assert!(matches!(e, VerifyError::Malformed { ref reason } if reason.contains("no alg")));
    let e = rejected(&sign_raw(
        r#"{"alg":7,"kid":"k1"}"#,
        &claims().to_string(),
        &key(1),
    ));
    assert!(matches!(e, VerifyError::Malformed { .. }));
}

#[test]
fn unknown_kid() {
    let token = sign_raw(
        r#"{"alg":"EdDSA","kid":"k-rotated"}"#,
        &claims().to_string(),
        &key(1),
    );
    let e = rejected(&token);
    assert_eq!(
        e,
        VerifyError::UnknownKid {
            kid: "k-rotated".into()
        }
    );
    // kid selection is an exact string match.
    for kid in ["K1", "k1 ", " k1", "k"] {
        let token = sign_raw(
            &format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#),
            &claims().to_string(),
            &key(1),
        );
        assert!(
            matches!(rejected(&token), VerifyError::UnknownKid { .. }),
            "{kid:?}"
        );
    }
    // A long kid is cut in the message.
    let long = "x".repeat(500);
    let token = sign_raw(
        &format!(r#"{{"alg":"EdDSA","kid":"{long}"}}"#),
        &claims().to_string(),
        &key(1),
    );
    assert!(rejected(&token).to_string().len() < 200);
}

#[test]
fn missing_kid() {
    let token = sign_raw(r#"{"alg":"EdDSA"}"#, &claims().to_string(), &key(1));
    assert_eq!(rejected(&token), VerifyError::MissingKid);
    let token = sign_raw(r#"{"alg":"EdDSA","kid":1}"#, &claims().to_string(), &key(1));
    assert!(matches!(rejected(&token), VerifyError::Malformed { .. }));
}

#[test]
fn malformed_tokens() {
    let good = sign(&claims());
    let p = segments(&good);
    assert!(malformed("").contains("empty"));
    assert!(malformed("abc").contains("found 1"));
    assert!(malformed(p[0]).contains("found 1"));
    assert!(malformed(&format!("{}.{}", p[0], p[1])).contains("found 2"));
    assert!(malformed(&format!("{good}.{}", p[2])).contains("found 4"));
    assert!(malformed(&format!("{good}.")).contains("found 4"));
    assert!(malformed("..").starts_with("header"));
    // Not base64url.
    assert!(malformed(&format!("{}.{}.{}", "%%%", p[1], p[2])).contains("base64url"));
    assert!(malformed(&format!("{}.{}.{}", p[0], "!!", p[2])).contains("base64url"));
    // Not JSON.
    let not_json = b64(b"not json");
    assert!(malformed(&format!("{not_json}.{}.{}", p[1], p[2])).starts_with("header"));
    let token = sign_raw(HEADER, "not json", &key(1));
    assert!(malformed(&token).starts_with("payload"));
    // JSON but not an object.
    let token = sign_raw(HEADER, "[1,2]", &key(1));
    assert!(malformed(&token).starts_with("payload"));
    let e = rejected(&format!("{}.{}.{}", b64(b"\"x\""), p[1], p[2]));
    assert_eq!(e.code(), "TOKEN_INVALID");
    // Non-ASCII.
    assert!(malformed(&format!("{}é.{}.{}", p[0], p[1], p[2])).contains("base64url"));
}

#[test]
fn decode_is_unverified() {
    // Signed by a key nobody knows, expired, wrong issuer: decoding does not care.
    let c = with(
        claims(),
        json!({"exp": 1, "iss": "https://evil.example", "service_tier": "1"}),
    );
    let token = sign_raw(r#"{"alg":"EdDSA","kid":"nobody"}"#, &c.to_string(), &key(9));
    let u = decode_client_token(&token).unwrap();
    assert_eq!(u.user_id(), Some("user_123"));
    assert_eq!(u.kid(), Some("nobody"));
    assert_eq!(u.alg(), Some("EdDSA"));
    assert_eq!(u.service_tier(), Some(1));
    assert_eq!(u.pool(), Pool::Paid);
    assert_eq!(u.organization_id(), Some("org_9"));
    assert_eq!(u.api_key_id(), Some("key_parent"));
    assert_eq!(u.api_key_name(), Some("gateway"));
    assert!(u.allows_model("lucy-2.1"));
    assert!(!u.allows_model("x"));
    assert!(u.allows_origin("https://example.com"));
    assert!(u.zero_data_retention());
    assert_eq!(u.realtime_concurrent_session_limit(), Some(4));
    assert!(u.constraints().is_some());
    assert_eq!(u.attribution().unwrap()["team"], "video");
    assert_eq!(u.expires_at(), Some(UNIX_EPOCH + Duration::from_secs(1)));
    assert_eq!(u.issued_at(), Some(now() - Duration::from_secs(10)));
    assert_eq!(u.not_before(), None);
    assert_eq!(u.claims()["iss"], "https://evil.example");
    // Wrong types read as absent instead of failing.
    let token =
        sign(&json!({"sub": 5, "exp": "soon", "models": "all", "zeroDataRetention": "yes"}));
    let u = decode_client_token(&token).unwrap();
    assert_eq!(u.user_id(), None);
    assert_eq!(u.expires_at(), None);
    assert_eq!(u.allowed_models(), None);
    assert!(!u.zero_data_retention());
    assert_eq!(u.kid(), Some("k1"));
    // Debug never shows the token.
    let dbg = format!("{u:?}");
    for seg in segments(&token) {
        assert!(!dbg.contains(seg));
    }
    assert_eq!(u.into_claims()["exp"], "soon");
}

#[test]
fn decode_rejects_malformed_tokens() {
    let good = sign(&claims());
    let p = segments(&good);
    let cases = [
        String::new(),
        "abc".to_owned(),
        format!("{}.{}", p[0], p[1]),
        format!("{good}.{}", p[2]),
        format!("{}.{}.{}", "%%%", p[1], p[2]),
        format!("{}.{}.{}", p[0], "%%%", p[2]),
        format!("{}.{}.{}", p[0], p[1], "%%%"),
        format!("{}.{}.{}", b64(b"nope"), p[1], p[2]),
        format!("{}.{}.{}", p[0], b64(b"nope"), p[2]),
        format!("{}.{}.{}", p[0], b64(b"[]"), p[2]),
        format!("{}.{}.{}", p[0], b64(br#"{"a":1,"a":2}"#), p[2]),
        format!("{}=.{}.{}", p[0], p[1], p[2]),
        format!("{}.{}.{}", p[0], "e".repeat(9000), p[2]),
    ];
    for token in &cases {
        let e = decode_client_token(token).unwrap_err();
        assert!(matches!(e, VerifyError::DecodeFailed { .. }), "{e:?}");
        assert_eq!(e.code(), "TOKEN_DECODE_ERROR");
        assert!(!e.is_retryable());
        assert_no_leak(token, &e);
    }
}

#[test]
fn service_tier_table() {
    let cases: Vec<(Value, Option<u8>)> = vec![
        (json!(0), Some(0)),
        (json!(1), Some(1)),
        (json!(2), Some(2)),
        (json!(3), Some(3)),
        (json!("2"), Some(2)),
        (json!(4), None),
        (json!(-1), None),
        (json!(true), None),
        (json!("abc"), None),
        // A JSON fraction is not an integer: no tier (as the Python SDK, where 2.0 is a float).
        (json!(2.0), None),
    ];
    for (tier, want) in cases {
        let t = verify(&sign(&with(
            claims(),
            json!({ "service_tier": tier.clone() }),
        )))
        .unwrap();
        assert_eq!(t.service_tier(), want, "{tier}");
        assert_eq!(
            t.pool(),
            if want == Some(0) {
                Pool::Free
            } else {
                Pool::Paid
            },
            "{tier}"
        );
        let u = decode_client_token(&sign(&with(
            claims(),
            json!({ "service_tier": tier.clone() }),
        )))
        .unwrap();
        assert_eq!(u.service_tier(), want, "{tier}");
    }
    // priority: true with no tier → 3; an explicit valid tier wins.
    let c = with(claims(), json!({"service_tier": null, "priority": true}));
    assert_eq!(verify(&sign(&c)).unwrap().service_tier(), Some(3));
    let c = with(claims(), json!({"service_tier": 1, "priority": true}));
    assert_eq!(verify(&sign(&c)).unwrap().service_tier(), Some(1));
    let c = with(claims(), json!({"service_tier": null, "priority": false}));
    assert_eq!(verify(&sign(&c)).unwrap().service_tier(), None);
}

// ---------------------------------------------------------------------------------------------
// The verifier's own rules.

/// A token whose chosen segment contains `-` or `_`, found by varying `jti`.
fn token_with_urlsafe_chars(segment: usize) -> String {
    for i in 0.. {
        let token = sign(&with(
            claims(),
            json!({"jti": format!("j{i}"), "x": "\u{fbff}~~"}),
        ));
        if segments(&token)[segment].contains(['-', '_']) {
            return token;
        }
    }
    unreachable!()
}

#[test]
fn standard_alphabet_is_rejected() {
    for segment in [1, 2] {
        let token = token_with_urlsafe_chars(segment);
        assert!(verify(&token).is_ok());
        let mut parts: Vec<String> = segments(&token).iter().map(|s| s.to_string()).collect();
        parts[segment] = parts[segment].replace('-', "+").replace('_', "/");
        let reason = malformed(&parts.join("."));
        assert!(reason.contains("'+' and '/'"), "{reason}");
    }
}

#[test]
fn padding_is_rejected() {
    // Pick claims whose payload length needs padding.
    for pad in 0..3 {
        let c = with(claims(), json!({"p": "x".repeat(pad)}));
        let token = sign(&c);
        let parts = segments(&token);
        if parts[1].len() % 4 == 0 {
            continue;
        }
        let padded = format!(
            "{}.{}{}.{}",
            parts[0],
            parts[1],
            "=".repeat(4 - parts[1].len() % 4),
            parts[2]
        );
        assert!(malformed(&padded).contains("padding"));
    }
    // Signature: 64 bytes are 86 characters, padded to 88.
    let token = sign(&claims());
    assert!(malformed(&format!("{token}==")).contains("padding"));
    let parts = segments(&token);
    assert!(malformed(&format!("{}=.{}.{}", parts[0], parts[1], parts[2])).contains("base64url"));
}

#[test]
fn whitespace_is_rejected() {
    let token = sign(&claims());
    let p = segments(&token);
    for t in [
        format!(" {token}"),
        format!("{token} "),
        format!("{token}\n"),
        format!("{}.{}\n.{}", p[0], p[1], p[2]),
        format!("{}.{} {}.{}", p[0], &p[1][..4], &p[1][4..], p[2]),
        format!("{}.{}.{}\t{}", p[0], p[1], &p[2][..40], &p[2][40..]),
    ] {
        let reason = malformed(&t);
        assert!(
            reason.contains("whitespace") || reason.contains("base64url"),
            "{reason}"
        );
    }
}

#[test]
fn non_canonical_trailing_bits_are_rejected() {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let flip_last = |seg: &str| {
        let mut bytes = seg.as_bytes().to_vec();
        let last = bytes.last_mut().unwrap();
        let index = ALPHABET.iter().position(|c| c == last).unwrap();
        *last = ALPHABET[index ^ 1];
        String::from_utf8(bytes).unwrap()
    };
    let token = sign(&claims());
    let p = segments(&token);
    // The signature's last character carries 4 unused bits.
    let t = format!("{}.{}.{}", p[0], p[1], flip_last(p[2]));
    assert!(malformed(&t).contains("trailing bits"));
    // A payload whose length is not a multiple of 3 has unused bits too.
    for pad in 0..3 {
        let token = sign(&with(claims(), json!({"p": "x".repeat(pad)})));
        let p = segments(&token);
        if p[1].len() % 4 == 0 {
            continue;
        }
        let t = format!("{}.{}.{}", p[0], flip_last(p[1]), p[2]);
        assert!(malformed(&t).contains("trailing bits"));
    }
}

#[test]
fn duplicate_members_are_rejected() {
    let payload = claims().to_string();
    let token = sign_raw(
        r#"{"alg":"EdDSA","kid":"k1","kid":"k1"}"#,
        &payload,
        &key(1),
    );
    assert!(malformed(&token).contains("duplicate JSON member \"kid\""));
    let token = sign_raw(
        r#"{"alg":"none","kid":"k1","alg":"EdDSA"}"#,
        &payload,
        &key(1),
    );
    assert!(malformed(&token).contains("duplicate JSON member \"alg\""));
    let token = sign_raw(
        r#"{"alg":"EdDSA","kid":"k1","typ":"JWT","typ":"x"}"#,
        &payload,
        &key(1),
    );
    assert!(malformed(&token).contains("duplicate"));
    // Payload: a second sub would silently win with a plain parser.
    let dup = payload.replacen('{', r#"{"sub":"admin","#, 1);
    let token = sign_raw(HEADER, &dup, &key(1));
    assert!(malformed(&token).contains("duplicate JSON member \"sub\""));
    // Nested too.
    let nested = payload.replacen(r#""constraints":{"#, r#""constraints":{"realtime":{},"#, 1);
    assert_ne!(nested, payload);
    let token = sign_raw(HEADER, &nested, &key(1));
    assert!(malformed(&token).contains("duplicate"));
}

#[test]
fn crit_header_is_rejected() {
    for crit in [r#"["exp"]"#, "[]", r#""b64""#] {
        let header = format!(r#"{{"alg":"EdDSA","kid":"k1","crit":{crit}}}"#);
        let token = sign_raw(&header, &claims().to_string(), &key(1));
        assert_eq!(rejected(&token), VerifyError::CritHeader);
    }
}

#[test]
fn embedded_keys_in_the_header_are_ignored() {
    // The attacker signs with its own key and points at it in every way: the kid's key from
    // the key set is used anyway.
    let attacker = key(7);
    let x = b64(&attacker.verifying_key().to_bytes());
    let header = format!(
        r#"{{"alg":"EdDSA","kid":"k1","jwk":{{"kty":"OKP","crv":"Ed25519","x":"{x}"}},"jku":"https://evil.example/jwks","x5u":"https://evil.example/x5u","x5c":["MIIB"]}}"#
    );
    let token = sign_raw(&header, &claims().to_string(), &attacker);
    assert_eq!(rejected(&token), VerifyError::BadSignature);
    // The same header members, signed by the real key, are simply ignored.
    let token = sign_raw(&header, &claims().to_string(), &key(1));
    assert!(verify(&token).is_ok());
}

#[test]
fn numeric_dates_must_be_numbers() {
    for (name, value) in [
        ("exp", json!((NOW + 600).to_string())),
        ("exp", json!(true)),
        ("exp", json!([NOW + 600])),
        ("nbf", json!("0")),
        ("iat", json!({"t": 0})),
    ] {
        let e = rejected(&sign(&with(claims(), json!({ name: value }))));
        assert!(
            matches!(e, VerifyError::InvalidClaim { name: ref n, .. } if n == name),
            "{name}: {e:?}"
        );
        assert_eq!(e.code(), "TOKEN_INVALID");
    }
    let e = rejected(&sign(&with(claims(), json!({"exp": 1e300}))));
    assert!(matches!(e, VerifyError::InvalidClaim { ref reason, .. } if reason.contains("range")));
}

#[test]
fn not_before_and_issued_at() {
    // nbf within the leeway passes, beyond it fails.
    assert!(verify(&sign(&with(claims(), json!({"nbf": NOW + 29})))).is_ok());
    assert_eq!(
        rejected(&sign(&with(claims(), json!({"nbf": NOW + 31})))),
        VerifyError::NotYetValid {
            valid_in: Duration::from_secs(31)
        }
    );
    let t = verify(&sign(&with(claims(), json!({"nbf": NOW - 5})))).unwrap();
    assert_eq!(t.not_before(), Some(now() - Duration::from_secs(5)));
    // iat in the future beyond the leeway.
    assert!(verify(&sign(&with(claims(), json!({"iat": NOW + 29})))).is_ok());
    let e = rejected(&sign(&with(claims(), json!({"iat": NOW + 3600}))));
    assert_eq!(
        e,
        VerifyError::IssuedInFuture {
            ahead: Duration::from_secs(3600)
        }
    );
    assert!(e.to_string().contains("3600s"));
}

#[test]
fn audience_arrays() {
    let ok = [
        json!([PLATFORM]),
        json!(["https://other.example", PLATFORM]),
    ];
    for aud in ok {
        assert!(verify(&sign(&with(claims(), json!({ "aud": aud })))).is_ok());
    }
    let e = rejected(&sign(&with(claims(), json!({"aud": ["a", "b"]}))));
    assert_eq!(
        e,
        VerifyError::WrongAudience {
            expected: PLATFORM.into(),
            found: vec!["a".into(), "b".into()]
        }
    );
    assert!(matches!(
        rejected(&sign(&with(claims(), json!({"aud": []})))),
        VerifyError::WrongAudience { .. }
    ));
    for bad in [json!([PLATFORM, 1]), json!(7), json!({"aud": PLATFORM})] {
        let e = rejected(&sign(&with(claims(), json!({ "aud": bad }))));
        assert!(
            matches!(e, VerifyError::InvalidClaim { ref name, .. } if name == "aud"),
            "{e:?}"
        );
    }
    // Case matters.
    assert!(matches!(
        rejected(&sign(&with(
            claims(),
            json!({"aud": PLATFORM.to_uppercase()})
        ))),
        VerifyError::WrongAudience { .. }
    ));
}

#[test]
fn claim_types_are_enforced_for_verified_tokens() {
    for (name, value) in [
        ("models", json!("lucy-2.1")),
        ("origins", json!([1])),
        ("zeroDataRetention", json!("false")),
        ("realtimeConcurrentSessionLimit", json!(-1)),
        ("attribution", json!({"a": 1})),
        ("organizationId", json!(7)),
        ("sub", json!(7)),
        ("iss", json!(7)),
    ] {
        let e = rejected(&sign(&with(claims(), json!({ name: value }))));
        assert!(
            matches!(e, VerifyError::InvalidClaim { name: ref n, .. } if n == name),
            "{name}: {e:?}"
        );
    }
}

#[test]
fn oversize_token_is_rejected_before_decoding() {
    // A validly signed token just under the limit passes; over it, it is rejected unread.
    let base_len = sign(&with(claims(), json!({"pad": ""}))).len();
    let room = (decart::jwt::MAX_TOKEN_BYTES - base_len) * 3 / 4;
    let fits = sign(&with(claims(), json!({"pad": "p".repeat(room)})));
    assert!(fits.len() <= decart::jwt::MAX_TOKEN_BYTES);
    assert!(verify(&fits).is_ok());
    let over = sign(&with(claims(), json!({"pad": "p".repeat(room + 8)})));
    assert!(over.len() > decart::jwt::MAX_TOKEN_BYTES);
    assert!(malformed(&over).contains("longer than 8192 bytes"));
    // Garbage of that size is rejected by length, not by content.
    assert!(malformed(&"\u{0}".repeat(9000)).contains("longer"));
}

#[test]
fn signature_is_checked_before_claims() {
    // Expired, wrong issuer and audience, missing sub — and signed by the wrong key.
    let c = json!({"exp": 1, "iss": "x", "aud": "y"});
    let token = sign_raw(HEADER, &c.to_string(), &key(2));
    assert_eq!(rejected(&token), VerifyError::BadSignature);
    // A garbage payload with a bad signature is also a bad signature, not a JSON error.
    let token = sign_raw(HEADER, "not json", &key(2));
    assert_eq!(rejected(&token), VerifyError::BadSignature);
}

#[test]
fn policy_overrides() {
    let staging = "https://staging.example";
    let c = with(claims(), json!({"iss": staging, "aud": [staging]}));
    let token = sign(&c);
    assert!(matches!(rejected(&token), VerifyError::WrongIssuer { .. }));
    let keys = platform();
    let o = options().issuer(staging).audience(staging);
    assert!(keys.verify(&token, &o).is_ok());
    let o = options().any_issuer().any_audience();
    assert!(keys.verify(&token, &o).is_ok());
    // Without an expected audience and with aud not required, a token without aud passes.
    let token = sign(&with(claims(), json!({"aud": null})));
    let o = options()
        .any_audience()
        .required_claims(["exp", "sub", "iss"]);
    assert!(keys.verify(&token, &o).is_ok());
    // Extra required claims.
    let o = options().required_claims(["exp", "sub", "iss", "aud", "organizationId", "nbf"]);
    assert_eq!(
        keys.verify(&sign(&claims()), &o).unwrap_err(),
        VerifyError::MissingClaim { name: "nbf".into() }
    );
    // A clock closure.
    let o = VerifyOptions::new().clock(|| UNIX_EPOCH + Duration::from_secs(NOW + 10_000));
    assert!(matches!(
        keys.verify(&sign(&claims()), &o),
        Err(VerifyError::Expired { .. })
    ));
    // The real clock: NOW is in the past, so this token is long expired.
    assert!(matches!(
        keys.verify(&sign(&claims()), &VerifyOptions::new()),
        Err(VerifyError::Expired { .. })
    ));
}

#[test]
fn verify_with_own_claims_type() {
    #[derive(serde::Deserialize, Debug)]
    struct Mine {
        sub: String,
        service_tier: u8,
        #[serde(rename = "organizationId")]
        org: String,
    }
    let keys = platform();
    let v = keys
        .verify_with::<Mine>(&sign(&claims()), &options())
        .unwrap();
    assert_eq!(v.claims().sub, "user_123");
    assert_eq!(v.claims().service_tier, 2);
    assert_eq!(v.kid(), "k1");
    assert_eq!(v.expires_at(), Some(now() + Duration::from_secs(600)));
    assert_eq!(v.issued_at(), Some(now() - Duration::from_secs(10)));
    assert_eq!(v.not_before(), None);
    assert_eq!(v.into_claims().org, "org_9");
    // Same registered checks.
    let e = keys
        .verify_with::<Mine>(
            &sign(&with(claims(), json!({"exp": NOW - 100}))),
            &options(),
        )
        .unwrap_err();
    assert!(matches!(e, VerifyError::Expired { .. }));
    let e = keys
        .verify_with::<Mine>(
            &sign_raw(HEADER, &claims().to_string(), &key(3)),
            &options(),
        )
        .unwrap_err();
    assert_eq!(e, VerifyError::BadSignature);
    // A claims type that does not fit.
    let e = keys
        .verify_with::<Mine>(
            &sign(&with(claims(), json!({"service_tier": "two"}))),
            &options(),
        )
        .unwrap_err();
    assert!(
        matches!(e, VerifyError::InvalidClaim { ref name, .. } if name == "claims"),
        "{e:?}"
    );
    // Generic claims without Decart's rules: a raw map, no sub required when not listed.
    let token = sign(&json!({"exp": NOW + 5, "iss": PLATFORM, "aud": PLATFORM, "models": "x"}));
    let o = options().required_claims(["exp"]);
    let v = keys
        .verify_with::<serde_json::Map<String, Value>>(&token, &o)
        .unwrap();
    assert_eq!(v.claims()["models"], "x");
    // verify (the client-token view) still needs sub.
    assert_eq!(
        keys.verify(&token, &o).unwrap_err(),
        VerifyError::MissingClaim { name: "sub".into() }
    );
}

#[test]
fn two_phase_verification_with_a_key_cache() {
    let token = sign(&claims());
    let jws = CompactJws::parse(&token).unwrap();
    assert_eq!(jws.kid(), "k1");
    assert_eq!(jws.alg(), "EdDSA");
    let dbg = format!("{jws:?}");
    for seg in segments(&token) {
        assert!(!dbg.contains(seg));
    }
    let mut cache = KeyCache::new();
    let t0 = std::time::Instant::now();
    assert!(matches!(
        cache.lookup("k1", t0),
        Lookup::Empty { may_fetch: true }
    ));
    cache.record_success(platform(), None, t0);
    let Lookup::Fresh(key1) = cache.lookup(jws.kid(), t0) else {
        panic!("expected a fresh key")
    };
    assert_eq!(jws.verify(&key1, &options()).unwrap().user_id(), "user_123");
    assert!(cache.peek("k1", t0).is_some());
    // A key with another kid is refused even before the signature.
    let other = jwks(&[("k2", &key(1))]);
    assert_eq!(
        jws.verify(other.get("k2").unwrap(), &options())
            .unwrap_err(),
        VerifyError::UnknownKid { kid: "k1".into() }
    );
    // A pinned key without kid is accepted for any kid.
    let pinned =
        decart::jwt::Jwk::from_public_key_bytes(None, &key(1).verifying_key().to_bytes()).unwrap();
    assert!(jws.verify(&pinned, &options()).is_ok());
}

#[test]
fn errors_never_contain_the_token() {
    let good = sign(&claims());
    let p = segments(&good);
    let tokens = vec![
        sign(&with(claims(), json!({"exp": NOW - 100}))),
        sign_raw(HEADER, &claims().to_string(), &key(2)),
        sign_raw(
            r#"{"alg":"HS256","kid":"k1"}"#,
            &claims().to_string(),
            &key(1),
        ),
        sign_raw(
            r#"{"alg":"EdDSA","kid":"zz"}"#,
            &claims().to_string(),
            &key(1),
        ),
        sign(&with(claims(), json!({"iss": p[1]}))),
        sign(&with(claims(), json!({"aud": [p[0], p[1]]}))),
        format!("{good}.{}", p[1]),
        format!("{}.{}=.{}", p[0], p[1], p[2]),
        format!("{}.{}.{}", p[0], p[1], &p[2][1..]),
        // Header values crafted to repeat the payload segment.
        sign_raw(
            &format!(r#"{{"alg":"EdDSA","kid":"{}"}}"#, p[1]),
            &claims().to_string(),
            &key(1),
        ),
        sign_raw(
            &format!(r#"{{"alg":"{}","kid":"k1"}}"#, p[1]),
            &claims().to_string(),
            &key(1),
        ),
        sign_raw(
            &format!(r#"{{"alg":"EdDSA","kid":"{0}","{0}":1,"{0}":2}}"#, p[1]),
            &claims().to_string(),
            &key(1),
        ),
        // A duplicate member named like the header segment.
        sign_raw(HEADER, &format!(r#"{{"{0}":1,"{0}":2}}"#, p[0]), &key(1)),
        sign_raw(HEADER, &format!(r#"{{"{0}":1,"{0}":2}}"#, p[0]), &key(2)),
    ];
    for token in tokens {
        let e = verify(&token).unwrap_err();
        assert_no_leak(&token, &e);
        if let Ok(jws) = CompactJws::parse(&token) {
            assert_no_leak(&token, &jws.unknown_kid());
        }
        if let Err(e) = decode_client_token(&token) {
            assert_no_leak(&token, &e);
        }
    }
}

#[test]
fn public_types_are_thread_safe() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<KeySet>();
    assert_send_sync::<KeyCache>();
    assert_send_sync::<VerifyOptions>();
    assert_send_sync::<VerifiedClientToken>();
    assert_send_sync::<decart::jwt::UntrustedClientToken>();
    assert_send_sync::<VerifyError>();
    // One key set and one policy shared by threads.
    let keys = std::sync::Arc::new(platform());
    let o = options();
    let token = sign(&claims());
    std::thread::scope(|s| {
        for _ in 0..2 {
            let keys = keys.clone();
            let o = o.clone();
            let token = &token;
            s.spawn(move || {
                for _ in 0..20 {
                    assert!(keys.verify(token, &o).is_ok());
                }
            });
        }
    });
}
