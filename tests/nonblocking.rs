//! The shared test bodies of `tests/common`, run against the async client.
#![cfg(feature = "async")]

use maybe_async::must_be_async as maybe_async;

pub use decart::nonblocking::Client;

#[macro_use]
mod common;
#[path = "common/media.rs"]
mod media;
#[path = "common/tokens.rs"]
mod tokens;

pub async fn server() -> mockito::ServerGuard {
    mockito::Server::new_async().await
}

pub async fn create(mock: mockito::Mock) -> mockito::Mock {
    mock.create_async().await
}

pub async fn assert_mock(mock: &mockito::Mock) {
    mock.assert_async().await;
}

macro_rules! async_tests {
    ($module:ident: $($name:ident),* $(,)?) => {
        $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
           async fn $name() { $module::$name().await } )*
    };
}

macro_rules! sync_tests {
    ($module:ident: $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { $module::$name() } )*
    };
}

token_tests!(async_tests, sync_tests);
media_tests!(async_tests);
