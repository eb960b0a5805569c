//! Realtime subscribe tokens: base64 of the JSON `{"room_name": "..."}`.
//!
//! Tokens are encoded the JS SDK's way (standard base64 alphabet, padded, compact JSON) and
//! decoded leniently: the standard or the URL-safe alphabet, with or without padding, compact
//! JSON or the Python SDK's `{"room_name": "..."}` with a space.
//!
//! ```
//! use decart::models::{decode_subscribe_token, encode_subscribe_token};
//!
//! let token = encode_subscribe_token("room-42");
//! assert_eq!(token, "eyJyb29tX25hbWUiOiJyb29tLTQyIn0=");
//! assert_eq!(decode_subscribe_token(&token)?, "room-42");
//! # Ok::<(), decart::Error>(())
//! ```

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};

use crate::Error;

const FIELD: &str = "subscribe_token";

const ENCODER: GeneralPurpose = base64::engine::general_purpose::STANDARD;

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Encodes a subscribe token for a room: standard base64 (padded) of the compact JSON
/// `{"room_name":"<room>"}`.
pub fn encode_subscribe_token(room_name: &str) -> String {
    let json = serde_json::json!({ "room_name": room_name }).to_string();
    ENCODER.encode(json)
}

/// Decodes a subscribe token and returns its room name.
///
/// Accepts the standard and the URL-safe base64 alphabets, with or without padding, and any
/// JSON spacing; surrounding whitespace is ignored, and so are keys other than `room_name`.
///
/// # Errors
///
/// [`Error::InvalidInput`] (field `subscribe_token`) when the token is not base64, not JSON,
/// not a JSON object, or has no `room_name` string, or an empty one.
pub fn decode_subscribe_token(token: &str) -> Result<String, Error> {
    let object = token_object(token)?;
    match object.get("room_name") {
        None => Err(invalid("the token has no room_name")),
        Some(serde_json::Value::String(s)) if s.is_empty() => {
            Err(invalid("the token's room_name is empty"))
        }
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid("the token's room_name is not a string")),
    }
}

/// Whether a subscribe token says the session's frames carry LiveKit packet trailers
/// (`"frame_timing": true`, written by the next, unreleased JS SDK when its publisher
/// advertises frame timing). A token that does not decode says no.
#[cfg(all(feature = "realtime", any(feature = "blocking", feature = "async")))]
pub(crate) fn subscribe_token_frame_timing(token: &str) -> bool {
    token_object(token)
        .ok()
        .and_then(|o| o.get("frame_timing").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

/// The JSON object inside a subscribe token (either base64 alphabet, padded or not).
fn token_object(token: &str) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    let token = token.trim();
    if token.is_empty() {
        return Err(invalid("the token is empty"));
    }
    let engine = if token.contains(['-', '_']) {
        &URL_SAFE_LENIENT
    } else {
        &STANDARD_LENIENT
    };
    let bytes = engine
        .decode(token)
        .map_err(|_| invalid("the token is not valid base64"))?;
    match serde_json::from_slice(&bytes) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(invalid("the token does not hold a JSON object")),
        Err(_) => Err(invalid("the token does not hold JSON")),
    }
}

fn invalid(message: &str) -> Error {
    Error::invalid_input(FIELD, format!("invalid subscribe token: {message}"))
}
