//! Failures: the one line an error prints, and the exit codes (0 is success and 2 is clap's
//! code for bad arguments; the others are below).

use decart::Error;
use decart::jwt::VerifyError;

/// Any error without a code of its own (API error, network, bad input, missing key, …).
pub const EXIT_ERROR: u8 = 1;
/// The token is invalid: malformed, bad signature, unknown key, wrong issuer or audience, …
pub const EXIT_TOKEN_INVALID: u8 = 3;
/// The token has expired.
pub const EXIT_TOKEN_EXPIRED: u8 = 4;
/// The signing keys could not be had: JWKS unreachable, or not a usable JWKS.
pub const EXIT_JWKS_UNREACHABLE: u8 = 5;
/// A video job ended in the `failed` state.
pub const EXIT_JOB_FAILED: u8 = 6;
/// Waiting for a video job passed `--timeout` (the job goes on on the server).
pub const EXIT_JOB_TIMEOUT: u8 = 7;
/// Interrupted (Ctrl-C or SIGTERM) during a wait, which was cancelled cleanly.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success
  1    error (API error, network, invalid input, missing API key, …)
  2    bad arguments
  3    tokens verify/decode: invalid token (malformed, bad signature, unknown kid, wrong
       issuer or audience, missing claim, …)
  4    tokens verify: token expired
  5    tokens verify: JWKS unreachable or unusable
  6    video: the job failed
  7    video: --timeout passed (the job goes on on the server)
  130  interrupted by Ctrl-C while waiting (the wait was cancelled)

Errors print one line on stderr: `error [CODE]: message`.
Environment: DECART_API_KEY, DECART_BASE_URL.";

/// A failure to report: a stable code, a one-line message, an exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The SDK's error code (`TOKEN_EXPIRED`, `QUEUE_JOB_FAILED`, …) or the command's own.
    pub code: String,
    /// What failed, in words.
    pub message: String,
    /// The process exit code.
    pub exit: u8,
}

impl Failure {
    /// A failure with exit code 1.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Failure {
            code: code.to_owned(),
            message: message.into(),
            exit: EXIT_ERROR,
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

    /// Prints [`line`](Self::line) on stderr.
    pub fn print(&self) {
        eprintln!("{}", self.line());
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let code = e.code();
        let (message, exit) = match &e {
            Error::MissingApiKey => (
                "missing API key: pass --api-key KEY or set DECART_API_KEY".to_owned(),
                EXIT_ERROR,
            ),
            Error::Token(v) => (e.report().to_string(), verify_exit(v)),
            Error::JobFailed { .. } => (e.report().to_string(), EXIT_JOB_FAILED),
            Error::JobTimeout { job_id, .. } => (
                format!("{e}; the job goes on: `decart jobs status {job_id}`"),
                EXIT_JOB_TIMEOUT,
            ),
            Error::Cancelled { job_id, .. } => (
                format!("{e}; the job goes on: `decart jobs status {job_id}`"),
                EXIT_INTERRUPTED,
            ),
            // The message and its causes, each once.
            _ => (e.report().to_string(), EXIT_ERROR),
        };
        Failure {
            code: code.to_owned(),
            message,
            exit,
        }
    }
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        Failure::from(Error::from(e))
    }
}

/// The exit code of a verification failure.
fn verify_exit(e: &VerifyError) -> u8 {
    match e {
        VerifyError::Expired { .. } => EXIT_TOKEN_EXPIRED,
        VerifyError::JwksUnreachable { .. } | VerifyError::InvalidJwks { .. } => {
            EXIT_JWKS_UNREACHABLE
        }
        _ => EXIT_TOKEN_INVALID,
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
