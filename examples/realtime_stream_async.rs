//! Streams video through a realtime model with the async client (tokio): synthetic frames sent
//! at 30 fps by one task while the model's frames are received, then a viewer of the same
//! session (receive-only, from its subscribe token).
//!
//! Configured from the environment: `DECART_API_KEY`, optional `DECART_BASE_URL` (e.g. a local
//! emulator, `decart emulator`), and optional `DECART_MODEL` (default `lucy-2.1`). The
//! synthetic frames suit the emulator; a real model needs real video (see `realtime_stream`).
//!
//! ```sh
//! DECART_API_KEY=... cargo run --example realtime_stream_async --features async,realtime
//! ```

use std::time::{Duration, Instant};

use decart::models;
use decart::nonblocking::Client;
use decart::realtime::{RealtimeOptions, VideoFrame};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error [{}]: {}", err.code(), err.report());
        std::process::exit(1);
    }
}

async fn run() -> Result<(), decart::Error> {
    let client = Client::from_env()?;
    let name = std::env::var("DECART_MODEL").unwrap_or_else(|_| "lucy-2.1".to_owned());
    let model = models::realtime(&name)?;
    // Retried as the peer SDKs do when the server is at capacity or the connection drops.
    let mut session = client
        .realtime()
        .connect_with_retry(
            &model,
            RealtimeOptions::new().initial_prompt("a watercolor painting", true),
        )
        .await?;
    println!("session {}", session.session_id());
    let mut viewer = client
        .realtime()
        .subscribe(&session.subscribe_token(), RealtimeOptions::new())
        .await?;
    println!("viewer in room {}", viewer.info().room_name);

    let period = Duration::from_secs(1) / model.fps();
    let mut ticks = tokio::time::interval(period);
    let t0 = Instant::now();
    for i in 0..60u32 {
        ticks.tick().await;
        let mut access_unit = vec![0, 0, 0, 1, 0x65, 0x88, i as u8];
        access_unit.resize(4000, 0xab);
        session.send_frame(VideoFrame::new(access_unit, period * i))?;
        while let Some(frame) = session.next_frame(Duration::ZERO).await? {
            println!(
                "frame back after {:?}: {} bytes",
                t0.elapsed(),
                frame.data().len()
            );
        }
    }
    let mut seen = 0;
    while viewer
        .next_frame(Duration::from_millis(500))
        .await?
        .is_some()
    {
        seen += 1;
    }
    println!(
        "sent {}, received {}, the viewer saw {seen}",
        session.media_stats().frames_sent,
        session.media_stats().frames_received + session.media_stats().frames_dropped
    );
    viewer.close().await?;
    session.close().await?;
    Ok(())
}
