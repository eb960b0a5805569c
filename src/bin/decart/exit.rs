//! The exit codes of the `decart` command. `examples/verify_client_token.rs` includes this
//! file (`#[path]`), so the command and the example follow one table; README ("Exit codes")
//! documents it.

// The example uses only the token codes.
#![allow(dead_code)]

use decart::Error;
use decart::jwt::VerifyError;

/// Success.
pub const EXIT_OK: u8 = 0;
/// Any error without a code of its own (API error, network, bad input, missing key, …).
pub const EXIT_ERROR: u8 = 1;
/// Bad arguments (clap's code for a usage error).
pub const EXIT_USAGE: u8 = 2;
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
/// Interrupted (Ctrl-C or SIGTERM): a wait was cancelled cleanly, or a realtime stream ended
/// early (what came back is written).
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit codes, as `--help` shows them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (also when a reader closes stdout early)
  1    error: API, network, invalid input, missing key, …
  2    bad arguments
  3    tokens verify/decode: invalid token
  4    tokens verify: token expired
  5    tokens verify: JWKS unreachable or unusable
  6    video: the job failed
  7    video: --timeout passed (the job goes on)
  130  interrupted by Ctrl-C: a wait cancelled, a realtime stream ended

Errors print one line on stderr: `error [CODE]: message`.
Environment: DECART_API_KEY, DECART_BASE_URL.";

/// The exit code of an SDK error.
pub fn for_error(e: &Error) -> u8 {
    match e {
        Error::Token(v) => for_verify_error(v),
        Error::JobFailed { .. } => EXIT_JOB_FAILED,
        Error::JobTimeout { .. } => EXIT_JOB_TIMEOUT,
        Error::Cancelled { .. } => EXIT_INTERRUPTED,
        _ => EXIT_ERROR,
    }
}

/// The exit code of a verification failure.
pub fn for_verify_error(e: &VerifyError) -> u8 {
    match e {
        VerifyError::Expired { .. } => EXIT_TOKEN_EXPIRED,
        VerifyError::JwksUnreachable { .. } | VerifyError::InvalidJwks { .. } => {
            EXIT_JWKS_UNREACHABLE
        }
        _ => EXIT_TOKEN_INVALID,
    }
}
