//! The model registry and the models' limits, shared by both flavours.
//!
//! - the registry's look-ups: [`video`], [`image`], [`realtime()`], [`list`], [`list_all`],
//!   [`resolve_alias`] (they return a [`crate::Model`]);
//! - realtime subscribe tokens ([`encode_subscribe_token`], [`decode_subscribe_token`]);
//! - the limits the SDK checks before sending ([`MAX_PROMPT_CHARS`], [`MAX_EXPIRES_IN`], …).
//!
//! The request and response types themselves ([`crate::FileInput`],
//! [`crate::ImageEditInput`], [`crate::JobStatus`], …) live at the
//! crate root: each item has one public path.
//!
//! # The registry
//!
//! The model registry: every model the API serves, by kind and name.
//!
//! A model is looked up by its kind and its name, because one name can exist in several kinds
//! (`lucy-2.1` is a realtime model and a video model, with different frame rates and paths):
//!
//! ```
//! use decart::models;
//! use decart::{InputSchema, ModelKind};
//!
//! let video = models::video("lucy-2.1")?;
//! assert_eq!(video.url_path(), "/v1/jobs/lucy-2.1");
//! assert_eq!(video.fps(), 20);
//! assert_eq!(video.input_schema(), Some(InputSchema::VideoEdit));
//!
//! let live = models::realtime("lucy-2.1")?;
//! assert_eq!(live.url_path(), "/v1/stream");
//! assert_eq!(live.fps(), 30);
//!
//! assert!(models::image("lucy-2.1").is_err()); // not an image model
//! # Ok::<(), decart::Error>(())
//! ```
//!
//! # Aliases
//!
//! - **Deprecated aliases** (`lucy-restyle-v2v` → `lucy-restyle-2`, `lucy-pro-i2i` →
//!   `lucy-image-2`) still work: they keep their own name and URL path (the server accepts
//!   them), and the first lookup of each in the process logs, through [`log::warn!`],
//!   `Model "X" is deprecated. Use "Y" instead.`
//! - **`-latest` names** (`lucy-latest`, `lucy-vton-latest`, `lucy-restyle-latest`,
//!   `lucy-image-latest`) are resolved by the server to its newest model of that line. They
//!   never warn, and the SDK does not know (and so does not claim) which model they point to:
//!   [`resolve_alias`] returns them unchanged.
//!
//! [`list`] returns the canonical models of a kind only (neither deprecated nor `-latest`
//! aliases, like the JS SDK's list); [`list_all`] returns every name the registry accepts.
//!
//! # Custom models
//!
//! [`Model::custom`](crate::Model::custom) describes a model that is not (yet) in the registry: any name, any URL
//! path, no input schema. Its inputs are sent as given, without client-side validation.

// Without an HTTP flavour the wire (de)serialisers here are unused.
#![cfg_attr(not(any(feature = "blocking", feature = "async")), allow(dead_code))]

pub(crate) mod file;
pub(crate) mod files;
pub(crate) mod inputs;
pub(crate) mod jobs;
pub(crate) mod realtime;
pub(crate) mod registry;
pub(crate) mod tokens;

pub use file::DEFAULT_CONTENT_TYPE;
pub use files::{MAX_TTL_SECONDS, MIN_TTL_SECONDS};
pub use inputs::MAX_PROMPT_CHARS;
pub use jobs::DEFAULT_WAIT_DEADLINE;
pub use realtime::{decode_subscribe_token, encode_subscribe_token};
pub use registry::{image, list, list_all, realtime, resolve_alias, video};
pub use tokens::{MAX_ALLOWED_MODELS, MAX_ALLOWED_ORIGINS, MAX_EXPIRES_IN};

// The types, for the crate's own code (their public path is the crate root); which of them a
// build uses depends on its features.
#[allow(unused_imports)]
pub(crate) use file::{FileInput, FileSource};
#[allow(unused_imports)]
pub(crate) use files::{FileRef, FileTtl};
#[allow(unused_imports)]
pub(crate) use inputs::{CustomInput, Field, FieldValue, Input};
#[allow(unused_imports)]
pub(crate) use jobs::{CancelHandle, CompletedJob, JobState, JobStatus, WaitOptions};
#[allow(unused_imports)]
pub(crate) use registry::{Model, ModelKind};
