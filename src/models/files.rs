//! Uploaded files: the time-to-live option and the file reference. Shared by both flavours.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Operation};

/// The shortest time-to-live of an upload, in seconds.
pub const MIN_TTL_SECONDS: u32 = 60;
/// The longest time-to-live of an upload, in seconds (30 days).
pub const MAX_TTL_SECONDS: u32 = 2_592_000;

/// How long an uploaded file is kept (the server's default is 24 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTtl {
    /// This many seconds, 60 to 2 592 000.
    Seconds(u32),
    /// Until deleted.
    Persistent,
}

impl FileTtl {
    /// The `ttl_seconds` form value, after checking the range.
    pub(crate) fn to_field(self) -> Result<String, Error> {
        match self {
            FileTtl::Persistent => Ok("persistent".into()),
            FileTtl::Seconds(s) if (MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(&s) => {
                Ok(s.to_string())
            }
            FileTtl::Seconds(s) => Err(Error::invalid_input(
                "ttl_seconds",
                format!(
                    "must be between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS} seconds or persistent, got {s}"
                ),
            )),
        }
    }
}

/// An uploaded file, as `POST /v1/files` and `GET /v1/files/{id}` answer. A realtime session
/// can refer to an uploaded image by its [`id`](FileRef::id).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct FileRef {
    /// The id (`file_…`).
    pub id: String,
    /// The name it was uploaded with.
    #[serde(default)]
    pub filename: Option<String>,
    /// Its content type.
    pub mime_type: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// When it was uploaded (RFC 3339).
    pub created_at: String,
    /// When it expires (RFC 3339); `None` for a persistent file.
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl FileRef {
    pub(crate) fn from_json(operation: Operation, body: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(body).map_err(|e| {
            Error::decode(
                operation,
                format!("the body is not a file reference ({e})"),
                body,
            )
        })
    }
}
