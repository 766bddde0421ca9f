//! Handles, pins and creations, and the fork generation.
//!
//! Lifetimes, in one place:
//!
//! - A `Handle` is one `objstore::Store` (one attachment of this process).
//!   A Python `Store` holds one `Arc<Handle>`; every pin and every creation
//!   holds another, so closing a Store while values from it are alive
//!   detaches only when they are gone: their memory stays mapped while they
//!   can be read.
//! - A `PinState` is one pin (one successful get) of one object. Every
//!   zero-copy view of the value (memoryviews, ndarrays, the out-of-band
//!   buffers of a pickled value) hangs on a `SharedBuffer` that holds an
//!   `Arc<PinState>`; the pin is released when the last of them goes, or
//!   earlier by an explicit release (`Pinned`, `Buffer`), whichever comes
//!   first, once.
//! - A `CreationState` is an object created in place and not yet sealed:
//!   dropped unsealed (its PendingObject and every view of its memory gone),
//!   it is aborted.
//! - A handle belongs to the process that opened it. After a fork the
//!   child's first call re-attaches (a new Handle); pins and creations
//!   inherited from the parent are the parent's, and the child never
//!   releases or aborts them (the parent does, or reclaim after its death).
//!   `FORK_GEN` is bumped in every fork child (pthread_atfork), so that
//!   "is this the process that made it?" costs a load, not a getpid().

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};

use objstore::ObjectId;
use pyo3::Python;

/// Bumped in the child of every fork.
pub static FORK_GEN: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    FORK_GEN.fetch_add(1, Ordering::Relaxed);
}

pub fn register_fork_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| unsafe {
        libc::pthread_atfork(None, None, Some(after_fork_in_child));
    });
}

#[inline]
pub fn fork_gen() -> u64 {
    FORK_GEN.load(Ordering::Relaxed)
}

/// One attachment to a store, made in fork generation `gen`.
pub struct Handle {
    pub store: ManuallyDrop<objstore::Store>,
    pub gen: u64,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and not used after.
        let store = unsafe { ManuallyDrop::take(&mut self.store) };
        if !(self.is_current() && store.tickets_outstanding().is_ok_and(|n| n > 0)) {
            drop(store);
            return;
        }
        // The last handle of the process detaches, and a detach waits up to
        // the store's ticket_linger for this process's tickets to be taken:
        // with the GIL released, so that the other threads run meanwhile
        // (among them, perhaps, the one that sends the pickles whose
        // tickets it waits for). Attaching is a no-op on a thread that
        // holds the GIL; where the interpreter is shutting down it is
        // refused, and the store goes here.
        let mut store = Some(store);
        let _ = Python::try_attach(|py| py.detach(|| drop(store.take())));
        drop(store);
    }
}

impl Handle {
    pub fn new(store: objstore::Store) -> Handle {
        Handle { store: ManuallyDrop::new(store), gen: fork_gen() }
    }

    #[inline]
    pub fn is_current(&self) -> bool {
        self.gen == fork_gen()
    }
}

/// One pin of one object through one handle.
pub struct PinState {
    pub handle: Arc<Handle>,
    pub id: ObjectId,
    released: AtomicBool,
}

impl PinState {
    pub fn new(handle: Arc<Handle>, id: ObjectId) -> Arc<PinState> {
        Arc::new(PinState { handle, id, released: AtomicBool::new(false) })
    }

    /// Releases the pin now; false if it was released already.
    pub fn release(&self) -> bool {
        if self.released.swap(true, Ordering::AcqRel) {
            return false;
        }
        if self.handle.is_current() {
            let _ = self.handle.store.release(&self.id);
        }
        true
    }

    pub fn released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }
}

impl Drop for PinState {
    fn drop(&mut self) {
        self.release();
    }
}

/// An object created in place through one handle, not yet sealed.
pub struct CreationState {
    pub handle: Arc<Handle>,
    pub id: ObjectId,
    pub ptr: *mut u8,
    pub len: usize,
    open: AtomicBool,
}

// SAFETY: `ptr` addresses the store's shared mapping, which the handle keeps
// mapped; it carries no thread affinity.
unsafe impl Send for CreationState {}
unsafe impl Sync for CreationState {}

impl CreationState {
    pub fn new(handle: Arc<Handle>, id: ObjectId, ptr: *mut u8, len: usize) -> Arc<CreationState> {
        Arc::new(CreationState { handle, id, ptr, len, open: AtomicBool::new(true) })
    }

    /// Takes the right to seal or abort (once).
    pub fn take(&self) -> bool {
        self.open.swap(false, Ordering::AcqRel)
    }

    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

impl Drop for CreationState {
    fn drop(&mut self) {
        if self.handle.is_current() && self.take() {
            let _ = self.handle.store.abort(&self.id);
        }
    }
}

/// What keeps a SharedBuffer's memory valid (held for its Drop).
#[derive(Clone)]
#[allow(dead_code)]
pub enum Owner {
    Pin(Arc<PinState>),
    Creation(Arc<CreationState>),
}
