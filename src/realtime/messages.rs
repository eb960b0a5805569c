//! The JSON messages of the control WebSocket, both directions (see `docs/realtime-protocol.md`,
//! section 3). Each is one JSON object in a text frame, tagged by `type`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A message the client sends.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// `{"type":"livekit_join"}`: asks for the LiveKit room of the session.
    LivekitJoin,
    /// `{"type":"prompt","prompt":…,"enhance_prompt":…}`.
    Prompt {
        /// The prompt text.
        prompt: String,
        /// Whether the server may rewrite the prompt (the peers' default: `true`).
        enhance_prompt: bool,
    },
    /// `{"type":"set_image","image_data":…|null,"prompt"?:…,"enhance_prompt"?:…}`, or with
    /// `image_ref` instead of `image_data` for an uploaded file.
    SetImage {
        /// Raw base64 of the image (no `data:` prefix); `null` clears the image. Omitted when
        /// `image_ref` is sent.
        #[serde(default, skip_serializing_if = "ImageData::is_omitted")]
        image_data: ImageData,
        /// An uploaded file's id (`file_…`), instead of the bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image_ref: Option<String>,
        /// A prompt to apply with the image; `Some(None)` sends an explicit `null`.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "explicit_null"
        )]
        prompt: Option<Option<String>>,
        /// Whether the server may rewrite the prompt; omitted when unset.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enhance_prompt: Option<bool>,
    },
}

/// The `image_data` field of a `set_image` message.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum ImageData {
    /// Not sent (an `image_ref` message).
    #[default]
    Omitted,
    /// `null`: no image (passthrough).
    Null,
    /// Raw base64 of the image.
    Base64(String),
}

impl ImageData {
    fn is_omitted(&self) -> bool {
        matches!(self, ImageData::Omitted)
    }
}

impl Serialize for ImageData {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ImageData::Omitted | ImageData::Null => s.serialize_none(),
            ImageData::Base64(b) => s.serialize_str(b),
        }
    }
}

impl<'de> Deserialize<'de> for ImageData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<String>::deserialize(d)? {
            None => ImageData::Null,
            Some(s) => ImageData::Base64(s),
        })
    }
}

/// `Option<Option<T>>` with an explicit JSON `null` for `Some(None)`.
mod explicit_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        v: &Option<Option<String>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::<String>::deserialize(d)?))
    }
}

impl ClientMessage {
    /// The message as the JSON text of one frame.
    pub fn to_json(&self) -> String {
        // Serialising these plain types cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The message's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::LivekitJoin => "livekit_join",
            ClientMessage::Prompt { .. } => "prompt",
            ClientMessage::SetImage { .. } => "set_image",
        }
    }
}

impl fmt::Debug for ClientMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientMessage::LivekitJoin => f.write_str("LivekitJoin"),
            ClientMessage::Prompt {
                prompt,
                enhance_prompt,
            } => f
                .debug_struct("Prompt")
                .field("prompt", prompt)
                .field("enhance_prompt", enhance_prompt)
                .finish(),
            ClientMessage::SetImage {
                image_data,
                image_ref,
                prompt,
                enhance_prompt,
            } => f
                .debug_struct("SetImage")
                .field("image_data", image_data)
                .field("image_ref", image_ref)
                .field("prompt", prompt)
                .field("enhance_prompt", enhance_prompt)
                .finish(),
        }
    }
}

impl fmt::Debug for ImageData {
    // An image is not printed, only its size.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageData::Omitted => f.write_str("Omitted"),
            ImageData::Null => f.write_str("Null"),
            ImageData::Base64(b) => write!(f, "Base64(<{} chars>)", b.len()),
        }
    }
}

/// A message the server sends. Unknown `type`s parse as [`ServerMessage::Unknown`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// The LiveKit room of the session: the answer to `livekit_join`.
    LivekitRoomInfo {
        /// The LiveKit server's URL (`wss://…`).
        livekit_url: String,
        /// The LiveKit access token (a LiveKit JWT, not the Decart one).
        token: String,
        /// The room's name (for subscribe tokens).
        room_name: String,
        /// The public session id.
        session_id: String,
    },
    /// The session waits for a GPU.
    QueuePosition {
        /// The place in the queue (1 = next).
        position: u64,
        /// How many sessions wait.
        queue_size: u64,
    },
    /// The answer to a `prompt`, matched by its text.
    PromptAck {
        /// The prompt this answers.
        prompt: String,
        /// Whether the prompt was applied.
        success: bool,
        /// Why not.
        #[serde(default)]
        error: Option<String>,
    },
    /// The answer to a `set_image`.
    SetImageAck {
        /// Whether the image was applied.
        success: bool,
        /// Why not.
        #[serde(default)]
        error: Option<String>,
    },
    /// Generation started.
    GenerationStarted,
    /// Billable seconds so far.
    GenerationTick {
        /// Seconds generated.
        seconds: u64,
    },
    /// Generation ended.
    GenerationEnded {
        /// Seconds generated.
        seconds: u64,
        /// Why it ended.
        reason: String,
    },
    /// A server error; the server usually closes the socket after it.
    Error {
        /// The server's message.
        error: String,
    },
    /// Legacy (pre-LiveKit) session announcement; ignored.
    SessionId {
        /// The session id.
        session_id: String,
    },
    /// Legacy ready signal; ignored.
    Ready,
    /// A `type` this crate does not know (ignored, for forward compatibility).
    #[serde(skip)]
    Unknown(String),
}

/// Why a text frame is not a server message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) message: String,
    /// A known informational message (queue position, generation events, legacy
    /// announcements) that does not match its shape: the session can do without it, and the
    /// peers skip such frames.
    pub(crate) skippable: bool,
}

impl ParseError {
    fn fatal(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
            skippable: false,
        }
    }
}

/// Known types the session needs: a malformed one ends it. The rest only inform.
const ESSENTIAL: [&str; 4] = ["livekit_room_info", "prompt_ack", "set_image_ack", "error"];

/// The most bytes of a server's error or end reason kept (events and errors are kept for the
/// caller; a control message may be 1 MiB).
const MAX_SERVER_TEXT: usize = 4096;

/// `text` cut to [`MAX_SERVER_TEXT`] bytes at a character boundary, with `…` when cut.
fn cut(mut text: String) -> String {
    if text.len() > MAX_SERVER_TEXT {
        let mut end = MAX_SERVER_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The message with the server's free texts (errors, reasons) cut to [`MAX_SERVER_TEXT`].
/// A prompt acknowledgement's prompt is kept whole: it is matched against the one sent.
fn bounded(message: ServerMessage) -> ServerMessage {
    match message {
        ServerMessage::PromptAck {
            prompt,
            success,
            error,
        } => ServerMessage::PromptAck {
            prompt,
            success,
            error: error.map(cut),
        },
        ServerMessage::SetImageAck { success, error } => ServerMessage::SetImageAck {
            success,
            error: error.map(cut),
        },
        ServerMessage::GenerationEnded { seconds, reason } => ServerMessage::GenerationEnded {
            seconds,
            reason: cut(reason),
        },
        ServerMessage::Error { error } => ServerMessage::Error { error: cut(error) },
        other => other,
    }
}

/// serde's message with any quoted value replaced by `…` (a value may be server text).
fn without_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

impl ServerMessage {
    /// Parses one text frame. Unknown types are [`ServerMessage::Unknown`]; a frame that is not
    /// a JSON object with a string `type`, or a known type with the wrong fields, is an error.
    pub(crate) fn parse(text: &str) -> Result<ServerMessage, ParseError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| ParseError::fatal("the frame is not JSON"))?;
        let kind = match value.get("type") {
            Some(serde_json::Value::String(t)) => t.clone(),
            _ if !value.is_object() => {
                return Err(ParseError::fatal("the frame is not a JSON object"));
            }
            _ => return Err(ParseError::fatal("the message has no string `type`")),
        };
        const KNOWN: [&str; 10] = [
            "livekit_room_info",
            "queue_position",
            "prompt_ack",
            "set_image_ack",
            "generation_started",
            "generation_tick",
            "generation_ended",
            "error",
            "session_id",
            "ready",
        ];
        if !KNOWN.contains(&kind.as_str()) {
            return Ok(ServerMessage::Unknown(kind));
        }
        let message = serde_json::from_value(value).map_err(|e| ParseError {
            // serde's message names the field; the values it may quote are left out.
            message: format!(
                "a `{kind}` message does not match its shape ({})",
                without_values(&e.to_string())
            ),
            skippable: !ESSENTIAL.contains(&kind.as_str()),
        })?;
        Ok(bounded(message))
    }
}

impl fmt::Debug for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerMessage::LivekitRoomInfo {
                livekit_url,
                room_name,
                session_id,
                ..
            } => f
                .debug_struct("LivekitRoomInfo")
                .field("livekit_url", livekit_url)
                .field("token", &"<redacted>")
                .field("room_name", room_name)
                .field("session_id", session_id)
                .finish(),
            ServerMessage::QueuePosition {
                position,
                queue_size,
            } => f
                .debug_struct("QueuePosition")
                .field("position", position)
                .field("queue_size", queue_size)
                .finish(),
            ServerMessage::PromptAck {
                prompt,
                success,
                error,
            } => f
                .debug_struct("PromptAck")
                .field("prompt", prompt)
                .field("success", success)
                .field("error", error)
                .finish(),
            ServerMessage::SetImageAck { success, error } => f
                .debug_struct("SetImageAck")
                .field("success", success)
                .field("error", error)
                .finish(),
            ServerMessage::GenerationStarted => f.write_str("GenerationStarted"),
            ServerMessage::GenerationTick { seconds } => f
                .debug_struct("GenerationTick")
                .field("seconds", seconds)
                .finish(),
            ServerMessage::GenerationEnded { seconds, reason } => f
                .debug_struct("GenerationEnded")
                .field("seconds", seconds)
                .field("reason", reason)
                .finish(),
            ServerMessage::Error { error } => {
                f.debug_struct("Error").field("error", error).finish()
            }
            ServerMessage::SessionId { session_id } => f
                .debug_struct("SessionId")
                .field("session_id", session_id)
                .finish(),
            ServerMessage::Ready => f.write_str("Ready"),
            ServerMessage::Unknown(kind) => f.debug_tuple("Unknown").field(kind).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_on_the_wire() {
        assert_eq!(
            ClientMessage::LivekitJoin.to_json(),
            r#"{"type":"livekit_join"}"#
        );
        let p = ClientMessage::Prompt {
            prompt: "a cat".into(),
            enhance_prompt: true,
        };
        assert_eq!(
            p.to_json(),
            r#"{"type":"prompt","prompt":"a cat","enhance_prompt":true}"#
        );
        let img = ClientMessage::SetImage {
            image_data: ImageData::Base64("QUJD".into()),
            image_ref: None,
            prompt: Some(Some("p".into())),
            enhance_prompt: Some(false),
        };
        assert_eq!(
            img.to_json(),
            r#"{"type":"set_image","image_data":"QUJD","prompt":"p","enhance_prompt":false}"#
        );
        let pass = ClientMessage::SetImage {
            image_data: ImageData::Null,
            image_ref: None,
            prompt: Some(None),
            enhance_prompt: None,
        };
        assert_eq!(
            pass.to_json(),
            r#"{"type":"set_image","image_data":null,"prompt":null}"#
        );
        let by_ref = ClientMessage::SetImage {
            image_data: ImageData::Omitted,
            image_ref: Some("file_1".into()),
            prompt: None,
            enhance_prompt: None,
        };
        assert_eq!(
            by_ref.to_json(),
            r#"{"type":"set_image","image_ref":"file_1"}"#
        );
        // And back (the emulator parses these).
        for m in [p, img, pass, by_ref, ClientMessage::LivekitJoin] {
            let back: ClientMessage = serde_json::from_str(&m.to_json()).unwrap();
            assert_eq!(back, m);
        }
    }

    #[test]
    fn server_messages_parse() {
        let info = ServerMessage::parse(
            r#"{"type":"livekit_room_info","livekit_url":"wss://lk","token":"t","room_name":"r","session_id":"s"}"#,
        )
        .unwrap();
        assert!(matches!(info, ServerMessage::LivekitRoomInfo { .. }));
        assert!(!format!("{info:?}").contains("\"t\""));
        assert_eq!(
            ServerMessage::parse(r#"{"type":"prompt_ack","prompt":"x","success":true}"#).unwrap(),
            ServerMessage::PromptAck {
                prompt: "x".into(),
                success: true,
                error: None
            }
        );
        assert_eq!(
            ServerMessage::parse(r#"{"type":"brand_new","x":1}"#).unwrap(),
            ServerMessage::Unknown("brand_new".into())
        );
        assert!(
            ServerMessage::parse(
                r#"{"type":"session_id","session_id":"s","server_ip":"1","server_port":2}"#
            )
            .is_ok()
        );
        for bad in [
            "not json",
            "[1]",
            "42",
            r#"{"no":"type"}"#,
            r#"{"type":7}"#,
            r#"{"type":"livekit_room_info","livekit_url":"u"}"#,
            r#"{"type":"prompt_ack","prompt":null,"success":true}"#,
            r#"{"type":"set_image_ack","success":"yes"}"#,
            r#"{"type":"error"}"#,
        ] {
            let e = ServerMessage::parse(bad).unwrap_err();
            assert!(!e.skippable, "{bad}");
        }
        // The server's free texts are cut at 4 KiB (on a character boundary).
        let long = "é".repeat(5000);
        let parsed = ServerMessage::parse(&format!(r#"{{"type":"error","error":"{long}"}}"#));
        match parsed.unwrap() {
            ServerMessage::Error { error } => {
                assert!(error.len() <= MAX_SERVER_TEXT + '…'.len_utf8());
                assert!(error.ends_with('…') && error.starts_with("éé"));
            }
            other => panic!("{other:?}"),
        }
        // A malformed informational message may be skipped; the values are not quoted.
        for bad in [
            r#"{"type":"queue_position","position":-1,"queue_size":2}"#,
            r#"{"type":"generation_tick","seconds":1.5}"#,
            r#"{"type":"generation_ended","seconds":3}"#,
            r#"{"type":"session_id"}"#,
        ] {
            let e = ServerMessage::parse(bad).unwrap_err();
            assert!(e.skippable, "{bad}");
        }
        let e =
            ServerMessage::parse(r#"{"type":"generation_ended","seconds":"s3cr3t","reason":"x"}"#)
                .unwrap_err();
        assert!(!e.message.contains("s3cr3t"), "{}", e.message);
        assert!(e.message.contains("generation_ended"), "{}", e.message);
    }
}
