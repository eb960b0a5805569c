//! Client tokens: the Ed25519 key ring, the JWKS, option validation, JWT minting.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{Map, Value, json};

use super::util::{hex, random_bytes};

/// The most seconds a client token may live.
pub(crate) const MAX_EXPIRES_IN: u64 = 3600;
/// The lifetime of a client token when the request names none.
pub(crate) const DEFAULT_EXPIRES_IN: u64 = 60;
/// At most this many allowed models or origins.
pub(crate) const MAX_LIST: usize = 20;

/// One signing key.
struct Key {
    kid: String,
    signing: SigningKey,
    /// Whether the JWKS still lists it.
    published: bool,
}

/// The emulator's signing keys: the newest signs, older ones stay published until dropped.
pub(crate) struct KeyRing {
    keys: Vec<Key>,
    generation: u32,
}

impl KeyRing {
    pub(crate) fn new() -> Self {
        let mut ring = KeyRing {
            keys: Vec::new(),
            generation: 0,
        };
        ring.rotate();
        ring
    }

    /// Adds a key and signs with it from now on; returns its `kid`.
    pub(crate) fn rotate(&mut self) -> String {
        self.generation += 1;
        let kid = format!("emu-{}-{}", self.generation, hex(&random_bytes::<4>()));
        let signing = SigningKey::from_bytes(&random_bytes::<32>());
        self.keys.push(Key {
            kid: kid.clone(),
            signing,
            published: true,
        });
        kid
    }

    /// Stops publishing every key but the current one.
    pub(crate) fn unpublish_old(&mut self) -> usize {
        let last = self.keys.len().saturating_sub(1);
        let mut n = 0;
        for key in &mut self.keys[..last] {
            if key.published {
                key.published = false;
                n += 1;
            }
        }
        n
    }

    pub(crate) fn current_kid(&self) -> &str {
        self.keys.last().map_or("", |k| k.kid.as_str())
    }

    pub(crate) fn published_kids(&self) -> Vec<String> {
        self.published().map(|k| k.kid.clone()).collect()
    }

    fn published(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter().rev().filter(|k| k.published)
    }

    /// `{"keys":[...]}`, newest first.
    pub(crate) fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .published()
            .map(|k| {
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "alg": "EdDSA",
                    "use": "sig",
                    "kid": k.kid,
                    "x": URL_SAFE_NO_PAD.encode(k.signing.verifying_key().as_bytes()),
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    /// Signs `claims` with the current key: `header.payload.signature`.
    pub(crate) fn sign(&self, claims: &Map<String, Value>) -> String {
        let Some(key) = self.keys.last() else {
            return String::new();
        };
        sign_with(&key.signing, &key.kid, claims)
    }

    /// The claims of `token` when it is a JWT signed by a published key of this ring.
    pub(crate) fn verify(&self, token: &str) -> Option<Map<String, Value>> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || token.len() > 16 * 1024 {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        let kid = header.get("kid")?.as_str()?;
        let key: VerifyingKey = self
            .published()
            .find(|k| k.kid == kid)?
            .signing
            .verifying_key();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
        let signed = &token[..h.len() + 1 + p.len()];
        key.verify_strict(signed.as_bytes(), &sig).ok()?;
        match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()? {
            Value::Object(claims) => Some(claims),
            _ => None,
        }
    }
}

fn sign_with(key: &SigningKey, kid: &str, claims: &Map<String, Value>) -> String {
    // Members in this order, as the platform writes them.
    let header = format!(
        r#"{{"alg":"EdDSA","kid":{},"typ":"JWT"}}"#,
        Value::from(kid)
    );
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = URL_SAFE_NO_PAD.encode(header.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let sig = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    token
}

/// A token request that passed validation.
#[derive(Debug, Default)]
pub(crate) struct TokenRequest {
    pub metadata: Option<Map<String, Value>>,
    pub expires_in: u64,
    pub models: Option<Vec<String>>,
    pub origins: Option<Vec<String>>,
    pub constraints: Option<Map<String, Value>>,
}

/// Validates the JSON body of `POST /v1/client/tokens` (empty body: `{}`); `Err` is the
/// `detail` of a 400.
pub(crate) fn parse_request(body: &[u8]) -> Result<TokenRequest, String> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| format!("Invalid JSON body: {e}"))?
    };
    let Value::Object(obj) = value else {
        return Err("The request body must be a JSON object".into());
    };
    let present = |k: &str| obj.get(k).filter(|v| !v.is_null());
    let mut req = TokenRequest {
        expires_in: DEFAULT_EXPIRES_IN,
        ..TokenRequest::default()
    };
    if let Some(m) = present("metadata") {
        req.metadata = Some(
            m.as_object()
                .cloned()
                .ok_or("metadata must be a JSON object")?,
        );
    }
    if let Some(e) = present("expiresIn") {
        let secs = e
            .as_u64()
            .ok_or("expiresIn must be an integer number of seconds")?;
        if !(1..=MAX_EXPIRES_IN).contains(&secs) {
            return Err(format!(
                "expiresIn must be between 1 and {MAX_EXPIRES_IN} seconds, got {secs}"
            ));
        }
        req.expires_in = secs;
    }
    if let Some(m) = present("allowedModels") {
        let models = string_list(m, "allowedModels")?;
        if let Some(i) = models.iter().position(|m| m.trim().is_empty()) {
            return Err(format!("allowedModels[{i}] must not be empty"));
        }
        req.models = Some(models);
    }
    if let Some(o) = present("allowedOrigins") {
        let origins = string_list(o, "allowedOrigins")?;
        for (i, origin) in origins.iter().enumerate() {
            crate::models::tokens::check_origin(origin).map_err(|why| {
                format!("allowedOrigins[{i}] {origin:?} is not a full origin (scheme://host[:port]): {why}")
            })?;
        }
        req.origins = Some(origins);
    }
    if let Some(c) = present("constraints") {
        let constraints = c
            .as_object()
            .cloned()
            .ok_or("constraints must be a JSON object")?;
        if let Some(rt) = constraints.get("realtime").filter(|v| !v.is_null()) {
            let rt = rt
                .as_object()
                .ok_or("constraints.realtime must be a JSON object")?;
            if let Some(d) = rt.get("maxSessionDuration").filter(|v| !v.is_null()) {
                if d.as_u64().is_none_or(|d| d == 0) {
                    return Err(
                        "constraints.realtime.maxSessionDuration must be a positive integer".into(),
                    );
                }
            }
        }
        req.constraints = Some(constraints);
    }
    Ok(req)
}

fn string_list(v: &Value, field: &str) -> Result<Vec<String>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| format!("{field} must be an array of strings"))?;
    if items.len() > MAX_LIST {
        return Err(format!(
            "{field} accepts at most {MAX_LIST} entries, got {}",
            items.len()
        ));
    }
    items
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{field} must be an array of strings"))
        })
        .collect()
}

/// Who the emulator says it is in the claims.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub issuer: String,
    pub audience: String,
    pub user_id: String,
    pub organization_id: String,
    pub api_key_id: String,
    pub api_key_name: String,
}

/// The claims of a client token (section 6 of the API contract).
pub(crate) fn claims(
    id: &Identity,
    req: &TokenRequest,
    iat: i64,
    exp: i64,
    jti: &str,
) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("sub".into(), id.user_id.clone().into());
    c.insert("iss".into(), id.issuer.clone().into());
    c.insert("aud".into(), id.audience.clone().into());
    c.insert("iat".into(), iat.into());
    c.insert("exp".into(), exp.into());
    c.insert("jti".into(), jti.into());
    c.insert("organizationId".into(), id.organization_id.clone().into());
    c.insert("parent_api_key_id".into(), id.api_key_id.clone().into());
    c.insert("api_key_name".into(), id.api_key_name.clone().into());
    if let Some(meta) = &req.metadata {
        // Copied verbatim, so a verifier's handling of odd values can be exercised.
        for key in ["service_tier", "priority", "attribution"] {
            if let Some(v) = meta.get(key) {
                c.insert(key.into(), v.clone());
            }
        }
    }
    if let Some(models) = &req.models {
        c.insert("models".into(), json!(models));
    }
    if let Some(origins) = &req.origins {
        c.insert("origins".into(), json!(origins));
    }
    if let Some(constraints) = &req.constraints {
        c.insert("constraints".into(), Value::Object(constraints.clone()));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_rules() {
        let ok = parse_request(b"").unwrap();
        assert_eq!(ok.expires_in, DEFAULT_EXPIRES_IN);
        let ok = parse_request(
            br#"{"expiresIn":3600,"allowedModels":["lucy-2.1"],"allowedOrigins":["http://localhost:3000"],"constraints":{"realtime":{"maxSessionDuration":5}},"metadata":{"a":1},"extra":true}"#,
        )
        .unwrap();
        assert_eq!(ok.expires_in, 3600);
        for bad in [
            &br#"[]"#[..],
            br#"{"expiresIn":0}"#,
            br#"{"expiresIn":3601}"#,
            br#"{"expiresIn":1.5}"#,
            br#"{"expiresIn":"60"}"#,
            br#"{"metadata":[]}"#,
            br#"{"allowedModels":"lucy-2.1"}"#,
            br#"{"allowedModels":[""]}"#,
            br#"{"allowedOrigins":["https://a.com/"]}"#,
            br#"{"allowedOrigins":["example.com"]}"#,
            br#"{"constraints":{"realtime":{"maxSessionDuration":-1}}}"#,
            br#"{"constraints":5}"#,
            b"{",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many: Vec<String> = (0..21).map(|i| format!("\"m{i}\"")).collect();
        let body = format!(r#"{{"allowedModels":[{}]}}"#, many.join(","));
        assert!(parse_request(body.as_bytes()).is_err());
    }

    #[test]
    fn sign_and_verify() {
        let mut ring = KeyRing::new();
        let mut claims = Map::new();
        claims.insert("sub".into(), "u".into());
        let token = ring.sign(&claims);
        assert_eq!(ring.verify(&token).unwrap()["sub"], "u");
        let old = ring.current_kid().to_owned();
        let new = ring.rotate();
        assert_ne!(old, new);
        assert!(ring.verify(&token).is_some(), "old key still published");
        assert_eq!(ring.published_kids(), vec![new.clone(), old]);
        assert_eq!(ring.unpublish_old(), 1);
        assert!(ring.verify(&token).is_none());
        let mut tampered = ring.sign(&claims);
        tampered.insert(tampered.len() - 2, 'A');
        assert!(ring.verify(&tampered).is_none());
    }
}
