//! Realtime sessions against the emulator's `/v1/stream`, written once for both flavours:
//! the wire (URL, messages, order), acknowledgements, events, the queue, and every bad answer
//! (server error, dropped socket, silence, garbage) as a typed error, never a hang.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use decart::emulator::{
    AckAnswer, AfterTicks, Credential, Emulator, JoinAnswer, MediaAnswer, RealtimeScript,
    RealtimeSessionLog,
};
use decart::realtime::{RealtimeErrorKind, RealtimeEvent, RealtimeOptions, SetImage};
use decart::{CreateTokenOptions, Error, models};

use super::{Client, maybe_async};

fn client_with_key(emu: &Emulator, key: &str) -> Client {
    Client::builder()
        .api_key(key)
        .base_url(emu.base_url())
        .integration("rt-tests/1")
        .no_retries()
        .build()
        .unwrap()
}

fn client(emu: &Emulator) -> Client {
    client_with_key(emu, emu.api_key())
}

fn model() -> decart::Model {
    models::realtime("lucy-2.1").unwrap()
}

/// Short timeouts, so a test of a missing answer takes a fraction of a second.
fn fast() -> RealtimeOptions {
    RealtimeOptions::new()
        .connect_timeout(Duration::from_secs(5))
        .room_info_timeout(Duration::from_secs(5))
        .prompt_timeout(Duration::from_secs(5))
        .image_timeout(Duration::from_secs(5))
}

/// Waits (a little) until the emulator's record of the last session satisfies `f`.
fn last_session_when(
    emu: &Emulator,
    f: impl Fn(&RealtimeSessionLog) -> bool,
) -> RealtimeSessionLog {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let sessions = emu.realtime_sessions();
        if let Some(last) = sessions.last() {
            if f(last) || Instant::now() > until {
                return last.clone();
            }
        } else if Instant::now() > until {
            panic!("no realtime session was recorded");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn realtime_error(result: Result<impl std::fmt::Debug, Error>) -> decart::realtime::RealtimeError {
    match result {
        Err(Error::Realtime(e)) => e,
        other => panic!("expected a realtime error, got {other:?}"),
    }
}

fn jwt_with_exp(exp: u64) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b64(r#"{"alg":"EdDSA","typ":"JWT"}"#),
        b64(&format!(r#"{{"sub":"u","exp":{exp}}}"#)),
        b64("signature")
    )
}

/// A synthetic H.264 access unit: SPS, PPS and IDR on keyframes, else one slice; the frame's
/// number in ASCII inside (no start-code emulation).
pub fn access_unit(n: u32, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size + 32);
    if n % 30 == 0 {
        v.extend_from_slice(&[
            0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8,
        ]);
        v.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x0f, 0xc8]);
        v.extend_from_slice(&[0, 0, 0, 1, 0x65, 0x88]);
    } else {
        v.extend_from_slice(&[0, 0, 0, 1, 0x41, 0x9a]);
    }
    v.extend_from_slice(format!("#{n:08}#").as_bytes());
    while v.len() < size {
        v.push(0xab);
    }
    v
}

#[maybe_async]
pub async fn frames_make_the_round_trip_transformed() {
    let emu = Emulator::start().unwrap();
    let client = client(&emu);
    let started = Instant::now();
    let mut session = client
        .realtime()
        .connect(&model(), fast().initial_prompt("a watercolor", false))
        .await
        .unwrap();
    assert!(session.has_media());
    let connected = started.elapsed();
    let frames: Vec<Vec<u8>> = (0..20).map(|n| access_unit(n, 3000)).collect();
    let period = Duration::from_millis(33);
    let mut received = Vec::new();
    for (n, au) in frames.iter().enumerate() {
        session
            .send_frame(decart::realtime::VideoFrame::new(
                au.clone(),
                period * n as u32,
            ))
            .unwrap();
        while let Some(f) = session.next_frame(Duration::from_millis(1)).await.unwrap() {
            received.push(f);
        }
    }
    let until = Instant::now() + Duration::from_secs(5);
    while received.len() < frames.len() && Instant::now() < until {
        if let Some(f) = session
            .next_frame(Duration::from_millis(100))
            .await
            .unwrap()
        {
            received.push(f);
        }
    }
    assert_eq!(
        received.len(),
        frames.len(),
        "every frame came back (connect {connected:?})"
    );
    for (n, (sent, got)) in frames.iter().zip(&received).enumerate() {
        assert_eq!(
            got.data(),
            decart::emulator::transformed_frame(sent, n as u64, Some("a watercolor")),
            "frame {n}"
        );
        assert_eq!(got.timestamp(), period * n as u32, "frame {n}'s timestamp");
    }
    let stats = session.media_stats();
    assert_eq!(
        (
            stats.frames_sent,
            stats.frames_received,
            stats.frames_dropped
        ),
        (20, 20, 0)
    );
    session.close().await.unwrap();
    let log = last_session_when(&emu, |l| l.media_left && l.ended);
    assert!(log.media_joined && log.media_left);
    assert_eq!((log.frames_received, log.frames_sent), (20, 20));
    assert_eq!(log.media_codec.as_deref(), Some("h264"));
}

fn frame(n: u32) -> decart::realtime::VideoFrame {
    decart::realtime::VideoFrame::new(access_unit(n, 1200), Duration::from_millis(33) * n)
}

/// Receives until `count` frames came (or 5 s passed).
#[maybe_async]
async fn receive(
    session: &mut super::RealtimeSession,
    count: usize,
) -> Vec<decart::realtime::VideoFrame> {
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while got.len() < count && Instant::now() < until {
        if let Some(f) = session.next_frame(Duration::from_millis(50)).await.unwrap() {
            got.push(f);
        }
    }
    got
}

#[maybe_async]
pub async fn a_session_without_a_state_asks_for_passthrough_and_gets_frames() {
    let emu = Emulator::start().unwrap();
    // With media and no initial state: a passthrough `set_image` right behind the join, as
    // the Python SDK sends (the emulator, as the server, holds frames back until a state).
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    let log = last_session_when(&emu, |l| l.received.len() >= 2);
    assert_eq!(
        log.received,
        [
            serde_json::json!({"type": "livekit_join"}),
            serde_json::json!({"type": "set_image", "image_data": null, "prompt": null}),
        ]
    );
    assert!(log.has_state);
    for n in 0..5 {
        session.send_frame(frame(n)).unwrap();
    }
    let got = receive(&mut session, 5).await;
    assert_eq!(got.len(), 5, "the passthrough session gets its frames back");
    for (n, f) in got.iter().enumerate() {
        let sent = frame(n as u32);
        assert_eq!(
            f.data(),
            decart::emulator::transformed_frame(sent.data(), n as u64, None)
        );
    }
    session.close().await.unwrap();
    // A refused passthrough fails connect, as the Python SDK's does.
    emu.set_realtime_script(RealtimeScript::new().image(AckAnswer::Reject("no".into())));
    let e = realtime_error(client(&emu).realtime().connect(&model(), fast()).await);
    assert_eq!(e.kind(), RealtimeErrorKind::AckRejected);
    // A control-only session sends no state: the join alone.
    emu.set_realtime_script(RealtimeScript::new());
    let session = client(&emu)
        .realtime()
        .connect(&model(), fast().media(false))
        .await
        .unwrap();
    let log = last_session_when(&emu, |l| l.session_id.is_some());
    assert_eq!(log.received_types(), ["livekit_join"]);
    assert!(!log.has_state);
    drop(session);
}

#[maybe_async]
pub async fn a_new_prompt_shows_in_the_frames_that_follow() {
    let emu = Emulator::start().unwrap();
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().initial_prompt("first", true))
        .await
        .unwrap();
    session.send_frame(frame(0)).unwrap();
    let before = receive(&mut session, 1).await;
    session.set_prompt("second", true).await.unwrap();
    session.send_frame(frame(1)).unwrap();
    let after = receive(&mut session, 1).await;
    assert_eq!(
        before[0].data(),
        decart::emulator::transformed_frame(&access_unit(0, 1200), 0, Some("first"))
    );
    assert_eq!(
        after[0].data(),
        decart::emulator::transformed_frame(&access_unit(1, 1200), 1, Some("second"))
    );
}

#[maybe_async]
pub async fn vp8_is_published_when_asked() {
    let emu = Emulator::start().unwrap();
    let mut session = client(&emu)
        .realtime()
        .connect(
            &model(),
            fast().video_codec(decart::realtime::VideoCodec::Vp8),
        )
        .await
        .unwrap();
    // A VP8 key frame's first bytes, then filler: the emulator sends VP8 back unchanged.
    let vp8 = [
        &[0x10u8, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x00, 0x05, 0xd0, 0x02][..],
        &[7; 500],
    ]
    .concat();
    session
        .send_frame(decart::realtime::VideoFrame::new(
            vp8.clone(),
            Duration::ZERO,
        ))
        .unwrap();
    let got = receive(&mut session, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].data(), vp8);
    let log = last_session_when(&emu, |l| l.media_codec.is_some());
    assert_eq!(log.media_codec.as_deref(), Some("vp8"));
}

#[maybe_async]
pub async fn a_refused_livekit_token_fails_connect() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().media(MediaAnswer::Refuse(401)));
    let e = realtime_error(client(&emu).realtime().connect(&model(), fast()).await);
    assert_eq!(
        (e.kind(), e.status()),
        (RealtimeErrorKind::Rejected, Some(401))
    );
    assert!(e.message().contains("LiveKit"), "{e}");
    assert!(e.is_permanent());
    assert!(!e.to_string().contains("lk_emulator_"), "{e}");
    // The control socket was closed too.
    let log = last_session_when(&emu, |l| l.ended);
    assert!(log.ended);
}

#[maybe_async]
pub async fn an_unanswered_offer_is_a_media_timeout() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().media(MediaAnswer::NoAnswer));
    let started = Instant::now();
    let e = realtime_error(
        client(&emu)
            .realtime()
            .connect(&model(), fast().media_timeout(Duration::from_millis(400)))
            .await,
    );
    assert_eq!(e.kind(), RealtimeErrorKind::Timeout);
    assert!(
        e.message().contains("did not answer the publisher's offer"),
        "{e}"
    );
    assert!(e.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[maybe_async]
pub async fn an_ice_failure_is_typed() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().media(MediaAnswer::BlockMedia));
    let e = realtime_error(
        client(&emu)
            .realtime()
            .connect(&model(), fast().media_timeout(Duration::from_millis(600)))
            .await,
    );
    assert_eq!(e.kind(), RealtimeErrorKind::Ice);
    assert_eq!(e.code(), "REALTIME_ICE_ERROR");
    assert!(e.message().contains("ICE"), "{e}");
}

#[maybe_async]
pub async fn a_dropped_signal_socket_fails_connect() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().media(MediaAnswer::DropAfterJoin));
    let e = realtime_error(client(&emu).realtime().connect(&model(), fast()).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Closed, "{e}");
    assert!(e.message().contains("LiveKit"), "{e}");
    assert!(e.is_retryable());
}

#[maybe_async]
pub async fn a_room_lost_mid_session_ends_it_after_the_frames_before() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().media(MediaAnswer::DropAfterFrames(3)));
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    for n in 0..3 {
        session.send_frame(frame(n)).unwrap();
    }
    let got = receive(&mut session, 3).await;
    assert_eq!(got.len(), 3);
    session.send_frame(frame(3)).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let e = loop {
        // (A macro would not do: maybe_async cannot see an `.await` in its arguments.)
        match session.next_frame(Duration::from_millis(100)).await {
            Err(Error::Realtime(e)) => break e,
            Ok(_) if Instant::now() < until => {}
            other => panic!("expected the room's end or the server's error, got {other:?}"),
        }
    };
    assert_eq!(e.kind(), RealtimeErrorKind::Closed, "{e}");
    assert!(
        e.message().contains("LiveKit"),
        "the room's own reason: {e}"
    );
    assert!(session.is_closed());
    let again = realtime_error(session.send_frame(frame(4)));
    assert_eq!(again, e);
    // try_send_frame gives the frame back with the same error.
    let refused = session.try_send_frame(frame(5)).unwrap_err();
    assert!(!refused.is_backpressure());
    let (error, back) = refused.into_parts();
    assert_eq!(realtime_error(Err::<(), _>(error)), e);
    assert_eq!(back, frame(5));
}

#[maybe_async]
pub async fn a_frame_refused_after_the_room_ended_gives_its_reason_and_keeps_the_frames() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().media(MediaAnswer::DropAfterFrames(2)));
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    for n in 0..2 {
        session.send_frame(frame(n)).unwrap();
    }
    last_session_when(&emu, |l| l.frames_sent == 2);
    // (Time for the two to reach the participant.)
    std::thread::sleep(Duration::from_millis(300));
    // The third frame ends the room. Without reading: wait until the media thread has ended
    // (frames are refused).
    session.send_frame(frame(2)).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        match session.try_send_frame(frame(9)) {
            Err(refused) if !refused.is_backpressure() => break refused,
            _ if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("the media thread did not end: {other:?}"),
        }
    };
    // The refusal gives the room's own reason, not a generic "thread ended", and ends the
    // session (the control socket is closed too).
    let refused = realtime_error(Err::<(), _>(refused.into_parts().0));
    assert_eq!(refused.kind(), RealtimeErrorKind::Closed);
    assert!(refused.message().contains("LiveKit"), "{refused}");
    assert!(session.is_closed());
    // The frames received before are still handed out, then the same reason.
    let (count, e) = receive_until_error(&mut session).await;
    assert_eq!(count, 2, "the frames before the end");
    assert_eq!(e, refused);
    let log = last_session_when(&emu, |l| l.ended);
    assert!(log.ended && log.closed_by_client, "{log:?}");
}

/// Reads frames until an error; how many came, and the error.
#[maybe_async]
async fn receive_until_error(
    session: &mut super::RealtimeSession,
) -> (usize, decart::realtime::RealtimeError) {
    let mut count = 0;
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match session.next_frame(Duration::from_millis(100)).await {
            Ok(Some(_)) => count += 1,
            Ok(None) if Instant::now() < until => {}
            Err(Error::Realtime(e)) => return (count, e),
            other => panic!("expected frames then an error, got {other:?}"),
        }
    }
}

#[maybe_async]
pub async fn a_server_error_mid_session_ends_the_media_too() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(
        RealtimeScript::new()
            .ticks(1, Duration::from_millis(300))
            .after_ticks(AfterTicks::Error("Server at capacity".into())),
    );
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    session.send_frame(frame(0)).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let e = loop {
        match session.next_frame(Duration::from_millis(100)).await {
            Err(Error::Realtime(e)) => break e,
            Ok(_) if Instant::now() < until => {}
            other => panic!("expected the room's end or the server's error, got {other:?}"),
        }
    };
    assert_eq!(
        (e.kind(), e.message()),
        (RealtimeErrorKind::Server, "Server at capacity")
    );
    // The participant left the room.
    let log = last_session_when(&emu, |l| l.media_left);
    assert!(log.media_left);
}

#[maybe_async]
pub async fn frames_without_media_or_bytes_are_refused() {
    let emu = Emulator::start().unwrap();
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().media(false))
        .await
        .unwrap();
    assert!(!session.has_media());
    let e = session.send_frame(frame(0)).unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
    let e = session
        .next_frame(Duration::from_millis(10))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
    let log = last_session_when(&emu, |l| l.room_name.is_some());
    assert!(!log.media_joined, "no participant joined");
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    let empty = decart::realtime::VideoFrame::new(Vec::new(), Duration::ZERO);
    assert_eq!(
        session.send_frame(empty).unwrap_err().code(),
        "INVALID_INPUT"
    );
    let huge = vec![0u8; decart::realtime::MAX_FRAME_BYTES + 1];
    let refused = session
        .try_send_frame(decart::realtime::VideoFrame::new(huge, Duration::ZERO))
        .unwrap_err();
    assert_eq!(refused.error().code(), "INVALID_INPUT");
    assert_eq!(
        refused.into_frame().data().len(),
        decart::realtime::MAX_FRAME_BYTES + 1
    );
    assert_eq!(session.media_stats().frames_sent, 0);
    let e = client(&emu)
        .realtime()
        .connect(&model(), fast().video_size(0, 720))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
}

#[maybe_async]
pub async fn unread_frames_are_bounded_and_counted() {
    let emu = Emulator::start().unwrap();
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    let total = decart::realtime::MAX_BUFFERED_FRAMES as u32 + 20;
    for n in 0..total {
        // Paced (a burst would overflow loopback's socket buffers and lose frames).
        std::thread::sleep(Duration::from_millis(2));
        loop {
            match session.send_frame(frame(n)) {
                Ok(()) => break,
                Err(Error::Realtime(e)) if e.kind() == RealtimeErrorKind::Backpressure => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    last_session_when(&emu, |l| l.frames_sent == u64::from(total));
    // Whatever waits beyond the bound was dropped, and counted.
    std::thread::sleep(Duration::from_millis(200));
    let mut kept = 0;
    while session
        .next_frame(Duration::from_millis(200))
        .await
        .unwrap()
        .is_some()
    {
        kept += 1;
    }
    let stats = session.media_stats();
    assert_eq!(kept, decart::realtime::MAX_BUFFERED_FRAMES);
    assert_eq!(stats.frames_dropped, 20, "{stats:?}");
    assert_eq!(stats.frames_sent, u64::from(total));
}

#[maybe_async]
pub async fn refused_frames_come_back_whole() {
    let emu = Emulator::start().unwrap();
    // No media, no bytes: the frame comes back with the reason.
    let mut control = client(&emu)
        .realtime()
        .connect(&model(), fast().media(false))
        .await
        .unwrap();
    let refused = control.try_send_frame(frame(1)).unwrap_err();
    assert_eq!(refused.error().code(), "INVALID_INPUT");
    assert!(!refused.is_backpressure());
    assert!(
        refused.to_string().starts_with("the frame was not sent: "),
        "{refused}"
    );
    assert_eq!(refused.frame(), &frame(1));
    // The reason is said once: in `Display`, not again as a source.
    assert!(std::error::Error::source(&refused).is_none());
    let (e, back) = refused.into_parts();
    assert_eq!(e.code(), "INVALID_INPUT");
    assert_eq!(back, frame(1));
    control.close().await.unwrap();

    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().retry(quick_retry(1)))
        .await
        .unwrap();
    let empty = decart::realtime::VideoFrame::new(Vec::new(), Duration::from_millis(7));
    let refused = session.try_send_frame(empty.clone()).unwrap_err();
    assert_eq!(refused.error().code(), "INVALID_INPUT");
    assert_eq!(refused.into_frame(), empty);
    // A burst of large frames outruns the media thread (each is ~80 packets to encrypt):
    // the queue fills, and what it refuses comes back unchanged, the session going on.
    let big = access_unit(1, 100_000);
    let mut queued = 0;
    let mut refused = None;
    for n in 0..5_000 {
        let frame = decart::realtime::VideoFrame::new(big.clone(), Duration::from_millis(33) * n);
        match session.try_send_frame(frame) {
            Ok(()) => queued += 1,
            Err(r) => {
                refused = Some((n, r));
                break;
            }
        }
    }
    let (n, refused) = refused.expect("5000 frames of 100 KB never filled the queue");
    assert!(refused.is_backpressure(), "{refused}");
    assert!(queued >= decart::realtime::MAX_QUEUED_FRAMES, "{queued}");
    assert_eq!(refused.frame().data(), &big[..]);
    assert_eq!(refused.frame().timestamp(), Duration::from_millis(33) * n);
    // `?` keeps the error alone.
    let e: Error = refused.into();
    assert_eq!(
        realtime_error(Err::<(), _>(e)).kind(),
        RealtimeErrorKind::Backpressure
    );
    assert!(!session.is_closed());
    assert_eq!(session.media_stats().frames_sent, queued as u64);
    // Closing with the queue full still ends the media at once: a failed reconnect keeps
    // the session value, and its participant must have left the room all the same.
    emu.set_realtime_script(
        RealtimeScript::new()
            .join(JoinAnswer::Error("Server at capacity".into()))
            .sessions(1),
    );
    let e = realtime_error(session.reconnect().await);
    assert_eq!(e.kind(), RealtimeErrorKind::Server, "{e}");
    let until = Instant::now() + Duration::from_secs(5);
    while !emu.realtime_sessions()[1].media_left && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        emu.realtime_sessions()[1].media_left,
        "the closed session's participant is still in the room"
    );
    drop(session);
}

/// Retries 5 to 20 ms apart (the peers' 1 s to 10 s would slow the tests).
fn quick_retry(attempts: u32) -> decart::RetryPolicy {
    decart::RetryPolicy::new()
        .max_attempts(attempts)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(20))
}

#[maybe_async]
pub async fn connect_with_retry_retries_what_may_pass_and_stops_at_the_rest() {
    let emu = Emulator::start().unwrap();
    let capacity = || RealtimeScript::new().join(JoinAnswer::Error("Server at capacity".into()));
    let options = || fast().media(false);
    // Twice at capacity, then served: three sessions, the last one open.
    emu.set_realtime_script(capacity().sessions(2));
    let session = client(&emu)
        .realtime()
        .connect_with_retry(&model(), options().retry(quick_retry(3)))
        .await
        .unwrap();
    assert_eq!(emu.realtime_sessions().len(), 3);
    assert!(!session.is_closed());
    session.close().await.unwrap();
    // Out of attempts: the last attempt's error.
    emu.set_realtime_script(capacity().sessions(5));
    let e = realtime_error(
        client(&emu)
            .realtime()
            .connect_with_retry(&model(), options().retry(quick_retry(2)))
            .await,
    );
    assert_eq!(e.kind(), RealtimeErrorKind::Server, "{e}");
    assert!(e.to_string().contains("Server at capacity"), "{e}");
    assert_eq!(emu.realtime_sessions().len(), 5);
    // A permanent error is not retried.
    emu.set_realtime_script(
        RealtimeScript::new().join(JoinAnswer::Error("Invalid API key".into())),
    );
    let e = realtime_error(
        client(&emu)
            .realtime()
            .connect_with_retry(&model(), options().retry(quick_retry(3)))
            .await,
    );
    assert!(e.is_permanent(), "{e}");
    assert_eq!(emu.realtime_sessions().len(), 6);
    // Neither is a bad input (nothing is dialled).
    let e = client(&emu)
        .realtime()
        .connect_with_retry(&model(), options().initial_prompt(" ", true))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
    assert_eq!(emu.realtime_sessions().len(), 6);
    // Plain `connect` makes one attempt, whatever the policy.
    emu.set_realtime_script(capacity().sessions(1));
    let e = realtime_error(
        client(&emu)
            .realtime()
            .connect(&model(), options().retry(quick_retry(3)))
            .await,
    );
    assert_eq!(e.kind(), RealtimeErrorKind::Server, "{e}");
    assert_eq!(emu.realtime_sessions().len(), 7);
}

#[maybe_async]
pub async fn reconnect_opens_a_new_session_in_the_state_in_force() {
    let emu = Emulator::start().unwrap();
    // The first session's room is lost after two frames; the next ones are served.
    emu.set_realtime_script(
        RealtimeScript::new()
            .media(MediaAnswer::DropAfterFrames(2))
            .sessions(1),
    );
    let mut session = client(&emu)
        .realtime()
        .connect(
            &model(),
            fast().initial_prompt("first", true).retry(quick_retry(3)),
        )
        .await
        .unwrap();
    let first_id = session.session_id().to_owned();
    let first_token = session.subscribe_token();
    session.set_prompt("second", false).await.unwrap();
    for n in 0..2 {
        session.send_frame(frame(n)).unwrap();
    }
    let before = receive(&mut session, 2).await;
    assert_eq!(before.len(), 2);
    session.send_frame(frame(2)).unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let e = loop {
        match session.next_frame(Duration::from_millis(100)).await {
            Err(Error::Realtime(e)) => break e,
            Ok(_) if Instant::now() < until => {}
            other => panic!("expected the room's end, got {other:?}"),
        }
    };
    assert_eq!(e.kind(), RealtimeErrorKind::Closed, "{e}");
    assert!(e.is_retryable());

    session.reconnect().await.unwrap();
    assert!(!session.is_closed());
    assert_ne!(session.session_id(), first_id);
    assert_ne!(session.subscribe_token(), first_token);
    let until = Instant::now() + Duration::from_secs(5);
    while !emu.realtime_sessions()[0].ended && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let sessions = emu.realtime_sessions();
    assert_eq!(sessions.len(), 2);
    assert!(sessions[0].ended);
    // The new session starts with the prompt in force, not the options' initial one.
    let log = &sessions[1];
    assert_eq!(log.received_types()[..2], ["livekit_join", "prompt"]);
    assert_eq!(
        log.received[1],
        serde_json::json!({"type": "prompt", "prompt": "second", "enhance_prompt": false})
    );
    // The media is up again, under that prompt; the counters start again.
    session.send_frame(frame(7)).unwrap();
    let got = receive(&mut session, 1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].data(),
        decart::emulator::transformed_frame(&access_unit(7, 1200), 0, Some("second"))
    );
    assert_eq!(session.media_stats().frames_sent, 1);

    // A reconnect of a session that is up closes it first.
    session.reconnect().await.unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let second = loop {
        let second = emu.realtime_sessions()[1].clone();
        if (second.ended && second.media_left) || Instant::now() > until {
            break second;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(second.closed_by_client && second.media_left, "{second:?}");
    assert_eq!(emu.realtime_sessions().len(), 3);
    session.close().await.unwrap();
}

#[maybe_async]
pub async fn a_failed_reconnect_leaves_the_session_closed_and_may_be_tried_again() {
    let emu = Emulator::start().unwrap();
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().media(false).retry(quick_retry(2)))
        .await
        .unwrap();
    emu.set_realtime_script(
        RealtimeScript::new()
            .join(JoinAnswer::Error("Server at capacity".into()))
            .sessions(2),
    );
    let e = realtime_error(session.reconnect().await);
    assert_eq!(e.kind(), RealtimeErrorKind::Server, "{e}");
    assert!(session.is_closed());
    let closed = realtime_error(session.set_prompt("x", true).await);
    assert_eq!(closed.kind(), RealtimeErrorKind::Closed, "{closed}");
    assert_eq!(emu.realtime_sessions().len(), 3);
    // The capacity is back: the same session value reconnects.
    session.reconnect().await.unwrap();
    assert!(!session.is_closed());
    session.set_prompt("x", true).await.unwrap();
    assert_eq!(emu.realtime_sessions().len(), 4);
    session.close().await.unwrap();
}

#[maybe_async]
pub async fn dropping_a_session_leaves_the_room() {
    let emu = Emulator::start().unwrap();
    let session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    drop(session);
    let log = last_session_when(&emu, |l| l.media_left && l.ended);
    assert!(log.media_left && log.closed_by_client);
}

#[maybe_async]
pub async fn a_viewer_strips_packet_trailers_when_its_token_says_frame_timing() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().frame_timing(true));
    let client = client(&emu);
    let mut session = client
        .realtime()
        .connect(&model(), fast().initial_prompt("timed", false))
        .await
        .unwrap();
    let room = session.room_info().room_name.clone();
    // The JS SDK's token for a publisher that advertises frame timing.
    let timed = base64::engine::general_purpose::STANDARD
        .encode(serde_json::json!({"room_name": room, "frame_timing": true}).to_string());
    let mut viewer = client.realtime().subscribe(&timed, fast()).await.unwrap();
    // A token without the flag: the frames come as the room sends them, trailer and all.
    let mut plain = client
        .realtime()
        .subscribe(&session.subscribe_token(), fast())
        .await
        .unwrap();
    for n in 0..3 {
        session.send_frame(frame(n)).unwrap();
    }
    let own = receive(&mut session, 3).await;
    assert_eq!(own.len(), 3);
    for (n, sent) in own.iter().enumerate() {
        let mut seen = None;
        let mut raw = None;
        let until = Instant::now() + Duration::from_secs(5);
        while (seen.is_none() || raw.is_none()) && Instant::now() < until {
            if seen.is_none() {
                seen = viewer.next_frame(Duration::from_millis(20)).await.unwrap();
            }
            if raw.is_none() {
                raw = plain.next_frame(Duration::from_millis(20)).await.unwrap();
            }
        }
        let (seen, raw) = (seen.unwrap(), raw.unwrap());
        assert_eq!(seen.data(), sent.data(), "frame {n}: the trailer is gone");
        assert!(
            raw.data().ends_with(b"LKTS"),
            "frame {n}: sent with a trailer"
        );
        assert!(raw.data().starts_with(sent.data()));
    }
    session.close().await.unwrap();
}

#[maybe_async]
pub async fn the_longest_timeouts_mean_no_limit_not_a_panic() {
    let emu = Emulator::start().unwrap();
    let client = client(&emu);
    let forever = RealtimeOptions::new()
        .connect_timeout(Duration::MAX)
        .room_info_timeout(Duration::MAX)
        .queue_timeout(None)
        .prompt_timeout(Duration::MAX)
        .image_timeout(Duration::MAX)
        .media_timeout(Duration::MAX);
    let mut session = client
        .realtime()
        .connect(&model(), forever.clone())
        .await
        .unwrap();
    let mut viewer = client
        .realtime()
        .subscribe(&session.subscribe_token(), forever)
        .await
        .unwrap();
    session.set_prompt("on", false).await.unwrap();
    session.send_frame(frame(0)).unwrap();
    let back = receive(&mut session, 1).await;
    assert_eq!(back.len(), 1);
    let until = Instant::now() + Duration::from_secs(5);
    let mut seen = None;
    while seen.is_none() && Instant::now() < until {
        seen = viewer.next_frame(Duration::from_millis(50)).await.unwrap();
    }
    assert!(seen.is_some(), "the viewer got the frame");
    session.close().await.unwrap();
}

#[maybe_async]
pub async fn a_viewer_sees_what_the_session_gets_back_and_ends_with_it() {
    let emu = Emulator::start().unwrap();
    let client = client(&emu);
    let mut session = client
        .realtime()
        .connect(&model(), fast().initial_prompt("shared", false))
        .await
        .unwrap();
    let mut viewer = client
        .realtime()
        .subscribe(&session.subscribe_token(), fast())
        .await
        .unwrap();
    assert_eq!(viewer.info().room_name, session.room_info().room_name);
    assert!(!format!("{viewer:?}").contains("lk_emulator_"));
    for n in 0..5 {
        session.send_frame(frame(n)).unwrap();
    }
    let own = receive(&mut session, 5).await;
    let mut seen = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while seen.len() < 5 && Instant::now() < until {
        if let Some(f) = viewer.next_frame(Duration::from_millis(50)).await.unwrap() {
            seen.push(f);
        }
    }
    assert_eq!(seen.len(), 5);
    for (n, (a, b)) in own.iter().zip(&seen).enumerate() {
        assert_eq!(a.data(), b.data(), "frame {n}");
        assert_eq!(a.timestamp(), b.timestamp(), "frame {n}");
    }
    assert_eq!(viewer.media_stats().frames_received, 5);
    let log = last_session_when(&emu, |l| l.viewers_joined == 1);
    assert_eq!(log.viewers_joined, 1);
    // The session ends: so does the viewer's room.
    session.close().await.unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    let e = loop {
        match viewer.next_frame(Duration::from_millis(100)).await {
            Err(Error::Realtime(e)) => break e,
            Ok(None) if Instant::now() < until => {}
            other => panic!("expected the viewer's end, got {other:?}"),
        }
    };
    assert_eq!(e.kind(), RealtimeErrorKind::Closed, "{e}");
    assert!(viewer.is_closed());
    viewer.close().await.unwrap();
    // A token that is not one is refused before anything is dialled.
    let e = client
        .realtime()
        .subscribe("not a token", fast())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT");
}

#[maybe_async]
pub async fn connect_gives_the_room_and_the_session_id() {
    let emu = Emulator::start().unwrap();
    let session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    let room = session.room_info().clone();
    assert!(
        room.livekit_url.starts_with("ws://127.0.0.1:"),
        "{}",
        room.livekit_url
    );
    assert!(room.token.expose().starts_with("lk_emulator_"));
    assert!(room.room_name.starts_with("room_"));
    assert_eq!(session.session_id(), room.session_id);
    let logged = last_session_when(&emu, |l| l.session_id.is_some());
    assert_eq!(logged.session_id.as_deref(), Some(session.session_id()));
    assert_eq!(
        models::decode_subscribe_token(&session.subscribe_token()).unwrap(),
        room.room_name
    );
    // The LiveKit token is redacted in Debug.
    let debug = format!("{session:?} {room:?}");
    assert!(!debug.contains(room.token.expose()), "{debug}");
    session.close().await.unwrap();
}

#[maybe_async]
pub async fn the_url_and_the_pipelined_messages_on_the_wire() {
    let emu = Emulator::start().unwrap();
    let options = fast()
        .initial_prompt("a watercolor city", false)
        .resolution("720p")
        .query_param("livekit_early_room_info", "true");
    let session = client(&emu)
        .realtime()
        .connect(&model(), options)
        .await
        .unwrap();
    let log = last_session_when(&emu, |l| l.received.len() >= 2);
    let names: Vec<&str> = log.query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "api_key",
            "model",
            "resolution",
            "livekit_early_room_info",
            "user_agent"
        ]
    );
    assert_eq!(log.param("api_key"), Some("<redacted>"));
    assert_eq!(log.param("model"), Some("lucy-2.1"));
    assert_eq!(log.param("resolution"), Some("720p"));
    let ua = format!(
        "decart-rust-sdk/{} lang/rust rt-tests/1",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(log.param("user_agent"), Some(ua.as_str()));
    assert_eq!(log.user_agent.as_deref(), Some(ua.as_str()));
    assert_eq!(log.credential, Some(Credential::Permanent));
    // livekit_join first, the initial prompt right behind it.
    assert_eq!(log.received_types(), ["livekit_join", "prompt"]);
    assert_eq!(log.received[0], serde_json::json!({"type": "livekit_join"}));
    assert_eq!(
        log.received[1],
        serde_json::json!({"type": "prompt", "prompt": "a watercolor city", "enhance_prompt": false})
    );
    // The request log never has the key either.
    let logged = emu.requests();
    let upgrade = logged.iter().find(|r| r.path == "/v1/stream").unwrap();
    assert_eq!(upgrade.status, Some(101));
    let query = upgrade.query.clone().unwrap();
    assert!(query.contains("api_key=<redacted>"), "{query}");
    assert!(!query.contains(emu.api_key()), "{query}");
    drop(session);
}

#[maybe_async]
pub async fn prompts_and_images_resolve_on_their_acks() {
    let emu = Emulator::start().unwrap();
    let mut session = client(&emu)
        .realtime()
        .connect(
            &model(),
            fast().initial_image(SetImage::bytes(b"first").prompt("p0")),
        )
        .await
        .unwrap();
    session.set_prompt("an oil painting", true).await.unwrap();
    session
        .set_image(
            SetImage::bytes(b"\x89PNG")
                .prompt("with a hat")
                .enhance(false),
        )
        .await
        .unwrap();
    session
        .set_image(SetImage::file_ref("file_abc"))
        .await
        .unwrap();
    session.set_image(SetImage::passthrough()).await.unwrap();
    let log = last_session_when(&emu, |l| l.received.len() >= 6);
    assert_eq!(
        log.received_types(),
        [
            "livekit_join",
            "set_image",
            "prompt",
            "set_image",
            "set_image",
            "set_image"
        ]
    );
    assert_eq!(
        log.received[1],
        serde_json::json!({"type": "set_image", "image_data": "Zmlyc3Q=", "prompt": "p0"})
    );
    assert_eq!(
        log.received[2],
        serde_json::json!({"type": "prompt", "prompt": "an oil painting", "enhance_prompt": true})
    );
    assert_eq!(
        log.received[3],
        serde_json::json!({"type": "set_image", "image_data": "iVBORw==", "prompt": "with a hat", "enhance_prompt": false})
    );
    assert_eq!(
        log.received[4],
        serde_json::json!({"type": "set_image", "image_ref": "file_abc"})
    );
    assert_eq!(
        log.received[5],
        serde_json::json!({"type": "set_image", "image_data": null, "prompt": null})
    );
    session.close().await.unwrap();
}

#[maybe_async]
pub async fn events_arrive_in_order_then_none_on_timeout() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(
        RealtimeScript::new()
            .ticks(2, Duration::from_millis(10))
            .after_ticks(AfterTicks::End("client_disconnect".into())),
    );
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().initial_prompt("go", true))
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(e) = session.next_event(Duration::from_secs(2)).await.unwrap() {
        let end = matches!(e, RealtimeEvent::GenerationEnded { .. });
        events.push(e);
        if end {
            break;
        }
    }
    assert_eq!(
        events,
        [
            RealtimeEvent::GenerationStarted,
            RealtimeEvent::GenerationTick { seconds: 1 },
            RealtimeEvent::GenerationTick { seconds: 2 },
            RealtimeEvent::GenerationEnded {
                seconds: 2,
                reason: "client_disconnect".into()
            },
        ]
    );
    let started = Instant::now();
    let none = session.next_event(Duration::from_millis(50)).await.unwrap();
    assert_eq!(none, None);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[maybe_async]
pub async fn a_rejected_prompt_is_typed_and_the_session_goes_on() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(
        RealtimeScript::new().prompt(AckAnswer::Reject("prompt blocked".into())),
    );
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    let result = session.set_prompt("something", true).await;
    let e = realtime_error(result);
    assert_eq!(e.kind(), RealtimeErrorKind::AckRejected);
    assert_eq!(e.message(), "prompt blocked");
    assert!(!session.is_closed());
    session.set_image(SetImage::bytes(b"img")).await.unwrap();
}

#[maybe_async]
pub async fn a_rejected_initial_state_fails_connect() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().image(AckAnswer::Reject("bad image".into())));
    let result = client(&emu)
        .realtime()
        .connect(&model(), fast().initial_image(SetImage::bytes(b"x")))
        .await;
    let e = realtime_error(result);
    assert_eq!(e.kind(), RealtimeErrorKind::AckRejected);
    assert!(e.is_permanent());
}

#[maybe_async]
pub async fn an_unanswered_prompt_times_out_and_the_session_goes_on() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(
        RealtimeScript::new()
            .prompt(AckAnswer::Silent)
            .ticks(0, Duration::ZERO),
    );
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().prompt_timeout(Duration::from_millis(150)))
        .await
        .unwrap();
    let started = Instant::now();
    let e = realtime_error(session.set_prompt("hello?", true).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Timeout);
    assert!(e.is_retryable());
    assert!(started.elapsed() >= Duration::from_millis(140));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!session.is_closed());
    session.set_image(SetImage::clear()).await.unwrap();
}

#[maybe_async]
pub async fn queue_positions_pause_the_room_info_timeout() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(
        RealtimeScript::new()
            .queue(&[(3, 5), (2, 5), (1, 5)], Duration::from_millis(300))
            .ticks(0, Duration::ZERO),
    );
    // 900 ms in the queue, with a 400 ms room-info timeout: the queue does not count.
    let mut session = client(&emu)
        .realtime()
        .connect(
            &model(),
            fast().room_info_timeout(Duration::from_millis(400)),
        )
        .await
        .unwrap();
    let mut queue = Vec::new();
    while let Some(RealtimeEvent::QueuePosition {
        position,
        queue_size,
    }) = session
        .next_event(Duration::from_millis(200))
        .await
        .unwrap()
    {
        queue.push((position, queue_size));
    }
    assert_eq!(queue, [(3, 5), (2, 5), (1, 5)]);
}

#[maybe_async]
pub async fn too_long_in_the_queue_is_a_timeout() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(
        RealtimeScript::new().queue(&[(9, 9), (8, 9)], Duration::from_secs(30)),
    );
    let started = Instant::now();
    let result = client(&emu)
        .realtime()
        .connect(
            &model(),
            fast().queue_timeout(Some(Duration::from_millis(150))),
        )
        .await;
    let e = realtime_error(result);
    assert_eq!(e.kind(), RealtimeErrorKind::Timeout);
    assert!(e.message().contains("queue"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[maybe_async]
pub async fn no_room_info_is_a_timeout() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().join(JoinAnswer::Silent));
    let started = Instant::now();
    let result = client(&emu)
        .realtime()
        .connect(
            &model(),
            fast().room_info_timeout(Duration::from_millis(150)),
        )
        .await;
    let e = realtime_error(result);
    assert_eq!(e.kind(), RealtimeErrorKind::Timeout);
    assert!(e.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(5));
    // The client closed the socket it gave up on.
    let log = last_session_when(&emu, |l| l.ended);
    assert!(log.ended);
    // A room info delayed "forever" is the same timeout (the emulator does not overflow).
    emu.set_realtime_script(RealtimeScript::new().room_info_delay(Duration::MAX));
    let result = client(&emu)
        .realtime()
        .connect(
            &model(),
            fast().room_info_timeout(Duration::from_millis(150)),
        )
        .await;
    assert_eq!(realtime_error(result).kind(), RealtimeErrorKind::Timeout);
    let log = last_session_when(&emu, |l| l.ended);
    assert!(log.ended, "the emulator's session ended cleanly: {log:?}");
}

#[maybe_async]
pub async fn a_server_error_on_join_is_typed_and_retryable() {
    let emu = Emulator::start().unwrap();
    let capacity = "Server at capacity. Please try again later.";
    emu.set_realtime_script(RealtimeScript::new().join(JoinAnswer::Error(capacity.into())));
    let result = client(&emu)
        .realtime()
        .connect(&model(), fast().initial_prompt("x", true))
        .await;
    let err = result.unwrap_err();
    assert_eq!(err.code(), "REALTIME_SERVER_ERROR");
    assert!(err.is_retryable());
    let e = realtime_error(Err::<(), _>(err));
    assert_eq!(e.kind(), RealtimeErrorKind::Server);
    assert_eq!(e.message(), capacity);
    assert!(!e.is_permanent());
}

#[maybe_async]
pub async fn a_server_error_mid_session_ends_it_after_the_earlier_events() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(
        RealtimeScript::new()
            .ticks(1, Duration::from_millis(10))
            .after_ticks(AfterTicks::Error("Invalid session".into())),
    );
    // The control channel alone: with media, the error would come during `connect`.
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().media(false))
        .await
        .unwrap();
    let first = session.next_event(Duration::from_secs(2)).await.unwrap();
    assert_eq!(first, Some(RealtimeEvent::GenerationStarted));
    let second = session.next_event(Duration::from_secs(2)).await.unwrap();
    assert_eq!(second, Some(RealtimeEvent::GenerationTick { seconds: 1 }));
    let e = realtime_error(session.next_event(Duration::from_secs(2)).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Server);
    assert!(e.is_permanent(), "`invalid session` is on the peers' list");
    assert!(session.is_closed());
    // Every later call reports the same error at once.
    let again = realtime_error(session.set_prompt("more", true).await);
    assert_eq!(again, e);
}

#[maybe_async]
pub async fn a_malformed_status_message_is_skipped_and_the_session_goes_on() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(
        RealtimeScript::new()
            .ticks(1, Duration::from_millis(10))
            .after_ticks(AfterTicks::Raw(
                r#"{"type":"generation_tick","seconds":1.5}"#.into(),
            )),
    );
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().initial_prompt("go", false))
        .await
        .unwrap();
    let mut events = Vec::new();
    while let Some(e) = session
        .next_event(Duration::from_millis(300))
        .await
        .unwrap()
    {
        events.push(e);
    }
    assert_eq!(
        events,
        [
            RealtimeEvent::GenerationStarted,
            RealtimeEvent::GenerationTick { seconds: 1 }
        ]
    );
    // The malformed tick was sent, skipped, and the session works on.
    let log = last_session_when(&emu, |_| true);
    assert!(!log.ended, "{log:?}");
    session.set_prompt("on", false).await.unwrap();
    assert!(!session.is_closed());
    // A malformed acknowledgement is not skipped: the session cannot know its state.
    emu.set_realtime_script(RealtimeScript::new().join(JoinAnswer::Raw(
        r#"{"type":"set_image_ack","success":"maybe"}"#.into(),
    )));
    let e = realtime_error(client(&emu).realtime().connect(&model(), fast()).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Protocol);
    assert!(e.message().contains("set_image_ack"), "{e}");
    assert!(!e.message().contains("maybe"), "values are not quoted: {e}");
}

#[maybe_async]
pub async fn a_policy_violation_close_is_permanent() {
    let emu = Emulator::start().unwrap();
    for (code, reason, permanent) in [
        (1008, "content policy", true),
        (1000, "Unauthorized", true),
        (1011, "internal error", false),
    ] {
        emu.set_realtime_script(
            RealtimeScript::new()
                .ticks(0, Duration::from_millis(10))
                .after_ticks(AfterTicks::Close(code, reason.into())),
        );
        let mut session = client(&emu)
            .realtime()
            .connect(&model(), fast().media(false))
            .await
            .unwrap();
        let e = loop {
            match session.next_event(Duration::from_secs(2)).await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("no close within 2 s"),
                Err(e) => break realtime_error(Err::<(), _>(e)),
            }
        };
        assert_eq!(e.kind(), RealtimeErrorKind::Closed, "{e}");
        assert_eq!(e.close_code(), Some(code), "{e}");
        assert_eq!(e.is_permanent(), permanent, "{e}");
        assert!(e.to_string().contains(reason), "{e}");
    }
}

#[maybe_async]
pub async fn a_server_error_instead_of_an_ack_fails_the_request() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().image(AckAnswer::Error("GPU lost".into())));
    // Control only: a media session's passthrough `set_image` would meet the error at connect.
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().media(false))
        .await
        .unwrap();
    let e = realtime_error(session.set_image(SetImage::bytes(b"x")).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Server);
    assert_eq!(e.message(), "GPU lost");
}

#[maybe_async]
pub async fn a_dropped_socket_is_typed_at_join_at_a_request_and_mid_session() {
    let emu = Emulator::start().unwrap();
    emu.set_realtime_script(RealtimeScript::new().join(JoinAnswer::Drop));
    let e = realtime_error(client(&emu).realtime().connect(&model(), fast()).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Closed);
    assert!(e.is_retryable());

    emu.set_realtime_script(RealtimeScript::new().prompt(AckAnswer::Drop));
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    let e = realtime_error(session.set_prompt("x", true).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Closed);

    emu.set_realtime_script(
        RealtimeScript::new()
            .ticks(0, Duration::from_millis(10))
            .after_ticks(AfterTicks::Drop),
    );
    let mut session = client(&emu)
        .realtime()
        .connect(&model(), fast().media(false))
        .await
        .unwrap();
    let first = session.next_event(Duration::from_secs(2)).await.unwrap();
    assert_eq!(first, Some(RealtimeEvent::GenerationStarted));
    let e = realtime_error(session.next_event(Duration::from_secs(2)).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Closed);
}

#[maybe_async]
pub async fn garbage_and_malformed_messages_are_protocol_errors() {
    let emu = Emulator::start().unwrap();
    for raw in [
        "this is not json",
        "[1,2,3]",
        r#"{"no_type":1}"#,
        r#"{"type":"livekit_room_info","livekit_url":"ws://x"}"#,
    ] {
        emu.set_realtime_script(RealtimeScript::new().join(JoinAnswer::Raw(raw.into())));
        let e = realtime_error(client(&emu).realtime().connect(&model(), fast()).await);
        assert_eq!(e.kind(), RealtimeErrorKind::Protocol, "{raw}");
        assert!(e.is_permanent());
    }
    // An unknown type is ignored (forward compatibility): the wait then times out.
    emu.set_realtime_script(
        RealtimeScript::new().join(JoinAnswer::Raw(r#"{"type":"brand_new","x":1}"#.into())),
    );
    let e = realtime_error(
        client(&emu)
            .realtime()
            .connect(
                &model(),
                fast().room_info_timeout(Duration::from_millis(100)),
            )
            .await,
    );
    assert_eq!(e.kind(), RealtimeErrorKind::Timeout);
}

#[maybe_async]
pub async fn a_refused_key_is_permanent_and_never_shown() {
    let emu = Emulator::start().unwrap();
    let secret = "sk-this-must-never-show-0123456789";
    let result = client_with_key(&emu, secret)
        .realtime()
        .connect(&model(), fast())
        .await;
    let err = result.unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(secret), "{shown}");
    let e = realtime_error(Err::<(), _>(err));
    assert_eq!(e.kind(), RealtimeErrorKind::Rejected);
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.message(), "Invalid API key");
    assert!(e.is_permanent());
    assert_eq!(
        emu.requests().last().unwrap().credential,
        Some(Credential::Invalid)
    );

    // A refusal the script asks for: 503 may succeed later.
    emu.set_realtime_script(RealtimeScript::new().refuse(503, "maintenance"));
    let e = realtime_error(client(&emu).realtime().connect(&model(), fast()).await);
    assert_eq!(
        (e.kind(), e.status()),
        (RealtimeErrorKind::Rejected, Some(503))
    );
    assert!(e.is_retryable());
}

#[maybe_async]
pub async fn an_expired_jwt_is_refused_before_dialling() {
    let emu = Emulator::start().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = jwt_with_exp(now - 60);
    let err = client_with_key(&emu, &jwt)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "TOKEN_EXPIRED");
    assert!(!format!("{err} {err:?}").contains(&jwt));
    assert!(emu.requests().is_empty(), "nothing was dialled");
}

#[maybe_async]
pub async fn minted_client_keys_and_jwts_open_sessions() {
    let emu = Emulator::start().unwrap();
    let token = client(&emu)
        .tokens()
        .create(&CreateTokenOptions::new().expires_in(300))
        .await
        .unwrap();
    let session = client_with_key(&emu, token.api_key.expose())
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    drop(session);
    assert_eq!(
        last_session_when(&emu, |_| true).credential,
        Some(Credential::ClientKey)
    );
    let jwt = token.token.clone().unwrap();
    let session = client_with_key(&emu, jwt.expose())
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    assert_eq!(
        last_session_when(&emu, |_| true).credential,
        Some(Credential::ClientJwt)
    );
    session.close().await.unwrap();
}

#[maybe_async]
pub async fn connect_timeout_and_refused_connections_are_typed() {
    // A listener that accepts and never answers the upgrade.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let c = Client::builder()
        .api_key("k")
        .base_url(format!("http://{addr}"))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = realtime_error(
        c.realtime()
            .connect(&model(), fast().connect_timeout(Duration::from_millis(200)))
            .await,
    );
    assert_eq!(e.kind(), RealtimeErrorKind::ConnectTimeout);
    assert!(e.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(listener);
    // Nothing listens any more.
    let e = realtime_error(c.realtime().connect(&model(), fast()).await);
    assert_eq!(e.kind(), RealtimeErrorKind::Connect);
    assert!(!e.to_string().contains("api_key=k"), "{e}");
    // A server that drips its upgrade answer a byte at a time: the whole upgrade is bounded
    // by the connect timeout, so the session's thread lets go of the connection then too.
    let drip = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let drip_addr = drip.local_addr().unwrap();
    let (closed_tx, closed_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Write;
        let Ok((mut conn, _)) = drip.accept() else {
            return;
        };
        let started = Instant::now();
        let answer = b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: "
            .iter()
            .chain([b'a'; 4096].iter());
        for byte in answer {
            if conn.write_all(&[*byte]).is_err() || started.elapsed() > Duration::from_secs(10) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = closed_tx.send(started.elapsed());
    });
    let c = Client::builder()
        .api_key("k")
        .base_url(format!("http://{drip_addr}"))
        .build()
        .unwrap();
    let e = realtime_error(
        c.realtime()
            .connect(&model(), fast().connect_timeout(Duration::from_millis(500)))
            .await,
    );
    assert_eq!(e.kind(), RealtimeErrorKind::ConnectTimeout, "{e}");
    let let_go = closed_rx.recv_timeout(Duration::from_secs(12)).unwrap();
    assert!(let_go < Duration::from_secs(4), "{let_go:?}");
    // TLS to a plain-HTTP server: a connect error, not a hang.
    #[cfg(feature = "rustls")]
    {
        let emu = Emulator::start().unwrap();
        let wss = format!("wss://127.0.0.1:{}", emu.port());
        let e = realtime_error(
            client(&emu)
                .realtime()
                .connect(&model(), fast().base_url(wss))
                .await,
        );
        assert_eq!(e.kind(), RealtimeErrorKind::Connect, "{e}");
    }
}

#[maybe_async]
pub async fn close_and_drop_close_the_socket_cleanly() {
    let emu = Emulator::start().unwrap();
    let session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    session.close().await.unwrap();
    let log = last_session_when(&emu, |l| l.ended);
    assert!(log.closed_by_client && log.ended, "{log:?}");

    let session = client(&emu)
        .realtime()
        .connect(&model(), fast())
        .await
        .unwrap();
    drop(session);
    let log = last_session_when(&emu, |l| l.ended);
    assert!(log.closed_by_client && log.ended, "{log:?}");
}

#[maybe_async]
pub async fn bad_inputs_are_refused_before_dialling() {
    let emu = Emulator::start().unwrap();
    let c = client(&emu);
    let video = models::video("lucy-2.1").unwrap();
    let err = c.realtime().connect(&video, fast()).await.unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    let err = c
        .realtime()
        .connect(&model(), fast().initial_prompt(" ", true))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    let err = c
        .realtime()
        .connect(&model(), fast().query_param("model", "other"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert!(emu.realtime_sessions().is_empty());
    // And on an open session, nothing is sent for a blank prompt (control only: no
    // passthrough behind the join).
    let mut session = c
        .realtime()
        .connect(&model(), fast().media(false))
        .await
        .unwrap();
    let err = session.set_prompt("  ", true).await.unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    let err = session
        .set_image(SetImage::file_ref("nope"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
    assert_eq!(
        last_session_when(&emu, |_| true).received_types(),
        ["livekit_join"]
    );
}

#[maybe_async]
pub async fn watch_gives_a_viewer_the_room_of_a_session() {
    let emu = Emulator::start().unwrap();
    let c = client(&emu);
    let session = c.realtime().connect(&model(), fast()).await.unwrap();
    let info = c
        .realtime()
        .watch(&session.subscribe_token())
        .await
        .unwrap();
    assert_eq!(info.room_name, session.room_info().room_name);
    assert_eq!(info.session_id.as_deref(), Some(session.session_id()));
    assert!(info.livekit_url.starts_with("ws://127.0.0.1:"));
    assert!(!format!("{info:?}").contains(info.token.expose()));
    let request = emu.requests().into_iter().last().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/watch-stream/{}", session.room_info().room_name)
    );
    assert_eq!(request.credential, Some(Credential::Permanent));
    // The Python SDK's token (URL-safe base64, a space after the colon) works too.
    let python = base64::engine::general_purpose::URL_SAFE.encode(format!(
        r#"{{"room_name": "{}"}}"#,
        session.room_info().room_name
    ));
    let again = c.realtime().watch(&python).await.unwrap();
    assert_eq!(again.room_name, info.room_name);

    let unknown = models::encode_subscribe_token("no-such-room");
    let err = c.realtime().watch(&unknown).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), "REALTIME_WATCH_ERROR")
    );
    let err = c.realtime().watch("not a token").await.unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}

#[macro_export]
macro_rules! realtime_tests {
    ($async_test:ident) => {
        $async_test!(realtime:
            frames_make_the_round_trip_transformed,
            a_session_without_a_state_asks_for_passthrough_and_gets_frames,
            a_new_prompt_shows_in_the_frames_that_follow,
            vp8_is_published_when_asked,
            a_refused_livekit_token_fails_connect,
            an_unanswered_offer_is_a_media_timeout,
            an_ice_failure_is_typed,
            a_dropped_signal_socket_fails_connect,
            a_room_lost_mid_session_ends_it_after_the_frames_before,
            a_frame_refused_after_the_room_ended_gives_its_reason_and_keeps_the_frames,
            a_server_error_mid_session_ends_the_media_too,
            frames_without_media_or_bytes_are_refused,
            unread_frames_are_bounded_and_counted,
            refused_frames_come_back_whole,
            connect_with_retry_retries_what_may_pass_and_stops_at_the_rest,
            reconnect_opens_a_new_session_in_the_state_in_force,
            a_failed_reconnect_leaves_the_session_closed_and_may_be_tried_again,
            dropping_a_session_leaves_the_room,
            a_viewer_strips_packet_trailers_when_its_token_says_frame_timing,
            the_longest_timeouts_mean_no_limit_not_a_panic,
            a_viewer_sees_what_the_session_gets_back_and_ends_with_it,
            connect_gives_the_room_and_the_session_id,
            the_url_and_the_pipelined_messages_on_the_wire,
            prompts_and_images_resolve_on_their_acks,
            events_arrive_in_order_then_none_on_timeout,
            a_rejected_prompt_is_typed_and_the_session_goes_on,
            a_rejected_initial_state_fails_connect,
            an_unanswered_prompt_times_out_and_the_session_goes_on,
            queue_positions_pause_the_room_info_timeout,
            too_long_in_the_queue_is_a_timeout,
            no_room_info_is_a_timeout,
            a_server_error_on_join_is_typed_and_retryable,
            a_server_error_mid_session_ends_it_after_the_earlier_events,
            a_server_error_instead_of_an_ack_fails_the_request,
            a_malformed_status_message_is_skipped_and_the_session_goes_on,
            a_policy_violation_close_is_permanent,
            a_dropped_socket_is_typed_at_join_at_a_request_and_mid_session,
            garbage_and_malformed_messages_are_protocol_errors,
            a_refused_key_is_permanent_and_never_shown,
            an_expired_jwt_is_refused_before_dialling,
            minted_client_keys_and_jwts_open_sessions,
            connect_timeout_and_refused_connections_are_typed,
            close_and_drop_close_the_socket_cleanly,
            bad_inputs_are_refused_before_dialling,
            watch_gives_a_viewer_the_room_of_a_session
        );
    };
}
