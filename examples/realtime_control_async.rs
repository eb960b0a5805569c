//! Opens a realtime session with the async client: the control channel only (the media goes
//! through the LiveKit room it prints, with a LiveKit client of your choice).
//!
//! Configured from the environment: `DECART_API_KEY`, optional `DECART_BASE_URL` (e.g. a local
//! emulator, `decart emulator`), and optional `DECART_MODEL` (default `lucy-2.1`).
//!
//! ```sh
//! DECART_API_KEY=... cargo run --example realtime_control_async --features async,realtime
//! ```

use std::time::{Duration, Instant};

use decart::models;
use decart::nonblocking::Client;
use decart::realtime::{RealtimeEvent, RealtimeOptions, SetImage};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error [{}]: {err}", err.code());
        std::process::exit(1);
    }
}

async fn run() -> Result<(), decart::Error> {
    let client = Client::from_env()?;
    let name = std::env::var("DECART_MODEL").unwrap_or_else(|_| "lucy-2.1".to_owned());
    let model = models::realtime(&name)?;
    let mut session = client
        .realtime()
        .connect(
            &model,
            RealtimeOptions::new().initial_prompt("a watercolor painting", true),
        )
        .await?;
    let room = session.room_info();
    println!(
        "session {} in LiveKit room {} at {}",
        room.session_id, room.room_name, room.livekit_url
    );

    // Back to the camera as it is, then a new prompt.
    session.set_image(SetImage::passthrough()).await?;
    session
        .set_prompt("an oil painting, warm light", true)
        .await?;

    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        match session.next_event(Duration::from_millis(500)).await? {
            Some(RealtimeEvent::GenerationTick { seconds }) => println!("{seconds} s generated"),
            Some(event) => println!("event: {event:?}"),
            None => {}
        }
    }
    session.close().await?;
    Ok(())
}
