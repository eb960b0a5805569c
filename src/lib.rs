//! # decart: the Rust SDK for the Decart API
//!
//! Create short-lived client tokens (an opaque `ek_…` key plus a signed EdDSA JWT), and verify
//! those JWTs offline. One source tree is compiled into two clients with the same API:
//!
//! - [`blocking::Client`] (feature `blocking`, on by default): no async runtime anywhere, built
//!   on `ureq`. Made for scripts, CLIs and `build.rs`. Also available as [`decart::Client`](Client).
//! - [`nonblocking::Client`] (feature `async`): the same calls as `async fn`s, built on `reqwest`
//!   and tokio.
//!
//! Both flavours can be enabled at once; every feature is additive.
//!
//! ## Quick start (blocking)
//!
//! ```no_run
//! # #[cfg(feature = "blocking")]
//! # fn main() -> Result<(), decart::Error> {
//! use decart::CreateTokenOptions;
//!
//! let client = decart::Client::from_env()?; // DECART_API_KEY, optional DECART_BASE_URL
//! let token = client
//!     .tokens()
//!     .create(&CreateTokenOptions::new().expires_in(600).allowed_models(["lucy-2.1"]))?;
//! println!("client key {} expires at {}", token.api_key, token.expires_at);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "blocking"))] fn main() {}
//! ```
//!
//! ## Quick start (async)
//!
//! ```no_run
//! # #[cfg(feature = "async")]
//! # async fn run() -> Result<(), decart::Error> {
//! use decart::CreateTokenOptions;
//!
//! let client = decart::nonblocking::Client::from_env()?;
//! let token = client.tokens().create(&CreateTokenOptions::new()).await?;
//! println!("JWT issued: {}", token.token.is_some());
//! # Ok(())
//! # }
//! ```
//!
//! ## Features
//!
//! | feature | default | what it brings |
//! |---|---|---|
//! | `blocking` | yes | [`blocking::Client`] over `ureq` 3; no tokio |
//! | `async` | no | [`nonblocking::Client`] over `reqwest` 0.13 and tokio |
//! | `rustls` | yes | TLS through rustls (ring) for whichever backend is on |
//! | `native-tls` | no | the platform's TLS library for whichever backend is on |
//! | `jwt` | yes | offline verification of client-token JWTs (works with no HTTP feature) |
//! | `emulator` | no | `decart::emulator`: a local stand-in of the API for tests (std threads, no tokio) |
//! | `cli` | no | the `decart` command (`blocking` + `jwt` + `emulator`, clap, clap_complete, ctrlc) |
//! | `realtime` | no | [`realtime`]: realtime sessions in each flavour, the control WebSocket and the media through LiveKit (str0m) |
//! | `openh264` | no | [`realtime::codec`]: H.264 encoder/decoder for realtime frames (OpenH264 from bundled source) |
//!
//! A minimal build for a build script:
//! `decart-sdk = { version = "0.1", default-features = false, features = ["blocking", "rustls"] }`.
//!
//! ## Errors
//!
//! Every fallible call returns [`Error`], the same type in both flavours. [`Error::code`] is a
//! stable machine-readable code (`TOKEN_CREATE_ERROR`, `INVALID_INPUT`, …), [`Error::status`]
//! the HTTP status when the server answered with an error, and [`Error::is_retryable`] whether a
//! later attempt may succeed. Secrets never appear in `Debug` or `Display` output.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

mod config;
mod error;
pub mod models;

#[cfg(any(feature = "blocking", feature = "async"))]
mod http;
#[cfg(any(feature = "blocking", feature = "async"))]
mod retry;

#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub mod jwt;

#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;

#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub mod nonblocking;

#[cfg(feature = "emulator")]
#[cfg_attr(docsrs, doc(cfg(feature = "emulator")))]
pub mod emulator;

#[cfg(feature = "realtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "realtime")))]
pub mod realtime;

// One public path per item: every type at the crate root; `decart::models` holds the
// registry's functions and the models' limits.
pub use config::{
    DEFAULT_BASE_URL, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, ENV_API_KEY, ENV_BASE_URL,
    MAX_JSON_BODY, MAX_TIMEOUT, RetryPolicy, Secret,
};
pub use error::{
    ApiError, BODY_SNIPPET_LIMIT, Error, Operation, Report, TransportError, TransportErrorKind,
};
pub use models::file::{FileInput, FileSource};
pub use models::files::{FileRef, FileTtl};
pub use models::inputs::{
    CustomInput, Field, FieldValue, ImageEditInput, Input, VideoEditInput, VideoRestyleInput,
};
pub use models::jobs::{CancelHandle, CompletedJob, JobState, JobStatus, WaitOptions};
pub use models::registry::{InputSchema, Model, ModelKind, ModelStatus, RealtimeSpeed};
pub use models::tokens::{ClientToken, CreateTokenOptions, Permissions};

/// The blocking client; the same type as [`blocking::Client`].
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub use blocking::{Client, ClientBuilder};

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// Every Rust block of the README compiles (and runs unless `no_run`) as a doctest. They use
// every flavour and the emulator, so they are checked when all of them are on.
#[cfg(all(
    doctest,
    feature = "blocking",
    feature = "async",
    feature = "jwt",
    feature = "emulator",
    feature = "realtime"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
