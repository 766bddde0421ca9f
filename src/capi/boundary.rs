//! The boundary between C and Rust: a body's `Result` becomes a status and
//! this thread's last-error message, and a panic becomes OS_PANIC instead
//! of unwinding into C.

use super::last_error::set_last_error;
use super::status::{os_status, status_of, OS_OK, OS_PANIC};
use crate::error::Error;

/// Runs the body of an exported function: its `Result` becomes a status and
/// a last-error message, and a panic becomes OS_PANIC.
///
/// The result is turned into a status inside the unwinding guard, so that
/// only a status crosses it (the error, which is larger, never needs to be
/// moved out on the success path).
#[inline(always)]
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), Error>) -> os_status {
    let body = || match f() {
        Ok(()) => OS_OK,
        Err(e) => failed(e),
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(status) => status,
        Err(panic) => panicked(panic),
    }
}

/// A failed call: its status, its message kept for `os_last_error`.
#[cold]
#[inline(never)]
fn failed(e: Error) -> os_status {
    let status = status_of(e.kind());
    set_last_error(e);
    status
}

#[cold]
#[inline(never)]
fn panicked(panic: Box<dyn std::any::Any + Send>) -> os_status {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    set_last_error(Error::new(crate::ErrorKind::Panic, format!("internal error (panic): {what}")));
    OS_PANIC
}
