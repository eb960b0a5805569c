//! The LiveKit participant's thread, shared by both flavours.
//!
//! One std thread per session: it opens LiveKit's signal WebSocket (the token in the
//! `access_token` query parameter, never logged), runs the publisher connection (this side
//! offers, after `AddTrackRequest` → `TrackPublishedResponse`) and the subscriber connection
//! (the server offers) on one UDP socket, trickles candidates both ways, answers the server's
//! pings, writes the frames the session queues, and delivers the frames that arrive.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use livekit_protocol as lk;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::PayloadParams;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::Protocol;
use str0m::{Candidate, Event, IceConnectionState, Rtc};
use tungstenite::{Message, WebSocket};

use super::engine::{self, Engine, Waker};
use super::signal::{self, Request, Response, Target};
use super::{MAX_BUFFERED_FRAMES, MAX_QUEUED_FRAMES, VideoCodec, VideoFrame};
use crate::realtime::error::{RealtimeError, RealtimeErrorKind};
use crate::realtime::scrub;
use crate::realtime::socket::{self, Deliver, Dial, Inbound};

/// How long the thread waits between looks at the signal socket while setting up, and once
/// the media flows (frames to send wake it at once).
const SETUP_POLL: Duration = Duration::from_millis(2);
const RUN_POLL: Duration = Duration::from_millis(20);
/// Signal messages handled per round at most.
const MAX_SIGNAL_MESSAGES_PER_ROUND: usize = 64;
/// The local track's client id (LiveKit's `cid`) and stream id.
const TRACK_CID: &str = "decart-video";
const STREAM_ID: &str = "decart-camera";

/// What the participant needs.
pub(crate) struct MediaDial {
    /// `livekit_url` of the room info.
    pub url: String,
    /// The LiveKit access token (never shown).
    pub token: String,
    pub user_agent: String,
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    /// The signal WebSocket's TCP, TLS and upgrade, within this.
    pub connect_timeout: Duration,
    /// From the start of the thread until the media path is up (the publisher's, or for a
    /// viewer the subscriber's).
    pub media_timeout: Duration,
    /// Whether to publish a video track (a session) or only receive (a viewer).
    pub publish: bool,
    /// Whether received frames end with a LiveKit packet trailer to strip (a viewer of a
    /// session whose publisher advertised frame timing).
    pub packet_trailers: bool,
}

/// What the session asks of the thread.
pub(crate) enum MediaCommand {
    Frame(VideoFrame),
    Close,
}

/// Counters shared by the thread and the session.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Frames delivered and not yet taken from the channel by the session.
    pub backlog: AtomicUsize,
    /// Frames dropped because the backlog was full.
    pub dropped: AtomicU64,
    /// Set by the session's close: seen even when 64 frames fill the command queue and the
    /// `Close` command could not be queued behind them.
    pub closing: AtomicBool,
}

/// The session's end of the participant.
#[derive(Debug)]
pub(crate) struct MediaHandle {
    commands: SyncSender<MediaCommand>,
    waker: Arc<OnceLock<Waker>>,
    pub shared: Arc<Shared>,
}

/// Why a frame was not queued.
pub(crate) enum SendRefused {
    Full(VideoFrame),
    Gone(VideoFrame),
}

impl MediaHandle {
    pub(crate) fn send_frame(&self, frame: VideoFrame) -> Result<(), SendRefused> {
        match self.commands.try_send(MediaCommand::Frame(frame)) {
            Ok(()) => {
                self.wake();
                Ok(())
            }
            Err(TrySendError::Full(MediaCommand::Frame(frame))) => Err(SendRefused::Full(frame)),
            Err(TrySendError::Disconnected(MediaCommand::Frame(frame))) => {
                Err(SendRefused::Gone(frame))
            }
            Err(_) => unreachable!("the command sent was a frame"),
        }
    }

    pub(crate) fn close(&self) {
        // The flag first: with a full queue the command below is refused, and the thread
        // must not send the queued frames first, nor wait for the handle to be dropped.
        self.shared.closing.store(true, Ordering::Release);
        let _ = self.commands.try_send(MediaCommand::Close);
        self.wake();
    }

    fn wake(&self) {
        if let Some(w) = self.waker.get() {
            w.wake();
        }
    }
}

impl Drop for MediaHandle {
    fn drop(&mut self) {
        self.close();
    }
}

/// Starts the participant's thread. It reports `MediaReady` once frames can be sent, every
/// received frame, and `MediaEnded` last.
pub(crate) fn spawn<D: Deliver>(dial: MediaDial, out: D) -> Result<MediaHandle, RealtimeError> {
    let (tx, rx) = mpsc::sync_channel(MAX_QUEUED_FRAMES);
    let waker = Arc::new(OnceLock::new());
    let shared = Arc::new(Shared::default());
    let (thread_waker, thread_shared) = (waker.clone(), shared.clone());
    thread::Builder::new()
        .name("decart-media".into())
        .spawn(move || {
            let secret = dial.token.clone();
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&dial, &rx, &out, &thread_waker, &thread_shared)
            }));
            let end = match ran {
                Ok(Ok(())) => media_error(RealtimeErrorKind::Closed, "the media was closed"),
                Ok(Err(e)) => RealtimeError::new(e.kind(), scrub(e.message(), &secret))
                    .with_status_opt(e.status()),
                // The session still learns that its media ended (never a silent stall).
                Err(_) => media_error(
                    RealtimeErrorKind::Closed,
                    "the media thread stopped on an internal error (a bug: please report it)",
                ),
            };
            out.deliver(Inbound::MediaEnded(end));
        })
        .map_err(|e| {
            media_error(
                RealtimeErrorKind::Connect,
                format!("cannot start the media thread: {e}"),
            )
        })?;
    Ok(MediaHandle {
        commands: tx,
        waker,
        shared,
    })
}

fn media_error(kind: RealtimeErrorKind, message: impl Into<String>) -> RealtimeError {
    RealtimeError::new(kind, message)
}

/// The signal URL: `{livekit_url}/rtc?access_token=…&auto_subscribe=1&…`.
pub(crate) fn signal_url(livekit_url: &str, token: &str, redact: bool) -> Result<String, String> {
    let mut url = url::Url::parse(livekit_url)
        .map_err(|_| format!("the room's livekit_url is not a URL: {livekit_url}"))?;
    match url.scheme() {
        "wss" | "ws" => {}
        "https" => url
            .set_scheme("wss")
            .map_err(|()| "bad scheme".to_owned())?,
        "http" => url.set_scheme("ws").map_err(|()| "bad scheme".to_owned())?,
        other => return Err(format!("the room's livekit_url has scheme {other}")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the room's livekit_url has no host".to_owned());
    }
    let path = format!("{}/rtc", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_fragment(None);
    url.query_pairs_mut()
        .append_pair("access_token", if redact { "<redacted>" } else { token })
        .append_pair("auto_subscribe", "1")
        .append_pair("adaptive_stream", "0")
        .append_pair("sdk", "rust")
        .append_pair("version", env!("CARGO_PKG_VERSION"))
        .append_pair("protocol", &signal::PROTOCOL_VERSION.to_string());
    let url: String = url.into();
    // Shown as the control URL's key is: `<redacted>`, not percent-encoded.
    Ok(url.replacen("access_token=%3Credacted%3E", "access_token=<redacted>", 1))
}

fn run<D: Deliver>(
    dial: &MediaDial,
    commands: &Receiver<MediaCommand>,
    out: &D,
    waker: &OnceLock<Waker>,
    shared: &Shared,
) -> Result<(), RealtimeError> {
    let started = Instant::now();
    let connect_error = |m: String| media_error(RealtimeErrorKind::Connect, m);
    let url = signal_url(&dial.url, &dial.token, false).map_err(connect_error)?;
    let redacted = signal_url(&dial.url, &dial.token, true).map_err(connect_error)?;
    log::debug!("realtime: joining the LiveKit room at {redacted}");
    let parsed = url::Url::parse(&url).map_err(|e| connect_error(e.to_string()))?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    // The local address the SFU can reach us at: the one the system routes to it from.
    let remote = (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| connect_error(format!("cannot resolve the LiveKit host {host}: {e}")))?
        .next()
        .ok_or_else(|| connect_error(format!("the LiveKit host {host} has no address")))?;
    let local_ip = engine::route_to(remote.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let (engine, wake) = Engine::bind(local_ip, 2)
        .map_err(|e| connect_error(format!("cannot open a UDP socket: {e}")))?;
    let _ = waker.set(wake);
    let connected = socket::connect(
        &Dial {
            url,
            redacted,
            secret: dial.token.clone(),
            user_agent: dial.user_agent.clone(),
            connect_timeout: dial.connect_timeout,
        },
        Instant::now().checked_add(dial.connect_timeout),
        signal::MAX_SIGNAL_MESSAGE,
    )
    .map_err(|e| {
        // The same failure, named as the LiveKit leg's.
        let message = format!("LiveKit signal connection: {}", e.message());
        RealtimeError::new(e.kind(), message).with_status_opt(e.status())
    })?;
    let deadline = started.checked_add(dial.media_timeout);
    match connected {
        socket::Connected::Plain(ws, tcp) => {
            Participant::new(dial, engine, *ws, tcp, deadline)?.run(commands, out, shared)
        }
        #[cfg(feature = "rustls")]
        socket::Connected::Tls(ws, tcp) => {
            Participant::new(dial, engine, *ws, tcp, deadline)?.run(commands, out, shared)
        }
    }
}

/// Where the setup stands, for the timeout's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Join,
    /// A viewer waits for the subscriber's offer.
    Offer,
    Publish,
    Answer,
    Ice,
    Ready,
}

struct Participant<'a, S: Read + Write> {
    dial: &'a MediaDial,
    engine: Engine,
    ws: WebSocket<S>,
    tcp: TcpStream,
    /// The host candidates of the publisher's and the subscriber's sockets.
    candidates: [Candidate; 2],
    publisher: Rtc,
    subscriber: Rtc,
    pending_offer: Option<SdpPendingOffer>,
    /// Whether the subscriber has its host candidate (added with the first answer).
    subscriber_candidate: bool,
    /// The published track's media id, and its payload type once known.
    mid: Option<Mid>,
    params: Option<PayloadParams>,
    /// The participant sid of the inference server, when announced.
    inference: Option<String>,
    /// The subscriber's video `mid`s, and which of them carry the inference server's track.
    remote_streams: Vec<(String, String)>,
    stage: Stage,
    deadline: Option<Instant>,
    ping_interval: Option<Duration>,
    ping_timeout: Duration,
    next_ping: Option<Instant>,
    last_pong: Instant,
    /// The RTP time of the first frame received: received timestamps count from it.
    first_time: Option<MediaTime>,
}

impl<'a, S: Read + Write> Participant<'a, S> {
    fn new(
        dial: &'a MediaDial,
        engine: Engine,
        ws: WebSocket<S>,
        tcp: TcpStream,
        deadline: Option<Instant>,
    ) -> Result<Self, RealtimeError> {
        let candidate = |i| {
            engine
                .candidate(i)
                .map_err(|e| media_error(RealtimeErrorKind::Connect, e))
        };
        let candidates = [candidate(0)?, candidate(1)?];
        tcp.set_nonblocking(true).map_err(|e| {
            media_error(
                RealtimeErrorKind::Connect,
                format!("LiveKit signal socket: {e}"),
            )
        })?;
        Ok(Participant {
            dial,
            engine,
            ws,
            tcp,
            candidates,
            publisher: engine::new_rtc(),
            subscriber: engine::new_rtc(),
            pending_offer: None,
            subscriber_candidate: false,
            mid: None,
            params: None,
            inference: None,
            remote_streams: Vec::new(),
            stage: Stage::Join,
            deadline,
            ping_interval: None,
            ping_timeout: Duration::from_secs(15),
            next_ping: None,
            last_pong: Instant::now(),
            first_time: None,
        })
    }

    fn send(&mut self, request: Request) -> Result<(), RealtimeError> {
        match self
            .ws
            .send(Message::binary(signal::encode_request(request)))
        {
            Ok(()) => Ok(()),
            // Queued in tungstenite: flushed on the next rounds.
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(signal_broke(&e)),
        }
    }

    fn run<D: Deliver>(
        mut self,
        commands: &Receiver<MediaCommand>,
        out: &D,
        shared: &Shared,
    ) -> Result<(), RealtimeError> {
        let mut events = Vec::new();
        let result = loop {
            match self.round(commands, out, shared, &mut events) {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.leave(result.is_ok());
        result
    }

    /// One round of the loop; `Ok(false)` once the session asked to close.
    fn round<D: Deliver>(
        &mut self,
        commands: &Receiver<MediaCommand>,
        out: &D,
        shared: &Shared,
        events: &mut Vec<(usize, Event)>,
    ) -> Result<bool, RealtimeError> {
        // Frames to send, or the close: at most a queue's worth per round, so a caller
        // refilling the queue cannot starve the rest.
        for _ in 0..MAX_QUEUED_FRAMES {
            if shared.closing.load(Ordering::Acquire) {
                return Ok(false);
            }
            match commands.try_recv() {
                Ok(MediaCommand::Frame(frame)) => self.write(frame)?,
                Ok(MediaCommand::Close) | Err(mpsc::TryRecvError::Disconnected) => {
                    return Ok(false);
                }
                Err(mpsc::TryRecvError::Empty) => break,
            }
        }
        // The signal socket: what has come, up to a bound per round (the rest waits for the
        // next round, RUN_POLL at most away).
        for _ in 0..MAX_SIGNAL_MESSAGES_PER_ROUND {
            match self.ws.read() {
                Ok(Message::Binary(bytes)) => {
                    let message = signal::decode_response(&bytes)
                        .map_err(|m| media_error(RealtimeErrorKind::Protocol, m))?;
                    if let Some(message) = message {
                        self.on_signal(message)?;
                    }
                }
                Ok(Message::Close(frame)) => {
                    let _ = self.ws.flush();
                    let why = frame
                        .filter(|f| !f.reason.is_empty())
                        .map(|f| format!(" ({})", f.reason))
                        .unwrap_or_default();
                    return Err(media_error(
                        RealtimeErrorKind::Closed,
                        format!("the LiveKit server closed the signal connection{why}"),
                    ));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    break;
                }
                Err(e) => return Err(signal_broke(&e)),
            }
        }
        match self.ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(signal_broke(&e)),
        }
        let now = Instant::now();
        self.keepalive(now)?;
        if self.stage != Stage::Ready && self.deadline.is_some_and(|d| now >= d) {
            return Err(self.setup_timeout());
        }
        // The media.
        let poll = if self.stage == Stage::Ready {
            RUN_POLL
        } else {
            SETUP_POLL
        };
        events.clear();
        self.engine
            .turn(
                &mut [&mut self.publisher, &mut self.subscriber],
                poll,
                None,
                events,
            )
            .map_err(|e| media_error(RealtimeErrorKind::Ice, format!("WebRTC: {e}")))?;
        for (i, event) in events.drain(..) {
            self.on_event(i, event, out, shared)?;
        }
        Ok(true)
    }

    fn setup_timeout(&self) -> RealtimeError {
        let (kind, what) = match self.stage {
            Stage::Join => (
                RealtimeErrorKind::Timeout,
                "the LiveKit server sent no join response",
            ),
            Stage::Offer => (
                RealtimeErrorKind::Timeout,
                "the LiveKit server sent no offer for the subscriber",
            ),
            Stage::Publish => (
                RealtimeErrorKind::Timeout,
                "the LiveKit server did not publish the video track",
            ),
            Stage::Answer => (
                RealtimeErrorKind::Timeout,
                "the LiveKit server did not answer the publisher's offer",
            ),
            Stage::Ice | Stage::Ready => (
                RealtimeErrorKind::Ice,
                "ICE found no working path to the LiveKit server (UDP blocked? this crate has no TURN)",
            ),
        };
        media_error(
            kind,
            format!(
                "{what} within the media timeout ({:?})",
                self.dial.media_timeout
            ),
        )
    }

    fn keepalive(&mut self, now: Instant) -> Result<(), RealtimeError> {
        let Some(interval) = self.ping_interval else {
            return Ok(());
        };
        if now.duration_since(self.last_pong) > self.ping_timeout + interval {
            return Err(media_error(
                RealtimeErrorKind::Closed,
                "the LiveKit server stopped answering pings",
            ));
        }
        if self.next_ping.is_none_or(|t| now >= t) {
            self.next_ping = Some(now + interval);
            let millis = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            self.send(Request::Ping(millis))?;
        }
        Ok(())
    }

    fn on_signal(&mut self, message: Response) -> Result<(), RealtimeError> {
        match message {
            // Only the first join response counts (a repeated one would restart the setup).
            Response::Join(_) if self.stage != Stage::Join => {}
            Response::Join(join) => {
                if join.ping_interval > 0 {
                    self.ping_interval = Some(Duration::from_secs(join.ping_interval as u64));
                    self.ping_timeout = Duration::from_secs(join.ping_timeout.max(1) as u64);
                    self.last_pong = Instant::now();
                }
                self.note_participants(&join.other_participants);
                if !self.dial.publish {
                    self.stage = Stage::Offer;
                    return Ok(());
                }
                let source = lk::TrackSource::Camera as i32;
                self.send(Request::AddTrack(lk::AddTrackRequest {
                    cid: TRACK_CID.to_owned(),
                    name: "camera".to_owned(),
                    r#type: lk::TrackType::Video as i32,
                    width: self.dial.width,
                    height: self.dial.height,
                    source,
                    simulcast_codecs: vec![lk::SimulcastCodec {
                        codec: self.dial.codec.name().to_owned(),
                        cid: TRACK_CID.to_owned(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }))?;
                self.stage = Stage::Publish;
            }
            Response::TrackPublished(published)
                if published.cid == TRACK_CID && self.mid.is_none() =>
            {
                self.offer()?;
            }
            Response::Answer(answer) => {
                let Some(pending) = self.pending_offer.take() else {
                    return Ok(());
                };
                let answer = SdpAnswer::from_sdp_string(&answer.sdp).map_err(|e| {
                    media_error(
                        RealtimeErrorKind::Protocol,
                        format!("the publisher's answer is not valid SDP: {e}"),
                    )
                })?;
                self.publisher
                    .sdp_api()
                    .accept_answer(pending, answer)
                    .map_err(|e| {
                        media_error(
                            RealtimeErrorKind::Protocol,
                            format!("the publisher's answer was refused: {e}"),
                        )
                    })?;
                self.stage = Stage::Ice;
            }
            Response::Offer(offer) => self.answer(offer)?,
            Response::Trickle(trickle) => {
                let line = signal::trickled_candidate(&trickle.candidate_init)
                    .map_err(|m| media_error(RealtimeErrorKind::Protocol, m))?;
                if let Some(c) = line.and_then(|l| usable_candidate(&l, &self.candidates[0])) {
                    match Target::from_wire(trickle.target) {
                        Target::Publisher => self.publisher.add_remote_candidate(c),
                        Target::Subscriber => self.subscriber.add_remote_candidate(c),
                    }
                }
            }
            Response::Update(update) => self.note_participants(&update.participants),
            Response::Leave(leave) => {
                return Err(media_error(
                    RealtimeErrorKind::Closed,
                    format!(
                        "the LiveKit server ended the participant (reason {})",
                        lk::DisconnectReason::try_from(leave.reason)
                            .map(|r| r.as_str_name().to_owned())
                            .unwrap_or_else(|_| leave.reason.to_string())
                    ),
                ));
            }
            Response::Pong(_) | Response::PongResp(_) => self.last_pong = Instant::now(),
            _ => {}
        }
        Ok(())
    }

    fn note_participants(&mut self, participants: &[lk::ParticipantInfo]) {
        if let Some(p) = participants
            .iter()
            .find(|p| p.identity.starts_with(signal::INFERENCE_PREFIX))
        {
            if self.inference.as_deref() != Some(p.sid.as_str()) {
                log::debug!("realtime: the inference server is {}", p.identity);
                self.inference = Some(p.sid.clone());
            }
        }
    }

    /// The publisher's offer: one send-only video section, the host candidate in it and
    /// trickled too.
    fn offer(&mut self) -> Result<(), RealtimeError> {
        self.publisher
            .add_local_candidate(self.candidates[0].clone());
        let mut change = self.publisher.sdp_api();
        let mid = change.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            Some(STREAM_ID.to_owned()),
            Some(TRACK_CID.to_owned()),
            None,
        );
        let Some((offer, pending)) = change.apply() else {
            return Err(media_error(
                RealtimeErrorKind::Protocol,
                "the publisher had nothing to offer",
            ));
        };
        self.mid = Some(mid);
        self.pending_offer = Some(pending);
        self.send(Request::Offer(signal::description(
            "offer",
            offer.to_sdp_string(),
            0,
        )))?;
        self.send(signal::trickle(
            &self.candidates[0].to_sdp_string(),
            Target::Publisher,
        ))?;
        self.stage = Stage::Answer;
        Ok(())
    }

    /// The subscriber's answer to the server's offer.
    fn answer(&mut self, offer: lk::SessionDescription) -> Result<(), RealtimeError> {
        self.remote_streams = signal::stream_ids(&offer.sdp);
        let parsed = SdpOffer::from_sdp_string(&offer.sdp).map_err(|e| {
            media_error(
                RealtimeErrorKind::Protocol,
                format!("the subscriber's offer is not valid SDP: {e}"),
            )
        })?;
        let first = !self.subscriber_candidate;
        if first {
            self.subscriber_candidate = true;
            self.subscriber
                .add_local_candidate(self.candidates[1].clone());
        }
        let answer = self
            .subscriber
            .sdp_api()
            .accept_offer(parsed)
            .map_err(|e| {
                media_error(
                    RealtimeErrorKind::Protocol,
                    format!("the subscriber's offer was refused: {e}"),
                )
            })?;
        self.send(Request::Answer(signal::description(
            "answer",
            answer.to_sdp_string(),
            offer.id,
        )))?;
        if first {
            self.send(signal::trickle(
                &self.candidates[1].to_sdp_string(),
                Target::Subscriber,
            ))?;
        }
        if !self.dial.publish && self.stage == Stage::Offer {
            self.stage = Stage::Ice;
        }
        Ok(())
    }

    fn write(&mut self, frame: VideoFrame) -> Result<(), RealtimeError> {
        let Some(mid) = self.mid else {
            return Ok(());
        };
        let codec = self.dial.codec.str0m();
        let Some(writer) = self.publisher.writer(mid) else {
            return Ok(());
        };
        let params = match self.params {
            Some(p) => p,
            None => match writer.payload_params().find(|p| p.spec().codec == codec) {
                Some(p) => {
                    let p = *p;
                    self.params = Some(p);
                    p
                }
                None => {
                    return Err(media_error(
                        RealtimeErrorKind::Protocol,
                        format!(
                            "the LiveKit server did not accept {} for the video track",
                            self.dial.codec.name()
                        ),
                    ));
                }
            },
        };
        let micros = u64::try_from(frame.timestamp.as_micros()).unwrap_or(u64::MAX);
        let time = MediaTime::from_micros(micros).rebase(str0m::media::Frequency::NINETY_KHZ);
        let Some(writer) = self.publisher.writer(mid) else {
            return Ok(());
        };
        writer
            .write(params.pt(), Instant::now(), time, frame.into_data())
            .map_err(|e| {
                media_error(RealtimeErrorKind::Ice, format!("cannot send a frame: {e}"))
            })?;
        // The frame's packets go out now, not at str0m's next timer.
        self.publisher
            .handle_input(str0m::Input::Timeout(Instant::now()))
            .map_err(|e| media_error(RealtimeErrorKind::Ice, format!("WebRTC: {e}")))
    }

    fn on_event<D: Deliver>(
        &mut self,
        peer: usize,
        event: Event,
        out: &D,
        shared: &Shared,
    ) -> Result<(), RealtimeError> {
        match (peer, event) {
            (p, Event::Connected)
                if (p == 0) == self.dial.publish && self.stage != Stage::Ready =>
            {
                self.stage = Stage::Ready;
                log::debug!(
                    "realtime: {} the LiveKit room",
                    if self.dial.publish {
                        "publishing to"
                    } else {
                        "watching"
                    }
                );
                if !out.deliver(Inbound::MediaReady) {
                    return Err(media_error(
                        RealtimeErrorKind::Closed,
                        "the session is gone",
                    ));
                }
            }
            (_, Event::IceConnectionStateChange(IceConnectionState::Disconnected))
                if self.stage == Stage::Ready || peer == 1 =>
            {
                return Err(media_error(
                    RealtimeErrorKind::Ice,
                    if peer == 0 {
                        "the publisher's ICE connection to the LiveKit server was lost"
                    } else {
                        "the subscriber's ICE connection to the LiveKit server was lost"
                    },
                ));
            }
            (1, Event::MediaData(data)) => {
                if !self.is_inference_mid(data.mid) {
                    return Ok(());
                }
                let first = *self.first_time.get_or_insert(data.time);
                let elapsed = data.time.saturating_sub(first);
                let mut bytes = data.data.to_vec();
                if self.dial.packet_trailers {
                    strip_packet_trailer(&mut bytes);
                }
                let frame = VideoFrame::new(bytes, Duration::from_micros(elapsed.as_micros()));
                if shared.backlog.load(Ordering::Acquire) >= MAX_BUFFERED_FRAMES {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                shared.backlog.fetch_add(1, Ordering::AcqRel);
                if !out.deliver(Inbound::Frame(frame)) {
                    return Err(media_error(
                        RealtimeErrorKind::Closed,
                        "the session is gone",
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether a subscriber `mid` carries the inference server's track (any remote video
    /// when the server did not name its participants).
    fn is_inference_mid(&self, mid: Mid) -> bool {
        let Some(sid) = &self.inference else {
            return true;
        };
        match self.remote_streams.iter().find(|(m, _)| m == &*mid) {
            Some((_, stream)) => stream.starts_with(sid.as_str()) || !stream.contains('|'),
            None => true,
        }
    }

    /// Leaves the room: `LeaveRequest` (on a clean close), a close frame, the socket shut.
    fn leave(&mut self, clean: bool) {
        if clean {
            let _ = self.send(Request::Leave(lk::LeaveRequest {
                can_reconnect: false,
                reason: lk::DisconnectReason::ClientInitiated as i32,
                ..Default::default()
            }));
        }
        let _ = self.ws.close(None);
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            match self.ws.flush() {
                Ok(()) => break,
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(2));
                }
                Err(_) => break,
            }
        }
        let _ = self.tcp.shutdown(std::net::Shutdown::Both);
    }
}

fn signal_broke(e: &tungstenite::Error) -> RealtimeError {
    match e {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => media_error(
            RealtimeErrorKind::Closed,
            "the LiveKit signal connection was closed",
        ),
        tungstenite::Error::Io(io) => media_error(
            RealtimeErrorKind::Closed,
            format!("the LiveKit signal connection broke: {io}"),
        ),
        tungstenite::Error::Protocol(p) => media_error(
            RealtimeErrorKind::Closed,
            format!("the LiveKit signal connection broke: {p}"),
        ),
        other => media_error(
            RealtimeErrorKind::Protocol,
            format!("the LiveKit signal connection: {other}"),
        ),
    }
}

/// The magic that ends a LiveKit packet trailer.
const TRAILER_MAGIC: &[u8; 4] = b"LKTS";

/// Removes a LiveKit packet trailer from the end of a frame, if it has one: TLV metadata
/// (user timestamp, frame id, user data; each byte XOR 0xFF), one byte holding the trailer's
/// whole length XOR 0xFF, then `LKTS` (the layout the JS SDK's frame-metadata worker reads).
/// As that reader, only a trailer with a valid TLV is removed. Whether one was.
pub(crate) fn strip_packet_trailer(frame: &mut Vec<u8>) -> bool {
    let len = frame.len();
    let footer = TRAILER_MAGIC.len() + 1;
    if len < footer || !frame.ends_with(TRAILER_MAGIC) {
        return false;
    }
    let trailer = usize::from(frame[len - footer] ^ 0xff);
    if trailer < footer || trailer > len {
        return false;
    }
    let (start, end) = (len - trailer, len - footer);
    let (mut at, mut valid) = (start, false);
    while at + 2 <= end {
        let (tag, size) = (frame[at] ^ 0xff, usize::from(frame[at + 1] ^ 0xff));
        at += 2;
        if at + size > end {
            break;
        }
        valid |= matches!((tag, size), (1, 8) | (2, 4) | (3, _));
        at += size;
    }
    if valid {
        frame.truncate(start);
    }
    valid
}

/// A trickled candidate this side can use, else `None`: an unknown form, ICE/TCP (the sockets
/// are UDP), or the other IP family than `local`'s is skipped, as browsers skip what they
/// cannot pair. Given to str0m, one alone would leave it no possible pair, i.e.
/// `Disconnected` (which ends a subscriber), before the usable candidates come.
fn usable_candidate(line: &str, local: &Candidate) -> Option<Candidate> {
    Candidate::from_sdp_string(line)
        .ok()
        .filter(|c| c.proto() == Protocol::Udp && c.addr().is_ipv4() == local.addr().is_ipv4())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_trailers_are_stripped_whole() {
        // A frame, a user-timestamp TLV and a frame-id TLV (XOR 0xff), the length, `LKTS`.
        let au = vec![0, 0, 0, 1, 0x65, 1, 2, 3];
        let mut trailer = vec![1 ^ 0xff, 8 ^ 0xff];
        trailer.extend([0u8, 0, 1, 2, 3, 4, 5, 6].iter().map(|b| b ^ 0xff));
        trailer.extend([2 ^ 0xff, 4 ^ 0xff]);
        trailer.extend([0u8, 0, 0, 9].iter().map(|b| b ^ 0xff));
        let total = trailer.len() + 5;
        trailer.push(total as u8 ^ 0xff);
        trailer.extend(TRAILER_MAGIC);
        let mut frame = [au.clone(), trailer].concat();
        assert!(strip_packet_trailer(&mut frame));
        assert_eq!(frame, au);
        // No trailer, or a bad length: the frame is left whole.
        assert!(!strip_packet_trailer(&mut frame));
        assert_eq!(frame, au);
        let mut lying = [au.clone(), vec![200 ^ 0xff], TRAILER_MAGIC.to_vec()].concat();
        let before = lying.clone();
        assert!(!strip_packet_trailer(&mut lying));
        assert_eq!(lying, before);
        let mut short = TRAILER_MAGIC.to_vec();
        assert!(!strip_packet_trailer(&mut short));
        // A well-sized footer without a valid TLV (tag 7) is not a trailer.
        let mut no_tlv = [
            au.clone(),
            vec![7 ^ 0xff, 0xff, 7 ^ 0xff],
            TRAILER_MAGIC.to_vec(),
        ]
        .concat();
        let before = no_tlv.clone();
        assert!(!strip_packet_trailer(&mut no_tlv));
        assert_eq!(no_tlv, before);
    }

    #[test]
    fn only_candidates_a_udp_socket_of_the_same_family_can_pair_are_used() {
        let v4 = Candidate::host("127.0.0.1:5000".parse().unwrap(), "udp").unwrap();
        let v6 = Candidate::host("[::1]:5000".parse().unwrap(), "udp").unwrap();
        let udp4 = "candidate:1 1 udp 2130706431 10.0.0.1 7882 typ host";
        let tcp4 = "candidate:2 1 tcp 2128609279 10.0.0.1 7881 typ host tcptype passive";
        let udp6 = "candidate:3 1 udp 2130706175 2001:db8::1 7882 typ host";
        let used = usable_candidate(udp4, &v4).unwrap();
        assert_eq!(used.addr(), "10.0.0.1:7882".parse().unwrap());
        assert!(usable_candidate(tcp4, &v4).is_none(), "ICE/TCP");
        assert!(
            usable_candidate(udp6, &v4).is_none(),
            "IPv6 for an IPv4 socket"
        );
        assert!(usable_candidate(udp6, &v6).is_some());
        assert!(
            usable_candidate(udp4, &v6).is_none(),
            "IPv4 for an IPv6 socket"
        );
        assert!(usable_candidate("candidate:garbage", &v4).is_none());
    }

    #[test]
    fn signal_urls() {
        let u = signal_url("wss://lk.example/", "t0k", false).unwrap();
        assert!(u.starts_with("wss://lk.example/rtc?access_token=t0k&auto_subscribe=1"));
        assert!(u.ends_with(&format!("protocol={}", signal::PROTOCOL_VERSION)));
        let r = signal_url("https://lk.example/base", "t0k", true).unwrap();
        assert!(r.starts_with("wss://lk.example/base/rtc?access_token=<redacted>&"));
        assert!(!r.contains("t0k"));
        for bad in ["nope", "ftp://x", "ws://"] {
            assert!(signal_url(bad, "t", false).is_err(), "{bad}");
        }
    }
}
