//! Realtime sessions: video through Decart's realtime models (feature `realtime`).
//!
//! A realtime session is a WebSocket to `{realtime base}/v1/stream` that carries JSON control
//! messages, plus a LiveKit room for the media. This module implements both (the wire contract
//! is `docs/realtime-protocol.md` in the repository): `connect` opens the session, sends the
//! initial prompt or image, waits out the queue, joins the LiveKit room and publishes a video
//! track; then [`VideoFrame`]s go out with `send_frame` and the model's come back with
//! `next_frame`. Prompts and images resolve on the server's acknowledgements; queue positions
//! and generation progress arrive as [`RealtimeEvent`]s. Frames are **encoded** (H.264 access
//! units in Annex B form, or VP8): encoding pictures is the caller's.
//!
//! The media is a minimal LiveKit participant over [str0m](https://docs.rs/str0m) (sans-I/O
//! WebRTC) on one std thread per session: no libwebrtc, nothing downloaded at build time, no
//! tokio in a blocking build. Host candidates only, no TURN: UDP to the LiveKit server must be
//! open.
//!
//! The session type exists in both flavours: [`crate::blocking::RealtimeSession`] (feature
//! `blocking`) and `decart::nonblocking::RealtimeSession` (feature `async`), opened with
//! `client.realtime().connect(&model, options)`; viewers (`RealtimeViewer`) with
//! `client.realtime().subscribe(token, options)`. The types here are shared by both.
//!
//! ```no_run
//! # #[cfg(feature = "blocking")]
//! # fn main() -> Result<(), decart::Error> {
//! use std::time::Duration;
//! use decart::realtime::{RealtimeOptions, VideoFrame};
//!
//! let client = decart::Client::from_env()?;
//! let model = decart::models::realtime("lucy-2.1")?;
//! let mut session = client
//!     .realtime()
//!     .connect(&model, RealtimeOptions::new().initial_prompt("a watercolor painting", true))?;
//! println!("session {}", session.session_id());
//! # let access_unit: Vec<u8> = Vec::new();
//! session.send_frame(VideoFrame::new(access_unit, Duration::ZERO))?;
//! if let Some(frame) = session.next_frame(Duration::from_secs(1))? {
//!     println!("{} bytes back", frame.data().len());
//! }
//! session.set_prompt("an oil painting", true)?;
//! while let Some(event) = session.next_event(Duration::ZERO)? {
//!     println!("{event:?}");
//! }
//! session.close()?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "blocking"))] fn main() {}
//! ```
//!
//! Secrets: the API key (or client token) rides the `api_key` query parameter, as the protocol
//! wants, but never appears in `Debug`, `Display`, errors or this crate's logs (the upgrade is
//! written by the crate, not by tungstenite); the LiveKit token in [`RoomInfo`] is a
//! [`Secret`] too, and is redacted from the signal URL wherever this crate shows it. One
//! caveat: `tungstenite` itself logs every frame it reads at `trace` level, the
//! `livekit_room_info` message (with the LiveKit token) included; keep `tungstenite` at `debug`
//! or above in production logs.
//!
//! The async flavour runs on tokio and needs a runtime with its time driver
//! (`#[tokio::main]` has it; a hand-built runtime needs `enable_time()` or `enable_all()`),
//! as its waits are `tokio::time` deadlines.

// Without a flavour, the session machinery is unused.
#![cfg_attr(not(any(feature = "blocking", feature = "async")), allow(dead_code))]

#[cfg(feature = "openh264")]
#[cfg_attr(docsrs, doc(cfg(feature = "openh264")))]
pub mod codec;
mod error;
pub(crate) mod media;
pub mod messages;
mod options;
pub(crate) mod socket;

#[cfg(feature = "blocking")]
pub(crate) mod blocking;
#[cfg(feature = "async")]
pub(crate) mod nonblocking;

pub use error::{
    PERMANENT_ERROR_SUBSTRINGS, POLICY_VIOLATION_CLOSE, RealtimeError, RealtimeErrorKind,
};
pub use media::{
    FrameRefused, MAX_BUFFERED_FRAMES, MAX_FRAME_BYTES, MAX_QUEUED_FRAMES, MediaStats, VideoCodec,
    VideoFrame,
};
pub use options::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_IMAGE_TIMEOUT, DEFAULT_MEDIA_TIMEOUT, DEFAULT_PROMPT_TIMEOUT,
    DEFAULT_QUEUE_TIMEOUT, DEFAULT_ROOM_INFO_TIMEOUT, RealtimeOptions, SetImage,
    default_realtime_retry,
};
#[cfg(any(feature = "blocking", feature = "async"))]
pub(crate) use options::{
    InitialState, StateInForce, check_not_expired, check_prompt, session_url,
};

use std::fmt;

use crate::config::Secret;

/// The LiveKit room of a session, from the server's `livekit_room_info`: what a LiveKit client
/// needs to join (`livekit_url` and `token`), and the ids.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoomInfo {
    /// The LiveKit server (`wss://…`).
    pub livekit_url: String,
    /// The LiveKit access token for this room (redacted in `Debug`).
    pub token: Secret,
    /// The room's name.
    pub room_name: String,
    /// The public session id.
    pub session_id: String,
}

impl RoomInfo {
    /// The subscribe token of this room, for viewers (base64 of `{"room_name":…}`).
    pub fn subscribe_token(&self) -> String {
        crate::models::encode_subscribe_token(&self.room_name)
    }
}

impl fmt::Debug for RoomInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomInfo")
            .field("livekit_url", &self.livekit_url)
            .field("token", &self.token)
            .field("room_name", &self.room_name)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// A viewer's credentials for a session's LiveKit room, from `POST /watch-stream/{room}`
/// (`Realtime::watch` in each flavour). Join the room receive-only and take the tracks of the
/// participant `inference-server-*`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeInfo {
    /// The LiveKit server (`wss://…`).
    pub livekit_url: String,
    /// The viewer's LiveKit access token (redacted in `Debug`).
    pub token: Secret,
    /// The room's name.
    pub room_name: String,
    /// The session id, when the server gives it.
    pub session_id: Option<String>,
}

impl SubscribeInfo {
    /// Parses the answer of `watch-stream`: `livekit_url`, `token` and `room_name` are required.
    #[cfg(any(feature = "blocking", feature = "async"))]
    pub(crate) fn from_json(body: &[u8]) -> Result<Self, crate::Error> {
        #[derive(serde::Deserialize)]
        struct Wire {
            livekit_url: Option<String>,
            token: Option<String>,
            room_name: Option<String>,
            session_id: Option<String>,
        }
        let op = crate::Operation::RealtimeWatch;
        let wire: Wire = serde_json::from_slice(body).map_err(|e| {
            crate::Error::decode_withheld(op, format!("the body is not the expected JSON ({e})"))
        })?;
        let missing =
            |field: &str| crate::Error::decode_withheld(op, format!("the answer has no {field}"));
        let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
        Ok(SubscribeInfo {
            livekit_url: nonempty(wire.livekit_url).ok_or_else(|| missing("livekit_url"))?,
            token: Secret::new(nonempty(wire.token).ok_or_else(|| missing("token"))?),
            room_name: nonempty(wire.room_name).ok_or_else(|| missing("room_name"))?,
            session_id: wire.session_id,
        })
    }
}

impl fmt::Debug for SubscribeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeInfo")
            .field("livekit_url", &self.livekit_url)
            .field("token", &self.token)
            .field("room_name", &self.room_name)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// Something the server reported during a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RealtimeEvent {
    /// The session waits for a GPU.
    QueuePosition {
        /// The place in the queue (1 = next).
        position: u64,
        /// How many sessions wait.
        queue_size: u64,
    },
    /// Generation started.
    GenerationStarted,
    /// Billable seconds generated so far.
    GenerationTick {
        /// Seconds.
        seconds: u64,
    },
    /// Generation ended.
    GenerationEnded {
        /// Seconds generated.
        seconds: u64,
        /// Why it ended.
        reason: String,
    },
}

/// Replaces every occurrence of a secret (raw and percent-encoded) in `text` by `<redacted>`.
pub(crate) fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    let encoded = options::encode_component(secret);
    text.replace(secret, "<redacted>")
        .replace(&encoded, "<redacted>")
}

#[cfg(all(test, any(feature = "blocking", feature = "async")))]
mod tests {
    use super::*;

    #[test]
    fn watch_answers() {
        let ok = SubscribeInfo::from_json(
            br#"{"livekit_url":"wss://lk","token":"t0k3n","room_name":"r"}"#,
        )
        .unwrap();
        assert_eq!(
            (ok.room_name.as_str(), ok.session_id.as_deref()),
            ("r", None)
        );
        assert!(!format!("{ok:?}").contains("t0k3n"));
        for bad in [
            &br#"{"token":"t","room_name":"r"}"#[..],
            br#"{"livekit_url":"u","room_name":"r"}"#,
            br#"{"livekit_url":"u","token":"","room_name":"r"}"#,
            br#"{"livekit_url":"u","token":"t"}"#,
            b"not json",
            b"[]",
        ] {
            let e = SubscribeInfo::from_json(bad).unwrap_err();
            assert_eq!(e.code(), "REALTIME_WATCH_ERROR");
        }
    }
}
