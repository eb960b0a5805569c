//! Published test vectors: Project Wycheproof Ed25519 (through the JWK path), RFC 8037
//! appendix A, RFC 7515 A.1 (HS256) and RFC 7519 section 6.1 (`alg: none`).
#![cfg(feature = "jwt")]

use decart::jwt::{CompactJws, Jwk, KeySet, VerifyError, VerifyOptions, decode_client_token};
use serde_json::Value;

const WYCHEPROOF: &str = include_str!("vectors/wycheproof_ed25519_test.json");

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn wycheproof_ed25519_through_jwks() {
    let doc: Value = serde_json::from_str(WYCHEPROOF).unwrap();
    assert_eq!(doc["numberOfTests"], 151);
    let (mut valid, mut invalid, mut total) = (0, 0, 0);
    for group in doc["testGroups"].as_array().unwrap() {
        let jwk = &group["publicKeyJwk"];
        let kid = jwk["kid"].as_str().unwrap();
        // The JWK as a one-key JWKS, through the public parser.
        let jwks = serde_json::json!({ "keys": [jwk] }).to_string();
        let keys = KeySet::from_json(jwks.as_bytes());
        // The same key through the single-JWK parser; both agree with the hex encoding.
        let single = Jwk::from_json(jwk.to_string().as_bytes());
        let pk = hex(group["publicKey"]["pk"].as_str().unwrap());
        for test in group["tests"].as_array().unwrap() {
            total += 1;
            let id = test["tcId"].as_u64().unwrap();
            let msg = hex(test["msg"].as_str().unwrap());
            let sig = hex(test["sig"].as_str().unwrap());
            let expect_valid = match test["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("tcId {id}: unexpected result {other}"),
            };
            // A weak or invalid key would be rejected by the parser: the verification
            // then fails, which is right only for an invalid vector.
            let outcome = match &keys {
                Ok(keys) => {
                    let key = keys.get(kid).expect("kid selected");
                    assert_eq!(
                        key.public_key_bytes().as_slice(),
                        pk.as_slice(),
                        "tcId {id}"
                    );
                    let by_set = keys.verify_raw(kid, &msg, &sig);
                    let by_key = single.as_ref().unwrap().verify_raw(&msg, &sig);
                    assert_eq!(by_set, by_key, "tcId {id}");
                    by_set
                }
                Err(e) => Err(e.clone()),
            };
            if expect_valid {
                assert_eq!(
                    outcome,
                    Ok(()),
                    "tcId {id} ({}) must verify",
                    test["comment"]
                );
                valid += 1;
            } else {
                assert!(
                    outcome.is_err(),
                    "tcId {id} ({}) must be rejected",
                    test["comment"]
                );
                if keys.is_ok() {
                    assert_eq!(outcome, Err(VerifyError::BadSignature), "tcId {id}");
                }
                invalid += 1;
            }
        }
    }
    assert_eq!((total, valid, invalid), (151, 88, 63));
}

// RFC 8037 appendix A.
const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const RFC8037_JWS: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

fn rfc8037_public_jwks(kid: &str) -> KeySet {
    KeySet::from_json(
        format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"{kid}","x":"{RFC8037_X}"}}]}}"#)
            .as_bytes(),
    )
    .unwrap()
}

#[test]
fn rfc8037_signature_layer_accepts() {
    let keys = rfc8037_public_jwks("rfc8037");
    let (signing_input, sig_b64) = RFC8037_JWS.rsplit_once('.').unwrap();
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig_b64)
        .unwrap();
    assert_eq!(
        keys.verify_raw("rfc8037", signing_input.as_bytes(), &sig),
        Ok(())
    );
    // One flipped bit of the message is caught.
    let mut tampered = signing_input.as_bytes().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(
        keys.verify_raw("rfc8037", &tampered, &sig),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn rfc8037_private_jwk_is_not_a_verification_key() {
    let private = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"p","d":"{RFC8037_D}","x":"{RFC8037_X}"}}]}}"#
    );
    let e = KeySet::from_json(private.as_bytes()).unwrap_err();
    assert!(matches!(e, VerifyError::InvalidJwks { .. }), "{e}");
    assert!(e.to_string().contains("private"), "{e}");
    // The message names the problem but never echoes the private key.
    assert!(!e.to_string().contains(RFC8037_D));
}

#[test]
fn rfc8037_jws_is_rejected_by_the_token_layer() {
    // No kid: rejected before any key is selected.
    let keys = rfc8037_public_jwks("rfc8037");
    let options = VerifyOptions::new();
    assert_eq!(
        keys.verify(RFC8037_JWS, &options).unwrap_err(),
        VerifyError::MissingKid
    );
    assert_eq!(
        CompactJws::parse(RFC8037_JWS).unwrap_err(),
        VerifyError::MissingKid
    );
    // Its payload is text, not a claims set: the untrusted decoder rejects it too.
    let e = decode_client_token(RFC8037_JWS).unwrap_err();
    assert!(matches!(e, VerifyError::DecodeFailed { .. }), "{e}");
    assert_eq!(e.code(), "TOKEN_DECODE_ERROR");
}

#[test]
fn rfc8037_jws_with_kid_passes_the_signature_and_fails_the_claims() {
    // Re-sign the RFC's payload with the RFC's private key and a kid, so it reaches the
    // claims layer: the signature verifies, the text payload is not a JSON object.
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let d: [u8; 32] = b64.decode(RFC8037_D).unwrap().try_into().unwrap();
    let sk = ed25519_dalek::SigningKey::from_bytes(&d);
    assert_eq!(b64.encode(sk.verifying_key().to_bytes()), RFC8037_X);
    // Without a kid, the same key reproduces the RFC's JWS exactly (Ed25519 is deterministic).
    let (input, _) = RFC8037_JWS.rsplit_once('.').unwrap();
    let sig = b64.encode(sk.sign(input.as_bytes()).to_bytes());
    assert_eq!(format!("{input}.{sig}"), RFC8037_JWS);

    let header = b64.encode(br#"{"alg":"EdDSA","kid":"rfc8037"}"#);
    let payload = b64.encode(b"Example of Ed25519 signing");
    let input = format!("{header}.{payload}");
    let token = format!(
        "{input}.{}",
        b64.encode(sk.sign(input.as_bytes()).to_bytes())
    );
    let keys = rfc8037_public_jwks("rfc8037");
    let e = keys.verify(&token, &VerifyOptions::new()).unwrap_err();
    assert!(
        matches!(e, VerifyError::Malformed { ref reason } if reason.starts_with("payload")),
        "{e}"
    );
    // With another kid in the key set, it is an unknown kid.
    let other = rfc8037_public_jwks("other");
    assert!(matches!(
        other.verify(&token, &VerifyOptions::new()).unwrap_err(),
        VerifyError::UnknownKid { ref kid } if kid == "rfc8037"
    ));
}

#[test]
fn rfc7515_hs256_is_an_unsupported_algorithm() {
    let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let keys = rfc8037_public_jwks("k");
    let e = keys.verify(token, &VerifyOptions::new()).unwrap_err();
    assert_eq!(
        e,
        VerifyError::UnsupportedAlgorithm {
            alg: "HS256".into()
        }
    );
    assert_eq!(e.code(), "TOKEN_INVALID");
    assert!(e.to_string().contains("HS256"));
}

#[test]
fn rfc7519_unsecured_jwt_is_an_unsupported_algorithm() {
    let token = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.";
    let keys = rfc8037_public_jwks("k");
    assert_eq!(
        keys.verify(token, &VerifyOptions::new()).unwrap_err(),
        VerifyError::UnsupportedAlgorithm { alg: "none".into() }
    );
    // The unverified decoder reads it (it checks nothing), but says what the header claims.
    let untrusted = decode_client_token(token).unwrap();
    assert_eq!(untrusted.alg(), Some("none"));
    assert_eq!(untrusted.claims()["iss"], "joe");
}
