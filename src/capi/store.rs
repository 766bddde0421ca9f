//! Exported functions on a whole store: open, close, destroy, collect,
//! stats, list, and the default options.

use std::ffi::{c_char, CStr};

use super::args::{self, handle, Out};
use super::boundary::boundary;
use super::sized;
use super::status::os_status;
use super::types::*;
use crate::error::err;
use crate::{ObjectState, Options, Store};

/// Opens the store `name`, creating it if it does not exist.
///
/// # Arguments
/// - `name`: a store name (no '/': the file /dev/shm/NAME) or a path (with a
///   '/': a file on hugetlbfs or on disk). Must not be NULL.
/// - `opts`: options from `os_options_default()`, or NULL for the defaults.
///   When the store exists, its capacity and limits come from the file and
///   only the flags, `spill_dir` and `remote_url` of `opts` matter.
/// - `out`: receives the new handle on success. Must not be NULL.
///
/// # Returns
/// OS_OK; OS_ALREADY_EXISTS (OS_OPEN_CREATE_ONLY and it exists); OS_NOT_FOUND
/// (OS_OPEN_ATTACH_ONLY and it does not); OS_PERMISSION_DENIED;
/// OS_CORRUPT or OS_INCOMPATIBLE (a damaged or foreign file);
/// OS_OUT_OF_MEMORY (no room for the store file); OS_TOO_MANY_PROCESSES;
/// OS_INVALID_ARGUMENT; OS_IO_ERROR.
///
/// # Ownership
/// The handle belongs to the caller, who frees it with `os_close`. It may be
/// used from many threads at once, in this process only: a child made by
/// fork() must open the store again. Opening the same store twice in one
/// process gives two handles sharing one attachment.
#[no_mangle]
pub unsafe extern "C" fn os_open(name: *const c_char, opts: *const os_options, out: *mut *mut os_store) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (name, out) = unsafe { (args::string(name, "name")?, Out::new(out, "out")?) };
        let options = if opts.is_null() {
            Options::default()
        } else {
            // SAFETY: non-null, and the caller's version of os_options by
            // the pointer contract: `struct_size` readable bytes.
            let o = unsafe {
                let size = sized::caller_size(opts, "opts")?;
                sized::read_prefix(opts, size, os_options_default(), "opts")?
            };
            // SAFETY: the caller's spill_dir and remote_url, NULL or NUL-terminated.
            unsafe { options_from_c(&o) }?
        };
        let store = Store::open(name, &options)?;
        out.write(Box::into_raw(Box::new(os_store::new(store))));
        Ok(())
    })
}

/// The store's spill directory (the one it was created with, as an absolute
/// path), or NULL when it has none or `store` is NULL. Cannot fail.
///
/// # Ownership
/// The string belongs to the handle: valid until `os_close(store)`; do not
/// free it.
#[no_mangle]
pub unsafe extern "C" fn os_spill_dir(store: *const os_store) -> *const c_char {
    // SAFETY: NULL or a handle from os_open not yet closed (the pointer
    // contract of the header's preamble).
    let handle = unsafe { store.as_ref() };
    handle.and_then(os_store::spill_dir).map_or(std::ptr::null(), CStr::as_ptr)
}

/// The store's remote URL ("s3://bucket/prefix", "file:///dir", …) fixed
/// when it was created, or NULL when it has none or `store` is NULL. Cannot
/// fail. (A library built without the remote tier cannot open a store that
/// has a remote, so there it is always NULL.)
///
/// # Ownership
/// The string belongs to the handle: valid until `os_close(store)`; do not
/// free it.
#[no_mangle]
pub unsafe extern "C" fn os_remote_url(store: *const os_store) -> *const c_char {
    // SAFETY: as in os_spill_dir.
    let handle = unsafe { store.as_ref() };
    handle.and_then(os_store::remote_url).map_or(std::ptr::null(), CStr::as_ptr)
}

/// Converts C options (complete: read by `sized::read_prefix`), checking
/// each field.
///
/// # Safety
/// `o.spill_dir` and `o.remote_url` must be NULL or NUL-terminated strings.
unsafe fn options_from_c(o: &os_options) -> crate::Result<Options> {
    let known = OS_OPEN_CREATE_ONLY | OS_OPEN_ATTACH_ONLY | OS_OPEN_PREFAULT | OS_OPEN_HUGEPAGES | OS_OPEN_ANY_OWNER;
    if o.flags & !known != 0 {
        return Err(err!(InvalidArgument, "unknown flags {:#x} in opts->flags", o.flags & !known));
    }
    let spill_dir = if o.spill_dir.is_null() {
        None
    } else {
        // SAFETY: non-null, NUL-terminated by contract.
        Some(unsafe { args::path(o.spill_dir, "opts->spill_dir") }?.to_path_buf())
    };
    let remote_url = if o.remote_url.is_null() {
        None
    } else {
        // SAFETY: non-null, NUL-terminated by contract.
        Some(unsafe { args::string(o.remote_url, "opts->remote_url") }?.to_string())
    };
    Ok(Options {
        capacity_bytes: o.capacity_bytes,
        max_objects: o.max_objects,
        max_processes: o.max_processes,
        spill_dir,
        mode: o.mode,
        create_only: o.flags & OS_OPEN_CREATE_ONLY != 0,
        attach_only: o.flags & OS_OPEN_ATTACH_ONLY != 0,
        prefault: o.flags & OS_OPEN_PREFAULT != 0,
        hugepages: o.flags & OS_OPEN_HUGEPAGES != 0,
        any_owner: o.flags & OS_OPEN_ANY_OWNER != 0,
        remote_url,
        ticket_linger: std::time::Duration::from_millis(o.ticket_linger_ms.into()),
        ..Options::default()
    })
}

/// Closes a handle: releases every pin it holds, aborts the objects it
/// created and did not seal, and frees it. Pointers from its gets become
/// invalid. The last handle of a process detaches the process.
///
/// In a child made by fork(), closing an inherited handle frees the child's
/// copy only and leaves the store to the parent.
///
/// # Returns
/// OS_OK, or OS_INVALID_ARGUMENT if `store` is NULL. The handle must not be
/// used again, and no other thread may be using it during the call.
#[no_mangle]
pub unsafe extern "C" fn os_close(store: *mut os_store) -> os_status {
    boundary(|| {
        if store.is_null() {
            return Err(err!(InvalidArgument, "store is NULL"));
        }
        // SAFETY: a handle from os_open, not used after this call (the
        // pointer contract of the header's preamble).
        drop(unsafe { Box::from_raw(store) });
        Ok(())
    })
}

/// Removes the store `name`: its file and its spill files. Processes still
/// attached keep working on their mapping until they close it; the next
/// `os_open` of the name creates a new store.
///
/// # Returns
/// OS_OK; OS_NOT_FOUND if there is no such store; OS_PERMISSION_DENIED;
/// OS_INVALID_ARGUMENT (NULL or bad name); OS_IO_ERROR.
#[no_mangle]
pub unsafe extern "C" fn os_destroy(name: *const c_char) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        Store::destroy(unsafe { args::string(name, "name") }?)
    })
}

/// Reclaims what dead processes held: their pins, their unsealed objects,
/// the steps they were in the middle of. The same happens at every attach
/// and whenever an allocation runs short. Thread-safe.
///
/// # Returns
/// OS_OK, OS_INVALID_ARGUMENT (NULL or a handle of another process), OS_IO_ERROR.
#[no_mangle]
pub unsafe extern "C" fn os_collect(store: *mut os_store) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        unsafe { handle(store) }?.collect().map(|_| ())
    })
}

/// Writes the store's counters to `*out`. Costs one scan of the store's
/// tables (proportional to max_objects). Thread-safe.
///
/// # Arguments
/// - `out`: the caller sets `out->struct_size` to `sizeof(os_store_stats)`
///   first; the library fills that many bytes and no more (see the
///   preamble's rule for structs).
///
/// # Returns
/// OS_OK, or OS_INVALID_ARGUMENT if an argument is NULL or
/// `out->struct_size` is less than OS_STORE_STATS_MIN_SIZE.
#[no_mangle]
pub unsafe extern "C" fn os_stats(store: *mut os_store, out: *mut os_store_stats) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, out) = unsafe { (handle(store)?, Out::new(out, "out")?) };
        // SAFETY: non-null; its struct_size is readable whatever its version.
        let size = unsafe { sized::caller_size(out.ptr(), "out") }?;
        let s = s.stats()?;
        let stats = os_store_stats {
            struct_size: std::mem::size_of::<os_store_stats>() as u32,
            capacity_bytes: s.capacity_bytes,
            used_bytes: s.used_bytes,
            object_count: s.object_count,
            unsealed_count: s.unsealed_count,
            pinned_count: s.pinned_count,
            spilled_count: s.spilled_count,
            spilled_bytes: s.spilled_bytes,
            max_objects: s.max_objects,
            attached_processes: s.attached_processes,
            max_processes: s.max_processes,
            reclaimed_processes: s.reclaimed_processes,
            spills_total: s.spills_total,
            restores_total: s.restores_total,
            references: s.references,
            referenced_count: s.referenced_count,
            tickets: s.tickets,
            evictions_total: s.evictions_total,
            publishes_total: s.publishes_total,
            published_bytes: s.published_bytes,
            fetches_total: s.fetches_total,
            fetched_bytes: s.fetched_bytes,
        };
        // SAFETY: the caller's struct has `size` writable bytes.
        unsafe { sized::write_prefix(out.ptr(), size, &stats) };
        Ok(())
    })
}

/// Lists the store's objects, a batch at a time.
///
/// Start with `*cursor = 0`. Each call writes up to `capacity` entries to
/// `out`, their number to `*out_count`, and advances `*cursor`; when the
/// whole store has been listed it sets `*cursor` to OS_LIST_END. The listing
/// is a scan, not a snapshot: objects put or deleted meanwhile may or may not
/// appear.
///
/// # Arguments
/// - `out`: an array of `capacity` entries. The caller sets
///   `out[0].struct_size` to `sizeof(os_object_info)`: it is the size of
///   every entry, and the library writes no byte past
///   `capacity * out[0].struct_size`. Each entry written gets the size the
///   library knows as its `struct_size` (the preamble's rule), so set
///   `out[0].struct_size` again before each call that reuses the array.
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT if an argument is NULL, `capacity` is 0 or
/// `out[0].struct_size` is less than OS_OBJECT_INFO_MIN_SIZE.
#[no_mangle]
pub unsafe extern "C" fn os_list(
    store: *mut os_store,
    cursor: *mut u64,
    out: *mut os_object_info,
    capacity: usize,
    out_count: *mut usize,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, cursor, out, out_count) = unsafe {
            (handle(store)?, Out::new(cursor, "cursor")?, Out::new(out, "out")?, Out::new(out_count, "out_count")?)
        };
        if capacity == 0 {
            return Err(err!(InvalidArgument, "capacity is 0"));
        }
        // SAFETY: non-null, and at least one entry (capacity > 0).
        let stride = unsafe { sized::caller_size(out.ptr(), "out[0]") }?;
        args::check_array_bytes(capacity, stride, "out")?;
        let (infos, next) = s.list_from(cursor.read(), capacity)?;
        for (i, info) in infos.iter().enumerate() {
            let state = match info.state {
                ObjectState::Unsealed => OS_OBJECT_UNSEALED,
                ObjectState::Sealed => OS_OBJECT_SEALED,
                ObjectState::Deleted => OS_OBJECT_DELETED,
                ObjectState::Spilled => OS_OBJECT_SPILLED,
            };
            let c = os_object_info {
                struct_size: std::mem::size_of::<os_object_info>() as u32,
                id: os_object_id { bytes: info.id.0 },
                data_len: info.data_len,
                meta_len: info.meta_len,
                state,
                pinning_processes: info.pinning_processes,
                created_unix: info.created_unix,
                referencing_processes: info.referencing_processes,
                flags: info.flags,
            };
            assert!(i < capacity, "os_list: entry {i} past {capacity}");
            // SAFETY: i < capacity entries of `stride` bytes (the contract).
            unsafe { sized::write_entry(out.ptr(), stride, i, &c) };
        }
        out_count.write(infos.len());
        cursor.write(next.unwrap_or(OS_LIST_END));
        Ok(())
    })
}

/// The default options, as the library's version of `os_options`: every
/// size chosen by the library (0), 256 processes, mode 0600, no spill
/// directory, no flags. C programs get them from the header's
/// `os_options_default()`, which calls `os_options_init` at the caller's
/// size.
pub fn os_options_default() -> os_options {
    os_options {
        struct_size: std::mem::size_of::<os_options>() as u32,
        capacity_bytes: 0,
        max_objects: 0,
        max_processes: 256,
        spill_dir: std::ptr::null(),
        mode: 0o600,
        flags: 0,
        remote_url: std::ptr::null(),
        ticket_linger_ms: 0,
    }
}

/// Fills `*opts` with the default options: every size chosen by the library
/// (0), 256 processes, mode 0600, no spill directory, no flags. The caller
/// sets `opts->struct_size` to `sizeof(os_options)` first; fields the
/// library does not know (a newer header's) are set to zero, which is their
/// default. The header's `os_options_default()` does this for you.
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT (NULL, or `struct_size` less than
/// OS_OPTIONS_MIN_SIZE).
#[no_mangle]
pub unsafe extern "C" fn os_options_init(opts: *mut os_options) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let opts = unsafe { Out::new(opts, "opts") }?;
        // SAFETY: non-null; its struct_size is readable whatever its version.
        let size = unsafe { sized::caller_size(opts.ptr(), "opts") }?;
        // SAFETY: the caller's struct has `size` writable bytes.
        unsafe { sized::write_prefix(opts.ptr(), size, &os_options_default()) };
        // An input struct keeps the caller's size: every byte of it is
        // valid now (the defaults, then zeros).
        // SAFETY: as above; struct_size is the first 4 bytes.
        unsafe { opts.ptr().cast::<u32>().write_unaligned(size as u32) };
        Ok(())
    })
}
