//! The blocking client: plain functions over `ureq`, no async runtime anywhere.
//!
//! Made for scripts, CLIs and build scripts. The same calls exist as `async fn`s in
//! `decart::nonblocking` (feature `async`).
//!
//! ```no_run
//! use decart::blocking::Client;
//! use decart::CreateTokenOptions;
//!
//! # fn main() -> Result<(), decart::Error> {
//! let client = Client::builder()
//!     .api_key("your-api-key")
//!     .integration("my-app/1.2")
//!     .build()?;
//! let token = client.tokens().create(&CreateTokenOptions::new().expires_in(300))?;
//! println!("{} (JWT issued: {})", token.api_key, token.token.is_some());
//! # Ok(())
//! # }
//! ```

use maybe_async::must_be_sync as maybe_async;

use crate::http::blocking as transport;

/// This flavour's doc example of a call, from the two bodies written for both (the files of
/// `src/api` are compiled once per flavour, their doc comments too): the body runs with a
/// `client` from the environment.
macro_rules! example {
    ($blocking:literal, $async:literal $(,)?) => {
        concat!(
            "```no_run\n# fn main() -> Result<(), decart::Error> {\nlet client = decart::blocking::Client::from_env()?;\n",
            $blocking,
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
use crate::realtime::blocking as rt_io;

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
