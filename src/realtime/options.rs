//! Session options, image requests, and the session URL (flavour-neutral).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::error::{RealtimeError, RealtimeErrorKind};
use super::messages::{ClientMessage, ImageData};
use crate::Error;
use crate::RealtimeSpeed;
use crate::RetryPolicy;
use crate::models::{Model, ModelKind};

/// Default time allowed to open the WebSocket (TCP, TLS and upgrade): 60 s (the JS SDK's
/// signaling default; its session passes 300 s; Python uses aiohttp's).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default wait for the room info after `livekit_join`, outside the queue: 15 s.
pub const DEFAULT_ROOM_INFO_TIMEOUT: Duration = Duration::from_secs(15);
/// Default longest wait in the queue (from the first queue position): 15 min.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Default wait for a prompt's acknowledgement: 15 s.
pub const DEFAULT_PROMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// Default wait for an image's acknowledgement: 30 s.
pub const DEFAULT_IMAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// The LiveKit leg (signal connection, publication, ICE) must be up within this.
pub const DEFAULT_MEDIA_TIMEOUT: Duration = Duration::from_secs(30);

/// Query parameters the SDK sets itself; extra parameters may not replace them.
const RESERVED_PARAMS: [&str; 5] = ["api_key", "model", "resolution", "speed", "user_agent"];

/// An image request (`set_image`): the image (bytes, base64, an uploaded file, or none) and an
/// optional prompt to apply with it.
///
/// ```
/// use decart::realtime::SetImage;
///
/// let with_prompt = SetImage::bytes(vec![0x89, b'P', b'N', b'G']).prompt("a portrait").enhance(false);
/// let uploaded = SetImage::file_ref("file_abc123");
/// let passthrough = SetImage::passthrough(); // no image, no prompt
/// # let _ = (with_prompt, uploaded, passthrough);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SetImage {
    image: ImageData,
    image_ref: Option<String>,
    prompt: Option<Option<String>>,
    enhance: Option<bool>,
}

impl SetImage {
    /// The image's bytes (sent as base64).
    pub fn bytes(bytes: impl AsRef<[u8]>) -> Self {
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes.as_ref());
        Self::base64(b64)
    }

    /// The image as raw base64 (no `data:` prefix; one is stripped if present).
    pub fn base64(base64: impl Into<String>) -> Self {
        let mut s: String = base64.into();
        if s.starts_with("data:") {
            if let Some(i) = s.find(',') {
                s = s[i + 1..].to_owned();
            }
        }
        SetImage {
            image: ImageData::Base64(s),
            image_ref: None,
            prompt: None,
            enhance: None,
        }
    }

    /// An uploaded file (`file_…`, from `client.files().upload`), sent by reference.
    pub fn file_ref(file_id: impl Into<String>) -> Self {
        SetImage {
            image: ImageData::Omitted,
            image_ref: Some(file_id.into()),
            prompt: None,
            enhance: None,
        }
    }

    /// No image: clears the current one (`"image_data": null`).
    pub fn clear() -> Self {
        SetImage {
            image: ImageData::Null,
            image_ref: None,
            prompt: None,
            enhance: None,
        }
    }

    /// No image and no prompt (`{"image_data": null, "prompt": null}`): the model passes the
    /// camera through.
    pub fn passthrough() -> Self {
        SetImage {
            prompt: Some(None),
            ..Self::clear()
        }
    }

    /// A prompt to apply with the image.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(Some(prompt.into()));
        self
    }

    /// Whether the server may rewrite the prompt (sent only when set).
    pub fn enhance(mut self, enhance: bool) -> Self {
        self.enhance = Some(enhance);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(r) = &self.image_ref {
            if !r.starts_with("file_") || r.len() <= "file_".len() {
                return Err(Error::invalid_input(
                    "image_ref",
                    "an uploaded file's id starts with `file_`",
                ));
            }
        }
        if let ImageData::Base64(b) = &self.image {
            if b.trim().is_empty() {
                return Err(Error::invalid_input("image", "the image is empty"));
            }
        }
        if let Some(Some(p)) = &self.prompt {
            check_prompt(p)?;
        }
        Ok(())
    }

    pub(crate) fn message(&self) -> ClientMessage {
        ClientMessage::SetImage {
            image_data: self.image.clone(),
            image_ref: self.image_ref.clone(),
            prompt: self.prompt.clone(),
            enhance_prompt: self.enhance,
        }
    }
}

impl std::fmt::Debug for SetImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetImage")
            .field("image", &self.image)
            .field("image_ref", &self.image_ref)
            .field("prompt", &self.prompt)
            .field("enhance", &self.enhance)
            .finish()
    }
}

/// The state a session starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InitialState {
    Prompt { prompt: String, enhance: bool },
    Image(SetImage),
}

impl InitialState {
    pub(crate) fn message(&self) -> ClientMessage {
        match self {
            InitialState::Prompt { prompt, enhance } => ClientMessage::Prompt {
                prompt: prompt.clone(),
                enhance_prompt: *enhance,
            },
            InitialState::Image(image) => image.message(),
        }
    }
}

/// What a session's generation runs with: the last prompt and image the server acknowledged
/// (seeded with the initial state), replayed as the initial state of a reconnect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StateInForce {
    image: Option<SetImage>,
    prompt: Option<(String, bool)>,
}

impl StateInForce {
    pub(crate) fn new(initial: Option<&InitialState>) -> Self {
        let mut state = StateInForce::default();
        match initial {
            Some(InitialState::Prompt { prompt, enhance }) => state.prompted(prompt, *enhance),
            Some(InitialState::Image(image)) => state.imaged(image),
            None => {}
        }
        state
    }

    /// A prompt was acknowledged: it applies to the image in force, if any.
    pub(crate) fn prompted(&mut self, prompt: &str, enhance: bool) {
        self.prompt = Some((prompt.to_owned(), enhance));
    }

    /// An image message was acknowledged: it replaces the image, and its prompt (if it
    /// carries one, or `null` for none) replaces the prompt.
    pub(crate) fn imaged(&mut self, image: &SetImage) {
        if image.prompt.is_some() {
            self.prompt = None;
        }
        self.image = Some(image.clone());
    }

    /// The one message that puts a new session in this state.
    pub(crate) fn initial(&self) -> Option<InitialState> {
        match (&self.image, &self.prompt) {
            (Some(image), Some((prompt, enhance))) => Some(InitialState::Image(
                image.clone().prompt(prompt.clone()).enhance(*enhance),
            )),
            (Some(image), None) => Some(InitialState::Image(image.clone())),
            (None, Some((prompt, enhance))) => Some(InitialState::Prompt {
                prompt: prompt.clone(),
                enhance: *enhance,
            }),
            (None, None) => None,
        }
    }
}

/// How to open a realtime session. Every setting is optional.
#[derive(Debug, Clone)]
pub struct RealtimeOptions {
    pub(crate) initial: Option<InitialState>,
    pub(crate) resolution: Option<String>,
    pub(crate) speed: Option<RealtimeSpeed>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) base_url: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) room_info_timeout: Duration,
    pub(crate) queue_timeout: Option<Duration>,
    pub(crate) prompt_timeout: Duration,
    pub(crate) image_timeout: Duration,
    pub(crate) media: bool,
    pub(crate) codec: super::VideoCodec,
    pub(crate) video_size: Option<(u32, u32)>,
    pub(crate) media_timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

/// The peers' retry of a realtime connect: 6 attempts (the first and 5 retries), backoff
/// doubling from 1 s up to 10 s (each wait between half its window and all of it). What
/// [`connect_with_retry`](crate::blocking::Realtime::connect_with_retry) and
/// [`reconnect`](crate::blocking::RealtimeSession::reconnect) use unless
/// [`RealtimeOptions::retry`] says otherwise.
pub fn default_realtime_retry() -> RetryPolicy {
    RetryPolicy::new()
        .max_attempts(6)
        .base_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(10))
}

impl Default for RealtimeOptions {
    fn default() -> Self {
        RealtimeOptions {
            initial: None,
            resolution: None,
            speed: None,
            query: Vec::new(),
            base_url: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            room_info_timeout: DEFAULT_ROOM_INFO_TIMEOUT,
            queue_timeout: Some(DEFAULT_QUEUE_TIMEOUT),
            prompt_timeout: DEFAULT_PROMPT_TIMEOUT,
            image_timeout: DEFAULT_IMAGE_TIMEOUT,
            media: true,
            codec: super::VideoCodec::H264,
            video_size: None,
            media_timeout: DEFAULT_MEDIA_TIMEOUT,
            retry: default_realtime_retry(),
        }
    }
}

impl RealtimeOptions {
    /// The defaults: no initial state (passthrough, for a session with media), every timeout
    /// at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the session with this prompt (sent right behind `livekit_join`; `connect` returns
    /// once it is acknowledged). Replaces an initial image.
    pub fn initial_prompt(mut self, prompt: impl Into<String>, enhance: bool) -> Self {
        self.initial = Some(InitialState::Prompt {
            prompt: prompt.into(),
            enhance,
        });
        self
    }

    /// Starts the session with this image (and its prompt, if it has one). Replaces an
    /// initial prompt.
    pub fn initial_image(mut self, image: SetImage) -> Self {
        self.initial = Some(InitialState::Image(image));
        self
    }

    /// The output resolution: `720p` or `1080p` (query parameter `resolution`).
    pub fn resolution(mut self, resolution: impl Into<String>) -> Self {
        self.resolution = Some(resolution.into());
        self
    }

    /// A speed tier (query parameter `speed`). A registry model that lacks the tier gets a
    /// warning in the log, and the parameter is sent anyway (the server decides).
    pub fn speed(mut self, speed: RealtimeSpeed) -> Self {
        self.speed = Some(speed);
        self
    }

    /// An extra query parameter (`livekit_early_room_info=true`, …). It may not be one the SDK
    /// sets (`api_key`, `model`, `resolution`, `speed`, `user_agent`).
    pub fn query_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// The realtime base URL (`wss://…`, `ws://…`, or an `https://`/`http://` URL turned into
    /// one). Default: the client's base URL with `https` → `wss`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Time allowed to open the WebSocket: TCP, TLS and the upgrade (default 60 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Wait for the room info after `livekit_join`, not counting time in the queue
    /// (default 15 s).
    pub fn room_info_timeout(mut self, timeout: Duration) -> Self {
        self.room_info_timeout = timeout;
        self
    }

    /// The longest wait in the queue, from the first queue position; `None` waits as long as
    /// the server keeps the session queued (default 15 min).
    pub fn queue_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// Wait for a prompt's acknowledgement (default 15 s).
    pub fn prompt_timeout(mut self, timeout: Duration) -> Self {
        self.prompt_timeout = timeout;
        self
    }

    /// Wait for an image's acknowledgement (default 30 s).
    pub fn image_timeout(mut self, timeout: Duration) -> Self {
        self.image_timeout = timeout;
        self
    }

    /// Whether `connect` joins the LiveKit room and publishes a video track (default `true`).
    /// With `false` the session is the control channel only: use
    /// [`RoomInfo`](super::RoomInfo) with a LiveKit client of your own.
    ///
    /// Without an initial prompt or image, a session with media starts in passthrough (a
    /// `set_image` with no image and no prompt is its initial state, as the Python SDK
    /// sends); a control-only one sends no state, and the server holds the output back until
    /// one is set.
    pub fn media(mut self, media: bool) -> Self {
        self.media = media;
        self
    }

    /// The codec of the published track (default H.264, as both peer SDKs).
    pub fn video_codec(mut self, codec: super::VideoCodec) -> Self {
        self.codec = codec;
        self
    }

    /// The size announced for the published track (default: the model's, 1280×720 for most
    /// realtime models). The frames themselves carry their real size.
    pub fn video_size(mut self, width: u32, height: u32) -> Self {
        self.video_size = Some((width, height));
        self
    }

    /// Time allowed for the media: the LiveKit signal connection, the track's publication and
    /// ICE, from the room info on (default 30 s).
    pub fn media_timeout(mut self, timeout: Duration) -> Self {
        self.media_timeout = timeout;
        self
    }

    /// How [`connect_with_retry`](crate::blocking::Realtime::connect_with_retry) and
    /// [`reconnect`](crate::blocking::RealtimeSession::reconnect) retry a failed connect
    /// (default [`default_realtime_retry`]: 6 attempts, about 1, 2, 4, 8, 10 s apart: each wait
    /// between half of `min(max_delay, base_delay · 2ⁿ⁻¹)` and all of it). Only errors that
    /// are not [permanent](RealtimeError::is_permanent) are retried; `Retry-After` does not
    /// apply. [`Realtime::connect`](crate::blocking::Realtime::connect) makes one attempt
    /// whatever this says.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The initial state sent right behind `livekit_join`: the caller's, else, for a session
    /// that publishes media, a passthrough `set_image` (no image, no prompt), as the Python SDK
    /// sends when it publishes a track without a state (the server holds back a session's
    /// output until it has one). A control-only session sends none, as Python's without a
    /// track.
    pub(crate) fn sent_initial(&self) -> Option<InitialState> {
        match &self.initial {
            Some(initial) => Some(initial.clone()),
            None if self.media => Some(InitialState::Image(SetImage::passthrough())),
            None => None,
        }
    }

    /// The wait for an initial state's acknowledgement.
    pub(crate) fn initial_timeout(&self, initial: &InitialState) -> Duration {
        match initial {
            InitialState::Image(_) => self.image_timeout,
            InitialState::Prompt { .. } => self.prompt_timeout,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        match &self.initial {
            Some(InitialState::Prompt { prompt, .. }) => check_prompt(prompt)?,
            Some(InitialState::Image(image)) => image.validate()?,
            None => {}
        }
        if let Some(r) = &self.resolution {
            if r != "720p" && r != "1080p" {
                return Err(Error::invalid_input(
                    "resolution",
                    "the resolution is `720p` or `1080p`",
                ));
            }
        }
        if self
            .video_size
            .is_some_and(|(w, h)| w == 0 || h == 0 || w > 7680 || h > 4320)
        {
            return Err(Error::invalid_input(
                "video_size",
                "the video size is between 1×1 and 7680×4320",
            ));
        }
        for (name, _) in &self.query {
            if RESERVED_PARAMS.contains(&name.as_str()) {
                return Err(Error::invalid_input(
                    "query_param",
                    format!("`{name}` is set by the SDK"),
                ));
            }
            if name.is_empty() {
                return Err(Error::invalid_input(
                    "query_param",
                    "a parameter name is empty",
                ));
            }
        }
        for (field, d) in [
            ("connect_timeout", self.connect_timeout),
            ("room_info_timeout", self.room_info_timeout),
            ("prompt_timeout", self.prompt_timeout),
            ("image_timeout", self.image_timeout),
            ("media_timeout", self.media_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::invalid_input(field, "a timeout must not be zero"));
            }
        }
        Ok(())
    }
}

/// A prompt: not blank (both peers refuse an empty one).
pub(crate) fn check_prompt(prompt: &str) -> Result<(), Error> {
    if prompt.trim().is_empty() {
        return Err(Error::invalid_input("prompt", "the prompt is blank"));
    }
    Ok(())
}

/// Percent-encodes a query component: everything but `A-Z a-z 0-9 - . _ ~`
/// (`encodeURIComponent`, Python's `quote(…, safe="")`).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The session URL, and the same URL with the key replaced by `<redacted>` (for errors).
#[derive(Clone)]
pub(crate) struct SessionUrl {
    pub url: String,
    pub redacted: String,
}

/// Builds the session URL: `{base}{url_path}?api_key=…&model=…[&resolution][&speed][&extra…]&user_agent=…`.
pub(crate) fn session_url(
    client_base: &str,
    model: &Model,
    api_key: &str,
    user_agent: &str,
    options: &RealtimeOptions,
) -> Result<SessionUrl, Error> {
    if model.kind() != ModelKind::Realtime {
        return Err(Error::invalid_input(
            "model",
            format!("{} is not a realtime model", model.name()),
        ));
    }
    if let Some(speed) = options.speed {
        if !model.is_custom() && !model.supports_speed(speed) {
            log::warn!(
                "model {} does not offer the `{speed}` speed tier; sending it anyway",
                model.name()
            );
        }
    }
    let base = options.base_url.as_deref().unwrap_or(client_base);
    let base = base.trim_end_matches('/');
    let base = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        base.to_owned()
    };
    let parsed = url::Url::parse(&base).map_err(|_| Error::InvalidBaseUrl {
        url: base.clone(),
        reason: "not a URL".into(),
    })?;
    if !matches!(parsed.scheme(), "ws" | "wss") || parsed.host_str().is_none() {
        return Err(Error::InvalidBaseUrl {
            url: base,
            reason: "a realtime base URL is ws(s):// or http(s):// with a host".into(),
        });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::InvalidBaseUrl {
            url: base,
            reason: "a realtime base URL has no query or fragment".into(),
        });
    }
    let path = model.url_path();
    let build = |key: &str| {
        let mut q = vec![
            format!("api_key={key}"),
            format!("model={}", encode_component(model.name())),
        ];
        if let Some(r) = &options.resolution {
            q.push(format!("resolution={}", encode_component(r)));
        }
        if let Some(s) = options.speed {
            q.push(format!("speed={}", s.as_str()));
        }
        for (k, v) in &options.query {
            q.push(format!("{}={}", encode_component(k), encode_component(v)));
        }
        q.push(format!("user_agent={}", encode_component(user_agent)));
        format!("{base}{path}?{}", q.join("&"))
    };
    Ok(SessionUrl {
        url: build(&encode_component(api_key)),
        redacted: build("<redacted>"),
    })
}

/// Refuses a client-token JWT whose `exp` is in the past, before anything is dialled. Keys
/// that are not JWTs, and JWTs whose payload cannot be read, are left to the server.
pub(crate) fn check_not_expired(api_key: &str, now: SystemTime) -> Result<(), RealtimeError> {
    let mut parts = api_key.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ok(());
    };
    if !header.starts_with("eyJ") {
        return Ok(());
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let Ok(bytes) = engine.decode(payload) else {
        return Ok(());
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Ok(());
    };
    let Some(exp) = claims.get("exp").and_then(serde_json::Value::as_f64) else {
        return Ok(());
    };
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    if exp <= now {
        return Err(RealtimeError::new(
            RealtimeErrorKind::TokenExpired,
            format!(
                "the client token expired {} s ago; create a new one",
                (now - exp).round()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models;

    fn prompt(p: &str, enhance: bool) -> Option<InitialState> {
        Some(InitialState::Prompt {
            prompt: p.into(),
            enhance,
        })
    }

    #[test]
    fn the_state_in_force_is_what_was_acknowledged_last() {
        // Nothing, then the initial state as given.
        assert_eq!(StateInForce::new(None).initial(), None);
        let initial = prompt("a", true);
        assert_eq!(StateInForce::new(initial.as_ref()).initial(), initial);
        // A later prompt replaces it.
        let mut state = StateInForce::new(initial.as_ref());
        state.prompted("b", false);
        assert_eq!(state.initial(), prompt("b", false));
        // An image without a prompt keeps the prompt in force; one with a prompt replaces it.
        state.imaged(&SetImage::file_ref("file_1"));
        assert_eq!(
            state.initial(),
            Some(InitialState::Image(
                SetImage::file_ref("file_1").prompt("b").enhance(false)
            ))
        );
        state.imaged(&SetImage::file_ref("file_2").prompt("c"));
        assert_eq!(
            state.initial(),
            Some(InitialState::Image(
                SetImage::file_ref("file_2").prompt("c")
            ))
        );
        // A prompt after an image applies to that image.
        state.prompted("d", true);
        assert_eq!(
            state.initial(),
            Some(InitialState::Image(
                SetImage::file_ref("file_2").prompt("d").enhance(true)
            ))
        );
        // Passthrough (no image, no prompt) is replayed as such.
        state.imaged(&SetImage::passthrough());
        assert_eq!(
            state.initial(),
            Some(InitialState::Image(SetImage::passthrough()))
        );
        // An initial image seeds the state.
        let image = SetImage::bytes(b"png").prompt("e");
        let state = StateInForce::new(Some(&InitialState::Image(image.clone())));
        assert_eq!(state.initial(), Some(InitialState::Image(image)));
    }

    #[test]
    fn the_default_retry_is_the_peers() {
        let policy = default_realtime_retry();
        assert_eq!(policy.attempts(), 6);
        assert_eq!(RealtimeOptions::new().retry, policy);
        let none = RetryPolicy::disabled();
        assert_eq!(RealtimeOptions::new().retry(none).retry, none);
    }

    #[test]
    fn url_has_every_parameter_in_order() {
        let model = models::realtime("lucy-2.5").unwrap();
        let options = RealtimeOptions::new()
            .resolution("720p")
            .speed(RealtimeSpeed::Fast)
            .query_param("livekit_early_room_info", "true");
        let url = session_url(
            "https://api.decart.ai/",
            &model,
            "k y/+",
            "decart-rust-sdk/0.1.0 lang/rust",
            &options,
        )
        .unwrap();
        assert_eq!(
            url.url,
            "wss://api.decart.ai/v1/stream?api_key=k%20y%2F%2B&model=lucy-2.5&resolution=720p&speed=fast&livekit_early_room_info=true&user_agent=decart-rust-sdk%2F0.1.0%20lang%2Frust"
        );
        assert!(url.redacted.contains("api_key=<redacted>&"));
        assert!(!url.redacted.contains("k%20y"));
        let local = session_url(
            "http://127.0.0.1:9/",
            &model,
            "k",
            "ua",
            &RealtimeOptions::new(),
        )
        .unwrap();
        assert!(
            local
                .url
                .starts_with("ws://127.0.0.1:9/v1/stream?api_key=k&model=lucy-2.5&user_agent=ua")
        );
    }

    #[test]
    fn url_rejections() {
        let model = models::realtime("lucy-2.1").unwrap();
        let video = models::video("lucy-2.1").unwrap();
        let o = RealtimeOptions::new();
        assert!(session_url("https://x", &video, "k", "ua", &o).is_err());
        assert!(session_url("ftp://x", &model, "k", "ua", &o).is_err());
        assert!(session_url("https://x?a=b", &model, "k", "ua", &o).is_err());
        assert!(
            RealtimeOptions::new()
                .query_param("api_key", "x")
                .validate()
                .is_err()
        );
        assert!(RealtimeOptions::new().resolution("4k").validate().is_err());
        assert!(
            RealtimeOptions::new()
                .initial_prompt("  ", true)
                .validate()
                .is_err()
        );
        assert!(
            RealtimeOptions::new()
                .initial_image(SetImage::file_ref("x"))
                .validate()
                .is_err()
        );
        assert!(
            RealtimeOptions::new()
                .prompt_timeout(Duration::ZERO)
                .validate()
                .is_err()
        );
    }

    #[test]
    fn expired_jwts_are_refused() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = |exp: u64| {
            format!(
                "{}.{}.sig",
                b64(r#"{"alg":"EdDSA"}"#),
                b64(&format!(r#"{{"exp":{exp}}}"#))
            )
        };
        let err = check_not_expired(&jwt(999_000), now).unwrap_err();
        assert_eq!(err.kind(), RealtimeErrorKind::TokenExpired);
        assert!(!err.to_string().contains("eyJ"));
        assert!(check_not_expired(&jwt(1_000_500), now).is_ok());
        assert!(check_not_expired("ek_abc", now).is_ok());
        assert!(check_not_expired("plain-key", now).is_ok());
        assert!(check_not_expired("eyJ.!!!.x", now).is_ok());
    }

    #[test]
    fn set_image_messages() {
        let m = SetImage::bytes(b"ABC").prompt("p").message().to_json();
        assert_eq!(
            m,
            r#"{"type":"set_image","image_data":"QUJD","prompt":"p"}"#
        );
        let m = SetImage::base64("data:image/png;base64,QUJD")
            .message()
            .to_json();
        assert_eq!(m, r#"{"type":"set_image","image_data":"QUJD"}"#);
        assert_eq!(
            SetImage::passthrough().message().to_json(),
            r#"{"type":"set_image","image_data":null,"prompt":null}"#
        );
        assert_eq!(
            SetImage::clear().message().to_json(),
            r#"{"type":"set_image","image_data":null}"#
        );
    }
}
