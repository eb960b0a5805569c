//! `client.process()`: image edits, written once for both flavours.

use std::path::Path;

use super::client::Client;
use super::maybe_async;
use super::transport::{self, Sink};
use crate::error::{Error, Operation};
use crate::http::{Call, Method, Multipart, Payload};
use crate::models::{Input, Model, ModelKind};
use crate::retry::Replay;

/// Image edits (`POST /v1/generate/{model}`). Get one from [`Client::process`].
///
/// An edit is sent once: it is retried only when it provably did not reach the server (connect
/// failure) or the server answered 429, and never when its input is a one-shot reader that was
/// already sent.
#[derive(Debug, Clone, Copy)]
pub struct Process<'a> {
    client: &'a Client,
}

impl<'a> Process<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Process { client }
    }

    #[maybe_async]
    async fn send(self, model: &Model, input: Input) -> Result<transport::Response, Error> {
        let operation = Operation::Process;
        if model.kind() != ModelKind::Image {
            return Err(Error::invalid_input(
                "model",
                format!(
                    "{}: is a {} model, not an image model",
                    model.name(),
                    model.kind()
                ),
            ));
        }
        let fields = input.into_fields_for(model)?;
        self.client
            .execute(
                Call::new(
                    operation,
                    Method::Post,
                    model.url_path(),
                    Payload::Multipart(Multipart::new(fields)),
                    Replay::SubmitOnce,
                )
                .media_answer(),
            )
            .await
    }

    /// Edits an image and returns the result's bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an input that breaks the model's rules (nothing is sent);
    /// [`Error::Io`] for an input file that cannot be read; an `INPUT_FETCH_ERROR` for an input
    /// URL that cannot be fetched; [`Error::Api`] with code `PROCESSING_ERROR` and the status
    /// for a server error; [`Error::Transport`] when no answer arrived.
    #[maybe_async]
    pub async fn image(self, model: &Model, input: impl Into<Input>) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.image_to_writer(model, input, &mut out).await?;
        Ok(out)
    }

    /// Edits an image and streams the result into a writer; returns the bytes written.
    ///
    /// # Errors
    ///
    /// As [`image`](Self::image), plus [`Error::Io`] when the writer fails.
    #[maybe_async]
    pub async fn image_to_writer<W: Sink + ?Sized>(
        self,
        model: &Model,
        input: impl Into<Input>,
        writer: &mut W,
    ) -> Result<u64, Error> {
        let response = self.send(model, input.into()).await?;
        response.copy_to(Operation::Process, writer).await
    }

    /// Edits an image and streams the result into a file. The file appears only when the whole
    /// result has arrived (it is written under a temporary name and renamed).
    ///
    /// # Errors
    ///
    /// As [`image`](Self::image), plus [`Error::Io`] when the file cannot be written.
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"use decart::{ImageEditInput, models};
let model = models::image("lucy-image-2")?;
let input = ImageEditInput::new("make it a watercolor", std::path::Path::new("in.png"));
let bytes = client.process().image_to_path(&model, input, "out.png")?;"#,
        r#"use decart::{ImageEditInput, models};
let model = models::image("lucy-image-2")?;
let input = ImageEditInput::new("make it a watercolor", std::path::Path::new("in.png"));
let bytes = client.process().image_to_path(&model, input, "out.png").await?;"#
    )]
    #[maybe_async]
    pub async fn image_to_path(
        self,
        model: &Model,
        input: impl Into<Input>,
        path: impl AsRef<Path>,
    ) -> Result<u64, Error> {
        let response = self.send(model, input.into()).await?;
        response
            .copy_to_path(Operation::Process, path.as_ref())
            .await
    }
}
