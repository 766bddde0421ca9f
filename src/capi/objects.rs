//! Exported functions on objects: put, create/seal/abort, get (and its
//! cancellable forms), release, delete, contains.

use std::ffi::c_void;
use std::time::Duration;

use super::args::{self, handle, Out};
use super::boundary::boundary;
use super::cancel::{optional_canceller, os_canceller};
use super::status::{os_status, OS_OK};
use super::types::*;
use crate::error::{Error, ErrorKind};
use crate::id::ObjectId;
use crate::store::{GetMissed, Present, ReleaseMissed};
use crate::RawObject;
use crate::Store;

/// A C timeout in milliseconds (< 0: none).
pub(super) fn timeout_of(ms: i64) -> Option<Duration> {
    if ms < 0 {
        None
    } else {
        Some(Duration::from_millis(ms as u64))
    }
}

fn buffer_of(o: &RawObject) -> os_buffer {
    os_buffer { data: o.data, data_len: o.data_len, meta: o.meta, meta_len: o.meta_len }
}

const NO_BUFFER: os_buffer = os_buffer { data: std::ptr::null(), data_len: 0, meta: std::ptr::null(), meta_len: 0 };

/// Stores `len` bytes at `data` as a new, sealed object with a fresh ID.
///
/// # Arguments
/// - `data`: the bytes to copy in; may be NULL only when `len` is 0.
/// - `out_id`: receives the new ID on success. Must not be NULL.
///
/// # Returns
/// OS_OK; OS_TOO_LARGE (bigger than the store); OS_OUT_OF_MEMORY (full, and
/// nothing could be freed or spilled); OS_INVALID_ARGUMENT. Thread-safe; the
/// object outlives the process that put it.
#[no_mangle]
pub unsafe extern "C" fn os_put(
    store: *mut os_store,
    data: *const c_void,
    len: usize,
    out_id: *mut os_object_id,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble.
    unsafe { os_put_with_meta(store, data, len, std::ptr::null(), 0, out_id) }
}

/// Like `os_put`, with a metadata blob (e.g. a tensor's dtype and shape)
/// stored beside the data and returned by gets in `os_buffer.meta`.
/// `meta` may be NULL only when `meta_len` is 0.
#[no_mangle]
pub unsafe extern "C" fn os_put_with_meta(
    store: *mut os_store,
    data: *const c_void,
    len: usize,
    meta: *const c_void,
    meta_len: usize,
    out_id: *mut os_object_id,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, data, meta, out_id) = unsafe {
            (
                handle(store)?,
                args::bytes(data.cast(), len, "data")?,
                args::bytes(meta.cast(), meta_len, "meta")?,
                Out::new(out_id, "out_id")?,
            )
        };
        let id = s.put_with_meta(data, meta)?;
        out_id.write(os_object_id { bytes: id.0 });
        Ok(())
    })
}

/// Creates an object with a caller-chosen ID, to be filled in place and then
/// sealed with `os_seal` (or dropped with `os_abort`). Until sealed it is
/// invisible to gets, which wait for the seal.
///
/// # Arguments
/// - `id`: the ID; fails with OS_ALREADY_EXISTS if it names a live object.
/// - `data_len`: bytes of data to be written.
/// - `meta`, `meta_len`: metadata, copied now; `meta` may be NULL if 0.
/// - `out_data`: receives a pointer to `data_len` writable bytes, 64-byte
///   aligned and valid until `os_seal` or `os_abort`.
///
/// # Returns
/// OS_OK, OS_ALREADY_EXISTS, OS_TOO_LARGE, OS_OUT_OF_MEMORY, OS_INVALID_ARGUMENT.
/// Only this handle may seal or abort the object; if the handle is closed,
/// or its process dies, first, the object is aborted.
#[no_mangle]
pub unsafe extern "C" fn os_create(
    store: *mut os_store,
    id: *const os_object_id,
    data_len: usize,
    meta: *const c_void,
    meta_len: usize,
    out_data: *mut *mut u8,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id, meta, out_data) = unsafe {
            (
                handle(store)?,
                args::id(id)?,
                args::bytes(meta.cast(), meta_len, "meta")?,
                Out::new(out_data, "out_data")?,
            )
        };
        out_data.write(s.create_raw(id, data_len, meta)?);
        Ok(())
    })
}

/// Like `os_create`, but the library chooses a fresh ID (as `os_put` does)
/// and writes it to `*out_id`: for building an object in place without
/// inventing an ID.
///
/// # Returns
/// As `os_create` (never OS_ALREADY_EXISTS).
#[no_mangle]
pub unsafe extern "C" fn os_create_new(
    store: *mut os_store,
    data_len: usize,
    meta: *const c_void,
    meta_len: usize,
    out_id: *mut os_object_id,
    out_data: *mut *mut u8,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, meta, out_id, out_data) = unsafe {
            (
                handle(store)?,
                args::bytes(meta.cast(), meta_len, "meta")?,
                Out::new(out_id, "out_id")?,
                Out::new(out_data, "out_data")?,
            )
        };
        let (id, p) = s.create_new_raw(data_len, meta)?;
        out_id.write(os_object_id { bytes: id.0 });
        out_data.write(p);
        Ok(())
    })
}

/// Seals an object this handle created: from now on it is visible to gets
/// and immutable. Wakes processes waiting for it.
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (no such object); OS_ALREADY_EXISTS (already sealed);
/// OS_INVALID_ARGUMENT (created by another handle, or NULL).
#[no_mangle]
pub unsafe extern "C" fn os_seal(store: *mut os_store, id: *const os_object_id) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.seal(id)
    })
}

/// Abandons an object this handle created and has not sealed; its memory is
/// freed and its ID free again.
///
/// # Returns
/// As `os_seal`.
#[no_mangle]
pub unsafe extern "C" fn os_abort(store: *mut os_store, id: *const os_object_id) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.abort(id)
    })
}

/// Gets and pins a sealed object. If it is not there yet, waits for another
/// process (or thread) to seal it.
///
/// # Arguments
/// - `timeout_ms`: 0 = do not wait; < 0 = wait forever; > 0 = wait at most
///   this many milliseconds.
/// - `out`: receives read-only views of the data and metadata, valid until
///   the matching `os_release` on this handle (or `os_close`).
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (absent, timeout 0); OS_TIMEOUT (still absent when
/// a positive timeout ran out); OS_CORRUPT (a damaged store);
/// OS_INVALID_ARGUMENT.
///
/// On a store with a remote (`os_options.remote_url`), an ID absent here is
/// fetched from the remote if it is published there (one process of the
/// machine fetches it into a local object; the others wait for it), and
/// looked for again until the timeout if it is not (with timeout 0 the
/// remote is asked once); a transfer, once begun, runs to its end whatever
/// the timeout. Then also: OS_CORRUPT or OS_INCOMPATIBLE (a
/// damaged remote object, or one of another format version: nothing is
/// kept), OS_PERMISSION_DENIED (credentials refused), OS_IO_ERROR (the
/// endpoint did not answer within the timeout; the message names it),
/// OS_TOO_LARGE or OS_OUT_OF_MEMORY (no room for it here).
///
/// A process that gets an object twice releases it twice. A get of an
/// object present here is a hash probe and a few atomic operations: no
/// syscall, no allocation, no lock shared with other processes.
#[no_mangle]
pub unsafe extern "C" fn os_get(
    store: *mut os_store,
    id: *const os_object_id,
    timeout_ms: i64,
    out: *mut os_buffer,
) -> os_status {
    // The hot path, an object this handle got lately, runs outside the
    // panic boundary: nothing in it fails or panics. Every other case:
    // `get_rest`, and every argument error `get_checked`.
    // SAFETY: the pointer contract of the header's preamble.
    match unsafe { args::hot(store, id) } {
        Some((s, key)) if !out.is_null() => match s.get_again(key) {
            Ok(raw) => {
                // SAFETY: non-null, and writable by the contract.
                unsafe { out.write(buffer_of(&raw)) };
                OS_OK
            }
            // SAFETY: non-null, and writable by the contract.
            Err(missed) => get_rest(s, key, timeout_ms, unsafe { Out::non_null(out) }, missed),
        },
        // SAFETY: the pointer contract.
        _ => unsafe { get_checked(store, id, timeout_ms, out) },
    }
}

/// `os_get` with every argument checked.
///
/// # Safety
/// The pointer contract of `os_get`.
#[cold]
#[inline(never)]
unsafe extern "C" fn get_checked(
    store: *mut os_store,
    id: *const os_object_id,
    timeout_ms: i64,
    out: *mut os_buffer,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id, out) = unsafe { (handle(store)?, args::id(id)?, Out::new(out, "out")?) };
        get_after(s, id, timeout_ms, &out, GetMissed::Everything)
    })
}

/// `os_get` after its hot path stopped at `missed`. `extern "C"`, which
/// cannot unwind (its boundary catches panics), so that `os_get` calls it
/// with no landing pad around the call: as its last step, a jump. Rust
/// code calls it, never C.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn get_rest(s: &Store, id: &ObjectId, timeout_ms: i64, out: Out<os_buffer>, missed: GetMissed) -> os_status {
    boundary(|| get_after(s, id, timeout_ms, &out, missed))
}

#[inline(always)]
fn get_after(s: &Store, id: &ObjectId, timeout_ms: i64, out: &Out<os_buffer>, missed: GetMissed) -> crate::Result<()> {
    let raw = match s.get_present_after(id, missed) {
        Present::Pinned(raw) => raw,
        Present::Absent if timeout_ms == 0 && !s.has_remote() => return Err(Error::object_not_found(id.0)),
        Present::Absent | Present::Other => s.get_any(id, timeout_of(timeout_ms))?,
    };
    out.write(buffer_of(&raw));
    Ok(())
}

/// `os_get`, ending early with OS_CANCELLED if `cancel` is cancelled
/// (`os_canceller_cancel`, from another thread) while it waits, or was
/// before it began. `cancel` may be NULL: then it is `os_get`.
///
/// # Returns
/// As `os_get`, and OS_CANCELLED (nothing pinned, `*out` not written).
/// On a store with a remote, a request to the remote not answered yet is
/// dropped at the cancel (within about a millisecond); a transfer under way
/// runs to its end first.
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

/// Gets and pins `n` objects, waiting up to the timeout for those not yet
/// sealed (like Ray's `ray.get(list)`).
///
/// # Arguments
/// - `ids`: `n` IDs (may repeat; each entry pins once). NULL only if `n` is 0.
/// - `out`: `n` entries, written in every case except an argument error.
///
/// # Returns
/// OS_OK when all are pinned. OS_TIMEOUT (positive timeout) or OS_NOT_FOUND
/// (timeout 0) when some are missing: their entries have a NULL `data`, and
/// the others are pinned and must be released. Any other error: no entry is
/// pinned and every `data` is NULL.
#[no_mangle]
pub unsafe extern "C" fn os_get_many(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    timeout_ms: i64,
    out: *mut os_buffer,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble.
    unsafe { os_get_many_cancellable(store, ids, n, timeout_ms, std::ptr::null(), out) }
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

/// Drops one pin this handle holds on an object. Once no process pins a
/// deleted object, its memory is freed.
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (no such object); OS_INVALID_ARGUMENT (this handle
/// holds no pin on it, or NULL).
#[no_mangle]
pub unsafe extern "C" fn os_release(store: *mut os_store, id: *const os_object_id) -> os_status {
    // The hot path outside the panic boundary, as in `os_get`.
    // SAFETY: the pointer contract of the header's preamble.
    let missed = match unsafe { args::hot(store, id) } {
        Some((s, key)) => match s.release_again(key) {
            Ok(()) => return OS_OK,
            Err(missed) => missed,
        },
        None => ReleaseMissed::Everything,
    };
    // SAFETY: the pointer contract.
    unsafe { release_after(store, id, missed) }
}

/// `os_release` after its hot path stopped at `missed` (`extern "C"` as
/// `get_rest`, so that `os_release` jumps to it). Rust code calls it,
/// never C (`missed` is a Rust enum), and it is not exported.
///
/// # Safety
/// The pointer contract of `os_release`.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
unsafe extern "C" fn release_after(store: *mut os_store, id: *const os_object_id, missed: ReleaseMissed) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.release_after(id, missed)
    })
}

/// Deletes a sealed object. It is invisible to gets and `os_contains` at
/// once; its memory is freed when the last pin is released, and until then
/// its ID stays reserved (a put of it gives OS_ALREADY_EXISTS). References
/// (`os_ref`) and tickets not yet taken keep a deleted object's memory and
/// ID the same way, until the last is dropped (`os_unref`; a take of the
/// ticket, which then gives OS_NOT_FOUND; the holder's or giver's exit).
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (absent or already deleted); OS_NOT_SEALED (created
/// but not sealed); OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_delete(store: *mut os_store, id: *const os_object_id) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.delete(id)
    })
}

/// Writes to `*out` whether a sealed object with this ID is in the store
/// (in memory or spilled). Does not pin it.
///
/// # Returns
/// OS_OK or OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_contains(store: *mut os_store, id: *const os_object_id, out: *mut bool) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id, out) = unsafe { (handle(store)?, args::id(id)?, Out::new(out, "out")?) };
        out.write(s.contains(id)?);
        Ok(())
    })
}
