//! The emulator's LiveKit room (features `emulator` and `realtime`): the signal WebSocket at
//! `/livekit/rtc` and an SFU-and-inference-server stand-in on loopback.
//!
//! One participant per room, on the connection's thread: it gets a `JoinResponse` naming the
//! participant `inference-server-emulator` and its video track, an offer for its subscriber
//! connection (candidates trickled, not in the SDP), `TrackPublishedResponse` for its
//! `AddTrackRequest`, and an answer to its publisher offer. Every frame it publishes comes back
//! on the subscriber connection with the same RTP time, transformed by [`transformed_frame`]
//! with the session's prompt in force. Both peer connections are str0m on one UDP socket bound
//! to the address the participant reached the emulator on (host candidates only).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::time::{Duration, Instant};

use livekit_protocol as lk;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::{Candidate, Event, Rtc};
use tungstenite::Message;
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::{Role, WebSocket};

use super::http::{RequestHead, Response};
use super::realtime::{Grant, MediaAnswer, Relayed, parse_query};
use super::util::lock;
use crate::realtime::media::engine::{self, Engine};
use crate::realtime::media::signal::{self, Request, Response as Signal, Target};

const POLL: Duration = Duration::from_millis(2);
/// Frames held for a subscriber connection not up yet.
const MAX_HELD_FRAMES: usize = 300;
const INFERENCE_SID: &str = "PA_inference";
const INFERENCE_TRACK: &str = "TR_inference";
/// The `user_data_unregistered` UUID of the emulator's SEI message: `decart-emulator!`.
const SEI_UUID: &[u8; 16] = b"decart-emulator!";
/// Of the prompt, at most this many characters go into a frame.
const MAX_PROMPT_IN_FRAME: usize = 200;

/// What the emulator's inference server makes of a frame: for H.264, the access unit with one
/// SEI NAL unit (`user_data_unregistered`, UUID `decart-emulator!`) put in front, whose text is
/// `frame=<index> prompt=<prompt>` (the prompt's printable ASCII, at most 200 characters; `-`
/// when none). The result is still valid H.264. Other codecs come back unchanged.
///
/// `index` counts the room's received frames from 0. Tests compare a session's output with
/// this function of its input.
pub fn transformed_frame(input: &[u8], index: u64, prompt: Option<&str>) -> Vec<u8> {
    if !looks_like_annex_b(input) {
        return input.to_vec();
    }
    let prompt: String = prompt
        .unwrap_or("-")
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_PROMPT_IN_FRAME)
        .collect();
    let text = format!("frame={index} prompt={prompt}");
    let size = SEI_UUID.len() + text.len();
    let mut out = Vec::with_capacity(input.len() + size + 16);
    out.extend_from_slice(&[0, 0, 0, 1, 0x06, 0x05]);
    let mut rest = size;
    while rest >= 255 {
        out.push(0xff);
        rest -= 255;
    }
    out.push(rest as u8);
    out.extend_from_slice(SEI_UUID);
    out.extend_from_slice(text.as_bytes());
    out.push(0x80);
    out.extend_from_slice(input);
    out
}

fn looks_like_annex_b(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])
}

/// Decides on an upgrade of `/livekit/rtc`: the token must be one a session's room info gave.
pub(crate) fn upgrade(
    state: &super::api::State,
    head: &RequestHead,
) -> Result<(Grant, String), Response> {
    let error = |status: u16, detail: &str| Err(super::http::error_response(status, detail));
    let Some(key) = head.header("sec-websocket-key").map(str::to_owned) else {
        return error(426, "Upgrade Required: /livekit/rtc is a WebSocket");
    };
    let query = parse_query(head.query.as_deref());
    let token = query
        .iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.clone())
        .or_else(|| {
            head.header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned)
        });
    let Some(token) = token else {
        return error(401, "no access token");
    };
    let room = lock(&state.realtime.rooms).get(&token).cloned();
    match room {
        None => error(401, "invalid token"),
        Some(Grant {
            answer: MediaAnswer::Refuse(status),
            viewer: false,
            ..
        }) => error(status, "the token was refused"),
        Some(grant) => Ok((grant, key)),
    }
}

/// Switches protocols and runs the room until the participant leaves.
pub(crate) fn run(state: &super::api::State, grant: Grant, key: &str, stream: &mut TcpStream) {
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    if io::Write::write_all(stream, head.as_bytes()).is_err() {
        return;
    }
    let ip = stream
        .local_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    // One socket for both connections, as LiveKit serves them from one UDP port.
    let Ok((engine, _waker)) = Engine::bind(ip, 1) else {
        return;
    };
    let Ok(candidate) = engine.candidate(0) else {
        return;
    };
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let ws = WebSocket::from_raw_socket(&mut *stream, Role::Server, None);
    // A viewer gets what the session's room sends back, through a channel of its own.
    let relay = grant.viewer.then(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        lock(&state.realtime.viewers)
            .entry(grant.index)
            .or_default()
            .push(tx);
        rx
    });
    let mut room = Room {
        state,
        index: grant.index,
        answer: if grant.viewer {
            MediaAnswer::Serve
        } else {
            grant.answer
        },
        relay,
        trailers: grant.viewer && grant.trailers,
        ws,
        engine,
        candidate,
        up: engine::new_rtc(),
        down: engine::new_rtc(),
        down_mid: None,
        down_offer: None,
        down_connected: false,
        held: VecDeque::new(),
        frames: 0,
    };
    room.log(|l| {
        if grant.viewer {
            l.viewers_joined += 1;
        } else {
            l.media_joined = true;
        }
    });
    room.run();
    if !grant.viewer {
        // The session's room is gone: so are its viewers' feeds.
        lock(&state.realtime.viewers).remove(&grant.index);
    }
    drop(room);
    let _ = stream.shutdown(Shutdown::Both);
}

struct Room<'a, S: io::Read + io::Write> {
    state: &'a super::api::State,
    index: usize,
    answer: MediaAnswer,
    /// A viewer's feed of the session's frames.
    relay: Option<std::sync::mpsc::Receiver<Relayed>>,
    /// Whether the viewer's frames get a packet trailer.
    trailers: bool,
    ws: WebSocket<S>,
    engine: Engine,
    candidate: Candidate,
    /// Answers the participant's publisher connection (receives its frames).
    up: Rtc,
    /// Offers to the participant's subscriber connection (sends the transformed frames).
    down: Rtc,
    down_mid: Option<Mid>,
    down_offer: Option<SdpPendingOffer>,
    /// Whether the subscriber connection is up (DTLS done); frames wait for it.
    down_connected: bool,
    /// Frames to send once it is (at most `MAX_HELD_FRAMES`), and whether each is an echo.
    held: VecDeque<(Vec<u8>, str0m::media::MediaTime, str0m::format::Codec, bool)>,
    frames: u64,
}

impl<S: io::Read + io::Write> Room<'_, S> {
    fn log<T>(&self, f: impl FnOnce(&mut super::realtime::RealtimeSessionLog) -> T) -> Option<T> {
        lock(&self.state.realtime.sessions)
            .get_mut(self.index)
            .map(f)
    }

    fn send(&mut self, message: Signal) -> bool {
        match self
            .ws
            .send(Message::binary(signal::encode_response(message)))
        {
            Ok(()) => true,
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => true,
            Err(_) => false,
        }
    }

    fn run(&mut self) {
        if !self.join() {
            return;
        }
        if self.answer == MediaAnswer::DropAfterJoin {
            let _ = self.ws.flush();
            return;
        }
        let mut events = Vec::new();
        let deaf = (self.answer == MediaAnswer::BlockMedia).then_some(0);
        loop {
            if self.state.stopper.is_stopped() {
                return;
            }
            loop {
                match self.ws.read() {
                    Ok(Message::Binary(bytes)) => match signal::decode_request(&bytes) {
                        Ok(Some(request)) => {
                            if !self.on_request(request) {
                                return;
                            }
                        }
                        Ok(None) => {}
                        Err(_) => return,
                    },
                    Ok(Message::Close(_)) => {
                        let _ = self.ws.flush();
                        return;
                    }
                    Ok(_) => {}
                    Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        break;
                    }
                    Err(_) => return,
                }
            }
            let _ = self.ws.flush();
            if !self.relay_frames() {
                return;
            }
            events.clear();
            if self
                .engine
                .turn(&mut [&mut self.up, &mut self.down], POLL, deaf, &mut events)
                .is_err()
            {
                return;
            }
            for (peer, event) in events.drain(..) {
                match (peer, event) {
                    (0, Event::MediaData(data)) if !self.echo(&data) => return,
                    (1, Event::Connected) => {
                        self.down_connected = true;
                        while let Some((data, time, codec, echo)) = self.held.pop_front() {
                            if self.write_down(data, time, codec) && echo {
                                self.log(|l| l.frames_sent += 1);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The join response, then the subscriber offer with its candidate trickled.
    fn join(&mut self) -> bool {
        let room_name = self
            .log(|l| l.room_name.clone())
            .flatten()
            .unwrap_or_default();
        let inference = lk::ParticipantInfo {
            sid: INFERENCE_SID.to_owned(),
            identity: "inference-server-emulator".to_owned(),
            state: lk::participant_info::State::Active as i32,
            is_publisher: true,
            tracks: vec![lk::TrackInfo {
                sid: INFERENCE_TRACK.to_owned(),
                r#type: lk::TrackType::Video as i32,
                name: "output".to_owned(),
                width: 1280,
                height: 720,
                source: lk::TrackSource::Camera as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let join = lk::JoinResponse {
            room: Some(lk::Room {
                sid: format!("RM_{room_name}"),
                name: room_name,
                ..Default::default()
            }),
            participant: Some(lk::ParticipantInfo {
                sid: "PA_client".to_owned(),
                identity: "decart-client".to_owned(),
                ..Default::default()
            }),
            other_participants: vec![inference],
            server_version: format!("decart-emulator {}", env!("CARGO_PKG_VERSION")),
            subscriber_primary: true,
            ping_interval: 5,
            ping_timeout: 15,
            ..Default::default()
        };
        if !self.send(Signal::Join(join)) {
            return false;
        }
        let mut change = self.down.sdp_api();
        let mid = change.add_media(
            MediaKind::Video,
            Direction::SendOnly,
            Some(format!("{INFERENCE_SID}|{INFERENCE_TRACK}")),
            Some(INFERENCE_TRACK.to_owned()),
            None,
        );
        let Some((offer, pending)) = change.apply() else {
            return false;
        };
        self.down_mid = Some(mid);
        self.down_offer = Some(pending);
        self.down.add_local_candidate(self.candidate.clone());
        self.send(Signal::Offer(signal::description(
            "offer",
            offer.to_sdp_string(),
            1,
        ))) && self.trickle_candidates(Target::Subscriber)
    }

    /// Trickles the room's candidates for one peer connection as a LiveKit server may: an
    /// ICE/TCP candidate and an IPv6 one (a loopback participant can use neither) before the
    /// UDP host candidate on the room's socket, all in one burst. (With the usable one some
    /// milliseconds later, the participant's first DTLS flight could come before this room's
    /// shared socket knows its address, and wait for str0m's 1 s retransmission.)
    fn trickle_candidates(&mut self, target: Target) -> bool {
        let port = self.candidate.addr().port();
        let unusable = [
            format!("candidate:2 1 tcp 2128609279 127.0.0.1 {port} typ host tcptype passive"),
            format!("candidate:3 1 udp 2130706175 ::1 {port} typ host"),
        ];
        unusable.iter().all(|line| self.send(trickle(line, target)))
            && self.send(trickle(&self.candidate.to_sdp_string(), target))
    }

    /// Handles one request; `false` ends the room.
    fn on_request(&mut self, request: Request) -> bool {
        match request {
            Request::AddTrack(add) => {
                let codec = add
                    .simulcast_codecs
                    .first()
                    .map(|c| c.codec.to_ascii_lowercase())
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| "h264".to_owned());
                self.log(|l| l.media_codec = Some(codec.clone()));
                let track = lk::TrackInfo {
                    sid: "TR_client".to_owned(),
                    r#type: add.r#type,
                    name: add.name,
                    width: add.width,
                    height: add.height,
                    source: add.source,
                    mime_type: format!("video/{codec}"),
                    ..Default::default()
                };
                self.send(Signal::TrackPublished(lk::TrackPublishedResponse {
                    cid: add.cid,
                    track: Some(track),
                }))
            }
            Request::Offer(offer) => {
                if self.answer == MediaAnswer::NoAnswer {
                    return true;
                }
                let Ok(parsed) = SdpOffer::from_sdp_string(&offer.sdp) else {
                    return false;
                };
                self.up.add_local_candidate(self.candidate.clone());
                let Ok(answer) = self.up.sdp_api().accept_offer(parsed) else {
                    return false;
                };
                self.send(Signal::Answer(signal::description(
                    "answer",
                    answer.to_sdp_string(),
                    offer.id,
                ))) && self.trickle_candidates(Target::Publisher)
            }
            Request::Answer(answer) => {
                let (Some(pending), Ok(parsed)) = (
                    self.down_offer.take(),
                    SdpAnswer::from_sdp_string(&answer.sdp),
                ) else {
                    return false;
                };
                self.down.sdp_api().accept_answer(pending, parsed).is_ok()
            }
            Request::Trickle(t) => {
                if let Ok(Some(line)) = signal::trickled_candidate(&t.candidate_init) {
                    if let Ok(c) = Candidate::from_sdp_string(&line) {
                        match Target::from_wire(t.target) {
                            Target::Publisher => self.up.add_remote_candidate(c),
                            Target::Subscriber => self.down.add_remote_candidate(c),
                        }
                    }
                }
                true
            }
            Request::Ping(at) => self.send(Signal::Pong(at)),
            Request::PingReq(ping) => self.send(Signal::PongResp(lk::Pong {
                last_ping_timestamp: ping.timestamp,
                timestamp: ping.timestamp,
            })),
            Request::Leave(_) => {
                self.log(|l| l.media_left = true);
                false
            }
            _ => true,
        }
    }

    /// A viewer's room: sends what the session's room relayed; `false` once that room is gone.
    fn relay_frames(&mut self) -> bool {
        let Some(relay) = self.relay.take() else {
            return true;
        };
        let alive = loop {
            match relay.try_recv() {
                Ok((mut data, time, codec)) => {
                    if self.trailers {
                        self.frames += 1;
                        append_packet_trailer(&mut data, time.numer(), self.frames);
                    }
                    let _ = self.send_down(data, time, codec, false);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break true,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => break false,
            }
        };
        self.relay = Some(relay);
        alive
    }

    /// Writes a frame on the subscriber connection once it is up (until then the frame is
    /// held, the oldest dropped beyond `MAX_HELD_FRAMES`); whether it was written now.
    fn send_down(
        &mut self,
        data: Vec<u8>,
        time: str0m::media::MediaTime,
        codec: str0m::format::Codec,
        echo: bool,
    ) -> bool {
        if self.down_connected {
            return self.write_down(data, time, codec);
        }
        if self.held.len() == MAX_HELD_FRAMES {
            self.held.pop_front();
        }
        self.held.push_back((data, time, codec, echo));
        false
    }

    /// Writes a frame on the subscriber connection; whether it was written.
    fn write_down(
        &mut self,
        data: Vec<u8>,
        time: str0m::media::MediaTime,
        codec: str0m::format::Codec,
    ) -> bool {
        let Some(mid) = self.down_mid else {
            return false;
        };
        let Some(writer) = self.down.writer(mid) else {
            return false;
        };
        let Some(pt) = writer
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())
        else {
            return false;
        };
        let written = writer.write(pt, Instant::now(), time, data).is_ok();
        // The frame's packets go out now, not at str0m's next timer.
        written
            && self
                .down
                .handle_input(str0m::Input::Timeout(Instant::now()))
                .is_ok()
    }

    /// Sends a received frame back, transformed (and to the viewers); `false` ends the room.
    fn echo(&mut self, data: &str0m::media::MediaData) -> bool {
        let index = self.frames;
        self.frames += 1;
        let (has_state, prompt) = self
            .log(|l| {
                l.frames_received += 1;
                (l.has_state, l.prompt.clone())
            })
            .unzip();
        if let MediaAnswer::DropAfterFrames(n) = self.answer {
            if index >= n {
                return false;
            }
        }
        if has_state != Some(true) {
            // No prompt or image yet: the server holds the output back.
            return true;
        }
        let out = transformed_frame(&data.data, index, prompt.flatten().as_deref());
        let codec = data.params.spec().codec;
        if let Some(viewers) = lock(&self.state.realtime.viewers).get_mut(&self.index) {
            viewers.retain(|v| v.send((out.clone(), data.time, codec)).is_ok());
        }
        if self.send_down(out, data.time, codec, true) {
            self.log(|l| l.frames_sent += 1);
        }
        true
    }
}

/// Appends a LiveKit packet trailer: a user-timestamp TLV and a frame-id TLV, each byte XOR
/// 0xff, the trailer's whole length XOR 0xff, then `LKTS`.
fn append_packet_trailer(frame: &mut Vec<u8>, timestamp: u64, frame_id: u64) {
    let start = frame.len();
    frame.extend([1 ^ 0xff, 8 ^ 0xff]);
    frame.extend(timestamp.to_be_bytes().iter().map(|b| b ^ 0xff));
    frame.extend([2 ^ 0xff, 4 ^ 0xff]);
    frame.extend((frame_id as u32).to_be_bytes().iter().map(|b| b ^ 0xff));
    let total = frame.len() - start + 5;
    frame.push(total as u8 ^ 0xff);
    frame.extend(b"LKTS");
}

fn trickle(line: &str, target: Target) -> Signal {
    let Request::Trickle(t) = signal::trickle(line, target) else {
        unreachable!("signal::trickle makes a trickle request")
    };
    Signal::Trickle(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transform_prefixes_an_sei_unit() {
        let au = [0, 0, 0, 1, 0x65, 0x88, 1, 2, 3];
        let out = transformed_frame(&au, 7, Some("a cat\u{7}é"));
        assert!(out.ends_with(&au));
        let text = b"frame=7 prompt=a cat";
        assert_eq!(&out[..6], &[0, 0, 0, 1, 6, 5]);
        assert_eq!(out[6] as usize, 16 + text.len());
        assert_eq!(&out[7..23], SEI_UUID);
        assert_eq!(&out[23..23 + text.len()], text);
        assert_eq!(out[23 + text.len()], 0x80);
        // A long prompt is cut to 200 characters; the SEI unit has no start-code pattern.
        let long = "x".repeat(500);
        let out = transformed_frame(&au, 0, Some(&long));
        assert_eq!(
            out.len(),
            6 + 1 + 16 + "frame=0 prompt=".len() + 200 + 1 + au.len()
        );
        let sei = &out[4..out.len() - au.len()];
        assert!(!sei.windows(3).any(|w| w == [0, 0, 1] || w == [0, 0, 0]));
        assert_eq!(transformed_frame(b"vp8 frame", 0, None), b"vp8 frame");
    }
}
