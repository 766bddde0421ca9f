//! The `_e` variants: each function that can fail (returns an `os_status`) again,
//! with one more argument, `os_error **err`, that receives the failure as
//! an object (see `error_object`): for callers whose tasks move between
//! threads, which cannot rely on `os_last_error()`.
//!
//! Each is its plain function, then `hand_over` of the error that call
//! left on this thread, within the one native call. Arguments, outputs and
//! statuses are the plain function's; the error is also this thread's last
//! error, as after the plain call.

use std::ffi::{c_char, c_void};

use super::cancel::{self, os_canceller};
use super::error_object::{hand_over, os_error};
use super::status::os_status;
use super::types::*;
use super::{ids, inspect, objects, refs, remote, store, version, wait};

/// `os_open`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_open_e(
    name: *const c_char,
    opts: *const os_options,
    out: *mut *mut os_store,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_open`.
    unsafe { hand_over(store::os_open(name, opts, out), err) }
}

/// `os_close`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_close_e(store: *mut os_store, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_close`.
    unsafe { hand_over(store::os_close(store), err) }
}

/// `os_destroy`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_destroy_e(name: *const c_char, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_destroy`.
    unsafe { hand_over(store::os_destroy(name), err) }
}

/// `os_collect`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_collect_e(store: *mut os_store, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_collect`.
    unsafe { hand_over(store::os_collect(store), err) }
}

/// `os_stats`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_stats_e(
    store: *mut os_store,
    out: *mut os_store_stats,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_stats`.
    unsafe { hand_over(store::os_stats(store, out), err) }
}

/// `os_list`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_list_e(
    store: *mut os_store,
    cursor: *mut u64,
    out: *mut os_object_info,
    capacity: usize,
    out_count: *mut usize,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_list`.
    unsafe { hand_over(store::os_list(store, cursor, out, capacity, out_count), err) }
}

/// `os_options_init`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_options_init_e(opts: *mut os_options, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_options_init`.
    unsafe { hand_over(store::os_options_init(opts), err) }
}

/// `os_put`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_put_e(
    store: *mut os_store,
    data: *const c_void,
    len: usize,
    out_id: *mut os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_put`.
    unsafe { hand_over(objects::os_put(store, data, len, out_id), err) }
}

/// `os_put_with_meta`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_put_with_meta_e(
    store: *mut os_store,
    data: *const c_void,
    len: usize,
    meta: *const c_void,
    meta_len: usize,
    out_id: *mut os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_put_with_meta`.
    unsafe { hand_over(objects::os_put_with_meta(store, data, len, meta, meta_len, out_id), err) }
}

/// `os_create`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_create_e(
    store: *mut os_store,
    id: *const os_object_id,
    data_len: usize,
    meta: *const c_void,
    meta_len: usize,
    out_data: *mut *mut u8,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_create`.
    unsafe { hand_over(objects::os_create(store, id, data_len, meta, meta_len, out_data), err) }
}

/// `os_create_new`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_create_new_e(
    store: *mut os_store,
    data_len: usize,
    meta: *const c_void,
    meta_len: usize,
    out_id: *mut os_object_id,
    out_data: *mut *mut u8,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_create_new`.
    unsafe { hand_over(objects::os_create_new(store, data_len, meta, meta_len, out_id, out_data), err) }
}

/// `os_seal`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_seal_e(
    store: *mut os_store,
    id: *const os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_seal`.
    unsafe { hand_over(objects::os_seal(store, id), err) }
}

/// `os_abort`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_abort_e(
    store: *mut os_store,
    id: *const os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_abort`.
    unsafe { hand_over(objects::os_abort(store, id), err) }
}

/// `os_get`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_get_e(
    store: *mut os_store,
    id: *const os_object_id,
    timeout_ms: i64,
    out: *mut os_buffer,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_get`.
    unsafe { hand_over(objects::os_get(store, id, timeout_ms, out), err) }
}

/// `os_get_many`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_get_many_e(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    timeout_ms: i64,
    out: *mut os_buffer,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_get_many`.
    unsafe { hand_over(objects::os_get_many(store, ids, n, timeout_ms, out), err) }
}

/// `os_publish`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_publish_e(
    store: *mut os_store,
    id: *const os_object_id,
    timeout_ms: i64,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_publish`.
    unsafe { hand_over(remote::os_publish(store, id, timeout_ms), err) }
}

/// `os_unpublish`, handing its error to `*err`: NULL on success, on failure
/// an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_unpublish_e(
    store: *mut os_store,
    id: *const os_object_id,
    timeout_ms: i64,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_unpublish`.
    unsafe { hand_over(remote::os_unpublish(store, id, timeout_ms), err) }
}

/// `os_release`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_release_e(
    store: *mut os_store,
    id: *const os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_release`.
    unsafe { hand_over(objects::os_release(store, id), err) }
}

/// `os_delete`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_delete_e(
    store: *mut os_store,
    id: *const os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_delete`.
    unsafe { hand_over(objects::os_delete(store, id), err) }
}

/// `os_contains`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_contains_e(
    store: *mut os_store,
    id: *const os_object_id,
    out: *mut bool,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_contains`.
    unsafe { hand_over(objects::os_contains(store, id, out), err) }
}

/// `os_id_from_hex`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_id_from_hex_e(
    hex: *const c_char,
    out: *mut os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_id_from_hex`.
    unsafe { hand_over(ids::os_id_from_hex(hex, out), err) }
}

/// `os_processes`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_processes_e(
    store: *mut os_store,
    out: *mut os_process_info,
    capacity: usize,
    out_count: *mut usize,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_processes`.
    unsafe { hand_over(inspect::os_processes(store, out, capacity, out_count), err) }
}

/// `os_pin_holders`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_pin_holders_e(
    store: *mut os_store,
    id: *const os_object_id,
    out: *mut os_process_info,
    capacity: usize,
    out_count: *mut usize,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_pin_holders`.
    unsafe { hand_over(inspect::os_pin_holders(store, id, out, capacity, out_count), err) }
}

/// `os_audit`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_audit_e(
    store: *mut os_store,
    report: *mut c_char,
    report_len: usize,
    out_problems: *mut usize,
    out_report_len: *mut usize,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_audit`.
    unsafe { hand_over(inspect::os_audit(store, report, report_len, out_problems, out_report_len), err) }
}

/// `os_check_version`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_check_version_e(header_version: u32, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, for `err`.
    unsafe { hand_over(version::os_check_version(header_version), err) }
}

/// `os_put_ex`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn os_put_ex_e(
    store: *mut os_store,
    data: *const c_void,
    len: usize,
    meta: *const c_void,
    meta_len: usize,
    flags: u32,
    out_id: *mut os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_put_ex`.
    unsafe { hand_over(refs::os_put_ex(store, data, len, meta, meta_len, flags, out_id), err) }
}

/// `os_create_ex`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn os_create_ex_e(
    store: *mut os_store,
    id_or_null: *const os_object_id,
    data_len: usize,
    meta: *const c_void,
    meta_len: usize,
    flags: u32,
    out_id: *mut os_object_id,
    out_data: *mut *mut u8,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_create_ex`.
    unsafe { hand_over(refs::os_create_ex(store, id_or_null, data_len, meta, meta_len, flags, out_id, out_data), err) }
}

/// `os_ref`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_ref_e(store: *mut os_store, id: *const os_object_id, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_ref`.
    unsafe { hand_over(refs::os_ref(store, id), err) }
}

/// `os_unref`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_unref_e(
    store: *mut os_store,
    id: *const os_object_id,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_unref`.
    unsafe { hand_over(refs::os_unref(store, id), err) }
}

/// `os_ref_give`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_ref_give_e(
    store: *mut os_store,
    id: *const os_object_id,
    out_ticket: *mut u64,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_ref_give`.
    unsafe { hand_over(refs::os_ref_give(store, id, out_ticket), err) }
}

/// `os_ref_take`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_ref_take_e(
    store: *mut os_store,
    id: *const os_object_id,
    ticket: u64,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_ref_take`.
    unsafe { hand_over(refs::os_ref_take(store, id, ticket), err) }
}

/// `os_wait`, handing its error to `*err`: NULL on success, on failure an
/// error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn os_wait_e(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    num_ready: usize,
    timeout_ms: i64,
    ready: *mut bool,
    out_num_ready: *mut usize,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_wait`.
    unsafe { hand_over(wait::os_wait(store, ids, n, num_ready, timeout_ms, ready, out_num_ready), err) }
}

/// `os_canceller_new`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_canceller_new_e(out: *mut *mut os_canceller, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_canceller_new`.
    unsafe { hand_over(cancel::os_canceller_new(out), err) }
}

/// `os_canceller_cancel`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_canceller_cancel_e(cancel: *const os_canceller, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_canceller_cancel`.
    unsafe { hand_over(cancel::os_canceller_cancel(cancel), err) }
}

/// `os_canceller_reset`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_canceller_reset_e(cancel: *const os_canceller, err: *mut *mut os_error) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_canceller_reset`.
    unsafe { hand_over(cancel::os_canceller_reset(cancel), err) }
}

/// `os_get_cancellable`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_get_cancellable_e(
    store: *mut os_store,
    id: *const os_object_id,
    timeout_ms: i64,
    cancel: *const os_canceller,
    out: *mut os_buffer,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_get_cancellable`.
    unsafe { hand_over(objects::os_get_cancellable(store, id, timeout_ms, cancel, out), err) }
}

/// `os_get_many_cancellable`, handing its error to `*err`: NULL on success,
/// on failure an error the caller frees with `os_error_free`. `err` may be
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn os_get_many_cancellable_e(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    timeout_ms: i64,
    cancel: *const os_canceller,
    out: *mut os_buffer,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_get_many_cancellable`.
    unsafe { hand_over(objects::os_get_many_cancellable(store, ids, n, timeout_ms, cancel, out), err) }
}

/// `os_wait_cancellable`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn os_wait_cancellable_e(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    num_ready: usize,
    timeout_ms: i64,
    cancel: *const os_canceller,
    ready: *mut bool,
    out_num_ready: *mut usize,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_wait_cancellable`.
    unsafe {
        hand_over(wait::os_wait_cancellable(store, ids, n, num_ready, timeout_ms, cancel, ready, out_num_ready), err)
    }
}

/// `os_wait_set_new`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_wait_set_new_e(
    store: *mut os_store,
    ids: *const os_object_id,
    n: usize,
    out: *mut *mut wait::os_wait_set,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_wait_set_new`.
    unsafe { hand_over(wait::os_wait_set_new(store, ids, n, out), err) }
}

/// `os_wait_set_next`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn os_wait_set_next_e(
    set: *mut wait::os_wait_set,
    max: usize,
    timeout_ms: i64,
    cancel: *const os_canceller,
    out_indices: *mut usize,
    out_n: *mut usize,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_wait_set_next`.
    unsafe { hand_over(wait::os_wait_set_next(set, max, timeout_ms, cancel, out_indices, out_n), err) }
}

/// `os_wait_set_add`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn os_wait_set_add_e(
    set: *mut wait::os_wait_set,
    ids: *const os_object_id,
    count: usize,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_wait_set_add`.
    unsafe { hand_over(wait::os_wait_set_add(set, ids, count), err) }
}

/// `os_tickets_outstanding`, handing its error to `*err`: NULL on success,
/// on failure an error the caller frees with `os_error_free`. `err` may be
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn os_tickets_outstanding_e(
    store: *mut os_store,
    out_count: *mut u64,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_tickets_outstanding`.
    unsafe { hand_over(refs::os_tickets_outstanding(store, out_count), err) }
}

/// `os_tickets_wait`, handing its error to `*err`: NULL on success, on
/// failure an error the caller frees with `os_error_free`. `err` may be
/// NULL.
#[no_mangle]
pub unsafe extern "C" fn os_tickets_wait_e(
    store: *mut os_store,
    timeout_ms: i64,
    cancel: *const os_canceller,
    err: *mut *mut os_error,
) -> os_status {
    // SAFETY: the pointer contract of the header's preamble, as for `os_tickets_wait`.
    unsafe { hand_over(refs::os_tickets_wait(store, timeout_ms, cancel), err) }
}

#[cfg(test)]
mod tests {
    /// The header's functions, as (name, parameters) pairs, each
    /// declaration joined onto one line.
    fn declarations() -> Vec<(String, String)> {
        let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/objstore.h")).unwrap();
        let mut out = Vec::new();
        let mut current: Option<String> = None;
        for line in header.lines() {
            if let Some(decl) = current.as_mut() {
                decl.push(' ');
                decl.push_str(line.trim());
            } else if line.starts_with("os_status os_") {
                current = Some(line.to_string());
            }
            if current.as_ref().is_some_and(|d| d.ends_with(';')) {
                let decl = current.take().unwrap();
                let open = decl.find('(').unwrap();
                let name = decl["os_status ".len()..open].to_string();
                out.push((name, decl[open + 1..decl.len() - 2].to_string()));
            }
        }
        out
    }

    #[test]
    #[cfg_attr(miri, ignore = "reads the header from disk, which Miri's isolation forbids")]
    fn every_function_with_a_status_has_an_e_twin() {
        let decls = declarations();
        assert!(decls.len() > 20, "too few declarations found: {decls:?}");
        // os_error_status returns a status but reads one: it cannot fail.
        for (name, params) in decls.iter().filter(|(n, _)| !n.ends_with("_e") && n != "os_error_status") {
            let twin = format!("{name}_e");
            let Some((_, twin_params)) = decls.iter().find(|(n, _)| *n == twin) else {
                panic!("{name} has no {twin}");
            };
            assert_eq!(twin_params, &format!("{params}, struct os_error **err"), "{twin}'s parameters");
        }
    }
}
