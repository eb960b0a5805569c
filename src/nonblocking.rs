//! The async client: the same calls as `decart::blocking`, as `async fn`s over `reqwest` and
//! tokio.
//!
//! ```no_run
//! use decart::nonblocking::Client;
//! use decart::CreateTokenOptions;
//!
//! # async fn run() -> Result<(), decart::Error> {
//! let client = Client::from_env()?;
//! let token = client
//!     .tokens()
//!     .create(&CreateTokenOptions::new().allowed_origins(["https://example.com"]))
//!     .await?;
//! println!("expires at {}", token.expires_at);
//! # Ok(())
//! # }
//! ```

use maybe_async::must_be_async as maybe_async;

use crate::http::nonblocking as transport;

/// This flavour's doc example of a call, from the two bodies written for both (the files of
/// `src/api` are compiled once per flavour, their doc comments too): the body runs with a
/// `client` from the environment.
macro_rules! example {
    ($blocking:literal, $async:literal $(,)?) => {
        concat!(
            "```no_run\n# async fn run() -> Result<(), decart::Error> {\nlet client = decart::nonblocking::Client::from_env()?;\n",
            $async,
            "\n# Ok(())\n# }\n```"
        )
    };
}

// The files of src/api are compiled once per flavour, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "api/client.rs"]
mod client;
#[allow(clippy::duplicate_mod)]
#[path = "api/files.rs"]
mod files;
#[cfg(feature = "jwt")]
#[allow(clippy::duplicate_mod)]
#[path = "api/jwks.rs"]
mod jwks;
#[allow(clippy::duplicate_mod)]
#[path = "api/process.rs"]
mod process;
#[allow(clippy::duplicate_mod)]
#[path = "api/queue.rs"]
mod queue;
#[cfg(feature = "realtime")]
#[allow(clippy::duplicate_mod)]
#[path = "api/realtime.rs"]
mod realtime;
#[allow(clippy::duplicate_mod)]
#[path = "api/tokens.rs"]
mod tokens;
#[cfg(feature = "realtime")]
use crate::realtime::nonblocking as rt_io;

pub use client::{Client, ClientBuilder};
pub use files::Files;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwks::{DEFAULT_JWKS_TIMEOUT, JwksVerifier, JwksVerifierBuilder};
pub use process::Process;
pub use queue::Queue;
#[cfg(feature = "realtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "realtime")))]
pub use realtime::{Realtime, RealtimeSession, RealtimeViewer};
pub use tokens::Tokens;
pub use transport::{HttpClient, Sink};
