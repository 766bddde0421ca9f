//! Exported waiting for several objects: `os_wait`, Ray's `ray.wait` (its
//! body is `os_wait_cancellable`'s, in `cancel`, with no canceller).

use super::status::os_status;
use super::types::*;

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
    unsafe {
        super::cancel::os_wait_cancellable(store, ids, n, num_ready, timeout_ms, std::ptr::null(), ready, out_num_ready)
    }
}
