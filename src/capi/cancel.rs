//! Exported cancellation of blocked waits: the `os_canceller` handle and
//! the cancellable forms of the three calls that wait, `os_get`,
//! `os_get_many` and `os_wait`.
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

use std::time::Duration;

use super::args::{self, handle, Out};
use super::boundary::boundary;
use super::objects::{buffer_of, timeout_of, NO_BUFFER};
use super::status::os_status;
use super::types::*;
use crate::error::{err, ErrorKind, Result};
use crate::id::ObjectId;
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
unsafe fn optional_canceller<'a>(p: *const os_canceller) -> Option<&'a Canceller> {
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

/// `os_get`, ending early with OS_CANCELLED if `cancel` is cancelled
/// (`os_canceller_cancel`, from another thread) while it waits, or was
/// before it began. `cancel` may be NULL: then it is `os_get`.
///
/// # Returns
/// As `os_get`, and OS_CANCELLED (nothing pinned, `*out` not written).
/// On a store with a remote, a request to the remote under way runs to its
/// answer (bounded by the timeout) before the cancel is seen.
#[no_mangle]
pub unsafe extern "C" fn os_get_cancellable(
    store: *mut os_store,
    id: *const os_object_id,
    timeout_ms: i64,
    cancel: *const os_canceller,
    out: *mut os_buffer,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id, cancel, out) =
            unsafe { (handle(store)?, args::id(id)?, optional_canceller(cancel), Out::new(out, "out")?) };
        let raw = s.get_raw_cancellable(id, timeout_of(timeout_ms), cancel)?;
        out.write(buffer_of(&raw));
        Ok(())
    })
}

/// `os_get_many`, ending early with OS_CANCELLED if `cancel` is cancelled
/// while it waits, or was before it began. `cancel` may be NULL: then it
/// is `os_get_many`.
///
/// # Returns
/// As `os_get_many`. OS_CANCELLED is like OS_TIMEOUT: the entries still
/// missing have a NULL `data`, the others are pinned and must be released.
#[no_mangle]
pub unsafe extern "C" fn os_get_many_cancellable(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    timeout_ms: i64,
    cancel: *const os_canceller,
    out: *mut os_buffer,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, ids, cancel, out) =
            unsafe { (handle(store)?, args::array(ids, n, "ids")?, optional_canceller(cancel), Out::new(out, "out")) };
        if n == 0 {
            return Ok(());
        }
        let out = out?;
        let ids: Vec<ObjectId> = ids.iter().map(|i| ObjectId(i.bytes)).collect();
        let mut got = vec![None; n];
        let r = s.get_many_raw_cancellable(&ids, timeout_of(timeout_ms), cancel, &mut got);
        for (i, g) in got.iter().enumerate() {
            out.write_at(i, n, g.as_ref().map_or(NO_BUFFER, buffer_of));
        }
        match r {
            Err(e) if !matches!(e.kind(), ErrorKind::Timeout | ErrorKind::NotFound | ErrorKind::Cancelled) => {
                debug_assert!(got.iter().all(Option::is_none));
                Err(e)
            }
            other => other,
        }
    })
}

/// `os_wait`, ending early with OS_CANCELLED if `cancel` is cancelled
/// while it waits, or was before it began. `cancel` may be NULL: then it
/// is `os_wait`.
///
/// # Returns
/// As `os_wait`. On OS_CANCELLED, as on OS_TIMEOUT, `ready` and
/// `*out_num_ready` say which objects were sealed.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn os_wait_cancellable(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    num_ready: usize,
    timeout_ms: i64,
    cancel: *const os_canceller,
    ready: *mut bool,
    out_num_ready: *mut usize,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, ids, cancel, ready_out) = unsafe {
            (handle(store)?, args::array(ids, n, "ids")?, optional_canceller(cancel), Out::new(ready, "ready"))
        };
        let count_out = if out_num_ready.is_null() {
            None
        } else {
            // SAFETY: as above; checked non-null.
            Some(unsafe { Out::new(out_num_ready, "out_num_ready") }?)
        };
        if n == 0 {
            if num_ready > 0 {
                return Err(err!(InvalidArgument, "waiting for {num_ready} of 0 objects"));
            }
            if let Some(c) = count_out {
                c.write(0);
            }
            return Ok(());
        }
        let ready_out = ready_out?;
        let ids: Vec<ObjectId> = ids.iter().map(|i| ObjectId(i.bytes)).collect();
        let timeout = if timeout_ms < 0 { None } else { Some(Duration::from_millis(timeout_ms as u64)) };
        let mut flags = vec![false; n];
        let r = s.wait(&ids, num_ready, timeout, cancel, &mut flags);
        if !matches!(&r, Err(e) if e.kind() == ErrorKind::InvalidArgument) {
            for (i, &f) in flags.iter().enumerate() {
                ready_out.write_at(i, n, f);
            }
            if let Some(c) = count_out {
                c.write(flags.iter().filter(|&&f| f).count());
            }
        }
        r.map(|_| ())
    })
}
