//! The `log` records of the SDK (and of its HTTP stack) on stderr, by `-v`/`-q`.
//!
//! A dozen lines rather than a logger crate: the command needs one level chosen by its flags
//! and one line per record, nothing that `env_logger`'s filter syntax, colours or timestamps
//! would add. Secrets never reach the log: the SDK logs none, ureq redacts headers, and the
//! raw request bytes ureq's protocol crate dumps at trace level are dropped.

use std::sync::OnceLock;

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::output;

/// What is shown: records of the SDK (`decart::…` targets) up to `sdk`, others (its HTTP
/// stack) up to `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    sdk: LevelFilter,
    other: LevelFilter,
}

/// The levels of `-q` (nothing), no flag (warnings), `-v` (the SDK's debug records: retries,
/// skipped keys, …), `-vv` (also the HTTP stack's: connections, pool) and `-vvv` (trace).
pub fn levels(verbose: u8, quiet: bool) -> Levels {
    let (sdk, other) = match (quiet, verbose) {
        (true, _) => (LevelFilter::Off, LevelFilter::Off),
        (false, 0) => (LevelFilter::Warn, LevelFilter::Warn),
        (false, 1) => (LevelFilter::Debug, LevelFilter::Warn),
        (false, 2) => (LevelFilter::Debug, LevelFilter::Debug),
        (false, _) => (LevelFilter::Trace, LevelFilter::Trace),
    };
    Levels { sdk, other }
}

/// Installs the logger (once; a second call changes nothing).
pub fn install(levels: Levels) {
    static LOGGER: OnceLock<Stderr> = OnceLock::new();
    let logger = LOGGER.get_or_init(|| Stderr(levels));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(levels.sdk.max(levels.other));
    }
}

struct Stderr(Levels);

impl Log for Stderr {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        let target = metadata.target();
        // At trace level ureq's protocol crate dumps the raw request bytes, the API key among
        // them (its header log redacts the key; the byte dump cannot), and ureq logs whole
        // URLs, a signed input URL's query among them; tungstenite logs whole WebSocket frames,
        // a realtime room's LiveKit token among them. Never shown.
        if metadata.level() == Level::Trace
            && (target.starts_with("ureq") || target.starts_with("tungstenite"))
        {
            return false;
        }
        let sdk = target == "decart" || target.starts_with("decart::");
        metadata.level() <= if sdk { self.0.sdk } else { self.0.other }
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            output::eprint(&format_record(record));
        }
    }

    fn flush(&self) {}
}

/// `warning: …` for warnings (what a user is meant to read), `[debug decart::api::client] …`
/// for the rest; always one line.
fn format_record(record: &Record<'_>) -> String {
    let message: String = record
        .args()
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match record.level() {
        Level::Warn => format!("warning: {message}\n"),
        level => format!(
            "[{} {}] {message}\n",
            level.as_str().to_ascii_lowercase(),
            record.target()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_lines() {
        let at = |v, q| {
            let l = levels(v, q);
            (l.sdk, l.other)
        };
        assert_eq!(at(3, true), (LevelFilter::Off, LevelFilter::Off));
        assert_eq!(at(0, false), (LevelFilter::Warn, LevelFilter::Warn));
        assert_eq!(at(1, false), (LevelFilter::Debug, LevelFilter::Warn));
        assert_eq!(at(2, false), (LevelFilter::Debug, LevelFilter::Debug));
        assert_eq!(at(9, false), (LevelFilter::Trace, LevelFilter::Trace));
        let logger = Stderr(levels(1, false));
        let meta = |target| {
            Metadata::builder()
                .level(Level::Debug)
                .target(target)
                .build()
        };
        assert!(logger.enabled(&meta("decart::api::client")));
        assert!(!logger.enabled(&meta("ureq::pool")));
        assert!(!logger.enabled(&meta("tungstenite::protocol")));
        assert!(!logger.enabled(&meta("decartx")));
        let args = format_args!("a\nb");
        let record = Record::builder()
            .args(args)
            .level(Level::Debug)
            .target("decart::x")
            .build();
        assert_eq!(format_record(&record), "[debug decart::x] a b\n");
        let args = format_args!("careful");
        let record = Record::builder().args(args).level(Level::Warn).build();
        assert_eq!(format_record(&record), "warning: careful\n");
    }
}
