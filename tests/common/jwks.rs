//! Client-token verification against a loopback JWKS, written once for both flavours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use decart::Error;
use decart::jwt::{Pool, VerifyError};
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use super::common::{FakeClock, KEY};
use super::{Client, JwksVerifier, assert_mock, concurrent_verify, create, maybe_async, server};

const ISS: &str = "https://platform.decart.ai";

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn sign(sk: &SigningKey, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "EdDSA", "kid": kid, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let sig = sk.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig.to_bytes()))
}

fn claims() -> Value {
    json!({
        "sub": "user_1",
        "iss": ISS,
        "aud": ISS,
        "exp": now() + 600,
        "iat": now(),
        "organizationId": "org_1",
        "jti": "key_1",
        "service_tier": 2,
        "models": ["lucy-2.1"],
    })
}

pub fn jwks(keys: &[(&str, &SigningKey)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, sk)| {
            json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                   "x": B64.encode(sk.verifying_key().to_bytes())})
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

fn verifier(url: &str, clock: &FakeClock) -> JwksVerifier {
    let clock = clock.clone();
    JwksVerifier::builder()
        .jwks_url(url)
        .cache_clock(move || clock.now())
        .build()
        .unwrap()
}

fn jwks_mock(server: &mut mockito::Server, body: String, hits: usize) -> mockito::Mock {
    server
        .mock("GET", "/api/auth/jwks")
        .match_header("x-api-key", mockito::Matcher::Missing)
        .with_status(200)
        .with_header("content-type", "application/json")
        .with_body(body)
        .expect(hits)
}

#[maybe_async]
pub async fn client_verify_exposes_claims_and_caches_keys() {
    let mut server = server().await;
    let sk = key(1);
    let mock = create(jwks_mock(&mut server, jwks(&[("k1", &sk)]), 1)).await;
    let client = Client::builder()
        .api_key(KEY)
        .base_url(server.url())
        .jwks_url(format!("{}/api/auth/jwks", server.url()))
        .build()
        .unwrap();
    let token = sign(&sk, "k1", &claims());
    let verified = client.tokens().verify(&token).await.unwrap();
    assert_eq!(verified.user_id(), "user_1");
    assert_eq!(verified.organization_id(), Some("org_1"));
    assert_eq!(verified.service_tier(), Some(2));
    assert_eq!(verified.pool(), Pool::Paid);
    assert!(verified.allows_model("lucy-2.1"));
    assert!(!verified.allows_model("lucy-image-2"));
    // The second verification (and a clone's) comes from the cache.
    let again = client.clone().tokens().verify(&token).await;
    assert!(again.is_ok());
    assert_mock(&mock).await;
    let shown = format!("{verified:?}");
    assert!(!shown.contains(&token[token.len() - 20..]), "{shown}");
}

#[maybe_async]
pub async fn bad_tokens_are_rejected_with_codes() {
    let mut server = server().await;
    let sk = key(2);
    let _mock = create(jwks_mock(&mut server, jwks(&[("k1", &sk)]), 1)).await;
    let v = verifier(
        &format!("{}/api/auth/jwks", server.url()),
        &FakeClock::new(),
    );
    let mut expired = claims();
    expired["exp"] = json!(now() - 120);
    let err = v.verify(&sign(&sk, "k1", &expired)).await.unwrap_err();
    assert_eq!(err.code(), "TOKEN_EXPIRED");
    let forged = sign(&key(3), "k1", &claims());
    let err = v.verify(&forged).await.unwrap_err();
    assert!(
        matches!(err, Error::Token(VerifyError::BadSignature)),
        "{err:?}"
    );
    assert_eq!(err.code(), "TOKEN_INVALID");
    let err = v.verify("not.a.token").await.unwrap_err();
    assert_eq!(err.code(), "TOKEN_INVALID");
    assert!(!err.to_string().contains("not.a.token"));
}

#[maybe_async]
pub async fn unknown_kids_refetch_once_per_cooldown() {
    let mut server = server().await;
    let sk = key(4);
    let mock = create(jwks_mock(&mut server, jwks(&[("k1", &sk)]), 2)).await;
    let clock = FakeClock::new();
    let v = verifier(&format!("{}/api/auth/jwks", server.url()), &clock);
    let ok = v.verify(&sign(&sk, "k1", &claims())).await;
    assert!(ok.is_ok());
    assert_eq!(v.fetch_count(), 1);
    // Within the cooldown of that fetch, unknown kids cost nothing upstream.
    let r = v.verify(&sign(&sk, "nope", &claims())).await;
    assert!(matches!(
        r,
        Err(Error::Token(VerifyError::UnknownKid { .. }))
    ));
    assert_eq!(v.fetch_count(), 1);
    // After the cooldown, a flood of 1000 random kids costs one fetch.
    clock.advance(Duration::from_secs(31));
    for i in 0..1000 {
        let token = sign(&sk, &format!("random-{i}-{}", i * 7919), &claims());
        let r = v.verify(&token).await;
        assert!(
            matches!(r, Err(Error::Token(VerifyError::UnknownKid { .. }))),
            "{r:?}"
        );
    }
    assert_eq!(v.fetch_count(), 2);
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn rotated_key_is_fetched_on_unknown_kid() {
    let mut server = server().await;
    let (old, new) = (key(5), key(6));
    let first = create(jwks_mock(&mut server, jwks(&[("old", &old)]), 1)).await;
    let second = create(jwks_mock(
        &mut server,
        jwks(&[("old", &old), ("new", &new)]),
        1,
    ))
    .await;
    let clock = FakeClock::new();
    let v = verifier(&format!("{}/api/auth/jwks", server.url()), &clock);
    let first_ok = v.verify(&sign(&old, "old", &claims())).await;
    assert!(first_ok.is_ok());
    clock.advance(Duration::from_secs(31));
    let rotated = v.verify(&sign(&new, "new", &claims())).await;
    assert!(rotated.is_ok(), "{rotated:?}");
    assert_eq!(v.fetch_count(), 2);
    assert_mock(&first).await;
    assert_mock(&second).await;
}

/// A key rotated out of the JWKS (perhaps revoked) is refused by the very call whose refresh
/// finds it gone, not only by later ones.
#[maybe_async]
pub async fn a_key_dropped_from_the_jwks_is_refused_at_the_refresh() {
    let mut server = server().await;
    let (old, new) = (key(11), key(12));
    let first = create(jwks_mock(&mut server, jwks(&[("old", &old)]), 1)).await;
    let second = create(jwks_mock(&mut server, jwks(&[("new", &new)]), 1)).await;
    let clock = FakeClock::new();
    let v = verifier(&format!("{}/api/auth/jwks", server.url()), &clock);
    let token = sign(&old, "old", &claims());
    let warm = v.verify(&token).await;
    assert!(warm.is_ok(), "{warm:?}");
    // Past the default 10-minute freshness: the next verification refreshes, and the fresh
    // set no longer lists "old".
    clock.advance(Duration::from_secs(11 * 60));
    let err = v.verify(&token).await.unwrap_err();
    assert!(
        matches!(err, Error::Token(VerifyError::UnknownKid { .. })),
        "{err:?}"
    );
    assert_eq!(v.fetch_count(), 2);
    let again = v.verify(&token).await;
    assert!(again.is_err());
    let fresh = v.verify(&sign(&new, "new", &claims())).await;
    assert!(fresh.is_ok(), "{fresh:?}");
    assert_eq!(v.fetch_count(), 2);
    assert_mock(&first).await;
    assert_mock(&second).await;
}

#[maybe_async]
pub async fn concurrent_cold_verifications_share_one_fetch() {
    let mut server = server().await;
    let sk = key(7);
    let mock = create(jwks_mock(&mut server, jwks(&[("k1", &sk)]), 1)).await;
    let v = verifier(
        &format!("{}/api/auth/jwks", server.url()),
        &FakeClock::new(),
    );
    let token = sign(&sk, "k1", &claims());
    let results = concurrent_verify(&v, &token, 50).await;
    assert_eq!(results.len(), 50);
    assert!(results.iter().all(|ok| *ok));
    assert_eq!(v.fetch_count(), 1);
    assert_mock(&mock).await;
}

#[maybe_async]
pub async fn known_kids_verify_while_the_endpoint_is_down() {
    let mut server = server().await;
    let sk = key(8);
    let mock = create(jwks_mock(&mut server, jwks(&[("k1", &sk)]), 1)).await;
    let clock = FakeClock::new();
    let v = verifier(&format!("{}/api/auth/jwks", server.url()), &clock);
    let token = sign(&sk, "k1", &claims());
    let warm = v.verify(&token).await;
    assert!(warm.is_ok());
    assert_mock(&mock).await;
    // The endpoint goes away (mockito answers 501 to unmatched requests).
    server.reset();
    let _down = create(server.mock("GET", "/api/auth/jwks").with_status(503)).await;
    clock.advance(Duration::from_secs(11 * 60));
    let stale = v.verify(&token).await;
    assert!(stale.is_ok(), "{stale:?}");
    assert_eq!(v.fetch_count(), 2);
    // Unknown kids are still rejected, and the refresh backoff holds.
    let r = v.verify(&sign(&sk, "other", &claims())).await;
    assert!(r.is_err());
}

#[maybe_async]
pub async fn unreachable_jwks_fails_clearly() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let v = verifier(&format!("http://127.0.0.1:{port}/jwks"), &FakeClock::new());
    let err = v.verify(&sign(&key(9), "k1", &claims())).await.unwrap_err();
    assert!(
        matches!(err, Error::Token(VerifyError::JwksUnreachable { .. })),
        "{err:?}"
    );
    assert_eq!(err.code(), "TOKEN_VERIFY_ERROR");
    assert!(err.is_retryable());
}

#[maybe_async]
pub async fn redirects_are_not_followed() {
    let mut server = server().await;
    let mock = create(
        server
            .mock("GET", "/api/auth/jwks")
            .with_status(302)
            .with_header("location", "https://evil.example/jwks")
            .expect(1),
    )
    .await;
    let v = verifier(
        &format!("{}/api/auth/jwks", server.url()),
        &FakeClock::new(),
    );
    let err = v
        .verify(&sign(&key(10), "k1", &claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Token(VerifyError::JwksUnreachable { .. })),
        "{err:?}"
    );
    assert_mock(&mock).await;
}

pub fn jwks_url_must_be_https_or_loopback() {
    for bad in [
        "http://example.com/jwks",
        "ftp://127.0.0.1/jwks",
        "not a url",
    ] {
        let err = JwksVerifier::builder().jwks_url(bad).build().unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{bad}");
    }
    for ok in [
        "https://platform.decart.ai/api/auth/jwks",
        "http://localhost:1/j",
        "http://[::1]:2/j",
    ] {
        assert!(JwksVerifier::builder().jwks_url(ok).build().is_ok(), "{ok}");
    }
}

#[macro_export]
macro_rules! jwks_tests {
    ($async_test:ident, $sync_test:ident) => {
        $async_test!(jwks:
            client_verify_exposes_claims_and_caches_keys,
            bad_tokens_are_rejected_with_codes,
            unknown_kids_refetch_once_per_cooldown,
            rotated_key_is_fetched_on_unknown_kid,
            a_key_dropped_from_the_jwks_is_refused_at_the_refresh,
            concurrent_cold_verifications_share_one_fetch,
            known_kids_verify_while_the_endpoint_is_down,
            unreachable_jwks_fails_clearly,
            redirects_are_not_followed
        );
        $sync_test!(jwks: jwks_url_must_be_https_or_loopback);
    };
}
