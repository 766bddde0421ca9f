//! The atomics every shared structure uses, routed through one place so that
//! the lock-free protocols can be model-checked with loom (`RUSTFLAGS="--cfg
//! loom"`), the way crossbeam does it.
//!
//! In a normal build these are the std atomics laid directly over the shared
//! mapping. Under loom they are loom's tracked atomics over a heap arena; the
//! protocol code is the same, only the storage differs.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Hint to the CPU inside a short process-local spin.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
