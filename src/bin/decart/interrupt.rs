//! Ctrl-C (and SIGTERM): cancel the wait in progress cleanly, or stop the emulator.
//!
//! The handler is installed only by the commands that wait ([`install`]); the others keep the
//! default behaviour. While a [`Guard`] is alive the first signal acts on its target (cancels
//! the job wait through its `CancelHandle`, or shuts the emulator down), so the command ends
//! through its normal path and reports it. Without a target, or on a second signal, the
//! process exits at once with code 130.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, Once};

use decart::CancelHandle;
use decart::emulator::ShutdownHandle;

use crate::exit::EXIT_INTERRUPTED;
use crate::output;

/// What the next signal acts on.
enum Target {
    Cancel(CancelHandle),
    Shutdown(ShutdownHandle),
}

static TARGET: Mutex<Option<Target>> = Mutex::new(None);
static SIGNALS: AtomicU32 = AtomicU32::new(0);
static INSTALL: Once = Once::new();

/// Installs the handler (once per process). If it cannot be installed, signals keep their
/// default effect (the process ends), which is safe.
pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(on_signal);
    });
}

fn on_signal() {
    let first = SIGNALS.fetch_add(1, Ordering::SeqCst) == 0;
    let target = TARGET.lock().unwrap_or_else(|e| e.into_inner()).take();
    match target {
        Some(Target::Cancel(handle)) if first => {
            if std::io::stderr().is_terminal() {
                output::eprint("\r\x1b[2Kcancelling… (press Ctrl-C again to quit at once)\n");
            }
            handle.cancel();
        }
        Some(Target::Shutdown(handle)) if first => handle.shutdown(),
        _ => {
            if std::io::stderr().is_terminal() {
                output::eprint("\n");
            }
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    }
}

/// Keeps a target armed; dropping it disarms it (a later signal then exits at once).
#[must_use = "the target is disarmed when the guard is dropped"]
pub struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        *TARGET.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn arm(target: Target) -> Guard {
    install();
    *TARGET.lock().unwrap_or_else(|e| e.into_inner()) = Some(target);
    Guard(())
}

/// The next signal cancels waits that use `handle`.
pub fn cancel_on_interrupt(handle: CancelHandle) -> Guard {
    arm(Target::Cancel(handle))
}

/// The next signal shuts the emulator down.
pub fn shutdown_on_interrupt(handle: ShutdownHandle) -> Guard {
    arm(Target::Shutdown(handle))
}
