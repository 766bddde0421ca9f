//! Ctrl-C (SIGINT) and SIGTERM: noted, not fatal, once a command is
//! attached to a store.
//!
//! A process killed while attached is, to the store, a crashed process: the
//! next attacher reclaims its slot and counts it among the dead. So a
//! command that runs for long (`watch`, a large `put` or `get`, a `get`
//! waiting for a seal) installs this handler before it attaches and checks
//! `interrupted()` at each step, then returns normally, detaching cleanly.
//! The handler is installed with SA_RESTART so that the library's system
//! calls are not disturbed; the command's own waits are sliced short
//! enough that it notices the flag quickly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn note_signal(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches SIGINT and SIGTERM from now on.
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
        // value; the handler only stores to an atomic, which is
        // async-signal-safe, and lives for the whole program.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Whether SIGINT or SIGTERM arrived since `install`.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// The longest the command sleeps or waits without looking at the flag.
pub const SLICE: Duration = Duration::from_millis(100);

/// Sleeps until `until`, in slices; false if interrupted meanwhile.
pub fn sleep_until(until: Instant) -> bool {
    loop {
        if interrupted() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(SLICE));
    }
}
