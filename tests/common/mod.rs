//! Test bodies written once and run by both harnesses (`tests/blocking.rs`,
//! `tests/nonblocking.rs`), which provide the flavour-specific pieces under the same names:
//! `Client`, `maybe_async`, `server()`, `create()`, `assert()`.

#![allow(dead_code)]

pub mod raw;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use decart::RetryPolicy;

/// The key every test client sends.
pub const KEY: &str = "test-api-key-0123456789";

/// Serialises the tests that change the process environment.
pub static ENV_LOCK: Mutex<()> = Mutex::new(());

/// A retry policy with millisecond delays, so retry tests stay fast.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::new()
        .base_delay(Duration::from_millis(1))
        .max_delay(Duration::from_millis(5))
        .max_retry_after(Duration::from_millis(50))
}

/// The exact User-Agent with no integration.
pub fn user_agent() -> String {
    format!("decart-rust-sdk/{} lang/rust", env!("CARGO_PKG_VERSION"))
}

/// Sets or removes environment variables for the length of `f` (under [`ENV_LOCK`]).
pub fn with_env<T>(vars: &[(&str, Option<&str>)], f: impl FnOnce() -> T) -> T {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let saved: Vec<_> = vars
        .iter()
        .map(|(k, _)| (k.to_string(), std::env::var(k).ok()))
        .collect();
    for (k, v) in vars {
        // SAFETY: every test that reads or writes these variables holds ENV_LOCK.
        unsafe {
            match v {
                Some(v) => std::env::set_var(k, v),
                None => std::env::remove_var(k),
            }
        }
    }
    let out = f();
    for (k, v) in saved {
        // SAFETY: as above.
        unsafe {
            match v {
                Some(v) => std::env::set_var(&k, v),
                None => std::env::remove_var(&k),
            }
        }
    }
    out
}

/// A success body of `POST /v1/client/tokens`.
pub const TOKEN_OK: &str = r#"{"apiKey":"ek_test123456789","token":"eyJhbGciOiJFZERTQSJ9.e30.sig","expiresAt":"2024-12-15T12:10:00Z","permissions":null,"constraints":null}"#;

/// A monotonic clock the test advances by hand.
#[derive(Clone)]
pub struct FakeClock {
    base: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl FakeClock {
    pub fn new() -> Self {
        FakeClock {
            base: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        }
    }
    pub fn advance(&self, d: Duration) {
        self.offset_ms
            .fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
    pub fn now(&self) -> Instant {
        self.base + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}
