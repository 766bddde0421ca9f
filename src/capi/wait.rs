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
