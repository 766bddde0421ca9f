//! The remote tier in the C ABI: publishing an object to the store's remote
//! and removing it there. A get of an ID absent here fetches it from the
//! remote (see `os_get`); the remote itself is `os_options.remote_url`.

use std::time::Duration;

use super::args::{self, handle};
use super::boundary::boundary;
use super::status::os_status;
use super::types::*;

/// A publish timeout: 0 or less means no bound but the client's own (it
/// gives up on an endpoint that does not answer within seconds).
fn bound_of(ms: i64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

/// Uploads the sealed object `id` to the store's remote
/// (`<prefix>/<40 hex digits of the ID>`), where a get on any machine whose
/// store has the same remote finds it: one PUT up to 16 MiB, above that a
/// multipart upload with parts uploaded in parallel. A process killed midway
/// leaves nothing visible remotely. The object stays pinned for the upload
/// only; the local object is unchanged.
///
/// # Arguments
/// - `timeout_ms`: > 0 bounds the whole upload; 0 or < 0: no bound but the
///   client's own retries, which give up on an unreachable endpoint within
///   seconds.
///
/// # Returns
/// OS_OK (also if the object was published already); OS_NOT_FOUND (no such
/// object here); OS_NOT_SEALED; OS_INVALID_ARGUMENT (NULL, or a store
/// without a remote, which every store is in a library built without the
/// remote tier); OS_PERMISSION_DENIED (the server refused the credentials);
/// OS_IO_ERROR (the endpoint did not answer, or failed; the message names
/// it); OS_TIMEOUT (not done within `timeout_ms`).
#[no_mangle]
pub unsafe extern "C" fn os_publish(store: *mut os_store, id: *const os_object_id, timeout_ms: i64) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.publish(id, bound_of(timeout_ms))
    })
}

/// Removes the published copy of `id` from the store's remote. Objects
/// already fetched by other machines stay there; the local object stays.
///
/// # Arguments
/// - `timeout_ms`: as for `os_publish`.
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (not published); OS_INVALID_ARGUMENT (NULL, or a
/// store without a remote); OS_PERMISSION_DENIED; OS_IO_ERROR.
#[no_mangle]
pub unsafe extern "C" fn os_unpublish(store: *mut os_store, id: *const os_object_id, timeout_ms: i64) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.unpublish(id, bound_of(timeout_ms))
    })
}
