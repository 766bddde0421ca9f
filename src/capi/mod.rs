//! The C ABI: the `os_*` functions of `include/objstore.h`.
//!
//! This layer only checks arguments, catches panics and maps errors; all
//! behaviour lives in the Rust API (`Store`). Conventions, as in the README:
//! - Every function returns an `os_status` (0 = OS_OK) unless it cannot fail.
//! - Inputs come first, outputs last; a buffer is followed by its length.
//! - Outputs are written only on success (the one exception, documented at
//!   `os_get_many`, is the partial result of a timeout).
//! - A NULL pointer where one is not allowed gives OS_INVALID_ARGUMENT.
//! - After a failure, `os_last_error()` gives this thread's detail message.
//! - A panic never unwinds into C: it is caught here and reported as OS_PANIC.

use std::cell::RefCell;
use std::ffi::{c_char, CStr};

use crate::error::{Error, ErrorKind};

// Declared in the order the header presents them.
mod types;
mod util;
mod store;
mod objects;

pub use objects::*;
pub use store::*;
pub use types::*;
pub use util::*;

/// A status code: `OS_OK` (0) or the reason a call failed.
#[allow(non_camel_case_types)]
pub type os_status = u32;

/// Success.
pub const OS_OK: os_status = 0;
/// A bad argument: NULL where not allowed, a value out of range, a handle used
/// from another process, an operation the object's state does not allow.
pub const OS_INVALID_ARGUMENT: os_status = 1;
/// No such object (or no such store, with OS_OPEN_ATTACH_ONLY).
pub const OS_NOT_FOUND: os_status = 2;
/// The ID names a live object (or the store exists, with OS_OPEN_CREATE_ONLY).
pub const OS_ALREADY_EXISTS: os_status = 3;
/// The store is full and nothing could be freed or spilled.
pub const OS_OUT_OF_MEMORY: os_status = 4;
/// The object is larger than the store could ever hold.
pub const OS_TOO_LARGE: os_status = 5;
/// A positive timeout ran out.
pub const OS_TIMEOUT: os_status = 6;
/// The object is created but not sealed yet.
pub const OS_NOT_SEALED: os_status = 7;
/// A store file of another layout version.
pub const OS_INCOMPATIBLE: os_status = 8;
/// A store file (or spill file) that fails its checks.
pub const OS_CORRUPT: os_status = 9;
/// An operating-system call failed.
pub const OS_IO_ERROR: os_status = 10;
/// The caller may not open or create the file.
pub const OS_PERMISSION_DENIED: os_status = 11;
/// Every process slot of the store is held by a live process.
pub const OS_TOO_MANY_PROCESSES: os_status = 12;
/// A bug in objstore, caught before it could unwind into the caller.
pub const OS_PANIC: os_status = 13;

pub(crate) fn status_of(kind: ErrorKind) -> os_status {
    match kind {
        ErrorKind::InvalidArgument => OS_INVALID_ARGUMENT,
        ErrorKind::NotFound => OS_NOT_FOUND,
        ErrorKind::AlreadyExists => OS_ALREADY_EXISTS,
        ErrorKind::OutOfMemory => OS_OUT_OF_MEMORY,
        ErrorKind::TooLarge => OS_TOO_LARGE,
        ErrorKind::Timeout => OS_TIMEOUT,
        ErrorKind::NotSealed => OS_NOT_SEALED,
        ErrorKind::Incompatible => OS_INCOMPATIBLE,
        ErrorKind::Corrupt => OS_CORRUPT,
        ErrorKind::Io => OS_IO_ERROR,
        ErrorKind::PermissionDenied => OS_PERMISSION_DENIED,
        ErrorKind::TooManyProcesses => OS_TOO_MANY_PROCESSES,
        ErrorKind::Panic => OS_PANIC,
    }
}

/// Longest message kept, terminator included; longer ones are cut.
const LAST_ERROR_LEN: usize = 1024;

thread_local! {
    // A fixed buffer overwritten in place: the pointer os_last_error() hands
    // out stays valid for the thread's whole life, so a caller that reads it
    // after another failing call sees a newer message, never freed memory.
    static LAST_ERROR: RefCell<[c_char; LAST_ERROR_LEN]> = const { RefCell::new([0; LAST_ERROR_LEN]) };
}

pub(crate) fn set_last_error(msg: &str) {
    let _ = LAST_ERROR.try_with(|e| {
        let mut buf = e.borrow_mut();
        let mut n = 0;
        for &b in msg.as_bytes().iter().take(LAST_ERROR_LEN - 1) {
            buf[n] = if b == 0 { b'?' as c_char } else { b as c_char };
            n += 1;
        }
        // Never end inside a UTF-8 sequence.
        while n > 0 && n < msg.len() && (msg.as_bytes()[n] & 0xc0) == 0x80 {
            n -= 1;
        }
        buf[n] = 0;
    });
}

pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.try_with(|e| e.as_ptr().cast::<c_char>() as *const c_char).unwrap_or(c"".as_ptr())
}

/// Runs the body of an exported function: its `Result` becomes a status and
/// a last-error message, and a panic becomes OS_PANIC.
pub(crate) fn boundary(f: impl FnOnce() -> Result<(), Error>) -> os_status {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => OS_OK,
        Ok(Err(e)) => {
            set_last_error(&e.to_string());
            status_of(e.kind())
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (panic): {what}"));
            OS_PANIC
        }
    }
}

/// Checks a pointer argument: Err(InvalidArgument) if NULL.
pub(crate) fn non_null<T>(p: *const T, what: &str) -> Result<*const T, Error> {
    if p.is_null() {
        Err(Error::new(ErrorKind::InvalidArgument, format!("{what} is NULL")))
    } else {
        Ok(p)
    }
}

/// Checks an output pointer argument: Err(InvalidArgument) if NULL.
pub(crate) fn non_null_mut<T>(p: *mut T, what: &str) -> Result<*mut T, Error> {
    non_null(p as *const T, what).map(|_| p)
}

/// Reads a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Error> {
    non_null(p, what)?;
    // SAFETY: non-null, and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("{what} is not valid UTF-8")))
}

/// A byte buffer argument: NULL is allowed only with length 0.
///
/// # Safety
/// `p` must be NULL or point to `len` readable bytes.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], Error> {
    if len == 0 {
        return Ok(&[]);
    }
    non_null(p, what)?;
    if len > isize::MAX as usize {
        return Err(Error::new(ErrorKind::InvalidArgument, format!("{what} length {len} is too large")));
    }
    // SAFETY: non-null and `len` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}
