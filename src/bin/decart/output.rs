//! Printing: stdout and stderr without panics, JSON documents, aligned key/value reports,
//! sizes, durations and dates.
//!
//! Nothing here uses `print!`/`println!`/`eprintln!`: they panic when the stream is closed
//! (`decart models | head -1`). Writes to stdout report a closed pipe as
//! [`Failure::stdout_closed`], which ends the command quietly with exit 0; writes to stderr
//! ignore errors.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::fail::Failure;

/// Writes `text` on stdout and flushes it.
///
/// A reader that closed stdout gives [`Failure::stdout_closed`] (quiet, exit 0); another write
/// error (a full disk, …) is an `IO_ERROR`.
pub fn print(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| stdout_failure(&e))
}

/// Writes `text` and a newline on stdout (see [`print`]).
pub fn line(text: impl std::fmt::Display) -> Result<(), Failure> {
    print(&format!("{text}\n"))
}

/// Prints one compact JSON document and a newline on stdout (see [`print`]).
pub fn json(value: &Value) -> Result<(), Failure> {
    line(value)
}

/// `value` with the keys of its objects in snake_case (`maxSessionDuration` ->
/// `max_session_duration`), at every depth: the `--json` documents use snake_case only.
pub fn snake_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (snake_case(k), snake_keys(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(snake_keys).collect()),
        other => other.clone(),
    }
}

/// `camelCase` / `PascalCase` / `kebab-case` to `snake_case`; snake_case stays as it is.
pub fn snake_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 4);
    let mut prev_lower = false;
    for c in key.chars() {
        if c.is_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = false;
        } else if c == '-' {
            out.push('_');
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// The failure of a write to stdout.
pub fn stdout_failure(e: &io::Error) -> Failure {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Failure::stdout_closed()
    } else {
        Failure::new("IO_ERROR", format!("cannot write to stdout: {e}"))
    }
}

/// Writes `text` on stderr; a closed or failing stderr is ignored (there is nowhere left to
/// report it).
pub fn eprint(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Writes a result on stdout with `write` (`-o -`); returns the bytes written. A reader that
/// closed stdout gives [`Failure::stdout_closed`], not the SDK's error for the failed write.
pub fn to_stdout(
    write: impl FnOnce(&mut StdoutSink) -> Result<u64, decart::Error>,
) -> Result<u64, Failure> {
    let mut sink = StdoutSink::new();
    let written = write(&mut sink).map_err(|e| sink.failure(e))?;
    sink.flush().map_err(|e| stdout_failure(&e))?;
    Ok(written)
}

/// Stdout as the destination of a result (`-o -`). It remembers whether its reader closed it,
/// so that the SDK's error for the failed write can be told apart from a failed download.
#[derive(Debug)]
pub struct StdoutSink {
    out: io::Stdout,
    closed: bool,
}

impl StdoutSink {
    /// Stdout.
    pub fn new() -> Self {
        StdoutSink {
            out: io::stdout(),
            closed: false,
        }
    }

    /// The failure for an SDK error that happened while writing here.
    pub fn failure(&self, e: decart::Error) -> Failure {
        if self.closed {
            Failure::stdout_closed()
        } else {
            Failure::from(e)
        }
    }

    fn note<T>(&mut self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed = true;
            }
        }
        r
    }
}

impl io::Write for StdoutSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.out.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.out.flush();
        self.note(r)
    }
}

/// A readable report: `key  value` lines with the values aligned.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<(String, String)>,
}

impl Report {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a row.
    pub fn row(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.rows.push((key.to_owned(), value.into()));
        self
    }

    /// Adds a row when there is a value.
    pub fn opt(&mut self, key: &str, value: Option<impl Into<String>>) -> &mut Self {
        if let Some(v) = value {
            self.row(key, v);
        }
        self
    }

    /// The report as text, one row per line.
    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in &self.rows {
            let _ = writeln!(out, "{k:width$}  {v}");
        }
        out
    }

    /// Prints the report on stdout (see [`print`]).
    pub fn print(&self) -> Result<(), Failure> {
        print(&self.render())
    }
}

/// A byte count for people: `512 bytes`, `1.2 KiB`, `3.4 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration for people: `0.42 ms`, `4.2 ms`, `42 ms`, `1.23 s`, `2m 03s`.
pub fn duration(d: Duration) -> String {
    let ms = d.as_millis();
    let exact = d.as_secs_f64() * 1000.0;
    if ms < 1 {
        format!("{exact:.2} ms")
    } else if ms < 10 {
        format!("{exact:.1} ms")
    } else if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// Milliseconds, for JSON.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds to the hundredth, for JSON reports of short steps.
pub fn millis_f64(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

/// A point in time as RFC 3339 UTC, to the second: `2026-11-28T08:07:35Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let (secs, negative) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, false),
        Err(e) => (e.duration().as_secs() as i64, true),
    };
    let secs = if negative { -secs } else { secs };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// How far a point in time is from now: `in 9m 58s`, `12 s ago`.
pub fn relative(t: SystemTime) -> String {
    match t.duration_since(SystemTime::now()) {
        Ok(ahead) => format!("in {}", coarse(ahead)),
        Err(e) => format!("{} ago", coarse(e.duration())),
    }
}

/// A duration to the second: `45 s`, `9m 58s`, `2h 05m`.
fn coarse(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    }
}

/// A list for people: `a, b, c`, or the given word when empty.
pub fn list(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join(", ")
    }
}

/// The first characters of a secret and its length (`ek_3f2…, 36 bytes`): enough to tell
/// secrets apart, never enough to use one.
pub fn redacted(secret: &decart::Secret) -> String {
    format!("{}… ({} bytes)", secret.prefix(), secret.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_734_264_600);
        assert_eq!(rfc3339(t), "2024-12-15T12:10:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(rfc3339(before), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size(512), "512 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(duration(Duration::from_micros(420)), "0.42 ms");
        assert_eq!(duration(Duration::from_micros(4200)), "4.2 ms");
        assert_eq!(duration(Duration::from_millis(42)), "42 ms");
        assert_eq!(millis_f64(Duration::from_micros(1234)), 1.23);
        assert_eq!(duration(Duration::from_millis(1234)), "1.23 s");
        assert_eq!(duration(Duration::from_secs(123)), "2m 03s");
        assert_eq!(coarse(Duration::from_secs(7500)), "2h 05m");
    }

    #[test]
    fn snake_case_keys() {
        assert_eq!(snake_case("maxSessionDuration"), "max_session_duration");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("HTTPServer"), "httpserver");
        assert_eq!(snake_case("kebab-case"), "kebab_case");
        assert_eq!(snake_case("v2Model"), "v2_model");
        let v = serde_json::json!({"realtime": {"maxSessionDuration": 1, "list": [{"aB": 2}]}});
        assert_eq!(
            snake_keys(&v),
            serde_json::json!({"realtime": {"max_session_duration": 1, "list": [{"a_b": 2}]}})
        );
    }

    #[test]
    fn reports_align() {
        let mut r = Report::new();
        r.row("a", "1")
            .row("long key", "2")
            .opt("none", None::<String>);
        assert_eq!(r.render(), "a         1\nlong key  2\n");
    }
}
