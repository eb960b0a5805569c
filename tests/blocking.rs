//! The shared test bodies of `tests/common`, run against the blocking client.
#![cfg(feature = "blocking")]

use maybe_async::must_be_sync as maybe_async;

pub use decart::blocking::Client;
#[cfg(feature = "realtime")]
pub use decart::blocking::RealtimeSession;
#[cfg(feature = "jwt")]
pub use decart::blocking::{JwksVerifier, JwksVerifierBuilder};

#[macro_use]
mod common;
#[cfg(feature = "emulator")]
#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/hardening.rs"]
mod hardening;
#[cfg(feature = "jwt")]
#[path = "common/jwks.rs"]
mod jwks;
#[path = "common/media.rs"]
mod media;
#[cfg(all(feature = "realtime", feature = "emulator"))]
#[path = "common/realtime.rs"]
mod realtime;
#[path = "common/tokens.rs"]
mod tokens;

pub fn server() -> mockito::ServerGuard {
    mockito::Server::new()
}

pub fn create(mock: mockito::Mock) -> mockito::Mock {
    mock.create()
}

pub fn assert_mock(mock: &mockito::Mock) {
    mock.assert();
}

macro_rules! flavour_tests {
    ($module:ident: $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { $module::$name() } )*
    };
}

token_tests!(flavour_tests, flavour_tests);
media_tests!(flavour_tests);

/// Runs `n` verifications of `token` at once, on `n` threads.
#[cfg(feature = "jwt")]
pub fn concurrent_verify(verifier: &JwksVerifier, token: &str, n: usize) -> Vec<bool> {
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    verifier.verify(token).is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[cfg(feature = "jwt")]
jwks_tests!(flavour_tests, flavour_tests);

#[cfg(feature = "emulator")]
e2e_tests!(flavour_tests);

/// A caller's own agent with ureq's defaults: it follows redirects.
pub fn following_client() -> decart::blocking::HttpClient {
    ureq::Agent::new_with_defaults()
}

/// A caller's own agent with no timeouts of its own.
pub fn plain_client() -> decart::blocking::HttpClient {
    ureq::Agent::new_with_defaults()
}

hardening_tests!(flavour_tests, flavour_tests);
#[cfg(feature = "jwt")]
flavour_tests!(hardening: a_redirected_jwks_is_refused_whatever_the_client);

#[cfg(all(feature = "realtime", feature = "emulator"))]
realtime_tests!(flavour_tests);
