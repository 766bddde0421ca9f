//! Exported cancellation of blocked waits: the `os_canceller` handle. The
//! cancellable forms of the three calls that wait are beside the plain
//! ones: `os_get_cancellable` and `os_get_many_cancellable` in `objects`,
//! `os_wait_cancellable` in `wait`.
//!
//! Naming: a cancellable form is the plain call's name with
//! `_cancellable` (`os_get_cancellable`), taking one more input, `const
//! os_canceller *cancel`, just before its outputs; NULL there makes it the
//! plain call. Like every call that can fail it has an `_e` twin, which
//! adds `os_error **err` at the very end (`os_get_cancellable_e`).
//!
//! A canceller is `crate::Canceller` behind a pointer: `os_canceller_cancel`
//! raises its flag and wakes the waits registered with it, so a blocked
//! call returns OS_CANCELLED within a futex wake-up, with no polling. It is
//! re-armed by `os_canceller_reset`.

use super::args::Out;
use super::boundary::boundary;
use super::status::os_status;
use crate::error::{err, Result};
use crate::Canceller;

/// Cancels the waits it is given to (`os_get_cancellable`,
/// `os_get_many_cancellable`, `os_wait_cancellable`) from another thread.
/// Opaque; made by `os_canceller_new`, freed by `os_canceller_free`. Any
/// number of threads may wait with one canceller, on any stores, and any
/// thread may cancel it.
#[allow(non_camel_case_types)]
#[derive(Debug, Default)]
pub struct os_canceller {
    canceller: Canceller,
}

/// The canceller behind a C pointer that must not be NULL.
///
/// # Safety
/// `p` must be NULL or a live canceller from `os_canceller_new`.
unsafe fn canceller<'a>(p: *const os_canceller) -> Result<&'a Canceller> {
    if p.is_null() {
        return Err(err!(InvalidArgument, "canceller is NULL"));
    }
    // SAFETY: non-null and live by contract; only shared access is formed
    // (a Canceller is used through `&self` from any thread).
    Ok(&unsafe { &*p }.canceller)
}

/// The canceller behind an optional C pointer (NULL: none).
///
/// # Safety
/// As `canceller`.
pub(super) unsafe fn optional_canceller<'a>(p: *const os_canceller) -> Option<&'a Canceller> {
    // SAFETY: NULL or live, by contract; only shared access is formed.
    unsafe { p.as_ref() }.map(|c| &c.canceller)
}

/// Makes a canceller, not cancelled, and writes it to `*out`; the caller
/// frees it with `os_canceller_free` once no call uses it any more.
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT (`out` is NULL).
#[no_mangle]
pub unsafe extern "C" fn os_canceller_new(out: *mut *mut os_canceller) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let out = unsafe { Out::new(out, "out") }?;
        out.write(Box::into_raw(Box::default()));
        Ok(())
    })
}

/// Cancels every call waiting with this canceller, and every later one
/// until `os_canceller_reset`: each returns OS_CANCELLED (a call that finds
/// what it asked for without waiting still succeeds). Callable from any
/// thread, at any time, any number of times. It takes a lock and makes a
/// system call, so it is not async-signal-safe: a signal handler should
/// wake a thread that calls it (a self-pipe, `sigwait`).
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT (`cancel` is NULL).
#[no_mangle]
pub unsafe extern "C" fn os_canceller_cancel(cancel: *const os_canceller) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        unsafe { canceller(cancel) }?.cancel();
        Ok(())
    })
}

/// Re-arms a canceller: calls that wait with it from now on wait again
/// until the next `os_canceller_cancel`. Reset only between uses, once no
/// call is waiting with it: a call woken by the cancel but not yet back
/// would see the flag down and wait on.
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT (`cancel` is NULL).
#[no_mangle]
pub unsafe extern "C" fn os_canceller_reset(cancel: *const os_canceller) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        unsafe { canceller(cancel) }?.reset();
        Ok(())
    })
}

/// Frees a canceller. No call may be waiting with it, or start to. NULL is
/// allowed (nothing happens). Cannot fail.
#[no_mangle]
pub unsafe extern "C" fn os_canceller_free(cancel: *mut os_canceller) {
    if !cancel.is_null() {
        // No boundary: the drop (an Arc, and the Vec of waits it holds,
        // empty once no call uses it) cannot panic, and a panic in an
        // `extern "C"` function aborts rather than unwinding into C.
        // SAFETY: a canceller from `os_canceller_new`, freed once, unused
        // by any call (the contract above).
        drop(unsafe { Box::from_raw(cancel) });
    }
}
