//! Opens a realtime session with the blocking client: the control channel only (the media goes
//! through the LiveKit room it prints, with a LiveKit client of your choice).
//!
//! Configured from the environment: `DECART_API_KEY` (a key, an `ek_…` client key or a client
//! JWT), optional `DECART_BASE_URL` (e.g. a local emulator, `decart emulator`), and optional
//! `DECART_MODEL` (default `lucy-2.1`).
//!
//! ```sh
//! DECART_API_KEY=... cargo run --example realtime_control --features realtime
//! ```

use std::time::{Duration, Instant};

use decart::realtime::RealtimeOptions;
use decart::{Client, models};

fn main() {
    if let Err(err) = run() {
        eprintln!("error [{}]: {err}", err.code());
        std::process::exit(1);
    }
}

fn run() -> Result<(), decart::Error> {
    let client = Client::from_env()?;
    let name = std::env::var("DECART_MODEL").unwrap_or_else(|_| "lucy-2.1".to_owned());
    let model = models::realtime(&name)?;
    let options = RealtimeOptions::new().initial_prompt("a watercolor painting", true);
    let mut session = client.realtime().connect(&model, options)?;

    let room = session.room_info();
    println!("session:   {}", room.session_id);
    println!("LiveKit:   {} room {}", room.livekit_url, room.room_name);
    println!("token:     {:?} (join the room with it)", room.token);
    println!("subscribe: {}", session.subscribe_token());

    session.set_prompt("an oil painting, warm light", true)?;
    println!("prompt acknowledged");

    // Events for a few seconds: queue positions, generation started, billing ticks.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Some(event) = session.next_event(Duration::from_millis(500))? {
            println!("event: {event:?}");
        }
    }
    session.close()?;
    println!("closed");
    Ok(())
}
