//! Exported helpers: options defaults, status text, last error, hex IDs,
//! version.

use std::ffi::c_char;

use super::types::*;
use super::*;
use crate::id::ObjectId;

/// Default options: every size chosen by the library (0), 256 processes,
/// mode 0600, no spill directory, no flags. Cannot fail.
#[no_mangle]
pub extern "C" fn os_options_default() -> os_options {
    os_options {
        struct_size: std::mem::size_of::<os_options>() as u32,
        capacity_bytes: 0,
        max_objects: 0,
        max_processes: 256,
        spill_dir: std::ptr::null(),
        mode: 0o600,
        flags: 0,
    }
}

/// A static, NUL-terminated description of a status code (any value, known
/// or not). Never NULL; do not free it.
#[no_mangle]
pub extern "C" fn os_status_str(status: os_status) -> *const c_char {
    let s: &'static std::ffi::CStr = match status {
        OS_OK => c"ok",
        OS_INVALID_ARGUMENT => c"invalid argument",
        OS_NOT_FOUND => c"not found",
        OS_ALREADY_EXISTS => c"already exists",
        OS_OUT_OF_MEMORY => c"out of memory",
        OS_TOO_LARGE => c"object too large for the store",
        OS_TIMEOUT => c"timed out",
        OS_NOT_SEALED => c"object not sealed",
        OS_INCOMPATIBLE => c"incompatible store layout version",
        OS_CORRUPT => c"corrupt store or spill file",
        OS_IO_ERROR => c"I/O error",
        OS_PERMISSION_DENIED => c"permission denied",
        OS_TOO_MANY_PROCESSES => c"too many processes attached",
        OS_PANIC => c"internal error (panic)",
        _ => c"unknown status",
    };
    s.as_ptr()
}

/// The detail message of this thread's last failed call ("" if none). The
/// pointer stays valid for the life of the thread (a per-thread buffer that
/// the next failing call overwrites); do not free it. Cannot fail.
#[no_mangle]
pub extern "C" fn os_last_error() -> *const c_char {
    last_error_ptr()
}

/// Writes `id` as 40 lower-case hex characters and a NUL into `out` (41
/// bytes). Does nothing if either pointer is NULL. Cannot fail.
///
/// # Safety
/// Each pointer must be NULL (refused with OS_INVALID_ARGUMENT where not
/// allowed) or valid as described: `store` a live handle from `os_open`
/// that is not closed, strings NUL-terminated, buffers as long as their
/// length arguments say.
#[no_mangle]
pub unsafe extern "C" fn os_id_to_hex(id: *const os_object_id, out: *mut c_char) {
    if id.is_null() || out.is_null() {
        return;
    }
    let mut buf = [0u8; 40];
    // SAFETY: non-null and readable by contract.
    ObjectId(unsafe { (*id).bytes }).write_hex(&mut buf);
    // SAFETY: `out` has room for 41 bytes by contract.
    unsafe {
        std::ptr::copy_nonoverlapping(buf.as_ptr(), out.cast::<u8>(), 40);
        *out.add(40) = 0;
    }
}

/// Parses a NUL-terminated string of exactly 40 hex characters (either
/// case) into `*out`.
///
/// # Returns
/// OS_OK, or OS_INVALID_ARGUMENT (NULL, wrong length, non-hex character;
/// `os_last_error()` says which).
///
/// # Safety
/// Each pointer must be NULL (refused with OS_INVALID_ARGUMENT where not
/// allowed) or valid as described: `store` a live handle from `os_open`
/// that is not closed, strings NUL-terminated, buffers as long as their
/// length arguments say.
#[no_mangle]
pub unsafe extern "C" fn os_id_from_hex(hex: *const c_char, out: *mut os_object_id) -> os_status {
    boundary(|| {
        non_null(hex, "hex")?;
        non_null_mut(out, "out")?;
        // SAFETY: non-null and NUL-terminated by contract.
        let bytes = unsafe { std::ffi::CStr::from_ptr(hex) }.to_bytes();
        let id = ObjectId::from_hex_bytes(bytes)?;
        // SAFETY: non-null and writable by contract.
        unsafe { (*out).bytes = id.0 };
        Ok(())
    })
}

/// The library's version, e.g. "0.1.0" (static; do not free). Cannot fail.
#[no_mangle]
pub extern "C" fn os_version() -> *const c_char {
    static VERSION: &std::ffi::CStr =
        match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(s) => s,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}
