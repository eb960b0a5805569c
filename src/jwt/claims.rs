//! Decart's client-token claims, as the Python SDK exposes them.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::error::VerifyError;
use super::json::{self, Claim, Claims, Parsed};
use super::token::{Registered, numeric_to_time};

/// Which capacity pool a token's holder is served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pool {
    /// Service tier 0.
    Free,
    /// Any other tier, and tokens with no tier.
    Paid,
}

impl Pool {
    /// `"free"` or `"paid"`, the names the Python SDK uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Free => "free",
            Pool::Paid => "paid",
        }
    }
}

/// The mapped claims, shared by the verified and the untrusted views.
#[derive(Clone)]
struct Fields {
    user_id: Option<String>,
    organization_id: Option<String>,
    api_key_id: Option<String>,
    api_key_name: Option<String>,
    service_tier: Option<u8>,
    allowed_models: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    constraints: Option<Value>,
    realtime_concurrent_session_limit: Option<u64>,
    zero_data_retention: bool,
    attribution: Option<BTreeMap<String, String>>,
    /// The decoded payload (JSON text, already validated); the whole claims map is built from
    /// it only when asked for.
    payload: Vec<u8>,
    raw: OnceLock<Map<String, Value>>,
}

impl Fields {
    fn raw_claims(&self) -> &Map<String, Value> {
        self.raw
            .get_or_init(|| json::parse_object(&self.payload).unwrap_or_default())
    }

    fn into_raw_claims(self) -> Map<String, Value> {
        match self.raw.into_inner() {
            Some(raw) => raw,
            None => json::parse_object(&self.payload).unwrap_or_default(),
        }
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("user_id", &self.user_id)
            .field("organization_id", &self.organization_id)
            .field("api_key_id", &self.api_key_id)
            .field("api_key_name", &self.api_key_name)
            .field("service_tier", &self.service_tier)
            .field("allowed_models", &self.allowed_models)
            .field("allowed_origins", &self.allowed_origins)
            .field("constraints", &self.constraints)
            .field(
                "realtime_concurrent_session_limit",
                &self.realtime_concurrent_session_limit,
            )
            .field("zero_data_retention", &self.zero_data_retention)
            .field("attribution", &self.attribution)
            // The claims as JSON text (not the token's base64url segment).
            .field("claims", &String::from_utf8_lossy(&self.payload))
            .finish()
    }
}

/// `service_tier` per the Python SDK: an integer (not a boolean, not a fraction) or a string of
/// ASCII digits, kept only if 0–3. `2.0` is a JSON fraction, hence no tier (as in Python, where
/// it is a `float`, not an `int`).
pub(crate) fn parse_service_tier(value: Option<&Value>) -> Option<u8> {
    let tier = match value? {
        Value::Number(n) => {
            // Negative integers and fractions are no tier.
            n.as_u64()?
        }
        Value::String(s) => {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits = s.trim_start_matches('0');
            match digits.len() {
                0 => 0,
                1 => u64::from(digits.as_bytes()[0] - b'0'),
                _ => return None,
            }
        }
        // Booleans, null, arrays, objects.
        _ => return None,
    };
    (tier <= 3).then_some(tier as u8)
}

/// Python truthiness of a JSON value.
fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// Reads a claim, moving it out. Absent or null → `Ok(None)`; the wrong shape or type → an
/// invalid-claim error.
fn typed<T>(
    claims: &mut Claims<'_>,
    claim: Claim,
    name: &str,
    expected: &str,
    read: impl FnOnce(Parsed<'_>) -> Option<T>,
) -> Result<Option<T>, VerifyError> {
    match claims.take(claim) {
        Parsed::Absent | Parsed::Null => Ok(None),
        parsed => match read(parsed) {
            Some(t) => Ok(Some(t)),
            None => Err(VerifyError::invalid_claim(
                name,
                format!("must be {expected}"),
            )),
        },
    }
}

fn string(p: Parsed<'_>) -> Option<String> {
    match p {
        Parsed::Text(s) => Some(s.into_owned()),
        _ => None,
    }
}

fn strings(p: Parsed<'_>) -> Option<Vec<String>> {
    match p {
        Parsed::TextList(items) => Some(items.into_iter().map(Cow::into_owned).collect()),
        _ => None,
    }
}

fn string_map(p: Parsed<'_>) -> Option<BTreeMap<String, String>> {
    match p {
        Parsed::TextMap(entries) => Some(
            entries
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ),
        _ => None,
    }
}

fn json_value(p: Parsed<'_>) -> Option<Value> {
    match p {
        Parsed::Value(v) => Some(v),
        _ => None,
    }
}

impl Fields {
    /// Maps the claims. With `strict`, a mapped claim of the wrong type is an error; without,
    /// it reads as absent.
    fn extract(
        mut claims: Claims<'_>,
        payload: Vec<u8>,
        strict: bool,
    ) -> Result<Fields, VerifyError> {
        fn lenient<T>(
            r: Result<Option<T>, VerifyError>,
            strict: bool,
        ) -> Result<Option<T>, VerifyError> {
            match r {
                Err(_) if !strict => Ok(None),
                r => r,
            }
        }
        let c = &mut claims;
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let user_id = lenient(typed(c, Claim::Sub, "sub", "a string", string), strict)?;
        let organization_id = lenient(
            typed(
                c,
                Claim::OrganizationId,
                "organizationId",
                "a string",
                string,
            ),
            strict,
        )?;
        let parent = lenient(
            typed(
                c,
                Claim::ParentApiKeyId,
                "parent_api_key_id",
                "a string",
                string,
            ),
            strict,
        )?;
        let jti = lenient(typed(c, Claim::Jti, "jti", "a string", string), strict)?;
        let api_key_id = non_empty(parent).or_else(|| non_empty(jti));
        let api_key_name = lenient(
            typed(c, Claim::ApiKeyName, "api_key_name", "a string", string),
            strict,
        )?;
        let service_tier = parse_service_tier(c.value(Claim::ServiceTier))
            .or_else(|| truthy(c.value(Claim::Priority)).then_some(3));
        let allowed_models = lenient(
            typed(c, Claim::Models, "models", "an array of strings", strings),
            strict,
        )?;
        let allowed_origins = lenient(
            typed(c, Claim::Origins, "origins", "an array of strings", strings),
            strict,
        )?;
        let constraints = json_value(c.take(Claim::Constraints));
        let realtime_concurrent_session_limit = lenient(
            typed(
                c,
                Claim::RealtimeConcurrentSessionLimit,
                "realtimeConcurrentSessionLimit",
                "a non-negative integer",
                |p| json_value(p)?.as_u64(),
            ),
            strict,
        )?;
        let zero_data_retention = lenient(
            typed(
                c,
                Claim::ZeroDataRetention,
                "zeroDataRetention",
                "a boolean",
                |p| json_value(p)?.as_bool(),
            ),
            strict,
        )?
        .unwrap_or(false);
        let attribution = lenient(
            typed(
                c,
                Claim::Attribution,
                "attribution",
                "an object of strings",
                string_map,
            ),
            strict,
        )?;
        Ok(Fields {
            user_id,
            organization_id,
            api_key_id,
            api_key_name,
            service_tier,
            allowed_models,
            allowed_origins,
            constraints,
            realtime_concurrent_session_limit,
            zero_data_retention,
            attribution,
            payload,
            raw: OnceLock::new(),
        })
    }
}

/// The accessors common to [`VerifiedClientToken`] and [`UntrustedClientToken`].
macro_rules! common_accessors {
    () => {
        /// `organizationId`.
        pub fn organization_id(&self) -> Option<&str> {
            self.fields.organization_id.as_deref()
        }

        /// `parent_api_key_id`, else `jti` (an empty string counts as absent).
        pub fn api_key_id(&self) -> Option<&str> {
            self.fields.api_key_id.as_deref()
        }

        /// `api_key_name`.
        pub fn api_key_name(&self) -> Option<&str> {
            self.fields.api_key_name.as_deref()
        }

        /// The service tier, 0 (free) to 3 (priority): `service_tier` when it is an integer (not
        /// a boolean, not a fraction such as `2.0`) or a string of ASCII digits, with a value
        /// 0–3; otherwise none. When there is none and `priority` is truthy (in Python's sense:
        /// `true`, a non-zero number, a non-empty string, array or object), 3.
        pub fn service_tier(&self) -> Option<u8> {
            self.fields.service_tier
        }

        /// [`Pool::Free`] when the service tier is 0, otherwise [`Pool::Paid`] (also with no
        /// tier).
        pub fn pool(&self) -> Pool {
            if self.fields.service_tier == Some(0) {
                Pool::Free
            } else {
                Pool::Paid
            }
        }

        /// `models`: the models the token may use; `None` means unrestricted.
        pub fn allowed_models(&self) -> Option<&[String]> {
            self.fields.allowed_models.as_deref()
        }

        /// `origins`: the browser origins the token may be used from; `None` means any.
        pub fn allowed_origins(&self) -> Option<&[String]> {
            self.fields.allowed_origins.as_deref()
        }

        /// Whether the token may use `model` (always true when unrestricted).
        pub fn allows_model(&self, model: &str) -> bool {
            self.fields
                .allowed_models
                .as_ref()
                .is_none_or(|models| models.iter().any(|m| m == model))
        }

        /// Whether the token may be used from `origin`, compared verbatim with each allowed
        /// origin (always true when unrestricted).
        pub fn allows_origin(&self, origin: &str) -> bool {
            self.fields
                .allowed_origins
                .as_ref()
                .is_none_or(|origins| origins.iter().any(|o| o == origin))
        }

        /// `constraints`, as raw JSON (for example `{"realtime":{"maxSessionDuration":60}}`).
        pub fn constraints(&self) -> Option<&serde_json::Value> {
            self.fields.constraints.as_ref()
        }

        /// `realtimeConcurrentSessionLimit`.
        pub fn realtime_concurrent_session_limit(&self) -> Option<u64> {
            self.fields.realtime_concurrent_session_limit
        }

        /// `zeroDataRetention` (false when absent).
        pub fn zero_data_retention(&self) -> bool {
            self.fields.zero_data_retention
        }

        /// `attribution`: string usage labels.
        pub fn attribution(&self) -> Option<&std::collections::BTreeMap<String, String>> {
            self.fields.attribution.as_ref()
        }

        /// The whole payload, for claims not mapped above (built on first use).
        pub fn claims(&self) -> &serde_json::Map<String, serde_json::Value> {
            self.fields.raw_claims()
        }

        /// The whole payload, by value.
        pub fn into_claims(self) -> serde_json::Map<String, serde_json::Value> {
            self.fields.into_raw_claims()
        }
    };
}

/// A client token whose signature, header and registered claims were verified, with the claims
/// mapped as the Python SDK maps them (decart-api section 6).
///
/// Every mapped claim, when present and not null, has its documented type (for example
/// `models` is an array of strings and `zeroDataRetention` a boolean); a token where one does
/// not is rejected with [`VerifyError::InvalidClaim`] rather than read as unrestricted.
/// `service_tier` and `priority` follow the Python SDK's lenient rules instead.
///
/// `Debug` shows the claims; the token itself is not kept.
#[derive(Debug, Clone)]
pub struct VerifiedClientToken {
    fields: Fields,
    user_id: String,
    kid: String,
    expires_at: SystemTime,
    issued_at: Option<SystemTime>,
    not_before: Option<SystemTime>,
}

impl VerifiedClientToken {
    pub(crate) fn from_claims(
        claims: Claims<'_>,
        payload: Vec<u8>,
        registered: Registered,
        kid: String,
    ) -> Result<Self, VerifyError> {
        let expires_at = registered.exp.ok_or_else(|| VerifyError::MissingClaim {
            name: "exp".to_owned(),
        })?;
        let missing_sub = || VerifyError::MissingClaim {
            name: "sub".to_owned(),
        };
        if !claims.has("sub") {
            return Err(missing_sub());
        }
        let mut fields = Fields::extract(claims, payload, true)?;
        let user_id = fields.user_id.take().ok_or_else(missing_sub)?;
        Ok(VerifiedClientToken {
            fields,
            user_id,
            kid,
            expires_at,
            issued_at: registered.iat,
            not_before: registered.nbf,
        })
    }

    /// `sub`: the user the token was issued for.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// `exp`.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// `iat`, when present.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.issued_at
    }

    /// `nbf`, when present.
    pub fn not_before(&self) -> Option<SystemTime> {
        self.not_before
    }

    /// The header's `kid`: which key signed the token.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    common_accessors!();
}

/// A client token decoded WITHOUT verification, from
/// [`decode_client_token`](super::decode_client_token). Nothing in it can be trusted: anyone
/// can forge such a token. Use it for logging or debugging, never for authorization; use
/// [`VerifiedClientToken`] for that.
///
/// The accessors are those of [`VerifiedClientToken`], except that nothing is required: a
/// mapped claim that is absent, null or of the wrong type reads as `None` (or `false`).
#[derive(Debug, Clone)]
pub struct UntrustedClientToken {
    fields: Fields,
    alg: Option<String>,
    kid: Option<String>,
    expires_at: Option<SystemTime>,
    issued_at: Option<SystemTime>,
    not_before: Option<SystemTime>,
}

impl UntrustedClientToken {
    pub(crate) fn from_claims(
        claims: Claims<'_>,
        payload: Vec<u8>,
        alg: Option<String>,
        kid: Option<String>,
    ) -> Result<Self, VerifyError> {
        let date = |claim| claims.value(claim)?.as_f64().and_then(numeric_to_time);
        let (expires_at, issued_at, not_before) =
            (date(Claim::Exp), date(Claim::Iat), date(Claim::Nbf));
        // Lenient extraction reads ill-typed claims as absent; an error here would be a bug,
        // reported as a malformed token rather than a panic.
        let fields = Fields::extract(claims, payload, false)?;
        Ok(UntrustedClientToken {
            fields,
            alg,
            kid,
            expires_at,
            issued_at,
            not_before,
        })
    }

    /// `sub`, when a string.
    pub fn user_id(&self) -> Option<&str> {
        self.fields.user_id.as_deref()
    }

    /// `exp`, when a number in range.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// `iat`, when a number in range.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.issued_at
    }

    /// `nbf`, when a number in range.
    pub fn not_before(&self) -> Option<SystemTime> {
        self.not_before
    }

    /// The header's `kid`, when a string.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The header's `alg`, when a string (any value: nothing was checked).
    pub fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    common_accessors!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_tier_table() {
        let cases: &[(Value, Option<u8>)] = &[
            (json!(0), Some(0)),
            (json!(1), Some(1)),
            (json!(2), Some(2)),
            (json!(3), Some(3)),
            (json!("2"), Some(2)),
            (json!("0"), Some(0)),
            (json!("03"), Some(3)),
            (json!("0000000000000000000000000001"), Some(1)),
            (json!("99999999999999999999999999"), None),
            (json!(4), None),
            (json!("4"), None),
            (json!(-1), None),
            (json!("-1"), None),
            (json!(true), None),
            (json!(false), None),
            (json!("abc"), None),
            (json!(""), None),
            (json!(" 2"), None),
            (json!("２"), None),
            (json!(2.0), None),
            (json!(2.5), None),
            (json!(null), None),
            (json!([2]), None),
            (json!({"tier": 2}), None),
            (json!(u64::MAX), None),
        ];
        for (v, want) in cases {
            assert_eq!(parse_service_tier(Some(v)), *want, "{v}");
        }
        assert_eq!(parse_service_tier(None), None);
    }

    fn extract(v: &Value, strict: bool) -> Result<Fields, VerifyError> {
        let text = v.to_string();
        let claims = json::parse_claims(text.as_bytes()).unwrap();
        Fields::extract(claims, text.clone().into_bytes(), strict)
    }

    fn fields(v: Value) -> Fields {
        extract(&v, true).unwrap()
    }

    #[test]
    fn priority_fallback() {
        assert_eq!(fields(json!({"priority": true})).service_tier, Some(3));
        assert_eq!(fields(json!({"priority": 1})).service_tier, Some(3));
        assert_eq!(fields(json!({"priority": "yes"})).service_tier, Some(3));
        assert_eq!(fields(json!({"priority": false})).service_tier, None);
        assert_eq!(fields(json!({"priority": 0})).service_tier, None);
        assert_eq!(fields(json!({"priority": ""})).service_tier, None);
        assert_eq!(fields(json!({"priority": null})).service_tier, None);
        assert_eq!(
            fields(json!({"service_tier": 1, "priority": true})).service_tier,
            Some(1)
        );
        assert_eq!(
            fields(json!({"service_tier": 0, "priority": true})).service_tier,
            Some(0)
        );
        assert_eq!(
            fields(json!({"service_tier": 9, "priority": true})).service_tier,
            Some(3)
        );
        assert_eq!(
            fields(json!({"service_tier": true, "priority": true})).service_tier,
            Some(3)
        );
    }

    #[test]
    fn api_key_id_fallback() {
        assert_eq!(
            fields(json!({"parent_api_key_id": "p", "jti": "j"}))
                .api_key_id
                .as_deref(),
            Some("p")
        );
        assert_eq!(fields(json!({"jti": "j"})).api_key_id.as_deref(), Some("j"));
        assert_eq!(
            fields(json!({"parent_api_key_id": "", "jti": "j"}))
                .api_key_id
                .as_deref(),
            Some("j")
        );
        assert_eq!(fields(json!({})).api_key_id, None);
    }

    #[test]
    fn strict_versus_lenient() {
        let m = json!({"models": "lucy-2.1", "zeroDataRetention": "true"});
        let e = extract(&m, true).unwrap_err();
        assert!(
            matches!(e, VerifyError::InvalidClaim { ref name, .. } if name == "models"),
            "{e}"
        );
        let f = extract(&m, false).unwrap();
        assert_eq!(f.raw_claims()["models"], "lucy-2.1");
        assert!(format!("{f:?}").contains(r#"\"models\":\"lucy-2.1\""#));
        assert_eq!(f.allowed_models, None);
        assert!(!f.zero_data_retention);
        for bad in [
            json!({"origins": [1]}),
            json!({"attribution": {"a": 1}}),
            json!({"attribution": []}),
            json!({"realtimeConcurrentSessionLimit": -1}),
            json!({"realtimeConcurrentSessionLimit": 1.5}),
            json!({"realtimeConcurrentSessionLimit": "3"}),
            json!({"organizationId": 5}),
            json!({"zeroDataRetention": 1}),
        ] {
            assert!(extract(&bad, true).is_err(), "{bad}");
        }
        let f = fields(json!({"models": null, "origins": null, "constraints": null}));
        assert!(
            f.allowed_models.is_none() && f.allowed_origins.is_none() && f.constraints.is_none()
        );
    }

    #[test]
    fn pool_names() {
        assert_eq!(Pool::Free.as_str(), "free");
        assert_eq!(Pool::Paid.as_str(), "paid");
    }
}
