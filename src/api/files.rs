//! `client.files()`: uploads, written once for both flavours.

use super::client::Client;
use super::maybe_async;
use crate::error::{Error, Operation};
use crate::http::{self, Call, Method, Multipart, Payload};
use crate::models::{CustomInput, FileInput, FileRef, FileTtl};
use crate::retry::Replay;

/// Uploaded files (`/v1/files`). Get one from [`Client::files`].
#[derive(Debug, Clone, Copy)]
pub struct Files<'a> {
    client: &'a Client,
}

impl<'a> Files<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Files { client }
    }

    /// Uploads a file, streamed from its source (a path is never read into memory). Without a
    /// `ttl` the server keeps it 24 hours.
    ///
    /// Retried per the client's policy when the source can be read again (a path, bytes, a URL);
    /// a one-shot reader is sent once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a TTL outside 60–2 592 000 seconds (nothing is sent);
    /// [`Error::Io`] for a file that cannot be read; [`Error::Api`] with code
    /// `FILES_UPLOAD_ERROR`; [`Error::Decode`] for an answer that is not a file reference.
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"use decart::FileTtl;
let file = client.files().upload(std::path::Path::new("photo.png"), Some(FileTtl::Seconds(3600)))?;
println!("{} ({} bytes)", file.id, file.size_bytes);"#,
        r#"use decart::FileTtl;
let file = client.files().upload(std::path::Path::new("photo.png"), Some(FileTtl::Seconds(3600))).await?;
println!("{} ({} bytes)", file.id, file.size_bytes);"#
    )]
    #[maybe_async]
    pub async fn upload(
        self,
        file: impl Into<FileInput>,
        ttl: Option<FileTtl>,
    ) -> Result<FileRef, Error> {
        let operation = Operation::FilesUpload;
        let mut input = CustomInput::new().file("file", file.into());
        if let Some(ttl) = ttl {
            input = input.text("ttl_seconds", ttl.to_field()?);
        }
        let body = self
            .client
            .call_json(Call::new(
                operation,
                Method::Post,
                "/v1/files",
                Payload::Multipart(Multipart::new(input.into_fields())),
                Replay::Idempotent,
            ))
            .await?;
        FileRef::from_json(operation, &body)
    }

    /// The reference of an uploaded file.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] with code `FILES_GET_ERROR` (404 for an unknown id); [`Error::Decode`].
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"let file = client.files().get("file_123")?;"#,
        r#"let file = client.files().get("file_123").await?;"#
    )]
    #[maybe_async]
    pub async fn get(self, file_id: &str) -> Result<FileRef, Error> {
        let operation = Operation::FilesGet;
        let path = format!("/v1/files/{}", http::segment("file_id", file_id)?);
        let body = self.client.call_json(Call::get(operation, path)).await?;
        FileRef::from_json(operation, &body)
    }

    /// Deletes an uploaded file.
    ///
    /// # Errors
    ///
    /// [`Error::Api`] with code `FILES_DELETE_ERROR` (404 for an unknown id).
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"client.files().delete("file_123")?;"#,
        r#"client.files().delete("file_123").await?;"#
    )]
    #[maybe_async]
    pub async fn delete(self, file_id: &str) -> Result<(), Error> {
        let path = format!("/v1/files/{}", http::segment("file_id", file_id)?);
        self.client
            .call_json(Call::new(
                Operation::FilesDelete,
                Method::Delete,
                path,
                Payload::Empty,
                Replay::Idempotent,
            ))
            .await?;
        Ok(())
    }
}
