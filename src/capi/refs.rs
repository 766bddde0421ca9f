//! Exported functions on object lifetime: puts and creates with object
//! flags, references, and tickets that hand a reference over.

use std::ffi::c_void;

use super::args::{self, handle, Out};
use super::boundary::boundary;
use super::cancel::{optional_canceller, os_canceller};
use super::objects::timeout_of;
use super::status::os_status;
use super::types::*;

/// Like `os_put_with_meta`, with object flags.
///
/// # Arguments
/// - `data`, `len`, `meta`, `meta_len`: as `os_put_with_meta`.
/// - `flags`: OS_OBJECT_REFCOUNTED (freed when no process holds a reference
///   or a pin; this handle holds the first reference) and
///   OS_OBJECT_EVICTABLE (may be deleted when memory runs short), or-ed; 0
///   for a plain object.
/// - `out_id`: receives the new ID on success. Must not be NULL.
///
/// # Returns
/// As `os_put`; OS_INVALID_ARGUMENT for an unknown flag.
#[no_mangle]
pub unsafe extern "C" fn os_put_ex(
    store: *mut os_store,
    data: *const c_void,
    len: usize,
    meta: *const c_void,
    meta_len: usize,
    flags: u32,
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
        let id = s.put_ex(data, meta, flags)?;
        out_id.write(os_object_id { bytes: id.0 });
        Ok(())
    })
}

/// Like `os_create` (with `id`) or `os_create_new` (`id` NULL), with object
/// flags as `os_put_ex`. With OS_OBJECT_REFCOUNTED this handle holds the
/// object's first reference from now on; if the object is aborted, the
/// reference goes with it.
///
/// # Arguments
/// - `id_or_null`: the ID, or NULL for a fresh one.
/// - `data_len`, `meta`, `meta_len`: as `os_create`.
/// - `flags`: as `os_put_ex`.
/// - `out_id`: receives the ID (the one given, or the fresh one). Must not
///   be NULL.
/// - `out_data`: receives a pointer to `data_len` writable bytes, as
///   `os_create`. Must not be NULL.
///
/// # Returns
/// As `os_create`; OS_INVALID_ARGUMENT for an unknown flag.
#[no_mangle]
pub unsafe extern "C" fn os_create_ex(
    store: *mut os_store,
    id_or_null: *const os_object_id,
    data_len: usize,
    meta: *const c_void,
    meta_len: usize,
    flags: u32,
    out_id: *mut os_object_id,
    out_data: *mut *mut u8,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id, meta, out_id, out_data) = unsafe {
            (
                handle(store)?,
                if id_or_null.is_null() { None } else { Some(args::id(id_or_null)?) },
                args::bytes(meta.cast(), meta_len, "meta")?,
                Out::new(out_id, "out_id")?,
                Out::new(out_data, "out_data")?,
            )
        };
        let (id, p) = s.create_ex_raw(id, data_len, meta, flags)?;
        out_id.write(os_object_id { bytes: id.0 });
        out_data.write(p);
        Ok(())
    })
}

/// Takes one more reference to a sealed object for this handle: while any
/// process holds a reference, the object is not freed, and an
/// OS_OBJECT_REFCOUNTED one is not deleted. A reference is not a pin: the
/// object may still be spilled. Closing the handle drops its references.
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (absent, deleted, or being deleted because its last
/// reference was dropped); OS_OUT_OF_MEMORY (a process in a slot beyond the
/// first 45 keeps references in a table that is full); OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_ref(store: *mut os_store, id: *const os_object_id) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.add_ref(id)
    })
}

/// Drops one of this handle's references. An OS_OBJECT_REFCOUNTED object
/// that no process references or pins any more is deleted (as by
/// `os_delete`) before this returns; a deleted object kept by references is
/// freed with the last one. The pin a spill takes to write the object out
/// does not hold it; nor, therefore, does a get in the process that is
/// spilling that object at that moment (the two share the process's pin):
/// the object is then deleted under the get, whose view stays valid until
/// it is released.
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (this handle holds no reference to it);
/// OS_NOT_SEALED (created and not sealed yet: the creator's reference is
/// dropped with an abort); OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_unref(store: *mut os_store, id: *const os_object_id) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.unref(id)
    })
}

/// Moves one of this handle's references into a ticket, a number that can
/// cross a pipe, a queue or a pickled argument: until a process takes it
/// with `os_ref_take`, the reference is charged to this process and dropped
/// if the process closes the store (its last handle) or dies. There is no
/// moment at which nobody holds the object.
///
/// # Arguments
/// - `out_ticket`: receives the ticket. Must not be NULL.
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (this handle holds no reference, or the object is
/// deleted); OS_OUT_OF_MEMORY (the store's table of tickets is full: it
/// has an entry per 32 object slots, at least 256, for the tickets
/// outstanding and the references of processes in slots past the first
/// 64); OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_ref_give(store: *mut os_store, id: *const os_object_id, out_ticket: *mut u64) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id, out) = unsafe { (handle(store)?, args::id(id)?, Out::new(out_ticket, "out_ticket")?) };
        out.write(s.give_ref(id)?);
        Ok(())
    })
}

/// Takes the reference a ticket holds: this handle holds it from now on. A
/// ticket is taken at most once.
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (no such ticket outstanding for this object: taken
/// already, dropped with its giver, given for another object, or never
/// given; or the object is absent, or deleted since the ticket was given:
/// then the ticket is dropped, and with it what it held of the deleted
/// object); OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_ref_take(store: *mut os_store, id: *const os_object_id, ticket: u64) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id) = unsafe { (handle(store)?, args::id(id)?) };
        s.take_ref(id, ticket)
    })
}

/// How many tickets this process gave (`os_ref_give`, through any of its
/// handles) that no process has taken yet.
///
/// # Arguments
/// - `out_count`: receives the count. Must not be NULL.
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_tickets_outstanding(store: *mut os_store, out_count: *mut u64) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, out) = unsafe { (handle(store)?, Out::new(out_count, "out_count")?) };
        out.write(s.tickets_outstanding()?);
        Ok(())
    })
}

/// Waits until every ticket this process gave is taken: what a process
/// that sent references and is about to exit does (a pool's worker
/// returning results), so that its tickets, and the objects they alone
/// hold, do not go with it before their receivers take them. A process
/// that exits without closing the store leaves its tickets until a
/// survivor reclaims it; one that closes it drops them then, after
/// `os_options.ticket_linger_ms`. Looks at the store's table of tickets
/// again after sleeps growing to 10 ms (a take wakes nobody), so it
/// returns up to 10 ms after the last take or the cancel.
///
/// # Arguments
/// - `timeout_ms`: as `os_get` (0: look once, < 0: no limit).
/// - `cancel`: as `os_get_cancellable` (NULL: none).
///
/// # Returns
/// OS_OK (none outstanding); OS_TIMEOUT (some still outstanding: the error
/// says how many); OS_CANCELLED; OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_tickets_wait(
    store: *mut os_store,
    timeout_ms: i64,
    cancel: *const os_canceller,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, cancel) = unsafe { (handle(store)?, optional_canceller(cancel)) };
        s.wait_tickets_taken(timeout_of(timeout_ms), cancel)
    })
}
