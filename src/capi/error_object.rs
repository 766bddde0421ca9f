//! Errors as objects the caller owns (`os_error`), handed back by the `_e`
//! variant of every function that returns a status.
//!
//! `os_last_error()` keeps the message per thread, which serves C and C++
//! well but not a runtime that moves its tasks between threads between two
//! calls: a goroutine (Go), a virtual thread (Java), a task of a green-thread
//! library. Such a caller cannot be sure that the thread reading the
//! message is the one that failed. So each `os_X` has an `os_X_e` with one
//! more argument, `os_error **err`, which receives the failure itself: its
//! status and its message, owned by the caller until `os_error_free`, valid
//! on any thread. This is how wasmtime's C API reports errors
//! (`wasmtime_error_t`), kept beside our status codes rather than instead
//! of them.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use super::last_error::last_error_of;
use super::status::{os_status, OS_OK};
use crate::error::Error;

/// A failure of a call: its status and its message. Owned by the caller,
/// who frees it with `os_error_free`; may be read and freed on any thread.
/// Opaque.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct os_error {
    status: os_status,
    error: Error,
    // Written out when first asked for, so that a failure whose message is
    // never read (a get of an absent ID, say) builds no string.
    message: OnceLock<CString>,
}

/// Completes an `_e` variant: on failure, hands the error of the call that
/// just failed on this thread to `*err`; on success sets `*err` to NULL.
/// `err` may be NULL (no error object wanted). Returns `status`.
///
/// # Safety
/// `err` is NULL or writable.
pub(super) unsafe fn hand_over(status: os_status, err: *mut *mut os_error) -> os_status {
    if err.is_null() {
        return status;
    }
    let e = if status == OS_OK {
        std::ptr::null_mut()
    } else {
        // The error of the call that just failed: it ran on this thread, in
        // this same native call, so nothing can have replaced it.
        let error = last_error_of(status);
        Box::into_raw(Box::new(os_error { status, error, message: OnceLock::new() }))
    };
    // SAFETY: non-null and writable by the contract above.
    unsafe { err.write(e) };
    status
}

/// The status of an error (never OS_OK), or OS_OK for NULL. Cannot fail.
#[no_mangle]
pub unsafe extern "C" fn os_error_status(err: *const os_error) -> os_status {
    if err.is_null() {
        return OS_OK;
    }
    // SAFETY: an error from an `_e` function, not freed (the pointer
    // contract); only shared access.
    unsafe { (*err).status }
}

/// The detail message of an error: what exactly went wrong ("" for NULL).
/// The string belongs to the error and lives until `os_error_free`. Cannot
/// fail.
#[no_mangle]
pub unsafe extern "C" fn os_error_message(err: *const os_error) -> *const c_char {
    if err.is_null() {
        return c"".as_ptr();
    }
    // SAFETY: as in os_error_status.
    let e = unsafe { &*err };
    e.message
        .get_or_init(|| {
            let text = e.error.to_string().replace('\0', "?");
            CString::new(text).unwrap_or_default()
        })
        .as_ptr()
}

/// Frees an error from an `_e` function. NULL is allowed (nothing happens).
/// Cannot fail.
#[no_mangle]
pub unsafe extern "C" fn os_error_free(err: *mut os_error) {
    if !err.is_null() {
        // SAFETY: an error from an `_e` function, freed once (the pointer
        // contract).
        drop(unsafe { Box::from_raw(err) });
    }
}
