//! Exported functions on object IDs: to and from hex.

use std::ffi::c_char;

use super::args::{self, Out};
use super::boundary::boundary;
use super::status::os_status;
use super::types::*;
use crate::id::ObjectId;

/// Writes `id` as 40 lower-case hex characters and a NUL into `out` (41
/// bytes). Does nothing if either pointer is NULL. Cannot fail.
#[no_mangle]
pub unsafe extern "C" fn os_id_to_hex(id: *const os_object_id, out: *mut c_char) {
    if id.is_null() || out.is_null() {
        return;
    }
    let mut buf = [0u8; 41];
    // SAFETY: non-null and readable (the pointer contract of the preamble).
    ObjectId(unsafe { (*id).bytes }).write_hex((&mut buf[..40]).try_into().expect("40 bytes"));
    // SAFETY: `out` has room for 41 bytes (the documented contract).
    unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), out.cast::<u8>(), 41) };
}

/// Parses a NUL-terminated string of exactly 40 hex characters (either
/// case) into `*out`.
///
/// # Returns
/// OS_OK, or OS_INVALID_ARGUMENT (NULL, wrong length, non-hex character;
/// `os_last_error()` says which).
#[no_mangle]
pub unsafe extern "C" fn os_id_from_hex(hex: *const c_char, out: *mut os_object_id) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (hex, out) = unsafe { (args::c_bytes(hex, "hex")?, Out::new(out, "out")?) };
        out.write(os_object_id { bytes: ObjectId::from_hex_bytes(hex)?.0 });
        Ok(())
    })
}
