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

/// Orders a preceding SeqCst store or read-modify-write before a following
/// SeqCst load: the two halves of a Dekker handshake (pin vs. delete, index
/// insert vs. duplicate scan).
///
/// In the C11/Rust model, SeqCst operations already share one total order,
/// so a real build needs nothing here (and on x86 the locked RMW is a full
/// barrier). loom, however, models SeqCst loads and stores as AcqRel and
/// supports only `fence(SeqCst)` for the total order, so under loom this is
/// that fence: the model then checks what the real memory model guarantees.
#[inline(always)]
pub(crate) fn dekker_fence() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// Hint to the CPU inside a short process-local spin.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
