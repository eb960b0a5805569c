//! The progress line on stderr while a video job uploads and runs: status, elapsed time, and
//! upload progress for large inputs. Shown only when stderr is a terminal and `--json` is off.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::output;

/// How often the line is redrawn.
const TICK: Duration = Duration::from_millis(100);
const SPINNER: [char; 4] = ['|', '/', '-', '\\'];

/// Whether a progress line may be drawn: stderr is a terminal and the output is not JSON.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// Bytes read so far out of a total, shared with the reader that counts them.
#[derive(Debug, Clone)]
pub struct Upload {
    sent: Arc<AtomicU64>,
    total: u64,
}

impl Upload {
    /// Wraps `reader` (of `total` bytes) so that its reads are counted.
    pub fn counting<R: Read>(reader: R, total: u64) -> (Upload, CountingReader<R>) {
        let sent = Arc::new(AtomicU64::new(0));
        let upload = Upload {
            sent: Arc::clone(&sent),
            total,
        };
        (
            upload,
            CountingReader {
                inner: reader,
                sent,
            },
        )
    }
}

/// A reader that counts the bytes read through it.
pub struct CountingReader<R> {
    inner: R,
    sent: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[derive(Debug)]
struct State {
    label: String,
    status: Option<String>,
    upload: Option<Upload>,
    done: bool,
}

/// Updates the line from a status callback; cheap to clone, `Send`.
#[derive(Debug, Clone)]
pub struct Updater {
    shared: Option<Arc<(Mutex<State>, Condvar)>>,
}

impl Updater {
    /// Sets the label (the job id, once known) and the status shown.
    pub fn status(&self, label: &str, status: &str) {
        if let Some(shared) = &self.shared {
            let mut s = shared.0.lock().unwrap_or_else(|e| e.into_inner());
            s.label = label.to_owned();
            s.status = Some(status.to_owned());
            shared.1.notify_all();
        }
    }
}

/// The progress line; a no-op when not [`wanted`]. Dropping it clears the line.
pub struct Progress {
    updater: Updater,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing `label: status · elapsed` (when `enabled`), counting time from `started`.
    pub fn start(enabled: bool, label: &str, started: Instant, upload: Option<Upload>) -> Self {
        if !enabled {
            return Progress {
                updater: Updater { shared: None },
                thread: None,
            };
        }
        let shared = Arc::new((
            Mutex::new(State {
                label: label.to_owned(),
                status: None,
                upload,
                done: false,
            }),
            Condvar::new(),
        ));
        let drawn = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("decart-progress".into())
            .spawn(move || draw_until_done(&drawn, started))
            .ok();
        Progress {
            updater: Updater {
                shared: Some(shared),
            },
            thread,
        }
    }

    /// A handle for the status callback.
    pub fn updater(&self) -> Updater {
        self.updater.clone()
    }

    /// Stops drawing and clears the line.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(shared) = &self.updater.shared {
            shared.0.lock().unwrap_or_else(|e| e.into_inner()).done = true;
            shared.1.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

fn draw_until_done(shared: &(Mutex<State>, Condvar), started: Instant) {
    let mut stderr = std::io::stderr();
    let mut tick = 0usize;
    let mut state = shared.0.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if state.done {
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
            return;
        }
        let line = render(&state, started.elapsed(), SPINNER[tick % SPINNER.len()]);
        let _ = write!(stderr, "\r\x1b[2K{line}");
        let _ = stderr.flush();
        tick += 1;
        state = shared
            .1
            .wait_timeout(state, TICK)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

fn render(state: &State, elapsed: Duration, spin: char) -> String {
    let what = match (&state.status, &state.upload) {
        (Some(status), _) => status.clone(),
        (None, Some(up)) => {
            let sent = up.sent.load(Ordering::Relaxed).min(up.total);
            if sent < up.total {
                let pct = (sent * 100).checked_div(up.total).unwrap_or(100);
                format!(
                    "uploading {pct}% ({} of {})",
                    output::size(sent),
                    output::size(up.total)
                )
            } else {
                "uploaded, submitting".to_owned()
            }
        }
        (None, None) => "submitting".to_owned(),
    };
    format!(
        "{spin} {}: {what} · {:.1} s",
        state.label,
        elapsed.as_secs_f64()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let (up, mut reader) = Upload::counting(&[0u8; 2048][..], 2048);
        let mut state = State {
            label: "lucy-2.1".into(),
            status: None,
            upload: Some(up),
            done: false,
        };
        let d = Duration::from_millis(1500);
        assert_eq!(
            render(&state, d, '|'),
            "| lucy-2.1: uploading 0% (0 bytes of 2.0 KiB) · 1.5 s"
        );
        let mut buf = [0u8; 1024];
        reader.read_exact(&mut buf).unwrap();
        assert!(render(&state, d, '|').contains("uploading 50%"));
        reader.read_exact(&mut buf).unwrap();
        assert!(render(&state, d, '|').contains("uploaded, submitting"));
        state.label = "job_1".into();
        state.status = Some("processing".into());
        assert_eq!(render(&state, d, '/'), "/ job_1: processing · 1.5 s");
    }
}
