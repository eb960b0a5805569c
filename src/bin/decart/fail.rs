//! Failures: the one line an error prints, and the exit code (see [`crate::exit`]).

use decart::Error;
use decart::jwt::VerifyError;

use crate::exit::{self, EXIT_ERROR, EXIT_OK};

/// A failure to report: a stable code, a one-line message, an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The SDK's error code (`TOKEN_EXPIRED`, `QUEUE_JOB_FAILED`, …) or the command's own.
    pub code: String,
    /// What failed, in words.
    pub message: String,
    /// The process exit code.
    pub exit: u8,
    /// Nothing is printed (stdout was closed by its reader: the command just stops).
    pub quiet: bool,
}

impl Failure {
    /// A failure with exit code 1.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Failure {
            code: code.to_owned(),
            message: message.into(),
            exit: EXIT_ERROR,
            quiet: false,
        }
    }

    /// Stdout was closed by its reader (`decart models | head -1`): the command stops
    /// quietly with exit 0, as Unix tools do.
    pub fn stdout_closed() -> Self {
        Failure {
            code: "STDOUT_CLOSED".to_owned(),
            message: "stdout was closed".to_owned(),
            exit: EXIT_OK,
            quiet: true,
        }
    }

    /// The same failure with another exit code.
    pub fn with_exit(mut self, exit: u8) -> Self {
        self.exit = exit;
        self
    }

    /// Prefixes the message with what was being done (`step 3 (image): …`).
    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Appends `text` to the message (`…; the frames received are in out.h264`).
    pub fn context_after(mut self, text: &str) -> Self {
        self.message.push_str(text);
        self
    }

    /// The line printed on stderr: `error [CODE]: message`, control characters flattened so
    /// that it is always exactly one line.
    pub fn line(&self) -> String {
        let message: String = self
            .message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        format!("error [{}]: {}", self.code, message.trim())
    }

    /// Prints [`line`](Self::line) on stderr (nothing for a quiet failure; a closed stderr
    /// is ignored).
    pub fn print(&self) {
        if !self.quiet {
            crate::output::eprint(&format!("{}\n", self.line()));
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = e.code();
        let exit = exit::for_error(&e);
        let message = match &e {
            Error::MissingApiKey => {
                "missing API key: pass --api-key KEY or set DECART_API_KEY".to_owned()
            }
            Error::JobTimeout { job_id, .. } | Error::Cancelled { job_id, .. } => {
                format!("{e}; the job goes on: `decart jobs status {job_id}`")
            }
            // The message and its causes, each once.
            _ => e.report().to_string(),
        };
        Failure {
            code: code.to_owned(),
            message,
            exit,
            quiet: false,
        }
    }
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        Failure::from(Error::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn exit_codes_by_error() {
        let expired = Failure::from(VerifyError::Expired {
            ago: Duration::from_secs(5),
        });
        assert_eq!((expired.code.as_str(), expired.exit), ("TOKEN_EXPIRED", 4));
        let down = Failure::from(VerifyError::jwks_unreachable("refused", true));
        assert_eq!(down.exit, 5);
        assert_eq!(Failure::from(VerifyError::BadSignature).exit, 3);
        let missing = Failure::from(Error::MissingApiKey);
        assert_eq!(missing.exit, 1);
        assert!(missing.message.contains("--api-key"));
    }

    #[test]
    fn always_one_line() {
        let f = Failure::new("X", "a\nb\r\nc\t");
        assert_eq!(f.line(), "error [X]: a b  c");
    }
}
