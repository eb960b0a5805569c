//! `client.realtime()`: realtime sessions over the control WebSocket, written once for both
//! flavours (feature `realtime`). The shared types are in [`crate::realtime`]; the wire contract
//! is `docs/realtime-protocol.md`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use super::client::Client;
use super::maybe_async;
use super::rt_io;
use super::transport;
use crate::error::Error;
use crate::models::Model;
use crate::realtime::media::participant::{self, MediaDial, MediaHandle, SendRefused};
use crate::realtime::messages::{ClientMessage, ServerMessage};
use crate::realtime::socket::{self, Command, Dial, Inbound, Recv};
use crate::realtime::{
    FrameRefused, InitialState, MAX_BUFFERED_FRAMES, MAX_FRAME_BYTES, MAX_QUEUED_FRAMES,
    MediaStats, RealtimeError, RealtimeErrorKind, RealtimeEvent, RealtimeOptions, RoomInfo,
    SetImage, StateInForce, SubscribeInfo, VideoFrame, check_not_expired, check_prompt,
    session_url,
};

/// Events kept for `next_event`, at most (a generation tick comes every second).
pub(crate) const MAX_BUFFERED_EVENTS: usize = 1024;
/// Acknowledgements kept from before the room info, at most.
const MAX_EARLY_ACKS: usize = 16;

/// After `close`, how long to wait for the socket's end.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

impl Client {
    /// Realtime sessions (feature `realtime`).
    #[cfg_attr(docsrs, doc(cfg(feature = "realtime")))]
    pub fn realtime(&self) -> Realtime<'_> {
        Realtime { client: self }
    }
}

/// Opens realtime sessions. Get one from [`Client::realtime`].
#[derive(Debug, Clone, Copy)]
pub struct Realtime<'a> {
    client: &'a Client,
}

fn deadline_after(d: Duration) -> Option<Instant> {
    Instant::now().checked_add(d)
}

impl Realtime<'_> {
    /// A viewer's credentials for a running session (`POST /watch-stream/{room}` with the
    /// client's key), from its subscribe token ([`RealtimeSession::subscribe_token`]; both
    /// base64 alphabets are accepted). No control WebSocket is opened.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `subscribe_token`) for a token that does not decode;
    /// [`Error::Api`] with code `REALTIME_WATCH_ERROR` (404 for an unknown room, 401 for a bad
    /// key); [`Error::Decode`] for an answer without `livekit_url`, `token` or `room_name`;
    /// [`Error::Transport`].
    #[maybe_async]
    pub async fn watch(self, subscribe_token: &str) -> Result<SubscribeInfo, Error> {
        let room = crate::models::decode_subscribe_token(subscribe_token)?;
        let path = format!(
            "/watch-stream/{}",
            crate::http::segment("subscribe_token", &room)?
        );
        let body = self
            .client
            .call_json(crate::http::Call::new(
                crate::error::Operation::RealtimeWatch,
                crate::http::Method::Post,
                path,
                crate::http::Payload::Empty,
                crate::retry::Replay::Idempotent,
            ))
            .await?;
        SubscribeInfo::from_json(&body)
    }

    /// Watches a running session as a viewer: [`watch`](Self::watch) for the room's
    /// credentials, then joins the LiveKit room receive-only and waits until the inference
    /// server's video can arrive. Of the options, `connect_timeout` (the signal WebSocket) and
    /// `media_timeout` (the whole join) apply.
    ///
    /// # Errors
    ///
    /// Those of [`watch`](Self::watch); [`Error::Realtime`] for the room: `Rejected` (the
    /// token was refused), `Connect`, `ConnectTimeout`, `Timeout` (no join or offer in time),
    /// `Ice`, `Closed`, `Protocol`.
    #[maybe_async]
    pub async fn subscribe(
        self,
        subscribe_token: &str,
        options: RealtimeOptions,
    ) -> Result<RealtimeViewer, Error> {
        options.validate()?;
        let info = self.watch(subscribe_token).await?;
        let packet_trailers =
            crate::models::realtime::subscribe_token_frame_timing(subscribe_token);
        let (tx, rx) = rt_io::channel();
        let handle = participant::spawn(
            MediaDial {
                url: info.livekit_url.clone(),
                token: info.token.expose().to_owned(),
                user_agent: self.client.user_agent().to_owned(),
                codec: options.codec,
                width: 0,
                height: 0,
                connect_timeout: options.connect_timeout,
                media_timeout: options.media_timeout,
                publish: false,
                packet_trailers,
            },
            tx,
        )?;
        let mut viewer = RealtimeViewer {
            info,
            rx,
            frames: Frames::new(handle),
            failure: None,
        };
        let deadline = deadline_after(options.media_timeout.saturating_add(Duration::from_secs(1)));
        loop {
            match viewer.rx.recv_until(deadline).await {
                Recv::Item(Inbound::MediaReady) => return Ok(viewer),
                Recv::Item(item) => {
                    if let Err(e) = viewer.take(item) {
                        return Err(e.into());
                    }
                }
                Recv::TimedOut => {
                    return Err(RealtimeError::new(
                        RealtimeErrorKind::Timeout,
                        "the viewer's media did not start within the media timeout",
                    )
                    .into());
                }
                Recv::Gone => return Err(gone().into()),
            }
        }
    }

    /// Opens a session with a realtime model: the WebSocket, `livekit_join` and the initial
    /// state right behind it, then the wait for the LiveKit room (paused while the session is
    /// queued) and for the initial state's acknowledgement.
    ///
    /// The client's key (a permanent key, an `ek_…` client key, or a client-token JWT) is sent
    /// in the `api_key` query parameter; a JWT whose `exp` has passed is refused before
    /// anything is dialled. Queue positions received meanwhile are kept as the first
    /// [`RealtimeEvent`]s of [`RealtimeSession::next_event`].
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidInput`] for a model that is not a realtime model, a blank prompt, a
    ///   bad resolution or extra parameter, a zero timeout; [`Error::InvalidBaseUrl`] for a
    ///   realtime base URL that is not `ws(s)`/`http(s)` with a host (nothing is dialled);
    /// - [`Error::Realtime`] with its [`kind`](RealtimeError::kind): `TokenExpired`,
    ///   `Connect`, `ConnectTimeout`, `Rejected` (the upgrade was refused, with its HTTP
    ///   status), `Server` (an `error` message), `Timeout` (no room info or acknowledgement
    ///   in time, or too long in the queue), `AckRejected` (the initial state was refused),
    ///   `Closed` (the socket ended), `Protocol` (a malformed message).
    #[maybe_async]
    pub async fn connect(
        self,
        model: &Model,
        options: RealtimeOptions,
    ) -> Result<RealtimeSession, Error> {
        open_session(self.client, model, options).await
    }

    /// [`connect`](Self::connect), retried as the peers do: a failure that is not
    /// [permanent](RealtimeError::is_permanent) (a refused connection, a timeout, a dropped
    /// socket, a server error such as "Server at capacity", an ICE failure) is followed by a
    /// new attempt after a backoff, up to [`RealtimeOptions::retry`]'s attempts (default 6,
    /// waits of about 1, 2, 4, 8, 10 s:
    /// [`default_realtime_retry`](crate::realtime::default_realtime_retry)).
    ///
    /// Each attempt is a new session, bounded by the options' timeouts, the queue timeout
    /// included: a retry after "still queued" queues again, at the end.
    ///
    /// # Errors
    ///
    /// Those of [`connect`](Self::connect): at once for bad inputs and permanent errors (a
    /// refused key, an expired token, a rejected initial state), else the last attempt's.
    #[maybe_async]
    pub async fn connect_with_retry(
        self,
        model: &Model,
        options: RealtimeOptions,
    ) -> Result<RealtimeSession, Error> {
        connect_with_retry(self.client, model, options).await
    }
}

/// One attempt at a session.
#[maybe_async]
async fn open_session(
    client: &Client,
    model: &Model,
    options: RealtimeOptions,
) -> Result<RealtimeSession, Error> {
    options.validate()?;
    let key = client.api_key().expose().to_owned();
    let url = session_url(
        client.base_url(),
        model,
        &key,
        client.user_agent(),
        &options,
    )?;
    check_not_expired(&key, SystemTime::now())?;
    log::debug!("realtime: connecting to {}", url.redacted);
    let (tx, rx) = rt_io::channel();
    let media_out = tx.clone();
    let (commands, _thread) = socket::spawn(
        Dial {
            url: url.url,
            redacted: url.redacted,
            secret: key,
            user_agent: client.user_agent().to_owned(),
            connect_timeout: options.connect_timeout,
        },
        tx,
    )?;
    // Pipelined: the thread sends these as soon as the upgrade completes.
    let _ = commands.send(Command::Send(ClientMessage::LivekitJoin.to_json()));
    if let Some(initial) = options.sent_initial() {
        let _ = commands.send(Command::Send(initial.message().to_json()));
    }
    let mut session = RealtimeSession {
        room: None,
        commands,
        rx,
        events: VecDeque::new(),
        early_acks: Vec::new(),
        failure: None,
        close_sent: false,
        prompt_timeout: options.prompt_timeout,
        image_timeout: options.image_timeout,
        media: None,
        state: StateInForce::new(options.initial.as_ref()),
        origin: Origin {
            client: client.clone(),
            model: model.clone(),
            options: options.clone(),
        },
    };
    let mut opened = session.open(&options).await;
    if opened.is_ok() && options.media {
        opened = session
            .open_media(&options, model, client.user_agent(), media_out)
            .await;
    }
    match opened {
        Ok(()) => Ok(session),
        Err(e) => {
            session.send_close();
            Err(e.into())
        }
    }
}

/// Attempts at a session under the options' retry policy.
#[maybe_async]
async fn connect_with_retry(
    client: &Client,
    model: &Model,
    options: RealtimeOptions,
) -> Result<RealtimeSession, Error> {
    let policy = options.retry;
    let mut attempt = 1;
    loop {
        let error = match open_session(client, model, options.clone()).await {
            Ok(session) => return Ok(session),
            Err(error) => error,
        };
        let retryable = matches!(&error, Error::Realtime(e) if e.is_retryable());
        if !retryable || attempt >= policy.attempts() {
            return Err(error);
        }
        let delay = crate::retry::realtime_delay(&policy, attempt, crate::retry::random_unit());
        log::debug!(
            "realtime: attempt {attempt} of {} failed ({}); retrying in {delay:?}",
            policy.attempts(),
            error.report()
        );
        transport::sleep(delay).await;
        attempt += 1;
    }
}

/// What a session was opened with, for [`RealtimeSession::reconnect`].
struct Origin {
    client: Client,
    model: Model,
    options: RealtimeOptions,
}

/// An open realtime session: the control channel of one generation, and the LiveKit room its
/// media goes through.
///
/// The calls take `&mut self`: one request at a time, as the protocol matches
/// acknowledgements without ids. Dropping the session closes the WebSocket (a close frame, then
/// the socket); [`close`](Self::close) does the same and waits for it.
pub struct RealtimeSession {
    room: Option<RoomInfo>,
    commands: mpsc::Sender<Command>,
    rx: rt_io::Receiver,
    events: VecDeque<RealtimeEvent>,
    /// Acknowledgements that arrived before anyone waited for them (during the join).
    early_acks: Vec<ServerMessage>,
    /// The error that ended the session, returned by every later call.
    failure: Option<RealtimeError>,
    close_sent: bool,
    prompt_timeout: Duration,
    image_timeout: Duration,
    /// The LiveKit participant and its received frames, when the session has media.
    media: Option<Frames>,
    /// The prompt and image acknowledged last, for a reconnect.
    state: StateInForce,
    origin: Origin,
}

/// The LiveKit participant's handle, its received frames not yet handed out, and the media's
/// counters; of a session or a viewer.
struct Frames {
    handle: MediaHandle,
    queue: VecDeque<VideoFrame>,
    stats: MediaStats,
}

impl Frames {
    fn new(handle: MediaHandle) -> Self {
        Frames {
            handle,
            queue: VecDeque::new(),
            stats: MediaStats::default(),
        }
    }

    /// Keeps a received frame (the oldest is dropped beyond the bound).
    fn push(&mut self, frame: VideoFrame) {
        // Saturating: a wrapped count would make the media thread drop every later frame.
        let _ = self
            .handle
            .shared
            .backlog
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
        self.stats.frames_received += 1;
        self.stats.bytes_received += frame.data().len() as u64;
        if self.queue.len() >= MAX_BUFFERED_FRAMES {
            self.queue.pop_front();
            self.stats.frames_dropped += 1;
        }
        self.queue.push_back(frame);
    }

    fn stats(&self) -> MediaStats {
        let mut stats = self.stats;
        stats.frames_dropped += self.handle.shared.dropped.load(Ordering::Relaxed);
        stats
    }
}

/// What one step of reading the channel gave.
enum Step {
    Message(ServerMessage),
    /// Something that is not a control message (a frame, the media's readiness).
    Media(bool),
    TimedOut,
}

impl RealtimeSession {
    /// The session's public id (from the room info).
    pub fn session_id(&self) -> &str {
        &self.room_info().session_id
    }

    /// The LiveKit room to join for the media: URL, access token, room name, session id.
    pub fn room_info(&self) -> &RoomInfo {
        // `connect` returns a session only once the room info arrived.
        self.room
            .as_ref()
            .unwrap_or_else(|| unreachable!("a session always has its room"))
    }

    /// The subscribe token for viewers of this session.
    pub fn subscribe_token(&self) -> String {
        self.room_info().subscribe_token()
    }

    /// Whether the session has ended (a server error, a dropped socket, or a close).
    pub fn is_closed(&self) -> bool {
        self.failure.is_some()
    }

    /// Sets the prompt and waits for the server's `prompt_ack` (matched by the prompt's text),
    /// up to the prompt timeout (default 15 s).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a blank prompt (nothing sent); [`Error::Realtime`]:
    /// `AckRejected` with the server's reason (the session goes on), `Timeout` (the session
    /// goes on), or the error that ended the session (`Server`, `Closed`, `Protocol`).
    #[maybe_async]
    pub async fn set_prompt(&mut self, prompt: &str, enhance: bool) -> Result<(), Error> {
        check_prompt(prompt)?;
        let message = ClientMessage::Prompt {
            prompt: prompt.to_owned(),
            enhance_prompt: enhance,
        };
        self.request(message, self.prompt_timeout).await?;
        self.state.prompted(prompt, enhance);
        Ok(())
    }

    /// Sets the image (and its prompt, if given) and waits for the server's `set_image_ack`,
    /// up to the image timeout (default 30 s).
    ///
    /// # Errors
    ///
    /// As [`set_prompt`](Self::set_prompt); [`Error::InvalidInput`] for an empty image, a
    /// file reference that is not `file_…`, or a blank prompt.
    #[maybe_async]
    pub async fn set_image(&mut self, image: SetImage) -> Result<(), Error> {
        image.validate()?;
        self.request(image.message(), self.image_timeout).await?;
        self.state.imaged(&image);
        Ok(())
    }

    /// The next event (queue position, generation started/tick/ended), waiting up to
    /// `timeout`; `Ok(None)` when none came in time. Events received earlier (during
    /// `connect` or while waiting for an acknowledgement or a frame) come first, in order; of
    /// those, the last 1024 are kept.
    ///
    /// # Errors
    ///
    /// [`Error::Realtime`] once the session has ended and its earlier events are consumed:
    /// `Server` (the server's `error` message), `Closed`, `Protocol`.
    #[maybe_async]
    pub async fn next_event(&mut self, timeout: Duration) -> Result<Option<RealtimeEvent>, Error> {
        let deadline = deadline_after(timeout);
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(Some(event));
            }
            match self.step(deadline).await? {
                Step::TimedOut => return Ok(None),
                // Late acknowledgements (of requests that timed out) are dropped; frames wait
                // for `next_frame`.
                Step::Message(_) | Step::Media(_) => {}
            }
        }
    }

    /// Closes the session: a LiveKit `LeaveRequest` and the room's connections, a WebSocket
    /// close frame, then the sockets, waiting up to 2 s for both to end.
    ///
    /// # Errors
    ///
    /// None today; the result leaves room for reporting a close the server refused.
    #[maybe_async]
    pub async fn close(mut self) -> Result<(), Error> {
        self.shutdown().await;
        Ok(())
    }

    /// Replaces this session with a new one, as the peers reconnect: this one is closed (if it
    /// has not ended already), then a new session of the same model and options is opened
    /// with [`connect_with_retry`](Realtime::connect_with_retry)'s retries, starting in the
    /// state in force: the last prompt and image the server acknowledged (else the options'
    /// initial state), sent as its initial state.
    ///
    /// On success the new session has a new session id and room
    /// ([`subscribe_token`](Self::subscribe_token) changes), the old one's unread events and
    /// frames are dropped and [`media_stats`](Self::media_stats) start again. A prompt or image
    /// whose acknowledgement timed out is not replayed (the server may or may not have applied
    /// it). The key is the one of the client that opened the session: a client-token JWT past
    /// its `exp` fails with `TokenExpired`, and a new session from a client with a fresh token
    /// is the way on.
    ///
    /// ```no_run
    /// # #[cfg(feature = "blocking")]
    /// # fn f(mut session: decart::blocking::RealtimeSession) -> Result<(), decart::Error> {
    /// use std::time::Duration;
    ///
    /// loop {
    ///     match session.next_frame(Duration::from_secs(1)) {
    ///         Ok(frame) => { /* show the frame */ let _ = frame; }
    ///         // The room or the socket was lost: a new session, same prompt.
    ///         Err(decart::Error::Realtime(e)) if e.is_retryable() => session.reconnect()?,
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`connect_with_retry`](Realtime::connect_with_retry). On error this session
    /// stays closed (frames and events it had received are still handed out, then its calls
    /// return `Closed`, or the error that had ended it) and `reconnect` may be called again.
    #[maybe_async]
    pub async fn reconnect(&mut self) -> Result<(), Error> {
        let mut options = self.origin.options.clone();
        options.initial = self.state.initial();
        if self.failure.is_none() {
            self.fail(RealtimeError::new(
                RealtimeErrorKind::Closed,
                "the session was closed to reconnect",
            ));
        }
        self.shutdown().await;
        let fresh = connect_with_retry(&self.origin.client, &self.origin.model, options).await?;
        log::debug!(
            "realtime: reconnected as session {}",
            fresh.room_info().session_id
        );
        *self = fresh;
        Ok(())
    }

    /// Sends the close and waits (a bounded time) for the socket's and the room's ends.
    #[maybe_async]
    async fn shutdown(&mut self) {
        self.send_close();
        let deadline = deadline_after(CLOSE_WAIT);
        let (mut control, mut media) = (true, self.media.is_some());
        while control || media {
            match self.rx.recv_until(deadline).await {
                Recv::Item(Inbound::Ended(_)) => control = false,
                Recv::Item(Inbound::MediaEnded(_)) => media = false,
                Recv::TimedOut | Recv::Gone => break,
                Recv::Item(_) => {}
            }
        }
    }

    fn send_close(&mut self) {
        if !self.close_sent {
            self.close_sent = true;
            let _ = self.commands.send(Command::Close);
            if let Some(media) = &self.media {
                media.handle.close();
            }
        }
    }

    /// Opens the session: the upgrade, the room info, the initial state's acknowledgement.
    #[maybe_async]
    async fn open(&mut self, options: &RealtimeOptions) -> Result<(), RealtimeError> {
        // The upgrade, bounded by the connect timeout (the thread bounds it too).
        let deadline = deadline_after(options.connect_timeout);
        loop {
            match self.rx.recv_until(deadline).await {
                Recv::Item(Inbound::Open) => break,
                Recv::Item(Inbound::Ended(e)) => return Err(self.fail(e)),
                Recv::Item(_) => {}
                Recv::TimedOut => {
                    return Err(self.fail(RealtimeError::new(
                        RealtimeErrorKind::ConnectTimeout,
                        "the WebSocket did not open within the connect timeout",
                    )));
                }
                Recv::Gone => return Err(self.fail(gone())),
            }
        }
        // The room info: its timeout runs outside the queue only.
        let mut deadline = deadline_after(options.room_info_timeout);
        let mut queued = false;
        let room = loop {
            match self.step(deadline).await? {
                Step::TimedOut if queued => {
                    return Err(RealtimeError::new(
                        RealtimeErrorKind::Timeout,
                        "still queued when the queue timeout ran out",
                    ));
                }
                Step::TimedOut => {
                    return Err(RealtimeError::new(
                        RealtimeErrorKind::Timeout,
                        "no livekit_room_info within the room-info timeout",
                    ));
                }
                Step::Message(ServerMessage::LivekitRoomInfo {
                    livekit_url,
                    token,
                    room_name,
                    session_id,
                }) => {
                    break RoomInfo {
                        livekit_url,
                        token: crate::config::Secret::new(token),
                        room_name,
                        session_id,
                    };
                }
                Step::Message(
                    ack @ (ServerMessage::PromptAck { .. } | ServerMessage::SetImageAck { .. }),
                ) => {
                    // One is awaited (the initial state's, the first); a server sending more
                    // has the later ones dropped.
                    if self.early_acks.len() < MAX_EARLY_ACKS {
                        self.early_acks.push(ack);
                    }
                }
                Step::Message(ServerMessage::QueuePosition { .. }) if !queued => {
                    // Paused while queued: from now on only the queue timeout applies.
                    queued = true;
                    deadline = options.queue_timeout.and_then(deadline_after);
                }
                Step::Message(_) | Step::Media(_) => {}
            }
        };
        log::debug!(
            "realtime: session {} in room {}",
            room.session_id,
            room.room_name
        );
        self.room = Some(room);
        // The initial state's acknowledgement (it may have come already).
        if let Some(initial) = options.sent_initial() {
            let deadline = deadline_after(options.initial_timeout(&initial));
            let ack = match self.take_early_ack(&initial) {
                Some(ack) => ack,
                None => self.wait_ack(&initial.message(), deadline).await?,
            };
            check_ack(&ack, "initial state")?;
        }
        Ok(())
    }

    fn take_early_ack(&mut self, initial: &InitialState) -> Option<ServerMessage> {
        let message = initial.message();
        let i = self.early_acks.iter().position(|a| matches(&message, a))?;
        Some(self.early_acks.remove(i))
    }

    /// Sends a request and waits for its acknowledgement.
    #[maybe_async]
    async fn request(
        &mut self,
        message: ClientMessage,
        timeout: Duration,
    ) -> Result<(), RealtimeError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        let deadline = deadline_after(timeout);
        if self
            .commands
            .send(Command::Send(message.to_json()))
            .is_err()
        {
            return Err(self.fail(gone()));
        }
        let ack = self.wait_ack(&message, deadline).await?;
        check_ack(&ack, message.kind())
    }

    /// Reads until the acknowledgement of `message` arrives; events are kept for `next_event`.
    #[maybe_async]
    async fn wait_ack(
        &mut self,
        message: &ClientMessage,
        deadline: Option<Instant>,
    ) -> Result<ServerMessage, RealtimeError> {
        loop {
            match self.step(deadline).await? {
                Step::TimedOut => {
                    return Err(RealtimeError::new(
                        RealtimeErrorKind::Timeout,
                        format!("no acknowledgement of the {} in time", message.kind()),
                    ));
                }
                Step::Message(m) if matches(message, &m) => return Ok(m),
                Step::Message(_) | Step::Media(_) => {}
            }
        }
    }

    /// Reads one item: events are queued, a server error or the socket's end fails the
    /// session, other messages are returned to the caller.
    #[maybe_async]
    async fn step(&mut self, deadline: Option<Instant>) -> Result<Step, RealtimeError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        let item = match self.rx.recv_until(deadline).await {
            Recv::Item(item) => item,
            Recv::TimedOut => return Ok(Step::TimedOut),
            Recv::Gone => return Err(self.fail(gone())),
        };
        self.take_item(item)
    }

    /// Takes in what has arrived, without waiting: frames and events are kept, and an end (the
    /// media's or the socket's) is recorded as the session's failure, its own reason.
    fn take_arrived(&mut self) {
        while self.failure.is_none() {
            match self.rx.try_recv() {
                Some(item) => {
                    let _ = self.take_item(item);
                }
                None => break,
            }
        }
    }

    /// Handles one item of the channel (see [`step`](Self::step)).
    fn take_item(&mut self, item: Inbound) -> Result<Step, RealtimeError> {
        let message = match item {
            Inbound::Message(m) => m,
            // Only `open` waits for this; it comes once, first.
            Inbound::Open => return Ok(Step::Message(ServerMessage::Unknown(String::new()))),
            Inbound::Malformed(e) => {
                let error = RealtimeError::new(RealtimeErrorKind::Protocol, e.message);
                return Err(self.fail(error));
            }
            Inbound::Ended(e) => return Err(self.fail(e)),
            Inbound::MediaReady => return Ok(Step::Media(true)),
            Inbound::Frame(frame) => {
                if let Some(media) = &mut self.media {
                    media.push(frame);
                }
                return Ok(Step::Media(false));
            }
            Inbound::MediaEnded(e) => return Err(self.fail(e)),
        };
        match &message {
            ServerMessage::Error { error } => {
                log::debug!("realtime: server error: {error}");
                return Err(self.fail(RealtimeError::new(RealtimeErrorKind::Server, error.clone())));
            }
            ServerMessage::QueuePosition {
                position,
                queue_size,
            } => self.event(RealtimeEvent::QueuePosition {
                position: *position,
                queue_size: *queue_size,
            }),
            ServerMessage::GenerationStarted => self.event(RealtimeEvent::GenerationStarted),
            ServerMessage::GenerationTick { seconds } => {
                self.event(RealtimeEvent::GenerationTick { seconds: *seconds });
            }
            ServerMessage::GenerationEnded { seconds, reason } => {
                self.event(RealtimeEvent::GenerationEnded {
                    seconds: *seconds,
                    reason: reason.clone(),
                });
            }
            ServerMessage::Unknown(kind) => log::debug!("realtime: ignoring a `{kind}` message"),
            _ => {}
        }
        Ok(Step::Message(message))
    }

    /// Keeps an event for `next_event`; beyond [`MAX_BUFFERED_EVENTS`] unread, the oldest goes.
    fn event(&mut self, event: RealtimeEvent) {
        if self.events.len() >= MAX_BUFFERED_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Joins the LiveKit room and waits until the video track is published and its media path
    /// is up.
    #[maybe_async]
    async fn open_media(
        &mut self,
        options: &RealtimeOptions,
        model: &Model,
        user_agent: &str,
        out: rt_io::Sender,
    ) -> Result<(), RealtimeError> {
        let room = self.room_info().clone();
        let (width, height) = options
            .video_size
            .unwrap_or((model.width(), model.height()));
        let handle = participant::spawn(
            MediaDial {
                url: room.livekit_url,
                token: room.token.expose().to_owned(),
                user_agent: user_agent.to_owned(),
                codec: options.codec,
                width,
                height,
                connect_timeout: options.connect_timeout,
                media_timeout: options.media_timeout,
                publish: true,
                // This SDK never advertises frame timing, so its own output has no trailers.
                packet_trailers: false,
            },
            out,
        )?;
        self.media = Some(Frames::new(handle));
        // The thread bounds each stage by the media timeout; this bounds the whole (with a
        // margin for the thread's own report).
        let deadline = deadline_after(options.media_timeout.saturating_add(Duration::from_secs(1)));
        loop {
            match self.step(deadline).await? {
                Step::Media(true) => return Ok(()),
                Step::TimedOut => {
                    return Err(self.fail(RealtimeError::new(
                        RealtimeErrorKind::Timeout,
                        "the media did not start within the media timeout",
                    )));
                }
                Step::Message(_) | Step::Media(false) => {}
            }
        }
    }

    /// Whether the session publishes video (it joined the LiveKit room; see
    /// [`RealtimeOptions::media`]).
    pub fn has_media(&self) -> bool {
        self.media.is_some()
    }

    /// Queues one encoded frame for the published track and returns at once (the media thread
    /// sends it). Frames go out in the order given; their timestamps should grow.
    ///
    /// A frame that was not queued is dropped; [`try_send_frame`](Self::try_send_frame) gives
    /// it back instead.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (field `frame`) for an empty frame or a session without media;
    /// [`Error::Realtime`]: `Backpressure` when [`MAX_QUEUED_FRAMES`] frames wait (the frame
    /// is dropped, the session goes on), or the error that ended the session.
    pub fn send_frame(&mut self, frame: VideoFrame) -> Result<(), Error> {
        self.try_send_frame(frame).map_err(Error::from)
    }

    /// Like [`send_frame`](Self::send_frame), but a frame that was not queued comes back in
    /// the [`FrameRefused`], to be offered again (on backpressure), re-encoded or skipped by
    /// the caller's choice, without a copy made beforehand.
    ///
    /// The [`FrameRefused`] page shows a retry loop.
    ///
    /// # Errors
    ///
    /// The frame with the errors of [`send_frame`](Self::send_frame).
    pub fn try_send_frame(&mut self, frame: VideoFrame) -> Result<(), FrameRefused> {
        if let Some(e) = &self.failure {
            return Err(FrameRefused::new(e.clone().into(), frame));
        }
        if frame.data().is_empty() {
            return Err(FrameRefused::new(
                Error::invalid_input("frame", "a frame has no bytes"),
                frame,
            ));
        }
        if frame.data().len() > MAX_FRAME_BYTES {
            let message = format!(
                "a frame of {} bytes is over the {MAX_FRAME_BYTES}-byte limit",
                frame.data().len()
            );
            return Err(FrameRefused::new(
                Error::invalid_input("frame", message),
                frame,
            ));
        }
        let Some(media) = &self.media else {
            return Err(FrameRefused::new(
                Error::invalid_input(
                    "frame",
                    "the session has no media (it was opened with RealtimeOptions::media(false))",
                ),
                frame,
            ));
        };
        let len = frame.data().len() as u64;
        match media.handle.send_frame(frame) {
            Ok(()) => {
                if let Some(media) = &mut self.media {
                    media.stats.frames_sent += 1;
                    media.stats.bytes_sent += len;
                }
                Ok(())
            }
            Err(SendRefused::Full(frame)) => Err(FrameRefused::new(
                RealtimeError::new(
                    RealtimeErrorKind::Backpressure,
                    format!(
                        "{MAX_QUEUED_FRAMES} frames wait for the media thread; this one was not queued"
                    ),
                )
                .into(),
                frame,
            )),
            Err(SendRefused::Gone(frame)) => {
                // The media thread has ended; its reason waits in the channel behind the frames
                // it received: those are kept for `next_frame`, and the reason ends the session.
                self.take_arrived();
                let error = match &self.failure {
                    Some(e) => e.clone(),
                    None => self.fail(gone()),
                };
                Err(FrameRefused::new(error.into(), frame))
            }
        }
    }

    /// The next frame from the inference server, waiting up to `timeout`; `Ok(None)` when none
    /// came in time. Frames received while waiting for something else are kept (up to
    /// [`MAX_BUFFERED_FRAMES`], then the oldest are dropped).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a session without media; [`Error::Realtime`] once the
    /// session has ended and its received frames are consumed: `Ice` (the media path was
    /// lost), `Closed`, `Server`, `Protocol`.
    #[maybe_async]
    pub async fn next_frame(&mut self, timeout: Duration) -> Result<Option<VideoFrame>, Error> {
        if self.media.is_none() {
            return Err(Error::invalid_input(
                "frame",
                "the session has no media (it was opened with RealtimeOptions::media(false))",
            ));
        }
        let deadline = deadline_after(timeout);
        loop {
            if let Some(frame) = self.media.as_mut().and_then(|m| m.queue.pop_front()) {
                return Ok(Some(frame));
            }
            match self.step(deadline).await? {
                Step::TimedOut => return Ok(None),
                Step::Message(_) | Step::Media(_) => {}
            }
        }
    }

    /// Counters of the media sent and received so far.
    pub fn media_stats(&self) -> MediaStats {
        self.media.as_ref().map(Frames::stats).unwrap_or_default()
    }

    /// Records the error that ends the session (the first one wins) and closes the socket.
    fn fail(&mut self, error: RealtimeError) -> RealtimeError {
        self.send_close();
        self.failure.get_or_insert(error).clone()
    }
}

/// Whether `ack` acknowledges `message`: a prompt by its text, an image by type.
fn matches(message: &ClientMessage, ack: &ServerMessage) -> bool {
    match (message, ack) {
        (ClientMessage::Prompt { prompt, .. }, ServerMessage::PromptAck { prompt: p, .. }) => {
            p == prompt
        }
        (ClientMessage::SetImage { .. }, ServerMessage::SetImageAck { .. }) => true,
        _ => false,
    }
}

fn check_ack(ack: &ServerMessage, what: &str) -> Result<(), RealtimeError> {
    let (success, error) = match ack {
        ServerMessage::PromptAck { success, error, .. }
        | ServerMessage::SetImageAck { success, error } => (*success, error),
        _ => return Ok(()),
    };
    if success {
        return Ok(());
    }
    Err(RealtimeError::new(
        RealtimeErrorKind::AckRejected,
        error
            .clone()
            .unwrap_or_else(|| format!("the server did not apply the {what}")),
    ))
}

fn gone() -> RealtimeError {
    RealtimeError::new(
        RealtimeErrorKind::Closed,
        "the session's connection thread ended",
    )
}

/// A viewer of a running session: the inference server's video, received from the session's
/// LiveKit room (no control channel). Open one with [`Realtime::subscribe`]; dropping it leaves
/// the room, as [`close`](Self::close) does.
pub struct RealtimeViewer {
    info: SubscribeInfo,
    rx: rt_io::Receiver,
    frames: Frames,
    failure: Option<RealtimeError>,
}

impl RealtimeViewer {
    /// The room's credentials and ids (the token redacted in `Debug`).
    pub fn info(&self) -> &SubscribeInfo {
        &self.info
    }

    /// Whether the viewer's media has ended.
    pub fn is_closed(&self) -> bool {
        self.failure.is_some()
    }

    /// The next frame from the inference server, waiting up to `timeout`; `Ok(None)` when none
    /// came in time (frames beyond [`MAX_BUFFERED_FRAMES`] unread are dropped, oldest first).
    ///
    /// # Errors
    ///
    /// [`Error::Realtime`] once the media has ended and the received frames are consumed:
    /// `Ice`, `Closed`, `Protocol`.
    #[maybe_async]
    pub async fn next_frame(&mut self, timeout: Duration) -> Result<Option<VideoFrame>, Error> {
        let deadline = deadline_after(timeout);
        loop {
            if let Some(frame) = self.frames.queue.pop_front() {
                return Ok(Some(frame));
            }
            if let Some(e) = &self.failure {
                return Err(e.clone().into());
            }
            match self.rx.recv_until(deadline).await {
                // A failure is recorded, and returned once the frames before it are out.
                Recv::Item(item) => {
                    let _ = self.take(item);
                }
                Recv::TimedOut => return Ok(None),
                Recv::Gone => {
                    self.failure.get_or_insert_with(gone);
                }
            }
        }
    }

    /// Counters of the media received so far.
    pub fn media_stats(&self) -> MediaStats {
        self.frames.stats()
    }

    /// Leaves the room (`LeaveRequest`, then the sockets), waiting up to 2 s.
    ///
    /// # Errors
    ///
    /// None today; the result leaves room for reporting a refused leave.
    #[maybe_async]
    pub async fn close(mut self) -> Result<(), Error> {
        self.frames.handle.close();
        let deadline = deadline_after(CLOSE_WAIT);
        loop {
            match self.rx.recv_until(deadline).await {
                Recv::Item(Inbound::MediaEnded(_)) | Recv::TimedOut | Recv::Gone => {
                    return Ok(());
                }
                Recv::Item(_) => {}
            }
        }
    }

    /// Takes one item of the channel: a frame is kept, the media's end recorded.
    fn take(&mut self, item: Inbound) -> Result<(), RealtimeError> {
        match item {
            Inbound::Frame(frame) => self.frames.push(frame),
            Inbound::MediaEnded(e) => {
                self.frames.handle.close();
                return Err(self.failure.get_or_insert(e).clone());
            }
            _ => {}
        }
        Ok(())
    }
}

impl fmt::Debug for RealtimeViewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealtimeViewer")
            .field("info", &self.info)
            .field("buffered_frames", &self.frames.queue.len())
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

impl Drop for RealtimeSession {
    fn drop(&mut self) {
        self.send_close();
    }
}

impl fmt::Debug for RealtimeSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RealtimeSession")
            .field("room", &self.room)
            .field("buffered_events", &self.events.len())
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}

/// A session can move between threads (and tasks).
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<RealtimeSession>();
    assert_send::<RealtimeViewer>();
};
