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

/// Runs loom model `f` over its executions with at most `preemptions`
/// preemptions each (unless `LOOM_MAX_PREEMPTIONS` says otherwise): the
/// bound that keeps a model of two or three threads to seconds. Every
/// atomic step counts as a branch, a model's set-up included, so the
/// branch limit is raised for models whose set-up takes many.
#[cfg(all(test, loom))]
pub(crate) fn check_model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(preemptions);
    }
    b.max_branches = b.max_branches.max(10_000);
    b.check(f);
}

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

/// A SeqCst load of a word on which a free or a spill is decided (a pin
/// count or a linger mask read by a process other than its writer).
///
/// A third process that learnt of a delete by reading the state, and then
/// decides whether the object is still pinned, relies on the C++20 rule that
/// SeqCst fences order what happens before them, not only what precedes them
/// in the same thread (x86 and ARMv8 are multi-copy atomic and give this).
/// loom implements the older rule, under which such a reader may see a stale
/// count; under loom the load is therefore a read-modify-write, which reads
/// the latest value, so that the model checks the protocol rather than the
/// difference between the two rules.
#[inline(always)]
pub(crate) fn decisive_load(a: &AtomicU64) -> u64 {
    #[cfg(loom)]
    return a.fetch_add(0, Ordering::SeqCst);
    #[cfg(not(loom))]
    a.load(Ordering::SeqCst)
}

/// Hint to the CPU inside a short process-local spin.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Gives up the CPU inside a process-local wait for another process's step.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(not(loom))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// How many times a lookup reads again what changed under it (a
/// descriptor's state, an index entry replaced in place): `n` in a real
/// build. Under loom, none unless a model asks with `ModelLookupRetries`:
/// every extra read multiplies the interleavings loom explores (a model of
/// two fetchers took minutes instead of seconds), and only the models of
/// lookups racing spills and restores are about these reads.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) const fn lookup_retries(n: usize) -> usize {
    n
}

/// Models under way that asked for re-reads (a count: the test harness
/// may run models side by side).
#[cfg(loom)]
static MODEL_LOOKUP_RETRIES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(loom)]
pub(crate) fn lookup_retries(n: usize) -> usize {
    // As many as loom's preemption bound lets a writer step under a read.
    if MODEL_LOOKUP_RETRIES.load(std::sync::atomic::Ordering::Relaxed) > 0 {
        n.min(3)
    } else {
        0
    }
}

/// Turns lookups' re-reads on (up to three) for the life of the value, in a
/// loom model (models run one at a time).
#[cfg(loom)]
pub(crate) struct ModelLookupRetries;

#[cfg(loom)]
impl ModelLookupRetries {
    pub(crate) fn on() -> ModelLookupRetries {
        MODEL_LOOKUP_RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ModelLookupRetries
    }
}

#[cfg(loom)]
impl Drop for ModelLookupRetries {
    fn drop(&mut self) {
        MODEL_LOOKUP_RETRIES.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
