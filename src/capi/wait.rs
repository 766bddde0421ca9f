//! Exported waiting for several objects: `os_wait`, Ray's `ray.wait`, and
//! its cancellable form.

use std::time::Duration;

use super::args::{self, handle, Out};
use super::boundary::boundary;
use super::cancel::{optional_canceller, os_canceller};
use super::status::os_status;
use super::types::*;
use crate::error::{err, ErrorKind};
use crate::id::ObjectId;
use crate::store::WaitSet;

/// Waits until at least `num_ready` of the `n` objects `ids` are sealed, or
/// the timeout ends, taking no pins: a consumer takes results in the order
/// they finish, getting each when `ready` says so.
///
/// # Arguments
/// - `ids`, `n`: the IDs (`ids` may be NULL only when `n` is 0).
/// - `num_ready`: how many must be sealed, at most `n` (0 returns at once).
/// - `timeout_ms`: as `os_get` (0: look once, < 0: forever).
/// - `ready`: `n` flags; `ready[i]` is set when `ids[i]` is sealed. Only as
///   many as `num_ready` are looked for, so more may be sealed than set.
/// - `out_num_ready`: receives how many flags are set. May be NULL.
///
/// Unlike other calls, `ready` and `*out_num_ready` are written on
/// OS_TIMEOUT too (saying which were sealed).
///
/// # Returns
/// OS_OK (at least `num_ready` sealed); OS_TIMEOUT (fewer when the timeout
/// ended, also with a timeout of 0); OS_INVALID_ARGUMENT (`num_ready` > `n`,
/// or NULL).
#[no_mangle]
pub unsafe extern "C" fn os_wait(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    num_ready: usize,
    timeout_ms: i64,
    ready: *mut bool,
    out_num_ready: *mut usize,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble.
    unsafe { os_wait_cancellable(store, ids, n, num_ready, timeout_ms, std::ptr::null(), ready, out_num_ready) }
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

/// A wait set: IDs registered once and waited on many times, each object
/// handed out once when it is sealed (see `os_wait_set_new`). Opaque; made
/// by `os_wait_set_new`, freed by `os_wait_set_free`. Calls on one set are
/// serialized (a second thread's `os_wait_set_next` waits for the first's).
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct os_wait_set {
    set: std::sync::Mutex<WaitSet>,
}

/// Makes a wait set of the `n` objects `ids`, for a consumer that takes
/// results in the order they finish (`concurrent.futures.as_completed`, a
/// `ray.wait` loop): `os_wait_set_next` hands out each object once when it
/// is sealed. Unlike `os_wait`, which looks up every ID it is handed on
/// every call, a set looks at all of them once, here; each later wait
/// looks only at what was sealed since the last one (a wait that finds
/// nothing new reads one word). It takes no pins: an object handed out was
/// sealed when it was looked at, and a get may still find it deleted.
///
/// The set keeps the store's mapping alive: it may outlive `store` (close
/// the store and free the set in either order). While any set exists, the
/// store's sealers log what they seal (two atomic operations per put).
///
/// # Arguments
/// - `ids`, `n`: the IDs (`ids` may be NULL only when `n` is 0; an ID given
///   twice is handed out twice).
/// - `out`: receives the set.
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT (NULL, or a store opened before a fork).
#[no_mangle]
pub unsafe extern "C" fn os_wait_set_new(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    out: *mut *mut os_wait_set,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, ids, out) = unsafe { (handle(store)?, args::array(ids, n, "ids")?, Out::new(out, "out")?) };
        let ids: Vec<ObjectId> = ids.iter().map(|i| ObjectId(i.bytes)).collect();
        let set = s.wait_set(&ids)?;
        out.write(Box::into_raw(Box::new(os_wait_set { set: std::sync::Mutex::new(set) })));
        Ok(())
    })
}

/// Hands out up to `max` objects of the set sealed since it was made and
/// not handed out before, as indices into the IDs it was made with, in the
/// order they were found; waits up to the timeout for at least one.
///
/// # Arguments
/// - `max`: room in `out_indices` (at least 1).
/// - `timeout_ms`: as `os_get` (0: look once, < 0: forever).
/// - `cancel`: as `os_wait_cancellable` (NULL: none).
/// - `out_indices`: receives the indices; `*out_n`: how many (0 only when
///   every object of the set was handed out already).
///
/// # Returns
/// OS_OK; OS_TIMEOUT (none sealed in time, also with a timeout of 0);
/// OS_CANCELLED; OS_INVALID_ARGUMENT (NULL, `max` 0, or a set made before
/// a fork). `*out_n` is 0 on every failure.
#[no_mangle]
pub unsafe extern "C" fn os_wait_set_next(
    set: *mut os_wait_set,
    max: usize,
    timeout_ms: i64,
    cancel: *const os_canceller,
    out_indices: *mut usize,
    out_n: *mut usize,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble; `set` is
        // NULL or a live set from `os_wait_set_new`, used through `&` only.
        let (set, cancel, n_out) = unsafe { (set.as_ref(), optional_canceller(cancel), Out::new(out_n, "out_n")?) };
        let set = set.ok_or_else(|| err!(InvalidArgument, "wait set is NULL"))?;
        n_out.write(0);
        // SAFETY: as above.
        let indices_out = unsafe { Out::new(out_indices, "out_indices") }?;
        let timeout = if timeout_ms < 0 { None } else { Some(Duration::from_millis(timeout_ms as u64)) };
        let mut set = set.set.lock().unwrap_or_else(|p| p.into_inner());
        let got = set.next(max, timeout, cancel)?;
        for (k, &i) in got.iter().enumerate() {
            indices_out.write_at(k, max, i);
        }
        n_out.write(got.len());
        Ok(())
    })
}

/// Adds the `count` objects `ids` to a wait set: `os_wait_set_next` hands
/// them out as the set's own, their indices following those it holds
/// (those it was made with, then those added before, in order). An ID
/// given twice, or one the set holds already, is handed out once for each
/// time it was given. Those sealed already are found here and handed out
/// by the next `os_wait_set_next`, the others as they are sealed; a set
/// that handed out all it held waits again. Each new ID is looked at once,
/// here, as `os_wait_set_new` does; later waits look only at what was
/// sealed since (an `os_wait` over the grown list would look at all of
/// them on every call). Serialized with `os_wait_set_next` on the set.
///
/// # Arguments
/// - `ids`, `count`: the IDs (`ids` may be NULL only when `count` is 0,
///   which adds nothing).
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT (NULL, or a set made before a fork: the set
/// is unchanged).
#[no_mangle]
pub unsafe extern "C" fn os_wait_set_add(set: *mut os_wait_set, ids: *const os_object_id, count: usize) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble; `set` is
        // NULL or a live set from `os_wait_set_new`, used through `&` only.
        let set = unsafe { set.as_ref() }.ok_or_else(|| err!(InvalidArgument, "wait set is NULL"))?;
        // SAFETY: as above.
        let ids = unsafe { args::array(ids, count, "ids") }?;
        let ids: Vec<ObjectId> = ids.iter().map(|i| ObjectId(i.bytes)).collect();
        set.set.lock().unwrap_or_else(|p| p.into_inner()).add(&ids)
    })
}

/// Frees a wait set (NULL: nothing). No call may use it any more.
#[no_mangle]
pub unsafe extern "C" fn os_wait_set_free(set: *mut os_wait_set) {
    if !set.is_null() {
        // The drop takes the set back from the store's count (atomic
        // operations that cannot fail); a panic could not unwind out of an
        // `extern "C"` function anyway.
        // SAFETY: a set from `os_wait_set_new`, freed once, unused by any
        // other call (the contract above).
        drop(unsafe { Box::from_raw(set) });
    }
}
