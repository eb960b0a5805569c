//! Video jobs: statuses, waiting options, and the cancel handle. Shared by both flavours.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Operation};

/// The state of a video job.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobState {
    /// Queued.
    Pending,
    /// Running.
    Processing,
    /// Done: the result can be downloaded.
    Completed,
    /// Ended without a result.
    Failed,
    /// A status this SDK does not know yet; waiting goes on until the deadline.
    Unknown(String),
}

impl JobState {
    fn parse(s: &str) -> Self {
        match s {
            "pending" => JobState::Pending,
            "processing" => JobState::Processing,
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            other => JobState::Unknown(other.to_owned()),
        }
    }

    /// The state as the server writes it.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Pending => "pending",
            JobState::Processing => "processing",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Unknown(s) => s,
        }
    }

    /// Whether the job has ended (completed or failed).
    pub fn is_terminal(&self) -> bool {
        matches!(self, JobState::Completed | JobState::Failed)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's status, as `POST /v1/jobs/{model}` and `GET /v1/jobs/{id}` answer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobStatus {
    /// The job's id.
    pub job_id: String,
    /// Its state.
    pub state: JobState,
    /// The server's reason for a failure (`error`, `reason`, `message` or `detail`), if any.
    pub reason: Option<String>,
    /// The whole answer, for fields this SDK does not name.
    pub raw: Value,
}

impl JobStatus {
    pub(crate) fn from_json(operation: Operation, body: &[u8]) -> Result<Self, Error> {
        let raw: Value = serde_json::from_slice(body)
            .map_err(|e| Error::decode(operation, format!("the body is not JSON ({e})"), body))?;
        let job_id = raw
            .get("job_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::decode(operation, "the answer has no job_id", body))?
            .to_owned();
        let state = raw
            .get("status")
            .and_then(Value::as_str)
            .map(JobState::parse)
            .ok_or_else(|| Error::decode(operation, "the answer has no status", body))?;
        let reason = ["error", "reason", "message", "detail"]
            .iter()
            .find_map(|k| match raw.get(*k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
                Some(Value::Object(o)) => {
                    o.get("message").and_then(Value::as_str).map(str::to_owned)
                }
                _ => None,
            });
        Ok(JobStatus {
            job_id,
            state,
            reason,
            raw,
        })
    }
}

/// A job that completed; download its result with `queue().result…(&job.job_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompletedJob {
    /// The job's id.
    pub job_id: String,
    /// How many status polls it took.
    pub polls: u32,
    /// How long the wait took.
    pub waited: Duration,
}

/// A status callback.
pub(crate) type StatusCallback = Box<dyn FnMut(&JobStatus) + Send>;

/// How to wait for a job: the peers' timing by default (first poll after 0.5 s, then every
/// 1.5 s), plus an overall deadline (20 minutes by default), a status callback and cancellation.
pub struct WaitOptions {
    pub(crate) first_poll: Duration,
    pub(crate) interval: Duration,
    pub(crate) deadline: Option<Duration>,
    pub(crate) cancel: Option<CancelHandle>,
    pub(crate) on_status: Option<StatusCallback>,
}

/// The default overall deadline of a wait.
pub const DEFAULT_WAIT_DEADLINE: Duration = Duration::from_secs(20 * 60);

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            first_poll: Duration::from_millis(500),
            interval: Duration::from_millis(1500),
            deadline: Some(DEFAULT_WAIT_DEADLINE),
            cancel: None,
            on_status: None,
        }
    }
}

impl WaitOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay before the first status poll (default 0.5 s).
    pub fn first_poll(mut self, delay: Duration) -> Self {
        self.first_poll = delay;
        self
    }

    /// The delay between status polls (default 1.5 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// The longest the whole wait may take (default 20 minutes); `None` waits forever.
    pub fn deadline(mut self, deadline: Option<Duration>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Ends the wait early when the handle is cancelled (from any thread or task).
    pub fn cancel_handle(mut self, handle: CancelHandle) -> Self {
        self.cancel = Some(handle);
        self
    }

    /// Called with the submit answer and with every status poll.
    pub fn on_status(mut self, callback: impl FnMut(&JobStatus) + Send + 'static) -> Self {
        self.on_status = Some(Box::new(callback));
        self
    }
}

impl fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitOptions")
            .field("first_poll", &self.first_poll)
            .field("interval", &self.interval)
            .field("deadline", &self.deadline)
            .field("cancel", &self.cancel)
            .field("on_status", &self.on_status.is_some())
            .finish()
    }
}

/// Cancels a wait from another thread (blocking) or task (async). Cheap to clone; every clone
/// cancels the same waits.
#[derive(Clone, Default)]
pub struct CancelHandle {
    inner: Arc<CancelInner>,
}

#[derive(Default)]
struct CancelInner {
    cancelled: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    #[cfg(feature = "async")]
    notify: tokio::sync::Notify,
}

impl CancelHandle {
    /// A new, uncancelled handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every wait that uses this handle; they end with [`Error::Cancelled`].
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let _guard = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.inner.wake.notify_all();
        #[cfg(feature = "async")]
        self.inner.notify.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Blocks for `duration` or until cancelled; returns whether it was cancelled.
    #[cfg(feature = "blocking")]
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        // An absurd duration (Duration::MAX) means "until cancelled", not an overflow.
        let deadline = std::time::Instant::now().checked_add(duration);
        let mut guard = self.inner.lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.is_cancelled() {
                return true;
            }
            let left = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    left
                }
                None => duration,
            };
            guard = self
                .inner
                .wake
                .wait_timeout(guard, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Sleeps for `duration` or until cancelled; returns whether it was cancelled.
    #[cfg(feature = "async")]
    pub(crate) async fn sleep_async(&self, duration: Duration) -> bool {
        let notified = self.inner.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.is_cancelled() {
            return true;
        }
        tokio::time::timeout(duration, notified).await.is_ok() || self.is_cancelled()
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_parsing() {
        let op = Operation::QueueStatus;
        let s = JobStatus::from_json(op, br#"{"job_id":"j1","status":"failed","error":"NSFW"}"#)
            .unwrap();
        assert_eq!(s.state, JobState::Failed);
        assert_eq!(s.reason.as_deref(), Some("NSFW"));
        let s = JobStatus::from_json(op, br#"{"job_id":"j1","status":"weird"}"#).unwrap();
        assert_eq!(s.state, JobState::Unknown("weird".into()));
        assert!(JobStatus::from_json(op, br#"{"status":"pending"}"#).is_err());
        assert!(JobStatus::from_json(op, b"<html>").is_err());
    }

    #[cfg(feature = "blocking")]
    #[test]
    fn cancel_wakes_a_sleeper() {
        let h = CancelHandle::new();
        let h2 = h.clone();
        let t = std::thread::spawn(move || h2.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        h.cancel();
        assert!(t.join().unwrap());
        assert!(h.sleep(Duration::from_secs(30)));
        // No overflow for an absurd duration.
        let h = CancelHandle::new();
        let h2 = h.clone();
        let t = std::thread::spawn(move || h2.sleep(Duration::MAX));
        std::thread::sleep(Duration::from_millis(20));
        h.cancel();
        assert!(t.join().unwrap());
    }
}
