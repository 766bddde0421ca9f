//! State guarded by the GIL instead of a lock.
//!
//! This module is built for CPython's limited API (abi3), which the
//! free-threaded builds do not load: every call into it holds the GIL, and
//! a `Python` token proves it. A `GilCell` is touched only inside `with`,
//! whose closure must not run Python code (which could release the GIL or
//! re-enter the cell): it only reads or swaps Rust values.

use std::cell::UnsafeCell;

use pyo3::Python;

pub struct GilCell<T>(UnsafeCell<T>);

// SAFETY: access is serialized by the GIL (see above); T moves between
// threads only as the GIL does.
unsafe impl<T: Send> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub const fn new(v: T) -> GilCell<T> {
        GilCell(UnsafeCell::new(v))
    }

    /// Runs `f` on the value. `f` must not call into Python.
    #[inline]
    pub fn with<R>(&self, _py: Python<'_>, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the GIL is held (the token), and `f` does not run Python
        // code, so no other thread or re-entrant call can reach the value.
        unsafe { f(&mut *self.0.get()) }
    }
}
