//! Ed25519 JWKs (RFC 8037) and key sets (RFC 7517).

use std::fmt;
use std::sync::Arc;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::claims::VerifiedClientToken;
use super::error::{VerifyError, echo};
use super::options::VerifyOptions;
use super::token::{CompactJws, Verified};
use super::{b64, json};

/// The largest JWKS document accepted, in bytes (64 KiB).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// The most entries a JWKS document may list.
pub const MAX_JWKS_KEYS: usize = 64;

/// A usable Ed25519 public key: an `OKP`/`Ed25519` JWK whose `x` is a valid, non-weak point.
///
/// Cheap to clone (the `kid` is shared). `Debug` shows the `kid` and `x`, both public.
#[derive(Clone)]
pub struct Jwk {
    kid: Option<Arc<str>>,
    key: VerifyingKey,
}

impl Jwk {
    /// Parses one JWK (a JSON object) and checks that it is a usable Ed25519 verification key:
    /// `kty` `OKP`, `crv` `Ed25519`, `x` strict base64url of exactly 32 bytes encoding a point
    /// that is not of small order, no private `d`, `use` absent or `sig`, `key_ops` absent or
    /// containing `verify`, `alg` absent, `EdDSA` or `Ed25519`. A `kid` is optional here.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidJwks`] naming the first rule the key breaks (also for input that is
    /// not a JSON object, has duplicate members, or is larger than [`MAX_JWKS_BYTES`]).
    pub fn from_json(json: &[u8]) -> Result<Jwk, VerifyError> {
        if json.len() > MAX_JWKS_BYTES {
            return Err(VerifyError::invalid_jwks(format!(
                "JWK larger than {MAX_JWKS_BYTES} bytes"
            )));
        }
        let obj = json::parse_object(json).map_err(VerifyError::invalid_jwks)?;
        let kid = kid_of(&obj).map_err(VerifyError::invalid_jwks)?;
        check_jwk(&obj, kid).map_err(|reason| VerifyError::invalid_jwks(format!("JWK {reason}")))
    }

    /// A key from its 32-byte Ed25519 encoding (for a pinned key), with an optional `kid`.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidJwks`] when the bytes are not a valid point or encode a weak
    /// (small-order) point.
    pub fn from_public_key_bytes(kid: Option<&str>, bytes: &[u8; 32]) -> Result<Jwk, VerifyError> {
        let key = key_from_bytes(bytes).map_err(VerifyError::invalid_jwks)?;
        Ok(Jwk {
            kid: kid.map(Arc::from),
            key,
        })
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The 32-byte Ed25519 public key (the decoded `x`).
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks a raw Ed25519 signature over `message` with this key, with the strict rules of
    /// `ed25519_dalek::VerifyingKey::verify_strict` (canonical `S`, no small-order `R` or key).
    ///
    /// This is the signature layer alone, with no JWS or JWT rule.
    ///
    /// # Errors
    ///
    /// [`VerifyError::BadSignature`] when the signature is not 64 bytes or does not verify.
    pub fn verify_raw(&self, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        let sig = Signature::from_slice(signature).map_err(|_| VerifyError::BadSignature)?;
        self.verify_signature(message, &sig)
    }

    #[inline]
    pub(crate) fn verify_signature(
        &self,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), VerifyError> {
        self.key
            .verify_strict(message, signature)
            .map_err(|_| VerifyError::BadSignature)
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid())
            .field("x", &b64_encode(self.key.as_bytes()))
            .finish()
    }
}

fn b64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    b64::STRICT_B64URL.encode(bytes)
}

/// A JWKS entry that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    kid: Option<String>,
    reason: String,
}

impl SkippedKey {
    /// The entry's `kid` (cut if very long), when it has a string one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Why the entry is unusable (`kty is "RSA", not "OKP"`, `no kid`, …).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kid {
            Some(kid) => write!(f, "kid {kid:?}: {}", self.reason),
            None => write!(f, "key without kid: {}", self.reason),
        }
    }
}

/// The usable keys of a JWKS document, selected by `kid`, plus the entries that were skipped.
///
/// Verification with a key set is pure: no I/O. To keep a key set fresh, fetch it yourself (or
/// use the crate's clients) and drive a [`KeyCache`](super::KeyCache).
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Jwk>,
    skipped: Vec<SkippedKey>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys":[...]}`), keeping every usable Ed25519 key that has a
    /// `kid` (see [`Jwk::from_json`] for the rules) and recording every other entry, with the
    /// reason, in [`skipped`](Self::skipped). When two usable entries share a `kid`, the first
    /// is kept.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidJwks`] when the body is larger than [`MAX_JWKS_BYTES`], is not a
    /// JSON object with a `keys` array, has duplicate JSON members anywhere, lists more than
    /// [`MAX_JWKS_KEYS`] entries, or has no usable key at all (the reasons are in the message).
    pub fn from_json(body: &[u8]) -> Result<KeySet, VerifyError> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(VerifyError::invalid_jwks(format!(
                "body larger than {MAX_JWKS_BYTES} bytes"
            )));
        }
        let mut doc = json::parse_object(body).map_err(VerifyError::invalid_jwks)?;
        let entries = match doc.remove("keys") {
            Some(Value::Array(entries)) => entries,
            Some(_) => return Err(VerifyError::invalid_jwks("\"keys\" is not an array")),
            None => return Err(VerifyError::invalid_jwks("no \"keys\" member")),
        };
        if entries.len() > MAX_JWKS_KEYS {
            return Err(VerifyError::invalid_jwks(format!(
                "{} keys listed, at most {MAX_JWKS_KEYS} accepted",
                entries.len()
            )));
        }
        let mut set = KeySet {
            keys: Vec::with_capacity(entries.len()),
            skipped: Vec::new(),
        };
        for entry in entries {
            let Value::Object(obj) = entry else {
                set.skip(None, "not a JSON object".to_owned());
                continue;
            };
            let kid = match kid_of(&obj) {
                Ok(kid) => kid,
                Err(reason) => {
                    set.skip(None, reason);
                    continue;
                }
            };
            match check_jwk(&obj, kid) {
                Ok(jwk) => set.push(jwk),
                Err(reason) => set.skip(kid, reason),
            }
        }
        if set.keys.is_empty() {
            let mut reason = String::from("no usable Ed25519 signing key");
            if !set.skipped.is_empty() {
                reason.push_str(&format!(" ({} skipped: ", set.skipped.len()));
                for (i, s) in set.skipped.iter().take(4).enumerate() {
                    if i > 0 {
                        reason.push_str("; ");
                    }
                    reason.push_str(&s.to_string());
                }
                if set.skipped.len() > 4 {
                    reason.push_str("; …");
                }
                reason.push(')');
            }
            return Err(VerifyError::invalid_jwks(reason));
        }
        for s in &set.skipped {
            log::debug!("JWKS entry skipped: {s}");
        }
        Ok(set)
    }

    /// A key set from keys already built. Keys without a `kid`, and later keys repeating a
    /// `kid`, are recorded as skipped. The set may be empty.
    pub fn from_keys(keys: impl IntoIterator<Item = Jwk>) -> KeySet {
        let mut set = KeySet {
            keys: Vec::new(),
            skipped: Vec::new(),
        };
        for key in keys {
            set.push(key);
        }
        set
    }

    fn push(&mut self, jwk: Jwk) {
        match jwk.kid() {
            None => self.skip(None, "no kid: cannot be selected by kid".to_owned()),
            Some(kid) if self.get(kid).is_some() => {
                let kid = kid.to_owned();
                self.skip(
                    Some(&kid),
                    "duplicate kid: the first key with it is kept".to_owned(),
                )
            }
            Some(_) => self.keys.push(jwk),
        }
    }

    fn skip(&mut self, kid: Option<&str>, reason: String) {
        self.skipped.push(SkippedKey {
            kid: kid.map(echo),
            reason,
        });
    }

    /// The usable key whose `kid` is exactly `kid`.
    #[inline]
    pub fn get(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The entries that were not kept, with the reasons (for diagnostics).
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// How many usable keys the set has.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a Decart client token with this key set and `options`, and returns its claims.
    ///
    /// Checks, in order: size and shape, header (`alg` `EdDSA`/`Ed25519`, no `crit`, a `kid`),
    /// key selection by `kid`, the Ed25519 signature (strict), then the claims (`exp`, `nbf`,
    /// `iat` with leeway, issuer, audience, required claims, claim types).
    ///
    /// # Errors
    ///
    /// The [`VerifyError`] naming the first check that failed.
    pub fn verify(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Result<VerifiedClientToken, VerifyError> {
        let jws = CompactJws::parse(token)?;
        let key = self.get(jws.kid()).ok_or_else(|| jws.unknown_kid())?;
        jws.verify(key, options)
    }

    /// Like [`verify`](Self::verify), but deserializes the claims into the caller's own type
    /// after the same signature and registered-claim checks (`exp`, `nbf`, `iat`, `iss`, `aud`,
    /// required claims). Decart's own claim rules (`sub` a string, typed `models`…) are not
    /// applied.
    ///
    /// # Errors
    ///
    /// The [`VerifyError`] naming the first check that failed;
    /// [`VerifyError::InvalidClaim`] named `claims` when `C` cannot be deserialized.
    pub fn verify_with<C: DeserializeOwned>(
        &self,
        token: &str,
        options: &VerifyOptions,
    ) -> Result<Verified<C>, VerifyError> {
        let jws = CompactJws::parse(token)?;
        let key = self.get(jws.kid()).ok_or_else(|| jws.unknown_kid())?;
        jws.verify_with(key, options)
    }

    /// Checks a raw Ed25519 signature over `message` with the key named `kid` (the signature
    /// layer alone; see [`Jwk::verify_raw`]).
    ///
    /// # Errors
    ///
    /// [`VerifyError::UnknownKid`] when no usable key has that `kid`;
    /// [`VerifyError::BadSignature`] when the signature does not verify.
    pub fn verify_raw(
        &self,
        kid: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), VerifyError> {
        self.get(kid)
            .ok_or_else(|| VerifyError::unknown_kid(kid))?
            .verify_raw(message, signature)
    }
}

/// The entry's `kid`: `Ok(None)` when absent, an error when not a string.
fn kid_of(obj: &Map<String, Value>) -> Result<Option<&str>, String> {
    match obj.get("kid") {
        None => Ok(None),
        Some(Value::String(kid)) => Ok(Some(kid)),
        Some(_) => Err("kid is not a string".to_owned()),
    }
}

/// Applies the usability rules to one JWK object.
fn check_jwk(obj: &Map<String, Value>, kid: Option<&str>) -> Result<Jwk, String> {
    fn str_member<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
        match obj.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("{name} is not a string")),
        }
    }
    match str_member(obj, "kty")? {
        Some("OKP") => {}
        Some(other) => return Err(format!("kty is {:?}, not \"OKP\"", echo(other))),
        None => return Err("no kty".to_owned()),
    }
    match str_member(obj, "crv")? {
        Some("Ed25519") => {}
        Some(other) => return Err(format!("crv is {:?}, not \"Ed25519\"", echo(other))),
        None => return Err("no crv".to_owned()),
    }
    if obj.contains_key("d") {
        return Err("contains private key material (d)".to_owned());
    }
    match str_member(obj, "use")? {
        None | Some("sig") => {}
        Some(other) => return Err(format!("use is {:?}, not \"sig\"", echo(other))),
    }
    match obj.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op == "verify") => {}
        Some(_) => return Err("key_ops does not allow \"verify\"".to_owned()),
    }
    match str_member(obj, "alg")? {
        None | Some("EdDSA" | "Ed25519") => {}
        Some(other) => return Err(format!("alg is {:?}, not \"EdDSA\"", echo(other))),
    }
    let x = str_member(obj, "x")?.ok_or_else(|| "no x".to_owned())?;
    let bytes = match b64::decode_exact::<32>(x.as_bytes()) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err("x does not decode to 32 bytes".to_owned()),
        Err(e) => return Err(format!("x: {e}")),
    };
    let key = key_from_bytes(&bytes)?;
    Ok(Jwk {
        kid: kid.map(Arc::from),
        key,
    })
}

fn key_from_bytes(bytes: &[u8; 32]) -> Result<VerifyingKey, String> {
    let key =
        VerifyingKey::from_bytes(bytes).map_err(|_| "x is not a valid Ed25519 point".to_owned())?;
    if key.is_weak() {
        return Err("x is a weak (small-order) Ed25519 point".to_owned());
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn jwks(entries: &str) -> Result<KeySet, VerifyError> {
        KeySet::from_json(format!("{{\"keys\":[{entries}]}}").as_bytes())
    }

    fn reason_of(entry: &str) -> String {
        let good = format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"good","x":"{X}"}}"#);
        let set = jwks(&format!("{entry},{good}")).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.skipped().len(), 1, "{entry}");
        set.skipped()[0].reason().to_owned()
    }

    #[test]
    fn accepts_the_platform_shape() {
        let set = jwks(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"k1","x":"{X}"}}"#
        ))
        .unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.skipped().is_empty());
        assert_eq!(set.get("k1").unwrap().kid(), Some("k1"));
        assert!(set.get("K1").is_none());
        assert!(set.get("k").is_none());
        let dbg = format!("{:?}", set.get("k1").unwrap());
        assert!(dbg.contains(X) && dbg.contains("k1"), "{dbg}");
    }

    #[test]
    fn skips_with_reasons() {
        let r = reason_of(r#"{"kty":"RSA","kid":"a","n":"x","e":"AQAB"}"#);
        assert!(r.contains("kty is \"RSA\""), "{r}");
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"X25519","kid":"a","x":"{X}"}}"#
        ));
        assert!(r.contains("crv"), "{r}");
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","x":"{X}","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}}"#
        ));
        assert!(r.contains("private"), "{r}");
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","use":"enc","x":"{X}"}}"#
        ));
        assert!(r.contains("use"), "{r}");
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","alg":"RS256","x":"{X}"}}"#
        ));
        assert!(r.contains("alg"), "{r}");
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","key_ops":["sign"],"x":"{X}"}}"#
        ));
        assert!(r.contains("key_ops"), "{r}");
        let r = reason_of(r#"{"kty":"OKP","crv":"Ed25519","kid":"a","x":"AAAA"}"#);
        assert!(r.contains("32 bytes"), "{r}");
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","x":"{X}="}}"#
        ));
        assert!(r.contains("padding"), "{r}");
        let r = reason_of(&format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{X}"}}"#));
        assert!(r.contains("no kid"), "{r}");
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":7,"x":"{X}"}}"#
        ));
        assert!(r.contains("kid is not a string"), "{r}");
        let r = reason_of("[]");
        assert!(r.contains("not a JSON object"), "{r}");
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"good","x":"{X}"}}"#
        ));
        assert!(r.contains("duplicate kid"), "{r}");
        // The identity point (small order).
        let identity = b64::encode(&{
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        });
        let r = reason_of(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","kid":"a","x":"{identity}"}}"#
        ));
        assert!(r.contains("weak"), "{r}");
    }

    #[test]
    fn whole_document_rules() {
        assert!(matches!(jwks(""), Err(VerifyError::InvalidJwks { .. })));
        assert!(KeySet::from_json(b"{}").is_err());
        assert!(KeySet::from_json(b"{\"keys\":{}}").is_err());
        assert!(KeySet::from_json(b"not json").is_err());
        let e = KeySet::from_json(br#"{"keys":[{"kty":"RSA"}]}"#).unwrap_err();
        assert!(e.to_string().contains("no usable"), "{e}");
        assert!(e.to_string().contains("kty"), "{e}");
        let many = (0..65)
            .map(|i| format!(r#"{{"kty":"OKP","crv":"Ed25519","kid":"k{i}","x":"{X}"}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let e = jwks(&many).unwrap_err();
        assert!(e.to_string().contains("at most 64"), "{e}");
        let big = format!(r#"{{"pad":"{}","keys":[]}}"#, "a".repeat(MAX_JWKS_BYTES));
        let e = KeySet::from_json(big.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("larger"), "{e}");
        let e = KeySet::from_json(
            format!(
                r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"a","x":"{X}","x":"{X}"}}]}}"#
            )
            .as_bytes(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
    }

    #[test]
    fn single_jwk() {
        let jwk =
            Jwk::from_json(format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{X}"}}"#).as_bytes())
                .unwrap();
        assert_eq!(jwk.kid(), None);
        assert_eq!(b64::encode(&jwk.public_key_bytes()), X);
        assert!(Jwk::from_json(br#"{"kty":"EC"}"#).is_err());
        let set = KeySet::from_keys([jwk.clone()]);
        assert!(set.is_empty());
        assert_eq!(set.skipped().len(), 1);
        let again = Jwk::from_public_key_bytes(Some("p"), &jwk.public_key_bytes()).unwrap();
        assert_eq!(KeySet::from_keys([again]).len(), 1);
        assert!(Jwk::from_public_key_bytes(None, &[0u8; 32]).is_err());
    }
}
