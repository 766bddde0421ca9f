//! `WaitSet`: the core's wait set (`Store::wait_set`, `os_wait_set_new`)
//! for Python, behind ``objstore.as_completed`` and ``Store.as_completed``
//! (objstore._store, a generator over `next`).
//!
//! The set is made once from the references given; each `next` looks only
//! at what was sealed since the last one, so taking N results as they
//! finish costs O(N) in all, where a ``ray.wait`` loop (`Store.wait` on the
//! references not ready yet, again and again) looks up every one of them
//! on each call: O(N²).
//!
//! `next` hands out the very objects it was made with (ObjectRefs stay
//! ObjectRefs), each once. An ID given twice is kept once, the first object
//! that gave it, as `concurrent.futures.as_completed` keeps a future given
//! twice once: the core's set would hand it out twice.
//!
//! `add` grows the set (the core's `WaitSet::add`: each new ID looked at
//! once), under the same rule: an ID the set holds and has not handed out
//! yet is not added again; one it handed out already is, and is handed out
//! again once sealed (asyncio's waiter re-awaits an object that was sealed,
//! then deleted before its get). The IDs not handed out are kept with the
//! set under its lock, so an add and a `next` on other threads agree on
//! them; the objects given, Python's, are kept under the GIL and grow
//! before the lock is let go, so no `next` hands out an index they lack.
//!
//! # Waiting
//!
//! A first look needs no wait and no GIL release. A wait runs through
//! `interrupt::wait_interruptibly`, as a blocked get does: without the
//! GIL, Ctrl-C ending it at once on the main thread, and a
//! ``canceller=`` from any thread. The set lives in an `Arc<Mutex<_>>`
//! because that wait may run on a helper thread, which can outlive the
//! call when Ctrl-C abandons it: the objects such a wait took from the set
//! after all are put back (`taken_back`) and handed out first by the next
//! `next`, so none is lost. Only one wait runs on a set at a time (the
//! mutex, taken without the GIL).
//!
//! # Lifetime
//!
//! While a set exists the store's sealers log their seals (the core counts
//! the sets); `close` frees it now, else its garbage collection does. The
//! set holds its own attachment to the store (as an ObjectRef does), so it
//! keeps working after the Store that made it is closed; made in another
//! process (before a fork), it refuses to wait (InvalidArgument).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use objstore::{Canceller, ErrorKind, ObjectId};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::cancel::PyCanceller;
use crate::errors;
use crate::gil::GilCell;
use crate::interrupt::wait_interruptibly;
use crate::store::{fmt_secs, timeout_arg};

/// Sets of at least this many IDs are made with the GIL released (the
/// core looks each of them up once).
const DETACH_IDS: usize = 1024;

struct Inner {
    set: objstore::WaitSet,
    /// The IDs the set holds and has not handed out to Python (taken back
    /// ones included): `add` skips them.
    waiting: HashSet<ObjectId>,
    /// Indices a wait abandoned by Ctrl-C took from `set`: handed out
    /// first (they were found before anything the set still holds).
    taken_back: VecDeque<usize>,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // Plain data; a panic elsewhere leaves it sound.
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

/// `f` on the set, under its lock, taken without the GIL if a wait (an
/// abandoned one, or another thread's) holds it.
fn with_lock<R: Send>(py: Python<'_>, inner: &Mutex<Inner>, f: impl FnOnce(&mut Inner) -> R + Send) -> R {
    match inner.try_lock() {
        Ok(mut g) => f(&mut g),
        Err(std::sync::TryLockError::Poisoned(p)) => f(&mut p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => py.detach(|| f(&mut lock(inner))),
    }
}

impl Inner {
    /// Up to `max` indices, those taken back first, then the set's, after
    /// a look that does not wait: Timeout if none is sealed.
    fn take_now(&mut self, max: usize) -> objstore::Result<Vec<usize>> {
        if !self.taken_back.is_empty() {
            let n = max.min(self.taken_back.len());
            let got = self.taken_back.drain(..n).collect();
            return Ok(self.handed_out(got));
        }
        self.set.next(max, Some(Duration::ZERO), None).map(|got| self.handed_out(got))
    }

    /// `take_now`, then a wait of the set up to `timeout` if none was found.
    fn take(&mut self, max: usize, timeout: Option<Duration>, c: &Canceller) -> objstore::Result<Vec<usize>> {
        match self.take_now(max) {
            Err(e) if e.kind() == ErrorKind::Timeout => {
                self.set.next(max, timeout, Some(c)).map(|got| self.handed_out(got))
            }
            r => r,
        }
    }

    /// `got`, whose IDs an `add` may now add again.
    fn handed_out(&mut self, got: Vec<usize>) -> Vec<usize> {
        let ids = self.set.ids();
        for &i in &got {
            self.waiting.remove(&ids[i]);
        }
        got
    }

    /// Indices a wait abandoned by Ctrl-C took: handed out first by the
    /// next `next`.
    fn take_back(&mut self, got: Vec<usize>) {
        let ids = self.set.ids();
        self.waiting.extend(got.iter().map(|&i| ids[i]));
        self.taken_back.extend(got);
    }

    fn remaining(&self) -> usize {
        self.set.remaining() + self.taken_back.len()
    }
}

/// References waited on together, each handed out once as its object is
/// sealed (see the module docs). Made by ``Store._wait_set``; used through
/// ``objstore.as_completed`` / ``Store.as_completed``.
#[pyclass(frozen, module = "objstore._objstore", name = "WaitSet")]
pub struct PyWaitSet {
    /// None once closed.
    inner: GilCell<Option<Shared>>,
    /// The objects given, one per ID of the set, in its order (made with,
    /// then added).
    items: GilCell<Vec<Py<PyAny>>>,
}

impl PyWaitSet {
    /// A set of `refs` (ObjectIDs; an ID given twice is kept once, the
    /// first object that gave it) in `store`.
    pub fn new(py: Python<'_>, store: &objstore::Store, refs: &Bound<'_, PyAny>) -> PyResult<PyWaitSet> {
        let mut items = Vec::new();
        let mut ids = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in refs.try_iter()? {
            let r = r?;
            let id = crate::ids::extract(&r)?;
            if seen.insert(id) {
                ids.push(id);
                items.push(r.unbind());
            }
        }
        let make = |ids: &[ObjectId]| store.wait_set(ids);
        let set = if ids.len() >= DETACH_IDS { py.detach(|| make(&ids)) } else { make(&ids) };
        let set = set.map_err(|e| errors::from_core(py, &e, "wait set"))?;
        Ok(PyWaitSet {
            inner: GilCell::new(Some(Arc::new(Mutex::new(Inner { set, waiting: seen, taken_back: VecDeque::new() })))),
            items: GilCell::new(items),
        })
    }

    fn len(&self, py: Python<'_>) -> usize {
        self.items.with(py, |items| items.len())
    }

    fn shared(&self, py: Python<'_>) -> PyResult<Shared> {
        self.inner
            .with(py, |s| s.clone())
            .ok_or_else(|| errors::from_kind(py, ErrorKind::InvalidArgument, "the wait set is closed".to_string()))
    }
}

#[pymethods]
impl PyWaitSet {
    /// Up to ``max`` (None: all there are) of the references whose objects
    /// were sealed since the set was made and were not handed out before,
    /// in the order they were found; waits up to ``timeout`` seconds (None:
    /// for ever; 0: look once) for at least one. An empty list once every
    /// reference was handed out. Timeout if none was sealed in time,
    /// Cancelled if ``canceller`` is cancelled while it waits; Ctrl-C
    /// interrupts the wait at once (KeyboardInterrupt), losing nothing.
    #[pyo3(signature = (max=None, timeout=None, canceller=None))]
    fn next<'py>(
        &self,
        py: Python<'py>,
        max: Option<usize>,
        timeout: Option<&Bound<'py, PyAny>>,
        canceller: Option<&Bound<'py, PyCanceller>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let max = max.unwrap_or(usize::MAX);
        let timeout = timeout_arg(timeout)?;
        let shared = self.shared(py)?;
        // A look that needs no wait, nor a helper thread.
        let first = with_lock(py, &shared, |s| s.take_now(max));
        let got = match first {
            Err(e) if e.kind() == ErrorKind::Timeout && timeout != Some(Duration::ZERO) => {
                let (waiting, undo) = (shared.clone(), shared.clone());
                wait_interruptibly(
                    py,
                    canceller.map(|c| &c.get().inner),
                    // Objects an earlier, abandoned wait took back first.
                    move |c| lock(&waiting).take(max, timeout, c),
                    // Interrupted: what the wait got after all goes back.
                    move |r| {
                        if let Ok(got) = r {
                            lock(&undo).take_back(got);
                        }
                    },
                )?
            }
            r => r,
        };
        match got {
            Ok(indices) => {
                let got: Vec<Py<PyAny>> =
                    self.items.with(py, |items| indices.into_iter().map(|i| items[i].clone_ref(py)).collect());
                PyList::new(py, got)
            }
            Err(e) if e.kind() == ErrorKind::Timeout => {
                let left = with_lock(py, &shared, |s| s.remaining());
                Err(errors::timeout(
                    py,
                    format!(
                        "wait set: none of the {left} objects left was sealed within {}s",
                        fmt_secs(timeout.unwrap_or_default())
                    ),
                ))
            }
            Err(e) => Err(errors::from_core(py, &e, "wait set")),
        }
    }

    /// How many references the set has not handed out yet (0 once closed).
    #[getter]
    fn remaining(&self, py: Python<'_>) -> usize {
        match self.inner.with(py, |s| s.clone()) {
            Some(shared) => with_lock(py, &shared, |s| s.remaining()),
            None => 0,
        }
    }

    /// Adds ``refs`` (ObjectIDs) to the set: ``next`` hands them out as it
    /// hands out those it was made with, as their objects are sealed (those
    /// sealed already by the next ``next``). An ID the set holds and has
    /// not handed out yet is not added again (nor one given twice); one it
    /// handed out already is, and is handed out again. Each new ID is
    /// looked at once, here: a set that grows stays as cheap to wait on as
    /// one made whole. Waits for a ``next`` under way on another thread.
    /// InvalidArgument if the set is closed or was made in another process
    /// (before a fork); the set is unchanged then.
    fn add(&self, py: Python<'_>, refs: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut given = Vec::new();
        for r in refs.try_iter()? {
            let r = r?;
            given.push((crate::ids::extract(&r)?, r.unbind()));
        }
        let shared = self.shared(py)?;
        // The lock is held from the check of what the set holds to the
        // growth of `items`: no add or next on another thread comes between.
        let mut guard = loop {
            match shared.try_lock() {
                Ok(g) => break g,
                Err(std::sync::TryLockError::Poisoned(p)) => break p.into_inner(),
                // A wait holds it: wait for it without the GIL, then try
                // again with it (a guard cannot leave the GIL-free closure).
                Err(std::sync::TryLockError::WouldBlock) => py.detach(|| drop(lock(&shared))),
            }
        };
        let inner: &mut Inner = &mut guard;
        let mut ids = Vec::new();
        let mut items = Vec::new();
        for (id, r) in given {
            if inner.waiting.insert(id) {
                ids.push(id);
                items.push(r);
            }
        }
        let added = if ids.len() >= DETACH_IDS { py.detach(|| inner.set.add(&ids)) } else { inner.set.add(&ids) };
        if let Err(e) = added {
            for id in &ids {
                inner.waiting.remove(id);
            }
            return Err(errors::from_core(py, &e, "wait set"));
        }
        self.items.with(py, |all| all.extend(items));
        drop(guard);
        Ok(())
    }

    /// How many references the set holds: made with, then added (an ID
    /// given twice while the set held it counts once).
    fn __len__(&self, py: Python<'_>) -> usize {
        self.len(py)
    }

    /// Free the set now (else its garbage collection does): the store's
    /// sealers stop logging for it. Later ``next`` calls raise
    /// InvalidArgument. Idempotent.
    fn close(&self, py: Python<'_>) {
        let shared = self.inner.with(py, |s| s.take());
        // A wait that Ctrl-C abandoned holds the set until it ends (at
        // once: it was cancelled).
        drop(shared);
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.inner.with(py, |s| s.is_none())
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        if self.closed(py) {
            format!("WaitSet({} references, closed)", self.len(py))
        } else {
            format!("WaitSet({} references, {} left)", self.len(py), self.remaining(py))
        }
    }
}
