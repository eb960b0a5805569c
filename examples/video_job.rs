//! Runs a video job with lucy-2.1, printing every status change, then downloads the result.
//!
//! `DECART_API_KEY=... cargo run --example video_job -- in.mp4 "make it snowy" out.mp4`
//! (optional `DECART_BASE_URL`, e.g. a local emulator).

use std::time::Duration;

use decart::Client;
use decart::{VideoEditInput, WaitOptions, models};

fn main() {
    if let Err(err) = run() {
        eprintln!("error [{}]: {}", err.code(), err.report());
        std::process::exit(1);
    }
}

fn run() -> Result<(), decart::Error> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "input.mp4".into());
    let prompt = args.next().unwrap_or_else(|| "make it snowy".into());
    let output = args.next().unwrap_or_else(|| "output.mp4".into());
    let client = Client::from_env()?;
    let model = models::video("lucy-2.1")?;
    let options = WaitOptions::new()
        .deadline(Some(Duration::from_secs(15 * 60)))
        .on_status(|status| println!("job {}: {}", status.job_id, status.state));
    let input = VideoEditInput::new(prompt, std::path::Path::new(&input));
    let job = client.queue().submit_and_wait(&model, input, options)?;
    let written = client.queue().result_to_path(&job.job_id, &output)?;
    println!(
        "job {} done after {} polls; wrote {written} bytes to {output}",
        job.job_id, job.polls
    );
    Ok(())
}
