//! Edits an image with lucy-image-2 and writes the result to a file, streamed.
//!
//! `DECART_API_KEY=... cargo run --example process_image_async -- in.png "make it blue" out.png`
//! (optional `DECART_BASE_URL`, e.g. a local emulator).

use decart::nonblocking::Client;
use decart::{ImageEditInput, models};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error [{}]: {}", err.code(), err.report());
        std::process::exit(1);
    }
}

async fn run() -> Result<(), decart::Error> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "input.png".into());
    let prompt = args
        .next()
        .unwrap_or_else(|| "make it look like a watercolor".into());
    let output = args.next().unwrap_or_else(|| "output.png".into());
    let client = Client::from_env()?;
    let model = models::image("lucy-image-2")?;
    let written = client
        .process()
        .image_to_path(
            &model,
            ImageEditInput::new(prompt, std::path::Path::new(&input)),
            &output,
        )
        .await?;
    println!("wrote {written} bytes to {output}");
    Ok(())
}
