//! Cancelling blocked waits from another thread: a `Canceller` given to a
//! get, get_many or wait ends it with `ErrorKind::Cancelled` as soon as
//! another thread calls `cancel` (within a futex wake-up, not a polling
//! interval), so that Go contexts, Python's Ctrl-C and asyncio need no
//! slicing loop.
//!
//! A waiter registers the wait word it sleeps on with the canceller, then
//! looks at the canceller's flag after each read of the word's sequence
//! and before each sleep (`shared::wait`); `cancel` raises the flag, then
//! wakes every word registered. The canceller's lock orders the two: a
//! waiter registered before `cancel` takes the lock is woken, one that
//! registers after sees the flag. A canceller stays cancelled (every later
//! wait with it ends at once) until `reset`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::object::Attachment;

/// Cancels the waits it is given to. Cheap to clone (clones share it); may
/// be used from any thread.
#[derive(Clone, Debug, Default)]
pub struct Canceller {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    cancelled: AtomicBool,
    next: AtomicU64,
    /// The waits under way: a number, the store and the word each sleeps on.
    waiting: Mutex<Vec<(u64, Arc<Attachment>, usize)>>,
}

impl Canceller {
    /// A canceller, not cancelled.
    pub fn new() -> Canceller {
        Canceller::default()
    }

    /// Cancels every wait under way with this canceller, and every later
    /// one until `reset`: each returns `ErrorKind::Cancelled`.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        for (_, att, which) in self.lock().iter() {
            att.region().waits().word(*which).wake();
        }
    }

    /// Whether `cancel` was called (since the last `reset`).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Makes the canceller usable again for later waits.
    pub fn reset(&self) {
        self.inner.cancelled.store(false, Ordering::SeqCst);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(u64, Arc<Attachment>, usize)>> {
        self.inner.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a wait on word `which` of `att`'s store, until the guard
    /// drops.
    pub(super) fn register(&self, att: &Arc<Attachment>, which: usize) -> Registered<'_> {
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.lock().push((n, att.clone(), which));
        Registered { canceller: self, n }
    }
}

/// A wait registered with a canceller; unregistered when dropped.
pub(super) struct Registered<'a> {
    canceller: &'a Canceller,
    n: u64,
}

impl Registered<'_> {
    /// The test the wait looks at.
    pub(super) fn cancelled(&self) -> bool {
        self.canceller.is_cancelled()
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.canceller.lock().retain(|(n, _, _)| *n != self.n);
    }
}
