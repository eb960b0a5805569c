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

// The files of src/api are compiled once per flavour, on purpose.
#[allow(clippy::duplicate_mod)]
#[path = "api/client.rs"]
mod client;
#[allow(clippy::duplicate_mod)]
#[path = "api/tokens.rs"]
mod tokens;

pub use client::{Client, ClientBuilder};
pub use tokens::Tokens;
pub use transport::HttpClient;
