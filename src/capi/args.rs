//! Argument checks for the exported functions: handles, IDs, strings, byte
//! buffers and output pointers. Each checks for NULL (giving
//! OS_INVALID_ARGUMENT, with the argument's name) and relies, for the rest,
//! on the pointer contract of the header's preamble: a pointer that is not
//! NULL is valid for what its documentation says.

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::types::{os_object_id, os_store};
use crate::error::{err, Error, Result};
use crate::id::ObjectId;
use crate::Store;

/// The error of a NULL argument named `what`. Out of line, as is
/// `too_large`: a check's success path then carries neither the message
/// nor the argument's name (the name is only passed on the way here).
#[cold]
#[inline(never)]
fn null(what: &str) -> Error {
    err!(InvalidArgument, "{what} is NULL")
}

/// The error of a buffer argument named `what` of `len` bytes, more than
/// a slice can span.
#[cold]
#[inline(never)]
fn too_large(what: &str, len: usize) -> Error {
    err!(InvalidArgument, "{what} length {len} is too large")
}

/// The handle behind a C pointer.
///
/// # Safety
/// `p` must be NULL or a live handle from `os_open`.
#[inline]
pub(super) unsafe fn handle<'a>(p: *mut os_store) -> Result<&'a Store> {
    if p.is_null() {
        return Err(err!(InvalidArgument, "store is NULL"));
    }
    // SAFETY: non-null and live by contract; only shared access is formed.
    Ok(&unsafe { &*p }.store)
}

/// The store handle and ID of a call's hot path, which builds no error:
/// None if either is NULL (the call's full path then reports it).
///
/// # Safety
/// As `handle` and `id`.
#[inline(always)]
pub(super) unsafe fn hot<'a>(store: *mut os_store, id: *const os_object_id) -> Option<(&'a Store, &'a ObjectId)> {
    if store.is_null() || id.is_null() {
        return None;
    }
    // SAFETY: non-null, and live and readable by the caller's contract (see
    // `handle` and `id` for the layouts).
    Some(unsafe { (&(*store).store, &*id.cast::<ObjectId>()) })
}

/// An ID argument, read in place.
///
/// # Safety
/// `p` must be NULL or point to an os_object_id that stays unchanged for
/// `'a`.
#[inline]
pub(super) unsafe fn id<'a>(p: *const os_object_id) -> Result<&'a ObjectId> {
    if p.is_null() {
        return Err(err!(InvalidArgument, "id is NULL"));
    }
    // SAFETY: non-null and readable by contract; `os_object_id` is a
    // repr(C) struct of one [u8; 20] and `ObjectId` a repr(transparent)
    // [u8; 20], so they have one layout (alignment 1).
    Ok(unsafe { &*p.cast::<ObjectId>() })
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string.
pub(super) unsafe fn string<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null, and NUL-terminated by the caller's contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| err!(InvalidArgument, "{what} is not valid UTF-8"))
}

/// A NUL-terminated path argument (any bytes but NUL).
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string.
pub(super) unsafe fn path<'a>(p: *const c_char, what: &str) -> Result<&'a Path> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null, and NUL-terminated by the caller's contract.
    Ok(Path::new(OsStr::from_bytes(unsafe { CStr::from_ptr(p) }.to_bytes())))
}

/// The bytes of a NUL-terminated string argument.
///
/// # Safety
/// `p` must be NULL or point to a NUL-terminated string.
pub(super) unsafe fn c_bytes<'a>(p: *const c_char, what: &str) -> Result<&'a [u8]> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-null, and NUL-terminated by the caller's contract.
    Ok(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// A byte buffer argument: NULL is allowed only with length 0.
///
/// # Safety
/// `p` must be NULL or point to `len` readable bytes.
#[inline]
pub(super) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(what));
    }
    if len > isize::MAX as usize {
        return Err(too_large(what, len));
    }
    // SAFETY: non-null and `len` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An array argument of `n` elements: NULL is allowed only with `n` 0.
///
/// # Safety
/// `p` must be NULL or point to `n` readable elements.
pub(super) unsafe fn array<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(what));
    }
    if n > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(err!(InvalidArgument, "{what}: {n} elements is too many"));
    }
    // SAFETY: non-null and `n` readable elements by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// Checks that an output array of `n` entries of `stride` bytes can exist
/// (its size fits an isize), before anything is written to it.
pub(super) fn check_array_bytes(n: usize, stride: usize, what: &str) -> Result<()> {
    match n.checked_mul(stride) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(err!(InvalidArgument, "{what}: {n} entries of {stride} bytes is too many")),
    }
}

/// A checked output pointer: not NULL, and (by contract) writable.
pub(super) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Checks `p` for NULL.
    ///
    /// # Safety
    /// `p` must be NULL or valid for writing one `T` (or `n` of them, for
    /// `write_at`).
    #[inline]
    pub(super) unsafe fn new(p: *mut T, what: &str) -> Result<Out<T>> {
        // The error built in line here, not by `null`: measured, `null`
        // made `os_contains` dearer by 4 instructions (and a put cheaper
        // by as many).
        if p.is_null() {
            Err(err!(InvalidArgument, "{what} is NULL"))
        } else {
            Ok(Out(p))
        }
    }

    /// An output known not to be NULL.
    ///
    /// # Safety
    /// `p` must be non-null and valid for writing one `T`.
    #[inline(always)]
    pub(super) unsafe fn non_null(p: *mut T) -> Out<T> {
        Out(p)
    }

    /// Writes the output.
    #[inline]
    pub(super) fn write(&self, v: T) {
        // SAFETY: non-null (checked) and writable (the contract of `new`).
        unsafe { self.0.write(v) }
    }

    /// Writes element `i` of an output array of `n` elements (i < n).
    pub(super) fn write_at(&self, i: usize, n: usize, v: T) {
        assert!(i < n, "output index {i} past {n}");
        // SAFETY: i < n, and `n` elements are writable (the contract of `new`).
        unsafe { self.0.add(i).write(v) }
    }

    /// The pointer, for a struct written by size (`sized`).
    pub(super) fn ptr(&self) -> *mut T {
        self.0
    }

    /// Reads the current value (an in-out argument).
    pub(super) fn read(&self) -> T {
        // SAFETY: non-null and valid (the contract of `new`).
        unsafe { self.0.read() }
    }
}
