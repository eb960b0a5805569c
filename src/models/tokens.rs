//! Client tokens: the options of `POST /v1/client/tokens` and its answer.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Secret;
use crate::error::{Error, Operation};

/// The longest lifetime a client token may be given, in seconds (one hour).
pub const MAX_EXPIRES_IN: u32 = 3600;
/// The most models one client token may be restricted to.
pub const MAX_ALLOWED_MODELS: usize = 20;
/// The most origins one client token may be restricted to.
pub const MAX_ALLOWED_ORIGINS: usize = 20;

/// Options for [`Tokens::create`](crate::blocking::Tokens::create). All are optional; with none,
/// the server's defaults apply (a 60-second token, unrestricted).
///
/// Every rule of the API is checked before any request is sent.
///
/// ```
/// use decart::CreateTokenOptions;
/// let options = CreateTokenOptions::new()
///     .expires_in(600)
///     .allowed_models(["lucy-2.1", "lucy-image-2"])
///     .allowed_origins(["https://example.com"])
///     .max_session_duration(120)
///     .metadata(serde_json::json!({"service_tier": 2}));
/// assert!(options.validate().is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateTokenOptions {
    metadata: Option<Map<String, Value>>,
    metadata_error: bool,
    expires_in: Option<u32>,
    allowed_models: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    constraints: Option<Map<String, Value>>,
}

impl CreateTokenOptions {
    /// No options: the server's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Free key/values attached to the token. Known keys become JWT claims: `service_tier`
    /// (0 free, 1 user, 2 pro, 3 priority), legacy `priority: true`, and `attribution`
    /// (string → string usage labels). Must be a JSON object.
    pub fn metadata(mut self, metadata: Value) -> Self {
        match metadata {
            Value::Object(map) => {
                self.metadata = Some(map);
                self.metadata_error = false;
            }
            _ => {
                self.metadata = None;
                self.metadata_error = true;
            }
        }
        self
    }

    /// The token's lifetime in seconds, 1 to 3600 (the server's default is 60).
    pub fn expires_in(mut self, seconds: u32) -> Self {
        self.expires_in = Some(seconds);
        self
    }

    /// The lifetime as a [`Duration`] (whole seconds; sub-second parts are rounded up).
    pub fn expires_in_duration(self, lifetime: Duration) -> Self {
        let secs = lifetime.as_secs() + u64::from(lifetime.subsec_nanos() > 0);
        self.expires_in(u32::try_from(secs).unwrap_or(u32::MAX))
    }

    /// Restricts the token to these models (at most 20). Without it the token is unrestricted.
    pub fn allowed_models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_models = Some(models.into_iter().map(Into::into).collect());
        self
    }

    /// Restricts realtime sessions to browsers on these origins (at most 20), each a full origin
    /// such as `https://example.com` or `http://localhost:3000`: scheme, host, optional port,
    /// nothing else. Matched verbatim against the browser's `Origin` header.
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// The longest a realtime session opened with this token may last, in seconds
    /// (`constraints.realtime.maxSessionDuration` on the wire).
    pub fn max_session_duration(mut self, seconds: u32) -> Self {
        let constraints = self.constraints.get_or_insert_with(Map::new);
        let realtime = constraints
            .entry("realtime")
            .or_insert_with(|| Value::Object(Map::new()));
        if !realtime.is_object() {
            *realtime = Value::Object(Map::new());
        }
        if let Value::Object(realtime) = realtime {
            realtime.insert("maxSessionDuration".into(), Value::from(seconds));
        }
        self
    }

    /// The whole `constraints` object, as sent (for constraints this crate does not name yet).
    /// Replaces any earlier [`max_session_duration`](Self::max_session_duration).
    pub fn constraints(mut self, constraints: Map<String, Value>) -> Self {
        self.constraints = Some(constraints);
        self
    }

    /// Checks every rule of the API without sending anything.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the field: `metadata` not an object, `expires_in` outside
    /// 1–3600, more than 20 `allowed_models` or `allowed_origins`, an empty model name, or an
    /// origin that is not `scheme://host[:port]`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.metadata_error {
            return Err(Error::invalid_input(
                "metadata",
                "metadata must be a JSON object",
            ));
        }
        if let Some(secs) = self.expires_in {
            if !(1..=MAX_EXPIRES_IN).contains(&secs) {
                return Err(Error::invalid_input(
                    "expires_in",
                    format!("must be between 1 and {MAX_EXPIRES_IN} seconds, got {secs}"),
                ));
            }
        }
        if let Some(models) = &self.allowed_models {
            if models.len() > MAX_ALLOWED_MODELS {
                return Err(Error::invalid_input(
                    "allowed_models",
                    format!(
                        "at most {MAX_ALLOWED_MODELS} models are allowed, got {}",
                        models.len()
                    ),
                ));
            }
            if let Some(i) = models.iter().position(|m| m.trim().is_empty()) {
                return Err(Error::invalid_input(
                    format!("allowed_models[{i}]"),
                    "a model name must not be empty",
                ));
            }
        }
        if let Some(origins) = &self.allowed_origins {
            if origins.len() > MAX_ALLOWED_ORIGINS {
                return Err(Error::invalid_input(
                    "allowed_origins",
                    format!(
                        "at most {MAX_ALLOWED_ORIGINS} origins are allowed, got {}",
                        origins.len()
                    ),
                ));
            }
            for (i, origin) in origins.iter().enumerate() {
                check_origin(origin).map_err(|why| {
                    Error::invalid_input(
                        format!("allowed_origins[{i}]"),
                        format!("{origin:?} is not a full origin (scheme://host[:port]): {why}"),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// The JSON body, exactly as sent: camelCase, absent options omitted, `{}` when none.
    pub(crate) fn to_body(&self) -> Vec<u8> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            metadata: Option<&'a Map<String, Value>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            expires_in: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            allowed_models: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            allowed_origins: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            constraints: Option<&'a Map<String, Value>>,
        }
        let body = Body {
            metadata: self.metadata.as_ref(),
            expires_in: self.expires_in,
            allowed_models: self.allowed_models.as_deref(),
            allowed_origins: self.allowed_origins.as_deref(),
            constraints: self.constraints.as_ref(),
        };
        // Serialising maps of JSON values and strings cannot fail.
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// An origin is `scheme://host[:port]` and nothing else (no path, query, fragment, user info).
/// Shared with the emulator, which enforces the same rule server-side.
pub(crate) fn check_origin(origin: &str) -> Result<(), &'static str> {
    if origin.is_empty() {
        return Err("it is empty");
    }
    if origin.trim() != origin {
        return Err("it has surrounding white space");
    }
    let (scheme, rest) = origin.split_once("://").ok_or("it has no scheme")?;
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return Err("the scheme is not valid");
    }
    if rest.is_empty() {
        return Err("it has no host");
    }
    if rest.contains(['/', '?', '#']) {
        return Err("it has a path, query or fragment");
    }
    if rest.contains('@') {
        return Err("it has user info");
    }
    let url = url::Url::parse(origin).map_err(|_| "it does not parse as a URL")?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host");
    }
    if let Some((_, port)) = rest.rsplit_once(':') {
        if !rest.ends_with(']') && (port.is_empty() || port.parse::<u16>().is_err()) {
            return Err("the port is not a number from 0 to 65535");
        }
    }
    Ok(())
}

/// The scope a token was restricted to, as the server echoes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Permissions {
    /// The models the token may use (`None`: unrestricted).
    #[serde(default)]
    pub models: Option<Vec<String>>,
    /// The browser origins the token may be used from (`None`: any).
    #[serde(default)]
    pub origins: Option<Vec<String>>,
}

/// A client token, as `POST /v1/client/tokens` answers: an opaque key for ordinary calls and,
/// when the server can sign one, a JWT with the same scope and expiry for realtime connections,
/// browser uploads and gateways that verify it offline.
///
/// `Debug` never prints the key or the JWT.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct ClientToken {
    /// The opaque client key (`ek_…`).
    pub api_key: Secret,
    /// The signed client-token JWT (`eyJ…`); `None` when the server did not issue one.
    pub token: Option<Secret>,
    /// When the token expires, as the server wrote it (RFC 3339, e.g. `2024-12-15T12:10:00Z`).
    pub expires_at: String,
    /// The scope, when allowed models or origins were set.
    pub permissions: Option<Permissions>,
    /// The operational limits, when constraints were set (e.g. `{"realtime":
    /// {"maxSessionDuration": 120}}`).
    pub constraints: Option<Value>,
}

impl ClientToken {
    /// The expiry as a point in time, if [`expires_at`](Self::expires_at) is valid RFC 3339.
    pub fn expires_at_time(&self) -> Option<SystemTime> {
        parse_rfc3339(&self.expires_at)
    }

    /// Decodes the client token's answer.
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire {
            api_key: Option<String>,
            #[serde(default)]
            token: Option<String>,
            expires_at: Option<String>,
            #[serde(default)]
            permissions: Option<Permissions>,
            #[serde(default)]
            constraints: Option<Value>,
        }
        let op = Operation::TokenCreate;
        let wire: Wire = serde_json::from_slice(body).map_err(|e| {
            let what = if body.iter().all(u8::is_ascii_whitespace) {
                "the body is empty".to_owned()
            } else {
                format!("the body is not the expected JSON ({e})")
            };
            Error::decode_withheld(op, what)
        })?;
        let api_key = wire
            .api_key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::decode_withheld(op, "the answer has no apiKey"))?;
        let expires_at = wire
            .expires_at
            .filter(|e| !e.is_empty())
            .ok_or_else(|| Error::decode_withheld(op, "the answer has no expiresAt"))?;
        Ok(ClientToken {
            api_key: Secret::new(api_key),
            token: wire.token.filter(|t| !t.is_empty()).map(Secret::new),
            expires_at,
            permissions: wire.permissions,
            constraints: wire.constraints.filter(|c| !c.is_null()),
        })
    }
}

impl fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientToken")
            .field("api_key", &self.api_key)
            .field("token", &self.token.as_ref().map(|_| "<redacted JWT>"))
            .field("expires_at", &self.expires_at)
            .field("permissions", &self.permissions)
            .field("constraints", &self.constraints)
            .finish()
    }
}

/// Parses an RFC 3339 timestamp (`2024-12-15T12:10:00Z`, `…T12:10:00.123+02:00`).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r| num_in(s, r);
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') && &rest[3..4] == ":" => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (num_in(rest, 1..3)? * 3600 + num_in(rest, 4..6)? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
}

fn num_in(s: &str, r: std::ops::Range<usize>) -> Option<i64> {
    let part = s.get(r)?;
    if !part.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(o: &CreateTokenOptions) -> Value {
        serde_json::from_slice(&o.to_body()).unwrap()
    }

    #[test]
    fn empty_options_send_empty_object() {
        assert_eq!(CreateTokenOptions::new().to_body(), b"{}");
    }

    #[test]
    fn all_options_camel_case() {
        let o = CreateTokenOptions::new()
            .metadata(json!({"service_tier": 2}))
            .expires_in(120)
            .allowed_models(["lucy-2.1"])
            .allowed_origins(["https://example.com"])
            .max_session_duration(300);
        assert_eq!(
            body(&o),
            json!({
                "metadata": {"service_tier": 2},
                "expiresIn": 120,
                "allowedModels": ["lucy-2.1"],
                "allowedOrigins": ["https://example.com"],
                "constraints": {"realtime": {"maxSessionDuration": 300}}
            })
        );
    }

    #[test]
    fn origin_rules() {
        for ok in [
            "https://example.com",
            "http://localhost:3000",
            "https://[::1]:8443",
            "https://a.b.example.co.uk",
            "chrome-extension://abcdef",
        ] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "example.com",
            "https://",
            "https://example.com/",
            "https://example.com/path",
            "https://example.com?q=1",
            "https://example.com#x",
            "https://user@example.com",
            "https://example.com:99999",
            "https://example.com:",
            " https://example.com",
            "://example.com",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rfc3339() {
        let t = parse_rfc3339("2024-12-15T12:10:00Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_734_264_600
        );
        let t2 = parse_rfc3339("2024-12-15T14:10:00.5+02:00").unwrap();
        assert_eq!(
            t2.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::new(1_734_264_600, 500_000_000)
        );
        for bad in [
            "",
            "2024-12-15",
            "2024-13-15T12:10:00Z",
            "2024-12-15T12:10:00",
            "x",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
    }
}
