//! The emulated realtime endpoint, `GET /v1/stream` upgraded to a WebSocket (features
//! `emulator` and `realtime`): the control channel of `docs/realtime-protocol.md`, scripted.
//!
//! The upgrade is answered here (the head was already parsed by the HTTP layer), then
//! tungstenite's server side runs on the connection's own socket and thread. Every session is
//! recorded ([`RealtimeSessionLog`]) with its query (the `api_key` value redacted) and every
//! message it received.

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::protocol::{CloseFrame, Role, WebSocket};
use tungstenite::{Message, handshake::derive_accept_key};

use super::http::{RequestHead, Response};
use super::log::Credential;
use super::util::{lock, random_id};
use crate::models::{Model, ModelKind};

/// The answer to `livekit_join`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinAnswer {
    /// The queue positions of the script, then `livekit_room_info` (the default).
    RoomInfo,
    /// `{"type":"error","error":…}`, then a close (a capacity refusal, …).
    Error(String),
    /// The socket is shut down without a close frame.
    Drop,
    /// No answer at all.
    Silent,
    /// This text frame instead of the room info (garbage, a malformed message).
    Raw(String),
}

/// The answer to a `prompt` or `set_image`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckAnswer {
    /// `success: true` (the default).
    Ack,
    /// `success: false` with this reason.
    Reject(String),
    /// No answer.
    Silent,
    /// An `error` message, then a close.
    Error(String),
    /// The socket is shut down without a close frame.
    Drop,
}

/// What happens after the generation ticks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AfterTicks {
    /// Nothing more (the default); the session stays open.
    #[default]
    Nothing,
    /// `generation_ended` with this reason.
    End(String),
    /// An `error` message, then a close.
    Error(String),
    /// The socket is shut down without a close frame.
    Drop,
    /// A close frame with this code and reason (1008 for a policy violation, …).
    Close(u16, String),
    /// This text frame (a malformed or unexpected message); the session goes on.
    Raw(String),
}

/// How the emulator's LiveKit room answers a participant (`/livekit/rtc`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MediaAnswer {
    /// Join, publish, answer and offer, and send back every frame transformed (the default;
    /// see [`transformed_frame`](super::transformed_frame)).
    #[default]
    Serve,
    /// Refuses the signal upgrade with this HTTP status (a refused LiveKit token).
    Refuse(u16),
    /// Joins and publishes, but never answers the publisher's offer.
    NoAnswer,
    /// Drops the signal socket (no close frame) right after the join response.
    DropAfterJoin,
    /// Negotiates, but never takes a datagram of the publisher connection: its ICE cannot
    /// connect (an ICE failure).
    BlockMedia,
    /// Serves this many frames, then drops the signal socket and stops the media (a room lost
    /// mid-session).
    DropAfterFrames(u64),
}

/// How the emulator plays the next realtime sessions ([`Emulator::set_realtime_script`]).
///
/// The default: `livekit_room_info` at once, every request acknowledged, then
/// `generation_started` and 3 `generation_tick`s 20 ms apart.
///
/// [`Emulator::set_realtime_script`]: super::Emulator::set_realtime_script
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealtimeScript {
    refuse: Option<(u16, String)>,
    queue: Vec<(u64, u64)>,
    queue_interval: Duration,
    room_info_delay: Duration,
    join: JoinAnswer,
    prompt: AckAnswer,
    image: AckAnswer,
    ticks: u32,
    tick_interval: Duration,
    after_ticks: AfterTicks,
    pub(crate) media: MediaAnswer,
    sessions: Option<u32>,
    frame_timing: bool,
}

impl Default for RealtimeScript {
    fn default() -> Self {
        RealtimeScript {
            refuse: None,
            queue: Vec::new(),
            queue_interval: Duration::from_millis(20),
            room_info_delay: Duration::ZERO,
            join: JoinAnswer::RoomInfo,
            prompt: AckAnswer::Ack,
            image: AckAnswer::Ack,
            ticks: 3,
            tick_interval: Duration::from_millis(20),
            after_ticks: AfterTicks::Nothing,
            media: MediaAnswer::Serve,
            sessions: None,
            frame_timing: false,
        }
    }
}

impl RealtimeScript {
    /// The default script.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses the upgrade with this HTTP status and `{"detail": …}`, whatever the key.
    pub fn refuse(mut self, status: u16, detail: impl Into<String>) -> Self {
        self.refuse = Some((status, detail.into()));
        self
    }

    /// Sends these `(position, queue_size)` pairs before the room info, `interval` apart.
    pub fn queue(mut self, positions: &[(u64, u64)], interval: Duration) -> Self {
        self.queue = positions.to_vec();
        self.queue_interval = interval;
        self
    }

    /// Waits this long before the room info (after any queue positions).
    pub fn room_info_delay(mut self, delay: Duration) -> Self {
        self.room_info_delay = delay;
        self
    }

    /// How to answer `livekit_join`.
    pub fn join(mut self, answer: JoinAnswer) -> Self {
        self.join = answer;
        self
    }

    /// How to answer prompts.
    pub fn prompt(mut self, answer: AckAnswer) -> Self {
        self.prompt = answer;
        self
    }

    /// How to answer images.
    pub fn image(mut self, answer: AckAnswer) -> Self {
        self.image = answer;
        self
    }

    /// `generation_tick`s after `generation_started`, `interval` apart.
    pub fn ticks(mut self, count: u32, interval: Duration) -> Self {
        self.ticks = count;
        self.tick_interval = interval;
        self
    }

    /// What follows the ticks.
    pub fn after_ticks(mut self, then: AfterTicks) -> Self {
        self.after_ticks = then;
        self
    }

    /// Viewers that join from now on get frames with a LiveKit packet trailer (a user
    /// timestamp and a frame id), as in a room whose publisher advertised frame timing (the
    /// next JS SDK's subscribe token then says `"frame_timing": true`).
    pub fn frame_timing(mut self, on: bool) -> Self {
        self.frame_timing = on;
        self
    }

    /// Plays this script for the next `count` sessions only (counted at the WebSocket
    /// upgrade), then the default one: "fail twice, then serve". `0` plays it for none.
    pub fn sessions(mut self, count: u32) -> Self {
        self.sessions = Some(count);
        self
    }

    /// How the LiveKit room answers the session's participant.
    pub fn media(mut self, answer: MediaAnswer) -> Self {
        self.media = answer;
        self
    }
}

/// One realtime session the emulator served.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RealtimeSessionLog {
    /// The query parameters in order, percent-decoded, with the `api_key` value replaced by
    /// `"<redacted>"`.
    pub query: Vec<(String, String)>,
    /// The kind of credential in `api_key`; `None` when it was absent.
    pub credential: Option<Credential>,
    /// The `User-Agent` header of the upgrade.
    pub user_agent: Option<String>,
    /// The session id it announced, if it got that far.
    pub session_id: Option<String>,
    /// The LiveKit room it announced, if it got that far.
    pub room_name: Option<String>,
    /// Every JSON message received, in order (a frame that is not JSON is kept as a string).
    pub received: Vec<Value>,
    /// Whether the client ended the session with a close frame.
    pub closed_by_client: bool,
    /// Whether the session has ended.
    pub ended: bool,
    /// The prompt in force (the last one acknowledged, initial or later), which the LiveKit
    /// room writes into the frames it sends back.
    pub prompt: Option<String>,
    /// Whether the session has a state: a prompt or a `set_image` (a passthrough one
    /// included) was acknowledged. Until it has, the LiveKit room takes the participant's
    /// frames but sends none back, as the server holds back a session's output.
    pub has_state: bool,
    /// Whether a participant joined the session's LiveKit room.
    pub media_joined: bool,
    /// The codec of the track the participant published (`h264`, `vp8`).
    pub media_codec: Option<String>,
    /// Frames the room received from the participant.
    pub frames_received: u64,
    /// Frames the room sent back.
    pub frames_sent: u64,
    /// Whether the participant left with a `LeaveRequest`.
    pub media_left: bool,
    /// Viewers that joined the room (`watch-stream`, then the room receive-only).
    pub viewers_joined: u32,
}

impl RealtimeSessionLog {
    /// A session just upgraded: nothing received or announced yet.
    fn new(
        query: Vec<(String, String)>,
        credential: Option<Credential>,
        user_agent: Option<String>,
    ) -> Self {
        RealtimeSessionLog {
            query,
            credential,
            user_agent,
            session_id: None,
            room_name: None,
            received: Vec::new(),
            closed_by_client: false,
            ended: false,
            prompt: None,
            has_state: false,
            media_joined: false,
            media_codec: None,
            frames_received: 0,
            frames_sent: 0,
            media_left: false,
            viewers_joined: 0,
        }
    }

    /// A query parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `type`s of the messages received, in order.
    pub fn received_types(&self) -> Vec<String> {
        self.received
            .iter()
            .map(|m| {
                m.get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("<not a message>")
                    .to_owned()
            })
            .collect()
    }
}

/// The realtime part of the emulator's state.
#[derive(Debug, Default)]
pub(crate) struct RealtimeState {
    pub script: std::sync::Mutex<RealtimeScript>,
    pub sessions: std::sync::Mutex<SessionLogs>,
    /// The LiveKit tokens handed out (room info and `watch-stream`).
    pub rooms: std::sync::Mutex<std::collections::HashMap<String, Grant>>,
    /// The viewers of each session (by index): where its room sends the frames it sends back.
    pub viewers:
        std::sync::Mutex<std::collections::HashMap<usize, Vec<std::sync::mpsc::Sender<Relayed>>>>,
}

/// `at` plus a script's duration; a duration too long for the clock (`Duration::MAX` for
/// "never") is taken as about 30 years.
fn after(at: Instant, duration: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(1 << 30);
    at.checked_add(duration.min(FAR)).unwrap_or(at)
}

/// The log of the sessions served: the last [`MAX_SESSIONS`], each under an id that stays its
/// own when older ones are forgotten (a session, its room and its viewers find their entry by
/// it).
#[derive(Debug, Default)]
pub(crate) struct SessionLogs {
    /// The id of the oldest entry kept.
    first: usize,
    logs: VecDeque<RealtimeSessionLog>,
}

impl SessionLogs {
    /// Adds an entry (forgetting the oldest beyond [`MAX_SESSIONS`]); its id.
    fn push(&mut self, log: RealtimeSessionLog) -> usize {
        if self.logs.len() >= MAX_SESSIONS {
            self.logs.pop_front();
            self.first += 1;
        }
        self.logs.push_back(log);
        self.first + self.logs.len() - 1
    }

    /// The entry of this id, unless it was forgotten.
    pub(crate) fn get_mut(&mut self, id: usize) -> Option<&mut RealtimeSessionLog> {
        id.checked_sub(self.first)
            .and_then(|i| self.logs.get_mut(i))
    }

    /// The id of the newest session that announced this room.
    fn room(&self, room: &str) -> Option<usize> {
        self.logs
            .iter()
            .rposition(|s| s.room_name.as_deref() == Some(room))
            .map(|i| self.first + i)
    }

    /// The entries kept, oldest first.
    pub(crate) fn to_vec(&self) -> Vec<RealtimeSessionLog> {
        self.logs.iter().cloned().collect()
    }
}

/// What a LiveKit token lets in.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// The session's id in the log.
    pub index: usize,
    /// The script's answer, for the session's own participant.
    pub answer: MediaAnswer,
    /// A viewer (receive-only), from `watch-stream`.
    pub viewer: bool,
    /// Whether a viewer's frames get a packet trailer ([`RealtimeScript::frame_timing`]).
    pub trailers: bool,
}

/// A frame a session's room relays to its viewers: the bytes, the RTP time, the codec.
pub(crate) type Relayed = (Vec<u8>, str0m::media::MediaTime, str0m::format::Codec);

/// At most this many sessions are remembered.
const MAX_SESSIONS: usize = 1000;
/// How long one read waits before the session looks at its timeline.
const POLL: Duration = Duration::from_millis(5);

/// The query of `/v1/stream`, decoded.
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    let Some(q) = query else {
        return Vec::new();
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// The query as logged: the `api_key` (Decart) and `access_token` (LiveKit) values redacted.
pub(crate) fn redacted_query(query: &[(String, String)]) -> String {
    query
        .iter()
        .map(|(k, v)| {
            if k == "api_key" || k == "access_token" {
                format!("{k}=<redacted>")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// An accepted upgrade, ready to run on the connection's socket.
pub(crate) struct Accepted {
    key: String,
    index: usize,
    script: RealtimeScript,
}

/// Decides on an upgrade of `/v1/stream`: the key, the model, the script's refusal. `Err` is
/// the HTTP answer of a refusal.
pub(crate) fn upgrade(
    state: &super::api::State,
    head: &RequestHead,
    query: Vec<(String, String)>,
    credential: Option<Credential>,
) -> Result<Accepted, Response> {
    let error = |status: u16, detail: &str| Err(super::http::error_response(status, detail));
    let is_websocket = head
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let Some(key) = head.header("sec-websocket-key").map(str::to_owned) else {
        return error(426, "Upgrade Required: /v1/stream is a WebSocket");
    };
    if !is_websocket || head.method != "GET" {
        return error(426, "Upgrade Required: /v1/stream is a WebSocket");
    }
    let script = {
        let mut current = lock(&state.realtime.script);
        if current.sessions == Some(0) {
            *current = RealtimeScript::default();
        }
        let script = current.clone();
        match &mut current.sessions {
            Some(n) if *n <= 1 => *current = RealtimeScript::default(),
            Some(n) => *n -= 1,
            None => {}
        }
        script
    };
    if let Some((status, detail)) = &script.refuse {
        return error(*status, detail);
    }
    match credential {
        None => {
            return error(
                401,
                "Missing API key: send it in the api_key query parameter",
            );
        }
        Some(Credential::Invalid) => return error(401, "Invalid API key"),
        Some(Credential::Expired) => return error(401, "Client token expired"),
        Some(_) => {}
    }
    let model = query
        .iter()
        .find(|(k, _)| k == "model")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if Model::lookup(ModelKind::Realtime, &model).is_err() {
        return error(404, &format!("Model {model} not found"));
    }
    let index = {
        let query = query
            .into_iter()
            .map(|(k, v)| {
                if k == "api_key" {
                    (k, "<redacted>".to_owned())
                } else {
                    (k, v)
                }
            })
            .collect();
        let user_agent = head.header("user-agent").map(str::to_owned);
        lock(&state.realtime.sessions).push(RealtimeSessionLog::new(query, credential, user_agent))
    };
    Ok(Accepted { key, index, script })
}

impl Accepted {
    /// Switches protocols and plays the session until it ends.
    pub(crate) fn run(self, state: &super::api::State, stream: &mut TcpStream) {
        let accept = derive_accept_key(self.key.as_bytes());
        let head = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n"
        );
        if io::Write::write_all(stream, head.as_bytes()).is_err() {
            return;
        }
        let port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
        let mut session = Session {
            state,
            index: self.index,
            script: self.script,
            timeline: VecDeque::new(),
            ready_at: None,
            generating: false,
            port,
        };
        session.run(stream);
    }
}

/// The LiveKit URL of the emulator's rooms: the participant's signal socket is
/// `{this}/rtc` on the emulator's own port.
fn livekit_url(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/livekit")
}

/// `POST /watch-stream/{room}`: a viewer's credentials for a room a session announced.
pub(crate) fn watch(state: &super::api::State, room: &str, port: u16) -> Response {
    let trailers = lock(&state.realtime.script).frame_timing;
    let mut sessions = lock(&state.realtime.sessions);
    let found = sessions
        .room(room)
        .and_then(|index| Some((index, sessions.get_mut(index)?.session_id.clone())));
    match found {
        Some((index, session_id)) => {
            let token = random_id("lk_emulator_viewer_");
            lock(&state.realtime.rooms).insert(
                token.clone(),
                Grant {
                    index,
                    answer: MediaAnswer::Serve,
                    viewer: true,
                    trailers,
                },
            );
            let body = json!({
                "livekit_url": livekit_url(port),
                "token": token,
                "room_name": room,
                "session_id": session_id,
            });
            Response::new(200, "application/json", body.to_string().into_bytes())
        }
        None => super::http::error_response(404, "Room not found"),
    }
}

/// A scheduled action.
enum Action {
    Send(Value),
    Raw(String),
    ErrorAndClose(String),
    Close(u16, String),
    Drop,
    RoomInfo,
    StartGeneration,
}

struct Session<'a> {
    state: &'a super::api::State,
    index: usize,
    script: RealtimeScript,
    /// Actions by due time, in order.
    timeline: VecDeque<(Instant, Action)>,
    /// When the room info goes (or went) out; acks wait for it.
    ready_at: Option<Instant>,
    generating: bool,
    port: u16,
}

/// How a session ends.
enum End {
    Continue,
    /// A close frame (this code and reason, else a normal closure).
    Close(Option<(u16, String)>),
    Drop,
}

impl Session<'_> {
    fn log<T>(&self, f: impl FnOnce(&mut RealtimeSessionLog) -> T) -> Option<T> {
        let mut sessions = lock(&self.state.realtime.sessions);
        sessions.get_mut(self.index).map(f)
    }

    fn schedule(&mut self, at: Instant, action: Action) {
        // Stable: equal times keep their order.
        let i = self.timeline.partition_point(|(t, _)| *t <= at);
        self.timeline.insert(i, (at, action));
    }

    fn run(&mut self, stream: &mut TcpStream) {
        if stream.set_read_timeout(Some(POLL)).is_err() {
            return;
        }
        let mut ws = WebSocket::from_raw_socket(&mut *stream, Role::Server, None);
        let end = loop {
            if self.state.stopper.is_stopped() {
                break End::Drop;
            }
            // Due actions.
            let now = Instant::now();
            let mut outcome = End::Continue;
            while self.timeline.front().is_some_and(|(t, _)| *t <= now) {
                let Some((_, action)) = self.timeline.pop_front() else {
                    break;
                };
                outcome = self.act(&mut ws, action);
                if !matches!(outcome, End::Continue) {
                    break;
                }
            }
            if !matches!(outcome, End::Continue) {
                break outcome;
            }
            match ws.read() {
                Ok(Message::Text(text)) => {
                    let value = serde_json::from_str::<Value>(text.as_str())
                        .unwrap_or_else(|_| Value::String(text.as_str().to_owned()));
                    self.log(|l| l.received.push(value.clone()));
                    match self.on_message(&value) {
                        End::Continue => {}
                        other => break other,
                    }
                }
                Ok(Message::Close(_)) => {
                    self.log(|l| l.closed_by_client = true);
                    let _ = ws.flush();
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break End::Close(None),
            }
        };
        if let End::Close(frame) = end {
            let _ = ws.close(frame.map(|(code, reason)| CloseFrame {
                code: code.into(),
                reason: reason.into(),
            }));
            let _ = ws.flush();
        }
        drop(ws);
        let _ = stream.shutdown(Shutdown::Both);
        self.log(|l| l.ended = true);
    }

    fn on_message(&mut self, m: &Value) -> End {
        let now = Instant::now();
        match m.get("type").and_then(Value::as_str) {
            Some("livekit_join") => match self.script.join.clone() {
                JoinAnswer::RoomInfo => {
                    let mut at = now;
                    for (position, size) in self.script.queue.clone() {
                        self.schedule(
                            at,
                            Action::Send(json!({"type":"queue_position","position":position,"queue_size":size})),
                        );
                        at = after(at, self.script.queue_interval);
                    }
                    at = after(at, self.script.room_info_delay);
                    self.ready_at = Some(at);
                    self.schedule(at, Action::RoomInfo);
                    End::Continue
                }
                JoinAnswer::Error(e) => {
                    self.schedule(now, Action::ErrorAndClose(e));
                    End::Continue
                }
                JoinAnswer::Drop => End::Drop,
                JoinAnswer::Silent => End::Continue,
                JoinAnswer::Raw(text) => {
                    self.schedule(now, Action::Raw(text));
                    End::Continue
                }
            },
            Some(kind @ ("prompt" | "set_image")) => {
                let answer = if kind == "prompt" {
                    self.script.prompt.clone()
                } else {
                    self.script.image.clone()
                };
                let at = self.ready_at.map_or(now, |r| r.max(now));
                let ack = |success: bool, error: Option<String>| {
                    if kind == "prompt" {
                        json!({"type":"prompt_ack","prompt":m.get("prompt").cloned().unwrap_or(Value::Null),"success":success,"error":error})
                    } else {
                        json!({"type":"set_image_ack","success":success,"error":error})
                    }
                };
                match answer {
                    AckAnswer::Ack => {
                        let prompt = m.get("prompt").and_then(Value::as_str).map(str::to_owned);
                        let sets_prompt = kind == "prompt" || m.get("prompt").is_some();
                        self.log(|l| {
                            l.has_state = true;
                            if sets_prompt {
                                l.prompt = prompt;
                            }
                        });
                        self.schedule(at, Action::Send(ack(true, None)));
                        self.schedule(at, Action::StartGeneration);
                    }
                    AckAnswer::Reject(reason) => {
                        self.schedule(at, Action::Send(ack(false, Some(reason))))
                    }
                    AckAnswer::Silent => {}
                    AckAnswer::Error(e) => self.schedule(at, Action::ErrorAndClose(e)),
                    AckAnswer::Drop => self.schedule(at, Action::Drop),
                }
                End::Continue
            }
            _ => End::Continue,
        }
    }

    fn act<S: io::Read + io::Write>(&mut self, ws: &mut WebSocket<S>, action: Action) -> End {
        let send = |ws: &mut WebSocket<S>, text: String| ws.send(Message::text(text)).is_ok();
        match action {
            Action::Send(v) => {
                if send(ws, v.to_string()) {
                    End::Continue
                } else {
                    End::Drop
                }
            }
            Action::Raw(text) => {
                if send(ws, text) {
                    End::Continue
                } else {
                    End::Drop
                }
            }
            Action::ErrorAndClose(e) => {
                let _ = send(ws, json!({"type":"error","error":e}).to_string());
                End::Close(None)
            }
            Action::Close(code, reason) => End::Close(Some((code, reason))),
            Action::Drop => End::Drop,
            Action::RoomInfo => {
                let session_id = random_id("sess_");
                let room_name = random_id("room_");
                let token = random_id("lk_emulator_");
                lock(&self.state.realtime.rooms).insert(
                    token.clone(),
                    Grant {
                        index: self.index,
                        answer: self.script.media.clone(),
                        viewer: false,
                        trailers: false,
                    },
                );
                let info = json!({
                    "type": "livekit_room_info",
                    "livekit_url": livekit_url(self.port),
                    "token": token,
                    "room_name": room_name,
                    "session_id": session_id,
                });
                self.log(|l| {
                    l.session_id = Some(session_id);
                    l.room_name = Some(room_name);
                });
                if !send(ws, info.to_string()) {
                    return End::Drop;
                }
                // Without an initial state, generation starts with the room.
                let initial = self.log(|l| {
                    l.received.iter().any(|m| {
                        matches!(
                            m.get("type").and_then(Value::as_str),
                            Some("prompt" | "set_image")
                        )
                    })
                });
                if initial != Some(true) {
                    self.schedule(Instant::now(), Action::StartGeneration);
                }
                End::Continue
            }
            Action::StartGeneration => {
                if self.generating {
                    return End::Continue;
                }
                self.generating = true;
                if !send(ws, json!({"type":"generation_started"}).to_string()) {
                    return End::Drop;
                }
                let mut at = Instant::now();
                for i in 1..=self.script.ticks {
                    at = after(at, self.script.tick_interval);
                    self.schedule(
                        at,
                        Action::Send(json!({"type":"generation_tick","seconds":i})),
                    );
                }
                at = after(at, self.script.tick_interval);
                match self.script.after_ticks.clone() {
                    AfterTicks::Nothing => {}
                    AfterTicks::End(reason) => self.schedule(
                        at,
                        Action::Send(json!({"type":"generation_ended","seconds":self.script.ticks,"reason":reason})),
                    ),
                    AfterTicks::Error(e) => self.schedule(at, Action::ErrorAndClose(e)),
                    AfterTicks::Drop => self.schedule(at, Action::Drop),
                    AfterTicks::Close(code, reason) => {
                        self.schedule(at, Action::Close(code, reason))
                    }
                    AfterTicks::Raw(text) => self.schedule(at, Action::Raw(text)),
                }
                End::Continue
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(room: &str) -> RealtimeSessionLog {
        let mut log = RealtimeSessionLog::new(Vec::new(), None, None);
        log.room_name = Some(room.to_owned());
        log
    }

    #[test]
    fn a_session_keeps_its_id_when_older_ones_are_forgotten() {
        let mut logs = SessionLogs::default();
        let ids: Vec<usize> = (0..MAX_SESSIONS + 5)
            .map(|i| logs.push(entry(&format!("room_{i}"))))
            .collect();
        assert_eq!(ids, (0..MAX_SESSIONS + 5).collect::<Vec<_>>());
        assert!(logs.get_mut(4).is_none(), "forgotten");
        let last = MAX_SESSIONS + 4;
        assert_eq!(
            logs.get_mut(last).unwrap().room_name.as_deref(),
            Some(format!("room_{last}").as_str())
        );
        assert_eq!(logs.room("room_1000"), Some(1000));
        assert_eq!(logs.room("room_0"), None);
        assert_eq!(logs.to_vec().len(), MAX_SESSIONS);
        assert_eq!(logs.to_vec()[0].room_name.as_deref(), Some("room_5"));
    }
}
