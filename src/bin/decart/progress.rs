//! The progress line on stderr while an image edit, a video job or an upload runs: status,
//! elapsed time, and upload progress for streamed inputs (large files, stdin). Shown only when
//! stderr is a terminal, `--json` and `-q` are off. Always one line: it is cut to the
//! terminal's width (read at each redraw, so a resize is followed), or a narrow terminal would
//! wrap it and every redraw would add a row.
//!
//! Hand-written rather than `indicatif`: with its default features off, indicatif still brings
//! `console`, `portable-atomic` and `unit-prefix`; this line needs a thread, a condvar and
//! `terminal_size`, which clap's `wrap_help` already brings.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::args::Global;
use crate::output;

/// How often the line is redrawn, at most (a status change shows at the next tick).
const TICK: Duration = Duration::from_millis(100);
const SPINNER: [char; 4] = ['|', '/', '-', '\\'];

/// Whether a progress line may be drawn: stderr is a terminal, and neither `--json` nor `-q`.
pub fn wanted(global: &Global) -> bool {
    !global.json && !global.quiet && std::io::stderr().is_terminal()
}

/// Bytes read so far (out of a total, when known), shared with the reader that counts them.
#[derive(Debug, Clone)]
pub struct Upload {
    sent: Arc<AtomicU64>,
    ended: Arc<AtomicBool>,
    total: Option<u64>,
}

impl Upload {
    /// Wraps `reader` (of `total` bytes, if known) so that its reads are counted.
    pub fn counting<R: Read>(reader: R, total: Option<u64>) -> (Upload, CountingReader<R>) {
        let upload = Upload {
            sent: Arc::new(AtomicU64::new(0)),
            ended: Arc::new(AtomicBool::new(false)),
            total,
        };
        let reader = CountingReader {
            inner: reader,
            upload: upload.clone(),
        };
        (upload, reader)
    }

    /// `uploading 42% (…)`, `uploading 3.0 MiB` (no total), or `uploaded 8.0 MiB, {next}`.
    fn describe(&self, next: &str) -> String {
        let sent = self.sent.load(Ordering::Relaxed);
        let ended = self.ended.load(Ordering::Relaxed);
        match self.total {
            _ if ended => format!("uploaded {}, {next}", output::size(sent)),
            Some(total) if sent >= total => format!("uploaded {}, {next}", output::size(total)),
            Some(total) => {
                let pct = (sent * 100).checked_div(total).unwrap_or(100);
                format!(
                    "uploading {pct}% ({} of {})",
                    output::size(sent),
                    output::size(total)
                )
            }
            None => format!("uploading {}", output::size(sent)),
        }
    }
}

/// A reader that counts the bytes read through it, and notes its end.
pub struct CountingReader<R> {
    inner: R,
    upload: Upload,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.upload.ended.store(true, Ordering::Relaxed);
        }
        self.upload.sent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[derive(Debug)]
struct State {
    label: String,
    /// What is shown before any status, and after the upload: `submitting`, `editing`, …
    next: String,
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
    /// Starts drawing `label: status · elapsed` (when `enabled`), counting time from `started`;
    /// `next` is what is being done before any status arrives (after the upload, if any).
    pub fn start(
        enabled: bool,
        label: &str,
        next: &str,
        started: Instant,
        upload: Option<Upload>,
    ) -> Self {
        if !enabled {
            return Progress {
                updater: Updater { shared: None },
                thread: None,
            };
        }
        let shared = Arc::new((
            Mutex::new(State {
                label: label.to_owned(),
                next: next.to_owned(),
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
    let mut drawn: Option<Instant> = None;
    loop {
        if state.done {
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
            return;
        }
        // At most one redraw per tick, however often the status changes.
        let wait = match drawn {
            Some(at) => TICK.saturating_sub(at.elapsed()),
            None => Duration::ZERO,
        };
        if wait.is_zero() {
            let line = render(&state, started.elapsed(), SPINNER[tick % SPINNER.len()]);
            let _ = write!(stderr, "\r\x1b[2K{}", fit(&line, terminal_width()));
            let _ = stderr.flush();
            drawn = Some(Instant::now());
            tick += 1;
        }
        state = shared
            .1
            .wait_timeout(state, if wait.is_zero() { TICK } else { wait })
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// The width of the terminal on stderr, in columns (80 when it cannot be had).
fn terminal_width() -> usize {
    terminal_size::terminal_size_of(std::io::stderr()).map_or(80, |(w, _)| usize::from(w.0))
}

/// `line` cut to fit in `width` columns, the last one left empty (a character written there
/// makes some terminals wrap): `…` marks a cut.
fn fit(line: &str, width: usize) -> String {
    let room = width.saturating_sub(1).max(1);
    if line.chars().count() <= room {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(room - 1).collect();
    cut.push('…');
    cut
}

fn render(state: &State, elapsed: Duration, spin: char) -> String {
    let what = match (&state.status, &state.upload) {
        (Some(status), _) => status.clone(),
        (None, Some(up)) => up.describe(&state.next),
        (None, None) => state.next.clone(),
    };
    let line = format!(
        "{spin} {}: {what} · {:.1} s",
        state.label,
        elapsed.as_secs_f64()
    );
    // A label or status from the server must not move the cursor.
    line.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let (up, mut reader) = Upload::counting(&[0u8; 2048][..], Some(2048));
        let mut state = State {
            label: "lucy-2.1".into(),
            next: "submitting".into(),
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
        assert!(render(&state, d, '|').contains("uploaded 2.0 KiB, submitting"));
        state.label = "job_1".into();
        state.status = Some("processing\x1b[2J".into());
        assert_eq!(render(&state, d, '/'), "/ job_1: processing [2J · 1.5 s");
    }

    #[test]
    fn unknown_totals() {
        let (up, mut reader) = Upload::counting(&[0u8; 1536][..], None);
        let mut buf = Vec::new();
        assert_eq!(up.describe("editing"), "uploading 0 bytes");
        reader.read_to_end(&mut buf).unwrap();
        assert_eq!(up.describe("editing"), "uploaded 1.5 KiB, editing");
    }

    #[test]
    fn one_line_at_any_width() {
        let line = "| lucy-2.1: uploading 42% (1.0 MiB of 2.4 MiB) · 12.3 s";
        assert_eq!(fit(line, 200), line);
        assert_eq!(fit(line, line.chars().count() + 1), line);
        for width in [0, 1, 2, 10, 20, 40] {
            let fitted = fit(line, width);
            assert!(fitted.chars().count() < width.max(2), "{width}: {fitted}");
        }
        assert_eq!(fit(line, 12), "| lucy-2.1…");
    }
}
