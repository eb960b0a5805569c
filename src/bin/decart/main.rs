//! `decart`: the Decart API from the shell, built on the SDK's blocking client.
//!
//! Run `decart --help` for the command tree and the exit codes. Every command prints a short,
//! readable report on stdout, or one JSON document with `--json`; an error prints one line,
//! `error [CODE]: message`, on stderr and exits non-zero (see [`fail`] for the codes).

mod args;
mod demo;
mod exit;
mod fail;
mod interrupt;
mod logger;
mod media;
mod output;
mod png;
mod progress;
mod realtime;
mod registry;
mod serve;
mod stream;
mod tokens;
mod video;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use args::{Cli, Command, CompletionsArgs, FilesCommand, Global, JobsCommand, TokensCommand};
use fail::Failure;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logger::install(logger::levels(cli.global.verbose, cli.global.quiet));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.print();
            ExitCode::from(failure.exit)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let global = cli.global;
    match cli.command {
        Command::Tokens(TokensCommand::Create(a)) => tokens::create(&global, a),
        Command::Tokens(TokensCommand::Verify(a)) => tokens::verify(&global, a),
        Command::Tokens(TokensCommand::Decode(a)) => tokens::decode(&global, a),
        Command::Image(a) => media::image(&global, a),
        Command::Video(a) => media::video(&global, a),
        Command::Realtime(a) => realtime::run(&global, a),
        Command::Jobs(JobsCommand::Status(a)) => media::job_status(&global, a),
        Command::Jobs(JobsCommand::Result(a)) => media::job_result(&global, a),
        Command::Files(FilesCommand::Upload(a)) => media::files_upload(&global, a),
        Command::Files(FilesCommand::Get(a)) => media::files_get(&global, a),
        Command::Files(FilesCommand::Delete(a)) => media::files_delete(&global, a),
        Command::Models(a) => registry::list(&global, a),
        Command::Emulator(a) => serve::run(&global, a),
        Command::Demo(a) => demo::run(&global, a),
        Command::Completions(a) => completions(a),
    }
}

/// `decart completions SHELL`: the script on stdout.
fn completions(a: CompletionsArgs) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "decart", &mut script);
    output::print(&String::from_utf8_lossy(&script))
}

/// The log target of the command's own records (shown with `-v`, as the SDK's are); the
/// modules' paths would read as the SDK's (`decart::realtime`).
pub const LOG_TARGET: &str = "decart::cli";

/// The `User-Agent` integration string: `decart-cli/<version>`.
pub const INTEGRATION: &str = concat!("decart-cli/", env!("CARGO_PKG_VERSION"));

/// The blocking client of the API commands, with the key and base URL of the global options
/// (flags, else `DECART_API_KEY` / `DECART_BASE_URL`).
pub fn client(global: &Global) -> Result<decart::Client, Failure> {
    let mut builder = decart::Client::builder().integration(INTEGRATION);
    if let Some(key) = &global.api_key {
        builder = builder.api_key(key);
    }
    if let Some(url) = &global.base_url {
        builder = builder.base_url(url);
    }
    Ok(builder.build()?)
}
