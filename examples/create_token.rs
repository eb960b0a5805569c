//! Creates a client token with the blocking client.
//!
//! Configured only from the environment: `DECART_API_KEY` (required) and `DECART_BASE_URL`
//! (optional, e.g. a local emulator).
//!
//! ```sh
//! DECART_API_KEY=... cargo run --example create_token
//! ```

use decart::{Client, CreateTokenOptions};

fn main() {
    if let Err(err) = run() {
        eprintln!("error [{}]: {}", err.code(), err.report());
        std::process::exit(1);
    }
}

fn run() -> Result<(), decart::Error> {
    let client = Client::from_env()?;
    let options = CreateTokenOptions::new()
        .expires_in(600)
        .allowed_models(["lucy-2.1"])
        .allowed_origins(["https://example.com"]);
    let token = client.tokens().create(&options)?;
    println!(
        "client key: {}… ({} bytes)",
        token.api_key.prefix(),
        token.api_key.len()
    );
    println!(
        "signed JWT issued: {}",
        if token.token.is_some() { "yes" } else { "no" }
    );
    println!("expires at: {}", token.expires_at);
    match &token.permissions {
        Some(p) => println!(
            "permissions: models {:?}, origins {:?}",
            p.models, p.origins
        ),
        None => println!("permissions: unrestricted"),
    }
    Ok(())
}
