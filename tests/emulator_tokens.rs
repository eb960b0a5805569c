//! The emulator's auth rules, client tokens, JWKS and key rotation, over raw HTTP.

#![cfg(feature = "emulator")]

mod emulator_common;

use emulator_common::*;
use serde_json::{Value, json};

#[test]
fn api_key_is_required_on_every_api_call() {
    let emu = Emulator::start().unwrap();
    for (method, path) in [
        ("POST", "/v1/client/tokens"),
        ("POST", "/v1/generate/lucy-image-2"),
        ("POST", "/v1/jobs/lucy-2.1"),
        ("GET", "/v1/jobs/job_x"),
        ("GET", "/v1/jobs/job_x/content"),
        ("POST", "/v1/files"),
        ("GET", "/v1/files/file_x"),
        ("DELETE", "/v1/files/file_x"),
        ("GET", "/v1/anything"),
    ] {
        for key in [
            None,
            Some("wrong-key"),
            Some("ek_unknown"),
            Some("eyJhbGciOiJub25lIn0.e30."),
        ] {
            let a = match method {
                "GET" => get(&emu, path, key),
                "DELETE" => delete(&emu, path, key),
                _ => post_json(&emu, path, key, &json!({})),
            };
            assert_eq!(a.status, 401, "{method} {path} with {key:?}");
            assert!(!a.detail().is_empty());
        }
    }
    let missing = get(&emu, "/v1/files/file_x", None);
    assert!(
        missing.detail().contains("X-API-KEY"),
        "{}",
        missing.detail()
    );
    assert_eq!(
        get(&emu, "/v1/files/file_x", Some("nope")).detail(),
        "Invalid API key"
    );
    // With the key, the same call reaches the endpoint.
    assert_eq!(
        get(&emu, "/v1/files/file_x", Some(emu.api_key())).status,
        404
    );
    // The JWKS needs no key.
    assert_eq!(get(&emu, "/api/auth/jwks", None).status, 200);
    // Unknown paths and methods.
    assert_eq!(get(&emu, "/nothing", None).status, 404);
    assert_eq!(
        get(&emu, "/v1/client/tokens", Some(emu.api_key())).status,
        405
    );
    assert_eq!(delete(&emu, "/api/auth/jwks", None).status, 405);
}

#[test]
fn configured_keys() {
    let emu = Emulator::builder()
        .api_key("primary")
        .accept_api_key("secondary")
        .start()
        .unwrap();
    assert_eq!(emu.api_key(), "primary");
    for key in ["primary", "secondary"] {
        assert_eq!(get(&emu, "/v1/files/f", Some(key)).status, 404, "{key}");
    }
    assert_eq!(
        get(&emu, "/v1/files/f", Some(decart::emulator::DEFAULT_API_KEY)).status,
        401
    );
}

#[test]
fn client_keys_work_for_calls_but_cannot_mint() {
    let emu = Emulator::start().unwrap();
    let t = mint(&emu, &json!({}));
    let ek = t["apiKey"].as_str().unwrap();
    let jwt = t["token"].as_str().unwrap();
    assert!(ek.starts_with("ek_"), "{ek}");
    assert!(jwt.starts_with("eyJ"), "{jwt}");
    for key in [ek, jwt] {
        // Ordinary calls are accepted (404: the file does not exist, but auth passed).
        assert_eq!(get(&emu, "/v1/files/file_nope", Some(key)).status, 404);
        let a = post_json(&emu, "/v1/client/tokens", Some(key), &json!({}));
        assert_eq!(a.status, 403);
        assert_eq!(a.detail(), "Cannot create token from client token");
    }
    let kinds: Vec<_> = emu.requests().iter().map(|r| r.credential).collect();
    use decart::emulator::Credential::*;
    assert_eq!(
        kinds,
        vec![
            Some(Permanent),
            Some(ClientKey),
            Some(ClientKey),
            Some(ClientJwt),
            Some(ClientJwt)
        ]
    );
}

#[test]
fn expired_client_keys_are_refused() {
    let emu = Emulator::start().unwrap();
    emu.set_clock_offset(-7200);
    let t = mint(&emu, &json!({"expiresIn": 3600}));
    emu.set_clock_offset(0);
    for key in [t["apiKey"].as_str().unwrap(), t["token"].as_str().unwrap()] {
        let a = get(&emu, "/v1/files/f", Some(key));
        assert_eq!(a.status, 401);
        assert_eq!(a.detail(), "Client token expired");
    }
    assert_eq!(
        emu.requests().last().unwrap().credential,
        Some(decart::emulator::Credential::Expired)
    );
}

#[test]
fn token_answer_and_jwt_claims() {
    let emu = Emulator::builder()
        .user_id("user-42")
        .organization_id("org-7")
        .api_key_identity("key-9", "ci key")
        .start()
        .unwrap();
    let before = now();
    let t = mint(
        &emu,
        &json!({
            "expiresIn": 600,
            "allowedModels": ["lucy-2.1", "lucy-restyle-2"],
            "allowedOrigins": ["https://example.com", "http://localhost:3000"],
            "constraints": {"realtime": {"maxSessionDuration": 120}},
            "metadata": {"service_tier": 2, "attribution": {"team": "video"}, "other": "x"}
        }),
    );
    assert_eq!(
        t["permissions"],
        json!({"models": ["lucy-2.1", "lucy-restyle-2"], "origins": ["https://example.com", "http://localhost:3000"]})
    );
    assert_eq!(
        t["constraints"],
        json!({"realtime": {"maxSessionDuration": 120}})
    );
    let expires_at = t["expiresAt"].as_str().unwrap();
    assert!(
        expires_at.ends_with('Z') && expires_at.len() == 20,
        "{expires_at}"
    );

    let jwks = get(&emu, "/api/auth/jwks", None).json();
    let (header, claims) = verify_jwt(t["token"].as_str().unwrap(), &jwks);
    assert_eq!(
        header,
        json!({"alg": "EdDSA", "kid": emu.current_kid(), "typ": "JWT"})
    );
    assert_eq!(claims["sub"], "user-42");
    assert_eq!(claims["iss"], emu.issuer());
    assert_eq!(claims["aud"], emu.audience());
    assert_eq!(emu.issuer(), emu.base_url());
    assert_eq!(claims["organizationId"], "org-7");
    assert_eq!(claims["parent_api_key_id"], "key-9");
    assert_eq!(claims["api_key_name"], "ci key");
    assert_eq!(claims["service_tier"], 2);
    assert_eq!(claims["attribution"], json!({"team": "video"}));
    assert!(claims.get("other").is_none());
    assert_eq!(claims["models"], json!(["lucy-2.1", "lucy-restyle-2"]));
    assert_eq!(
        claims["origins"],
        json!(["https://example.com", "http://localhost:3000"])
    );
    assert_eq!(
        claims["constraints"],
        json!({"realtime": {"maxSessionDuration": 120}})
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(iat >= before && iat <= now());
    assert_eq!(exp - iat, 600);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // The defaults: no options, 60 s, no scope, no constraints.
    let t = mint(&emu, &json!({}));
    assert_eq!(t["permissions"], Value::Null);
    assert_eq!(t["constraints"], Value::Null);
    let (_, claims) = verify_jwt(t["token"].as_str().unwrap(), &jwks);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    for absent in [
        "models",
        "origins",
        "constraints",
        "service_tier",
        "attribution",
    ] {
        assert!(claims.get(absent).is_none(), "{absent}");
    }
    // Legacy priority flag, and an empty body.
    let a = post(
        &emu,
        "/v1/client/tokens",
        Some(emu.api_key()),
        "application/json",
        b"",
    );
    assert_eq!(a.status, 200);
    let t = mint(&emu, &json!({"metadata": {"priority": true}}));
    let (_, claims) = verify_jwt(t["token"].as_str().unwrap(), &jwks);
    assert_eq!(claims["priority"], true);
}

#[test]
fn tokens_verify_with_the_crates_verifier() {
    let emu = Emulator::start().unwrap();
    let t = mint(
        &emu,
        &json!({"allowedModels": ["lucy-2.1"], "metadata": {"service_tier": 0}}),
    );
    let jwks = get(&emu, "/api/auth/jwks", None).body;
    let keys = decart::jwt::KeySet::from_json(&jwks).unwrap();
    let options = decart::jwt::VerifyOptions::new()
        .issuer(emu.issuer())
        .audience(emu.audience());
    let token = keys.verify(t["token"].as_str().unwrap(), &options).unwrap();
    assert_eq!(token.user_id(), "emulator-user");
    assert_eq!(token.service_tier(), Some(0));
    assert!(token.allows_model("lucy-2.1"));
    assert!(!token.allows_model("lucy-2.5"));
}

#[test]
fn token_options_are_validated() {
    let emu = Emulator::start().unwrap();
    let many: Vec<String> = (0..21).map(|i| format!("m{i}")).collect();
    let many_origins: Vec<String> = (0..21).map(|i| format!("https://o{i}.example")).collect();
    for (body, needle) in [
        (json!({"expiresIn": 0}), "expiresIn"),
        (json!({"expiresIn": 3601}), "expiresIn"),
        (json!({"expiresIn": 1.5}), "expiresIn"),
        (json!({"expiresIn": "60"}), "expiresIn"),
        (json!({"allowedModels": many}), "allowedModels"),
        (json!({"allowedModels": "lucy-2.1"}), "allowedModels"),
        (json!({"allowedOrigins": many_origins}), "allowedOrigins"),
        (
            json!({"allowedOrigins": ["example.com"]}),
            "allowedOrigins[0]",
        ),
        (
            json!({"allowedOrigins": ["https://ok.example", "https://a.example/path"]}),
            "allowedOrigins[1]",
        ),
        (
            json!({"allowedOrigins": ["https://a.example:99999"]}),
            "allowedOrigins[0]",
        ),
        (json!({"metadata": "x"}), "metadata"),
        (
            json!({"constraints": {"realtime": {"maxSessionDuration": 0}}}),
            "maxSessionDuration",
        ),
        (json!([1, 2]), "JSON object"),
    ] {
        let a = post_json(&emu, "/v1/client/tokens", Some(emu.api_key()), &body);
        assert_eq!(a.status, 400, "{body}");
        assert!(a.detail().contains(needle), "{body}: {}", a.detail());
    }
    // Limits exactly at the bound pass.
    let twenty: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    mint(&emu, &json!({"expiresIn": 1, "allowedModels": twenty}));
    mint(&emu, &json!({"expiresIn": 3600}));
    // Not JSON at all.
    let a = post(
        &emu,
        "/v1/client/tokens",
        Some(emu.api_key()),
        "application/json",
        b"{nope",
    );
    assert_eq!(a.status, 400);
    assert!(a.detail().starts_with("Invalid JSON body"));
    // Over 1 MiB.
    let big = format!(r#"{{"metadata":{{"pad":"{}"}}}}"#, "x".repeat(1024 * 1024));
    let a = post(
        &emu,
        "/v1/client/tokens",
        Some(emu.api_key()),
        "application/json",
        big.as_bytes(),
    );
    assert_eq!(a.status, 413);
    // The log kept the small bodies, as sent.
    let logged = emu.requests();
    assert_eq!(logged[0].json(), Some(json!({"expiresIn": 0})));
    assert!(logged.last().unwrap().body_text.is_none());
}

#[test]
fn unsigned_tokens_when_signing_is_off() {
    let emu = Emulator::builder().sign_tokens(false).start().unwrap();
    let t = mint(&emu, &json!({}));
    assert!(t.get("token").is_none(), "{t}");
    assert!(t["apiKey"].as_str().unwrap().starts_with("ek_"));
}

#[test]
fn jwks_and_rotation() {
    let emu = Emulator::builder()
        .jwks_max_age(std::time::Duration::from_secs(42))
        .start()
        .unwrap();
    let a = get(&emu, "/api/auth/jwks", None);
    assert_eq!(a.header("cache-control"), Some("public, max-age=42"));
    assert_eq!(a.header("content-type"), Some("application/json"));
    let jwks = a.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    for (field, value) in [
        ("kty", "OKP"),
        ("crv", "Ed25519"),
        ("alg", "EdDSA"),
        ("use", "sig"),
    ] {
        assert_eq!(k[field], value);
    }
    assert_eq!(b64url(k["x"].as_str().unwrap()).len(), 32);
    let old_kid = emu.current_kid();
    assert_eq!(k["kid"], old_kid.as_str());
    let old_token = mint(&emu, &json!({}))["token"].as_str().unwrap().to_owned();

    let new_kid = emu.rotate_keys();
    assert_ne!(new_kid, old_kid);
    assert_eq!(emu.current_kid(), new_kid);
    assert_eq!(emu.published_kids(), vec![new_kid.clone(), old_kid.clone()]);
    let new_token = mint(&emu, &json!({}))["token"].as_str().unwrap().to_owned();
    let jwks = get(&emu, "/api/auth/jwks", None).json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert_eq!(verify_jwt(&new_token, &jwks).0["kid"], new_kid.as_str());
    assert_eq!(verify_jwt(&old_token, &jwks).0["kid"], old_kid.as_str());
    // The old JWT is still a valid credential.
    assert_eq!(get(&emu, "/v1/files/x", Some(&old_token)).status, 404);

    assert_eq!(emu.drop_old_keys(), 1);
    let jwks = get(&emu, "/api/auth/jwks", None).json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new_kid.as_str()]);
    assert_eq!(get(&emu, "/v1/files/x", Some(&old_token)).status, 401);
    assert_eq!(get(&emu, "/v1/files/x", Some(&new_token)).status, 404);
}

#[test]
fn custom_issuer_and_audience() {
    let emu = Emulator::builder()
        .issuer("https://platform.decart.ai")
        .audience("https://platform.decart.ai")
        .start()
        .unwrap();
    let t = mint(&emu, &json!({}));
    let jwks = get(&emu, "/api/auth/jwks", None).json();
    let (_, claims) = verify_jwt(t["token"].as_str().unwrap(), &jwks);
    assert_eq!(claims["iss"], "https://platform.decart.ai");
    assert_eq!(claims["aud"], "https://platform.decart.ai");
    assert_eq!(emu.jwks_url(), format!("{}/api/auth/jwks", emu.base_url()));
}
