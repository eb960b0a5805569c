//! `decart emulator`: serves the local emulator of the API until Ctrl-C (or SIGTERM).

use decart::emulator::Emulator;
use serde_json::json;

use crate::args::{EmulatorArgs, Global};
use crate::fail::Failure;
use crate::interrupt;
use crate::output::{self, Report};

/// `decart emulator [--port P] [--polls N]`.
///
/// The emulator's key is its own public default, never `--api-key` / `DECART_API_KEY`: a real
/// key from the environment must not become a key the emulator prints.
pub fn run(global: &Global, a: EmulatorArgs) -> Result<(), Failure> {
    let emu = Emulator::builder()
        .port(a.port)
        .polls_before_completion(a.polls)
        .start()?;
    let guard = interrupt::shutdown_on_interrupt(emu.shutdown_handle());
    let export = format!(
        "export DECART_BASE_URL={} DECART_API_KEY={}",
        emu.base_url(),
        emu.api_key()
    );
    if global.json {
        output::json(&json!({
            "base_url": emu.base_url(),
            "jwks_url": emu.jwks_url(),
            "issuer": emu.issuer(),
            "audience": emu.audience(),
            "api_key": emu.api_key(),
            "port": emu.port(),
            "polls": a.polls,
            "export": export,
        }))?;
    } else {
        output::line("decart emulator: the Decart API on loopback (press Ctrl-C to stop)")?;
        Report::new()
            .row("base URL", emu.base_url())
            .row("JWKS URL", emu.jwks_url())
            .row("issuer", emu.issuer())
            .row("audience", emu.audience())
            .row("API key", emu.api_key())
            .row("jobs", format!("complete after {} status polls", a.polls))
            .print()?;
        output::print(&format!(
            "\nIn another shell:\n  {export}\n  decart tokens create --expires-in 600\n  \
             decart tokens verify TOKEN --jwks-url {} --issuer {} --audience {}\n",
            emu.jwks_url(),
            emu.issuer(),
            emu.audience()
        ))?;
    }
    emu.wait();
    drop(guard);
    if !global.json {
        output::eprint("emulator stopped\n");
    }
    Ok(())
}
