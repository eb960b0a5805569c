// A realtime session streamed at 30 fps through the emulator, written once for both flavours:
// included by `benches/realtime_media.rs` in a module that names `Client` and `maybe_async`.

use std::time::{Duration, Instant};

use decart::realtime::{RealtimeOptions, VideoFrame};

use super::Streamed;

#[maybe_async]
pub async fn stream(base_url: &str, key: &str, frames: u32, fps: u32) -> Streamed {
    let client = Client::builder()
        .api_key(key)
        .base_url(base_url)
        .build()
        .unwrap();
    let model = decart::models::realtime("lucy-2.1").unwrap();
    let started = Instant::now();
    let mut session = client
        .realtime()
        .connect(
            &model,
            RealtimeOptions::new().initial_prompt("a watercolor", false),
        )
        .await
        .unwrap();
    let connect = started.elapsed();
    let period = Duration::from_secs(1) / fps;
    let mut sent_at = Vec::with_capacity(frames as usize);
    let mut rtts = Vec::with_capacity(frames as usize);
    let mut first_frame = None;
    let t0 = Instant::now();
    let mut received = 0u64;
    loop {
        let n = sent_at.len() as u32;
        let due = t0 + period * n;
        if n < frames && Instant::now() >= due {
            let frame = VideoFrame::new(super::access_unit(n), period * n);
            session.send_frame(frame).unwrap();
            sent_at.push(Instant::now());
            continue;
        }
        let until = if n < frames {
            due
        } else {
            // After the last frame: until every frame is back, 2 s at most.
            if received as u32 >= frames || t0.elapsed() > period * frames + Duration::from_secs(2)
            {
                break;
            }
            Instant::now() + Duration::from_millis(50)
        };
        let wait = until.saturating_duration_since(Instant::now());
        if let Some(frame) = session.next_frame(wait).await.unwrap() {
            let at = Instant::now();
            first_frame.get_or_insert(at - started);
            received += 1;
            // Timestamps count from the first frame received; the emulator sends every frame
            // back with its own, so the index is the timestamp over the period.
            let index = (frame.timestamp().as_micros() + period.as_micros() / 2)
                / period.as_micros();
            if let Some(sent) = sent_at.get(index as usize) {
                rtts.push(at - *sent);
            }
        }
    }
    let stats = session.media_stats();
    session.close().await.unwrap();
    Streamed {
        connect,
        first_frame: first_frame.unwrap_or_default(),
        rtts,
        sent: stats.frames_sent,
        received,
    }
}
