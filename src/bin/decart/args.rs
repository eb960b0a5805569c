//! The command line: every command, argument and help text (clap derive).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;

use crate::exit::EXIT_CODES_HELP;

/// The Decart API from the shell: client tokens, offline JWT verification, image edits, video
/// jobs, files, and a local emulator of the whole API.
#[derive(Debug, Parser)]
#[command(
    name = "decart",
    version,
    propagate_version = true,
    max_term_width = 100,
    after_help = EXIT_CODES_HELP,
    after_long_help = EXIT_CODES_HELP,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts. Its `Debug` never shows the API key.
#[derive(Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// API key, permanent or `ek_…` (the environment variable keeps it out of the process list)
    #[arg(
        long,
        global = true,
        env = "DECART_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,

    /// Base URL of the API [default: https://api.decart.ai]
    #[arg(
        long,
        global = true,
        env = "DECART_BASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub base_url: Option<String>,

    /// Print one JSON document on stdout instead of the readable report (errors stay one line
    /// on stderr)
    #[arg(long, global = true)]
    pub json: bool,

    /// Log more on stderr: -v the SDK's details (retries, …), -vv also HTTP connections, -vvv
    /// everything (never a secret)
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print nothing on stderr but the error line: no progress, no warnings
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("json", &self.json)
            .field("verbose", &self.verbose)
            .field("quiet", &self.quiet)
            .finish()
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Client tokens: mint one, verify its JWT offline, or decode it
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Edit an image (a synchronous call) and write the result
    Image(ImageArgs),
    /// Edit or restyle a video: submit a job, wait for it with progress, download the result
    Video(VideoArgs),
    /// Stream a video file through a realtime model and write what comes back, with live
    /// frame counts, round-trip latency and bitrates
    Realtime(RealtimeArgs),
    /// Video jobs submitted earlier: status and result
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Uploaded files: upload, get, delete
    #[command(subcommand)]
    Files(FilesCommand),
    /// List the models the SDK knows (no API key needed)
    Models(ModelsArgs),
    /// Serve a local emulator of the API until interrupted (no API key, no network)
    Emulator(EmulatorArgs),
    /// A tour of the SDK against an in-process emulator (or the real API with --live)
    Demo(DemoArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
}

/// `decart tokens …`
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a client token: an `ek_…` key and a signed JWT (both printed in full)
    Create(TokensCreateArgs),
    /// Verify a client-token JWT offline against a JWKS (exit 3 invalid, 4 expired, 5 JWKS
    /// unreachable)
    #[command(after_help = EXIT_CODES_HELP)]
    Verify(TokensVerifyArgs),
    /// Decode a client-token JWT WITHOUT verifying it (for debugging; nothing is trusted)
    Decode(TokensDecodeArgs),
}

/// `decart tokens create`
#[derive(Debug, Args)]
pub struct TokensCreateArgs {
    /// Lifetime in seconds, 1–3600 [server default: 60]
    #[arg(long, value_name = "S")]
    pub expires_in: Option<u32>,
    /// Restrict the token to this model (repeat for more, at most 20)
    #[arg(long = "allowed-model", value_name = "M")]
    pub allowed_models: Vec<String>,
    /// Restrict realtime sessions to this browser origin, e.g. https://example.com (repeat for
    /// more, at most 20)
    #[arg(long = "allowed-origin", value_name = "O")]
    pub allowed_origins: Vec<String>,
    /// Metadata, a JSON object; `service_tier` (0–3) and `attribution` become JWT claims
    #[arg(long, value_name = "JSON", value_parser = parse_json_object)]
    pub metadata: Option<Value>,
    /// Longest realtime session opened with this token, in seconds
    #[arg(long, value_name = "S")]
    pub max_session_duration: Option<u32>,
}

/// `decart tokens verify`
#[derive(Debug, Args)]
pub struct TokensVerifyArgs {
    /// The JWT, or `-` to read it from stdin (keeps it out of the process list)
    #[arg(value_name = "TOKEN|-")]
    pub token: String,
    /// JWKS URL to fetch the signing keys from (https, or http on loopback)
    /// [default: https://platform.decart.ai/api/auth/jwks]
    #[arg(long, value_name = "U", conflicts_with = "jwks_file")]
    pub jwks_url: Option<String>,
    /// Read the signing keys from this JWKS file instead of fetching them
    #[arg(long, value_name = "F")]
    pub jwks_file: Option<PathBuf>,
    /// Expected issuer (`iss`) [default: https://platform.decart.ai]
    #[arg(long, value_name = "ISS")]
    pub issuer: Option<String>,
    /// Expected audience (`aud`) [default: https://platform.decart.ai]
    #[arg(long, value_name = "AUD")]
    pub audience: Option<String>,
    /// Clock leeway in seconds for `exp`, `nbf` and `iat` [default: 30]
    #[arg(long, value_name = "S")]
    pub leeway: Option<u64>,
}

/// `decart tokens decode`
#[derive(Debug, Args)]
pub struct TokensDecodeArgs {
    /// The JWT, or `-` to read it from stdin
    #[arg(value_name = "TOKEN|-")]
    pub token: String,
}

/// The inputs shared by `image` and `video`.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The file to edit: a path, an http(s) URL, or `-` for stdin
    #[arg(long, short = 'i', value_name = "FILE|URL|-")]
    pub input: String,
    /// A reference image: a path, an http(s) URL, or `-` for stdin
    #[arg(long, value_name = "FILE|URL|-")]
    pub reference_image: Option<String>,
    /// Random seed
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Output resolution, e.g. 720p
    #[arg(long, value_name = "R")]
    pub resolution: Option<String>,
    /// Let the server enhance the prompt (`--enhance-prompt=false` to forbid it)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub enhance_prompt: Option<bool>,
}

/// `decart image`
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// An image model (`decart models --kind image`), e.g. lucy-image-2
    pub model: String,
    /// What to do to the image (1–1000 characters)
    #[arg(long, short = 'p', value_name = "P")]
    pub prompt: String,
    #[command(flatten)]
    pub edit: EditArgs,
    /// Where to write the edited image (written whole or not at all), or `-` for stdout
    #[arg(long, short = 'o', value_name = "OUT|-")]
    pub output: PathBuf,
}

/// `decart video`
#[derive(Debug, Args)]
pub struct VideoArgs {
    /// A video model (`decart models --kind video`), e.g. lucy-2.1 or lucy-restyle-2
    pub model: String,
    /// What to do to the video (at most 1000 characters; restyle models take a prompt or a
    /// --reference-image, not both)
    #[arg(long, short = 'p', value_name = "P")]
    pub prompt: Option<String>,
    #[command(flatten)]
    pub edit: EditArgs,
    /// Where to write the result video (written whole or not at all), or `-` for stdout
    #[arg(
        long,
        short = 'o',
        value_name = "OUT|-",
        required_unless_present = "no_wait",
        conflicts_with = "no_wait"
    )]
    pub output: Option<PathBuf>,
    /// Give up waiting after this many seconds (the job goes on on the server) [default: 1200]
    #[arg(long, value_name = "S", value_parser = parse_seconds, conflicts_with = "no_wait")]
    pub timeout: Option<Duration>,
    /// Submit the job, print its id and exit (then `decart jobs status|result ID`)
    #[arg(long)]
    pub no_wait: bool,
}

/// `decart realtime`
#[derive(Debug, Args)]
pub struct RealtimeArgs {
    /// A realtime model (`decart models --kind realtime`), e.g. lucy-2.1
    pub model: String,
    /// What the model makes of the video (1–1000 characters)
    #[arg(long, short = 'p', value_name = "P")]
    pub prompt: String,
    /// Send the prompt as it is (by default the server enhances it)
    #[arg(long)]
    pub no_enhance: bool,
    /// The video to stream, or `-` for stdin: an H.264 Annex B stream (.h264; Constrained
    /// Baseline profile, as WebRTC wants) or an IVF file of H.264 or VP8 frames
    #[arg(long, short = 'i', value_name = "FILE|-")]
    pub input: PathBuf,
    /// Where to write the frames that come back, or `-` for stdout: an IVF file if it ends in
    /// .ivf, else an H.264 Annex B stream
    #[arg(long, short = 'o', value_name = "OUT|-")]
    pub output: PathBuf,
    /// Stop after this many seconds of video [default: the whole input]
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub duration: Option<Duration>,
    /// Frames sent per second, 1–240 [default: the model's, 30]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=240))]
    pub fps: Option<u32>,
    /// Connect again this many times when connecting fails in a way that may pass (the server
    /// at capacity, a timeout, a dropped connection), about 1, 2, 4, 8, 10 s apart, as the
    /// peer SDKs do; a refused key is not retried
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,
}

/// `decart jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// A job's status: pending, processing, completed or failed (with the reason)
    Status(JobStatusArgs),
    /// Download a completed job's result
    Result(JobResultArgs),
}

/// `decart jobs status`
#[derive(Debug, Args)]
pub struct JobStatusArgs {
    /// The job id `decart video --no-wait` printed
    #[arg(value_name = "ID")]
    pub id: String,
}

/// `decart jobs result`
#[derive(Debug, Args)]
pub struct JobResultArgs {
    /// The job id
    #[arg(value_name = "ID")]
    pub id: String,
    /// Where to write the video (written whole or not at all), or `-` for stdout
    #[arg(long, short = 'o', value_name = "OUT|-")]
    pub output: PathBuf,
}

/// `decart files …`
#[derive(Debug, Subcommand)]
pub enum FilesCommand {
    /// Upload a file (streamed); prints its reference
    Upload(FilesUploadArgs),
    /// An uploaded file's reference
    Get(FileIdArgs),
    /// Delete an uploaded file
    Delete(FileIdArgs),
}

/// `decart files upload`
#[derive(Debug, Args)]
pub struct FilesUploadArgs {
    /// The file to upload, or `-` for stdin
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    /// Keep it this many seconds (60–2592000), or `persistent` [server default: 86400]
    #[arg(long, value_name = "S|persistent", value_parser = parse_ttl)]
    pub ttl: Option<decart::FileTtl>,
}

/// `decart files get|delete`
#[derive(Debug, Args)]
pub struct FileIdArgs {
    /// The file id (`file_…`)
    #[arg(value_name = "ID")]
    pub id: String,
}

/// A model kind, as the command line spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// Realtime (WebRTC) models
    Realtime,
    /// Video models (jobs)
    Video,
    /// Image models (synchronous edits)
    Image,
}

impl From<KindArg> for decart::ModelKind {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::Realtime => decart::ModelKind::Realtime,
            KindArg::Video => decart::ModelKind::Video,
            KindArg::Image => decart::ModelKind::Image,
        }
    }
}

/// `decart models`
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Only this kind [default: every kind]
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<KindArg>,
    /// Also list aliases: `-latest` names and deprecated names
    #[arg(long)]
    pub all: bool,
}

/// `decart emulator`
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1 (0: a free one)
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub port: u16,
    /// Status polls a video job answers pending/processing before it completes
    #[arg(long, value_name = "N", default_value_t = decart::emulator::DEFAULT_POLLS)]
    pub polls: u32,
}

/// `decart demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the tour against the real API with DECART_API_KEY (billed: one image edit and one
    /// video job)
    #[arg(long)]
    pub live: bool,
    /// Image to edit [default: a small generated PNG]
    #[arg(long, value_name = "FILE")]
    pub image: Option<PathBuf>,
    /// Video to edit [default: generated bytes with the emulator; with --live the video step
    /// is skipped unless this is given]
    #[arg(long, value_name = "FILE")]
    pub video: Option<PathBuf>,
    /// Keep the tour's files (inputs and results) in this directory [default: a temporary
    /// directory, removed at the end]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `decart completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `--metadata`: a JSON object.
fn parse_json_object(s: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(s) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err("must be a JSON object, like '{\"service_tier\": 2}'".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

/// A number of seconds, decimals allowed (`90`, `0.5`).
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?}: must be a positive number of seconds"))
}

/// `--ttl`: seconds or `persistent` (the range is checked by the SDK).
fn parse_ttl(s: &str) -> Result<decart::FileTtl, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("persistent") {
        return Ok(decart::FileTtl::Persistent);
    }
    s.parse()
        .map(decart::FileTtl::Seconds)
        .map_err(|_| format!("{s:?}: expected a number of seconds or `persistent`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn debug_never_shows_the_key() {
        let cli = Cli::try_parse_from(["decart", "--api-key", "sk-secret-1", "models"]).unwrap();
        assert_eq!(cli.global.api_key.as_deref(), Some("sk-secret-1"));
        assert!(!format!("{cli:?}").contains("sk-secret-1"));
    }

    #[test]
    fn value_parsers() {
        assert_eq!(parse_seconds("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
        assert_eq!(parse_ttl("persistent"), Ok(decart::FileTtl::Persistent));
        assert_eq!(parse_ttl("600"), Ok(decart::FileTtl::Seconds(600)));
        assert!(parse_ttl("forever").is_err());
        assert!(parse_json_object("{\"a\":1}").is_ok());
        assert!(parse_json_object("[1]").is_err());
        assert!(parse_json_object("{").is_err());
    }
}
