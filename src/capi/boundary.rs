//! The boundary between C and Rust: a body's `Result` becomes a status and
//! this thread's last-error message, and a panic becomes OS_PANIC instead
//! of unwinding into C.

use super::last_error::set_last_error;
use super::status::{os_status, status_of, OS_OK, OS_PANIC};
use crate::error::Error;

/// Runs the body of an exported function: its `Result` becomes a status and
/// a last-error message, and a panic becomes OS_PANIC.
#[inline]
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), Error>) -> os_status {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => OS_OK,
        Ok(Err(e)) => {
            let status = status_of(e.kind());
            set_last_error(e);
            status
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(Error::new(crate::ErrorKind::Panic, format!("internal error (panic): {what}")));
            OS_PANIC
        }
    }
}
