//! Status codes: `os_status`, the `OS_*` constants (generated from the one
//! table in `error`), their descriptions, and the last error message.

use std::ffi::c_char;

use super::last_error::last_error_ptr;
use crate::error::{status_table, ErrorKind};

/// A status code: `OS_OK` (0) or the reason a call failed.
#[allow(non_camel_case_types)]
pub type os_status = u32;

/// Success.
pub const OS_OK: os_status = 0;

macro_rules! define_status_consts {
    ($( $(#[doc = $doc:literal])* $kind:ident = $code:literal, $cname:ident, $text:literal; )*) => {
        $( $(#[doc = $doc])* pub const $cname: os_status = $code; )*
    };
}
status_table!(define_status_consts);

/// The status of an error kind.
#[inline]
pub(crate) fn status_of(kind: ErrorKind) -> os_status {
    kind.code()
}

/// A static, NUL-terminated description of a status code (any value, known
/// or not). Never NULL; do not free it.
#[no_mangle]
pub extern "C" fn os_status_str(status: os_status) -> *const c_char {
    match ErrorKind::from_code(status) {
        Some(kind) => kind.description_c().as_ptr(),
        None if status == OS_OK => c"ok".as_ptr(),
        None => c"unknown status".as_ptr(),
    }
}

/// The detail message of this thread's last failed call ("" if none). The
/// pointer stays valid for the life of the thread (a per-thread buffer that
/// the next failing call overwrites); do not free it. Cannot fail.
#[no_mangle]
pub extern "C" fn os_last_error() -> *const c_char {
    last_error_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_follow_the_table() {
        assert_eq!(OS_INVALID_ARGUMENT, ErrorKind::InvalidArgument.code());
        assert_eq!(OS_PANIC, ErrorKind::Panic.code());
        for k in ErrorKind::ALL {
            // SAFETY: os_status_str returns a static NUL-terminated string.
            let s = unsafe { std::ffi::CStr::from_ptr(os_status_str(k.code())) };
            assert_eq!(s.to_str().unwrap(), k.description());
        }
    }
}
