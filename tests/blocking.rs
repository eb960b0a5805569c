//! The shared test bodies of `tests/common`, run against the blocking client.
#![cfg(feature = "blocking")]

use maybe_async::must_be_sync as maybe_async;

pub use decart::blocking::Client;

#[macro_use]
mod common;
#[path = "common/media.rs"]
mod media;
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
