//! Uploads a file (streamed from disk) with a one-hour time-to-live, reads it back, deletes it.
//!
//! `DECART_API_KEY=... cargo run --example upload_file_async -- photo.png`
//! (optional `DECART_BASE_URL`, e.g. a local emulator).

use decart::FileTtl;
use decart::nonblocking::Client;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error [{}]: {}", err.code(), err.report());
        std::process::exit(1);
    }
}

async fn run() -> Result<(), decart::Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "photo.png".into());
    let client = Client::from_env()?;
    let file = client
        .files()
        .upload(std::path::Path::new(&path), Some(FileTtl::Seconds(3600)))
        .await?;
    println!(
        "uploaded {} ({} bytes, {}), expires {}",
        file.id,
        file.size_bytes,
        file.mime_type,
        file.expires_at.as_deref().unwrap_or("never")
    );
    let again = client.files().get(&file.id).await?;
    println!("fetched reference: {}", again.id);
    client.files().delete(&file.id).await?;
    println!("deleted {}", file.id);
    Ok(())
}
