//! Streams video through a realtime model with the blocking client: frames sent at 30 fps,
//! the model's frames received, the prompt changed mid-stream, the session's events; a frame
//! the media thread has no room for is skipped, and a lost session is replaced by a new one in
//! the same prompt (at most 3 times).
//!
//! Configured from the environment: `DECART_API_KEY` (a key, an `ek_…` client key or a client
//! JWT), optional `DECART_BASE_URL` (e.g. a local emulator, `decart emulator`), optional
//! `DECART_MODEL` (default `lucy-2.1`) and optional `DECART_INPUT`, an H.264 Annex B file
//! (`ffmpeg -i in.mp4 -c:v libx264 -profile:v baseline -bsf:v h264_mp4toannexb out.h264`); one
//! access unit per chunk between access unit delimiters is assumed. Without it, 90 synthetic
//! frames (the emulator takes them; a real model needs real video).
//!
//! ```sh
//! DECART_API_KEY=... cargo run --example realtime_stream --features realtime
//! ```

use std::time::{Duration, Instant};

use decart::blocking::RealtimeSession;
use decart::realtime::{RealtimeOptions, VideoFrame};
use decart::{Client, Error, models};

fn main() {
    if let Err(err) = run() {
        eprintln!("error [{}]: {}", err.code(), err.report());
        std::process::exit(1);
    }
}

/// Access units of the input file (split on access unit delimiters), or synthetic ones.
fn frames() -> Vec<Vec<u8>> {
    match std::env::var("DECART_INPUT") {
        Ok(path) => {
            let data = std::fs::read(&path).expect("DECART_INPUT is readable");
            let aud = [0u8, 0, 0, 1, 0x09];
            let mut units = Vec::new();
            let mut start = 0;
            for i in 1..data.len().saturating_sub(aud.len()) {
                if data[i..].starts_with(&aud) {
                    units.push(data[start..i].to_vec());
                    start = i;
                }
            }
            units.push(data[start..].to_vec());
            units
        }
        Err(_) => (0..90u8)
            .map(|n| {
                let mut au = vec![0, 0, 0, 1, 0x65, 0x88, n];
                au.resize(4000, 0xab);
                au
            })
            .collect(),
    }
}

/// A session lost to something that may pass (a dropped socket, the room lost, an ICE
/// failure) is replaced by a new one in the prompt in force; anything else ends the stream.
fn recover(session: &mut RealtimeSession, error: Error, reconnects: &mut u32) -> Result<(), Error> {
    match error {
        Error::Realtime(e) if e.is_retryable() && *reconnects < 3 => {
            *reconnects += 1;
            eprintln!("session lost ({e}); reconnecting");
            session.reconnect()?;
            println!("now session {}", session.session_id());
            Ok(())
        }
        other => Err(other),
    }
}

fn run() -> Result<(), decart::Error> {
    let client = Client::from_env()?;
    let name = std::env::var("DECART_MODEL").unwrap_or_else(|_| "lucy-2.1".to_owned());
    let model = models::realtime(&name)?;
    let started = Instant::now();
    let options = RealtimeOptions::new().initial_prompt("a watercolor painting", true);
    // Retried as the peer SDKs do when the server is at capacity or the connection drops.
    let mut session = client.realtime().connect_with_retry(&model, options)?;
    println!(
        "session {} in room {} after {:?}",
        session.session_id(),
        session.room_info().room_name,
        started.elapsed()
    );

    let period = Duration::from_secs(1) / model.fps();
    let frames = frames();
    let count = frames.len();
    let mut reconnects = 0;
    let t0 = Instant::now();
    for (i, access_unit) in frames.into_iter().enumerate() {
        let i = i as u32;
        if i == 45 {
            session.set_prompt("an oil painting, warm light", true)?;
            println!("prompt changed");
        }
        match session.try_send_frame(VideoFrame::new(access_unit, period * i)) {
            Ok(()) => {}
            // Live video: a frame that cannot go now is worth less than the next one.
            Err(refused) if refused.is_backpressure() => eprintln!("frame {i} skipped"),
            Err(refused) => recover(&mut session, refused.into(), &mut reconnects)?,
        }
        // Receive until the next frame is due.
        let due = t0 + period * (i + 1);
        loop {
            match session.next_frame(due.saturating_duration_since(Instant::now())) {
                Ok(Some(frame)) => println!(
                    "frame back: {} bytes at {:?}",
                    frame.data().len(),
                    frame.timestamp()
                ),
                Ok(None) => break,
                Err(e) => {
                    recover(&mut session, e, &mut reconnects)?;
                    break;
                }
            }
        }
    }
    while let Some(frame) = session.next_frame(Duration::from_secs(1))? {
        println!(
            "frame back: {} bytes at {:?}",
            frame.data().len(),
            frame.timestamp()
        );
    }
    while let Some(event) = session.next_event(Duration::ZERO)? {
        println!("event: {event:?}");
    }
    let stats = session.media_stats();
    println!(
        "{} of {count} frames sent, {} received (this session; {reconnects} reconnects)",
        stats.frames_sent, stats.frames_received
    );
    session.close()?;
    Ok(())
}
