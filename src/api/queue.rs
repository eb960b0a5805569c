//! `client.queue()`: video jobs, written once for both flavours.

use std::path::Path;
use std::time::Instant;

use super::client::Client;
use super::maybe_async;
use super::transport::{self, Sink};
use crate::error::{Error, Operation};
use crate::http::{self, Call, Method, Multipart, Payload};
use crate::models::{CompletedJob, Input, JobState, JobStatus, Model, ModelKind, WaitOptions};
use crate::retry::Replay;

/// The failure reason when the server gives none.
const NO_REASON: &str = "the server reported the job as failed without a reason";

/// Video jobs (`/v1/jobs`). Get one from [`Client::queue`].
#[derive(Debug, Clone, Copy)]
pub struct Queue<'a> {
    client: &'a Client,
}

impl<'a> Queue<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        Queue { client }
    }

    /// Submits a video job (`POST /v1/jobs/{model}`), with the input streamed.
    ///
    /// A submission is never sent twice once it may have reached the server: it is retried only
    /// after a connect failure or a 429, so a job (and its cost) is never duplicated.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an input that breaks the model's rules or a model that is
    /// not a video model (nothing is sent); [`Error::Io`] for an unreadable input file; an
    /// `INPUT_FETCH_ERROR` for an input URL that cannot be fetched; [`Error::Api`] with code
    /// `QUEUE_SUBMIT_ERROR`; [`Error::Decode`] for an answer without `job_id` or `status`.
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"use decart::{VideoEditInput, models};
let model = models::video("lucy-2.1")?;
let input = VideoEditInput::new("make it snow", std::path::Path::new("in.mp4"));
let job = client.queue().submit(&model, input)?;
println!("submitted {}", job.job_id);"#,
        r#"use decart::{VideoEditInput, models};
let model = models::video("lucy-2.1")?;
let input = VideoEditInput::new("make it snow", std::path::Path::new("in.mp4"));
let job = client.queue().submit(&model, input).await?;
println!("submitted {}", job.job_id);"#
    )]
    #[maybe_async]
    pub async fn submit(self, model: &Model, input: impl Into<Input>) -> Result<JobStatus, Error> {
        let operation = Operation::QueueSubmit;
        if model.kind() != ModelKind::Video {
            return Err(Error::invalid_input(
                "model",
                format!(
                    "{}: is a {} model, not a video model",
                    model.name(),
                    model.kind()
                ),
            ));
        }
        let fields = input.into().into_fields_for(model)?;
        let response = self
            .client
            .execute(Call::new(
                operation,
                Method::Post,
                model.url_path(),
                Payload::Multipart(Multipart::new(fields)),
                Replay::SubmitOnce,
            ))
            .await?;
        let body = response
            .read_limited(crate::config::MAX_JSON_BODY)
            .await
            .map_err(|source| Error::Transport { operation, source })?;
        JobStatus::from_json(operation, &body)
    }

    /// A job's status (`GET /v1/jobs/{id}`).
    ///
    /// # Errors
    ///
    /// [`Error::Api`] with code `QUEUE_STATUS_ERROR` (404 for an unknown job);
    /// [`Error::Decode`] for an answer without `job_id` or `status`.
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"let job = client.queue().status("job_123")?;
println!("{} is {}", job.job_id, job.state);"#,
        r#"let job = client.queue().status("job_123").await?;
println!("{} is {}", job.job_id, job.state);"#
    )]
    #[maybe_async]
    pub async fn status(self, job_id: &str) -> Result<JobStatus, Error> {
        self.status_by(job_id, None).await
    }

    /// [`status`](Self::status), answered (or failed) by `deadline` at the latest.
    #[maybe_async]
    async fn status_by(self, job_id: &str, deadline: Option<Instant>) -> Result<JobStatus, Error> {
        let operation = Operation::QueueStatus;
        let path = format!("/v1/jobs/{}", http::segment("job_id", job_id)?);
        let body = self
            .client
            .call_json(Call::get(operation, path).deadline(deadline))
            .await?;
        JobStatus::from_json(operation, &body)
    }

    #[maybe_async]
    async fn content(self, job_id: &str) -> Result<transport::Response, Error> {
        let path = format!("/v1/jobs/{}/content", http::segment("job_id", job_id)?);
        self.client
            .execute(Call::get(Operation::QueueResult, path).media_answer())
            .await
    }

    /// A completed job's result (`GET /v1/jobs/{id}/content`), in memory, with no size cap.
    /// For large videos prefer [`result_to_path`](Self::result_to_path).
    ///
    /// # Errors
    ///
    /// [`Error::Api`] with code `QUEUE_RESULT_ERROR`; [`Error::Transport`] when the download
    /// breaks off.
    #[maybe_async]
    pub async fn result(self, job_id: &str) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.result_to_writer(job_id, &mut out).await?;
        Ok(out)
    }

    /// Streams a completed job's result into a writer; returns the bytes written.
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result), plus [`Error::Io`] when the writer fails.
    #[maybe_async]
    pub async fn result_to_writer<W: Sink + ?Sized>(
        self,
        job_id: &str,
        writer: &mut W,
    ) -> Result<u64, Error> {
        let response = self.content(job_id).await?;
        response.copy_to(Operation::QueueResult, writer).await
    }

    /// Streams a completed job's result into a file, which appears only once the whole result
    /// has arrived (written under a temporary name, then renamed).
    ///
    /// # Errors
    ///
    /// As [`result`](Self::result), plus [`Error::Io`] when the file cannot be written.
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"let bytes = client.queue().result_to_path("job_123", "out.mp4")?;"#,
        r#"let bytes = client.queue().result_to_path("job_123", "out.mp4").await?;"#
    )]
    #[maybe_async]
    pub async fn result_to_path(self, job_id: &str, path: impl AsRef<Path>) -> Result<u64, Error> {
        let response = self.content(job_id).await?;
        response
            .copy_to_path(Operation::QueueResult, path.as_ref())
            .await
    }

    /// Polls a job until it completes, fails, the deadline passes or the wait is cancelled.
    ///
    /// # Errors
    ///
    /// [`Error::JobFailed`] with the server's reason; [`Error::JobTimeout`] past the deadline
    /// (the job goes on on the server); [`Error::Cancelled`]; any error of
    /// [`status`](Self::status) that survived the retry policy.
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"use std::time::Duration;
use decart::WaitOptions;
let options = WaitOptions::new().deadline(Some(Duration::from_secs(600)));
let done = client.queue().wait("job_123", options)?;
client.queue().result_to_path(&done.job_id, "out.mp4")?;"#,
        r#"use std::time::Duration;
use decart::WaitOptions;
let options = WaitOptions::new().deadline(Some(Duration::from_secs(600)));
let done = client.queue().wait("job_123", options).await?;
client.queue().result_to_path(&done.job_id, "out.mp4").await?;"#
    )]
    #[maybe_async]
    pub async fn wait(self, job_id: &str, options: WaitOptions) -> Result<CompletedJob, Error> {
        self.wait_from(job_id, options, Instant::now(), "pending".into())
            .await
    }

    /// Submits a job and waits for it ([`submit`](Self::submit), then [`wait`](Self::wait));
    /// the status callback also sees the submit answer.
    ///
    /// # Errors
    ///
    /// Those of [`submit`](Self::submit) and [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    #[doc = example!(
        r#"use decart::{VideoEditInput, WaitOptions, models};
let model = models::video("lucy-2.1")?;
let input = VideoEditInput::new("make it snow", std::path::Path::new("in.mp4"));
let options = WaitOptions::new().on_status(|s| eprintln!("{}: {}", s.job_id, s.state));
let done = client.queue().submit_and_wait(&model, input, options)?;"#,
        r#"use decart::{VideoEditInput, WaitOptions, models};
let model = models::video("lucy-2.1")?;
let input = VideoEditInput::new("make it snow", std::path::Path::new("in.mp4"));
let options = WaitOptions::new().on_status(|s| eprintln!("{}: {}", s.job_id, s.state));
let done = client.queue().submit_and_wait(&model, input, options).await?;"#
    )]
    #[maybe_async]
    pub async fn submit_and_wait(
        self,
        model: &Model,
        input: impl Into<Input>,
        mut options: WaitOptions,
    ) -> Result<CompletedJob, Error> {
        let started = Instant::now();
        let submitted = self.submit(model, input).await?;
        if let Some(callback) = options.on_status.as_mut() {
            callback(&submitted);
        }
        match submitted.state {
            JobState::Completed => Ok(CompletedJob {
                job_id: submitted.job_id,
                polls: 0,
                waited: started.elapsed(),
            }),
            JobState::Failed => Err(failed(submitted)),
            state => {
                self.wait_from(&submitted.job_id, options, started, state.to_string())
                    .await
            }
        }
    }

    #[maybe_async]
    async fn wait_from(
        self,
        job_id: &str,
        mut options: WaitOptions,
        started: Instant,
        mut last_status: String,
    ) -> Result<CompletedJob, Error> {
        let mut delay = options.first_poll;
        let mut polls = 0u32;
        // An absurd deadline (Duration::MAX) means none, rather than an overflow.
        let end = options.deadline.and_then(|d| started.checked_add(d));
        let past_end = || end.is_some_and(|end| Instant::now() >= end);
        let timeout = |last_status: String| Error::JobTimeout {
            job_id: job_id.to_owned(),
            waited: started.elapsed(),
            last_status,
        };
        loop {
            let nap = match end {
                Some(end) => {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(timeout(last_status));
                    }
                    delay.min(left)
                }
                None => delay,
            };
            if transport::sleep_or_cancel(nap, options.cancel.as_ref()).await {
                return Err(Error::Cancelled {
                    job_id: job_id.to_owned(),
                });
            }
            if past_end() {
                return Err(timeout(last_status));
            }
            // The poll itself must end by the deadline too (a hanging server, retries).
            let status = match self.status_by(job_id, end).await {
                Ok(status) => status,
                Err(_) if past_end() => return Err(timeout(last_status)),
                Err(e) => return Err(e),
            };
            polls += 1;
            if let Some(callback) = options.on_status.as_mut() {
                callback(&status);
            }
            if let JobState::Unknown(s) = &status.state {
                log::warn!("job {job_id}: unknown status {s:?}; waiting on until the deadline");
            }
            last_status = status.state.to_string();
            match status.state {
                JobState::Completed => {
                    return Ok(CompletedJob {
                        job_id: job_id.to_owned(),
                        polls,
                        waited: started.elapsed(),
                    });
                }
                JobState::Failed => return Err(failed(status)),
                _ => delay = options.interval,
            }
            if options.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
                return Err(Error::Cancelled {
                    job_id: job_id.to_owned(),
                });
            }
        }
    }
}

fn failed(status: JobStatus) -> Error {
    Error::JobFailed {
        job_id: status.job_id,
        reason: status.reason.unwrap_or_else(|| NO_REASON.to_owned()),
    }
}
