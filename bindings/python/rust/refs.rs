//! `ObjectRef`: an ObjectID that holds one reference to its object, as a
//! Ray ObjectRef does. `Store.put` returns one (its object is put
//! REFCOUNTED); when the last ObjectRef of an object in a process is
//! garbage-collected, that process's reference goes, and when every
//! process's has gone the object is freed.
//!
//! # One core reference per ObjectRef
//!
//! Each ObjectRef owns exactly one of the core's references, counted by the
//! handle it came through (`objstore::Store` counts its references per
//! object in process memory, and the store's word per object says only
//! which processes hold some). Whoever makes an ObjectRef gives it one
//! reference of its own: a put the creator's, an unpickle the ticket's; a
//! pickle gives a ticket for one more (`give_extra_ref`), so the pickled
//! ObjectRef keeps its own. Its drop gives exactly that one back. So copies
//! of an ID in one process never double-count or under-count: the handle's
//! count is the number of live ObjectRefs of the object (plus what the
//! low-level `Store.ref` took), and the process's bit in the object goes
//! when it reaches 0. `copy.copy` and `copy.deepcopy` return the same
//! ObjectRef; `ObjectID(ref)` makes a plain ID, which holds nothing.
//!
//! # What the reference hangs on
//!
//! An ObjectRef holds its handle, as a value from a get does: closing the
//! Store (or its garbage collection) detaches the process only when the
//! ObjectRefs made through it are gone too, so an ObjectRef keeps its
//! object for as long as it lives, whatever became of its Store. (Closing
//! a handle drops the references it holds; holding the handle is what
//! keeps that from happening under a live ObjectRef.) It names its store
//! by name and open flags, not by the Store object, which stays
//! collectable: pickling sends those, and `ObjectRef.store` finds this
//! process's open Store of that name (`objstore._store._attach`, as
//! unpickling a Store does).
//!
//! After a fork, an inherited ObjectRef's handle is the parent's
//! (`Handle::is_current` is false): the reference is the parent's, and the
//! child's drop leaves it alone (the child holds none of its own; pickling
//! the ObjectRef in the child takes one through the child's own
//! attachment, if the object still exists). At interpreter shutdown the
//! drop needs no Python: a plain unref through the handle.
//!
//! # Pickling: tickets
//!
//! Pickling an ObjectRef gives a ticket for one more reference
//! (`give_extra_ref`): the pickle is `(store name, open flags, id,
//! ticket)`, and unpickling attaches to the store (as a pickled Store does)
//! and takes the ticket (`take_ref`) into a new ObjectRef. There is no
//! moment at which nobody holds the object. A ticket is taken once:
//! unpickling the same bytes a second time raises ObjectNotFound saying so.
//! A ticket never taken stays charged to the pickling process until it
//! detaches from the store or exits (the core drops it then, or reclaims it
//! after a crash), as a Ray object dies with its owner. So that a process
//! which sends references and exits at once (a pool's worker returning a
//! result, with `maxtasksperchild`) does not take them with it, its detach
//! and its exit wait for its tickets to be taken, up to the Store's
//! `ticket_linger` (the core's `Options::ticket_linger` at detach; at exit,
//! where a multiprocessing child ends with `os._exit` and never detaches,
//! `objstore._store._linger_at_exit`, a multiprocessing finalizer that the
//! first ticket a process gives sets up).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use objstore::{ErrorKind, ObjectId};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::errors;
use crate::ids::{self, PyObjectId};
use crate::pins::Handle;
use crate::store::StoreCore;

/// An ObjectID that holds a reference to its object (see the module docs).
///
/// ``Store.put`` returns one. It is an ObjectID in every other way (it
/// compares and hashes as its ID and works wherever an ID does). Dropping
/// the last ObjectRef of an object in a process drops that process's
/// reference; an object put REFCOUNTED is freed when no process holds one
/// (nor a pin). Pickling gives a ticket and unpickling takes it, so an
/// ObjectRef sent through a multiprocessing queue, a pool or a
/// concurrent.futures executor keeps its object alive on the way; each
/// pickled copy can be unpickled once.
#[pyclass(frozen, extends = PyObjectId, module = "objstore", name = "ObjectRef")]
pub struct ObjectRef {
    id: ObjectId,
    /// The store's name and open flags (see `StoreCore::attach_args`).
    name: String,
    flags: u32,
    /// The handle whose count includes this ObjectRef's reference; None
    /// once given back (by `Store.delete`).
    held: Mutex<Option<Arc<Handle>>>,
}

/// objstore._store._attach: this process's open Store of a name, else a
/// new attachment (what unpickling a Store calls).
static ATTACH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// objstore._objstore._take_ref, the unpickler of ObjectRefs.
static TAKE_REF: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
/// objstore._aio.await_ref, behind ``await ref``.
static AWAIT_REF: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The process that last set up the wait for its tickets at exit.
static LINGER_HOOK_PID: AtomicU32 = AtomicU32::new(0);

/// After a ticket was given: makes sure that this process, at its exit,
/// waits up to each Store's `ticket_linger` for its tickets to be taken
/// (`objstore._store._linger_at_exit`, set up once per process; a fork
/// child sets up its own).
pub(crate) fn note_ticket_given(py: Python<'_>) -> PyResult<()> {
    let pid = std::process::id();
    if LINGER_HOOK_PID.load(Ordering::Relaxed) == pid {
        return Ok(());
    }
    PyModule::import(py, "objstore._store")?.getattr("_set_up_linger_at_exit")?.call0()?;
    LINGER_HOOK_PID.store(pid, Ordering::Relaxed);
    Ok(())
}

fn attach<'py>(py: Python<'py>, name: &str, flags: u32) -> PyResult<Bound<'py, StoreCore>> {
    let f = ATTACH.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(PyModule::import(py, "objstore._store")?.getattr("_attach")?.unbind())
    })?;
    Ok(f.bind(py).call1((name, flags))?.cast_into::<StoreCore>()?)
}

impl ObjectRef {
    /// The name of the store its object was put in.
    pub(crate) fn store_name(&self) -> &str {
        &self.name
    }

    /// An ObjectRef owning one reference that `handle` (of `store`) holds
    /// to `id`.
    pub fn new<'py>(
        py: Python<'py>,
        store: &StoreCore,
        handle: &Arc<Handle>,
        id: ObjectId,
    ) -> PyResult<Bound<'py, ObjectRef>> {
        let (name, flags) = store.attach_args(py);
        let init = PyClassInitializer::from(PyObjectId { id }).add_subclass(ObjectRef {
            id,
            name,
            flags,
            held: Mutex::new(Some(handle.clone())),
        });
        Bound::new(py, init)
    }

    fn take_held(&self) -> Option<Arc<Handle>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// The handle it holds its reference through, if that is this
    /// process's.
    fn current_handle(&self) -> Option<Arc<Handle>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).as_ref().filter(|h| h.is_current()).cloned()
    }

    /// Gives this ObjectRef's reference back now, if it holds one through a
    /// handle of this process (and lets go of the handle). Idempotent.
    pub fn release(&self) {
        if let Some(h) = self.take_held() {
            if h.is_current() {
                // NotFound only if the low-level Store.unref / give_ref took
                // this reference already: nothing is left to give back.
                let _ = h.store.unref(&self.id);
            }
        }
    }
}

impl Drop for ObjectRef {
    fn drop(&mut self) {
        self.release();
    }
}

#[pymethods]
impl ObjectRef {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new_from_python(
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        Err(pyo3::exceptions::PyTypeError::new_err(
            "an ObjectRef is made by Store.put or by unpickling one (it owns a reference); \
             ObjectID(...) makes a plain ID",
        ))
    }

    /// This process's Store of the store the object is in: the one it was
    /// put through while that is open, else another open Store of the same
    /// name, else a new attachment (kept open, as unpickling a Store does).
    #[getter]
    fn store<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, StoreCore>> {
        attach(py, &self.name, self.flags)
    }

    /// ``value = await ref`` (asyncio): the value, once the object is
    /// sealed, waiting without blocking the event loop (objstore._aio).
    fn __await__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let f = AWAIT_REF.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(PyModule::import(py, "objstore._aio")?.getattr("await_ref")?.unbind())
        })?;
        f.bind(py).call1((slf,))
    }

    /// Pickles as (store name, flags, id, ticket): one more reference,
    /// moved into a ticket that the unpickling process takes (once).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.get();
        let id = me.id;
        // Through its own handle if it holds one (its Store may be closed);
        // else (a fork child's inherited ObjectRef, or one given back by a
        // delete) through this process's Store of that name.
        let h = match me.current_handle() {
            Some(h) => h,
            None => attach(py, &me.name, me.flags)?.get().handle(py)?,
        };
        let ticket = give_waiting_for_room(py, || {
            // The handle holds this ObjectRef's reference, as a rule: a
            // ticket for one more. Not if it is another handle (the
            // ObjectRef's is a fork parent's, or was given back), or the
            // low-level Store.unref took the reference: then take one (if
            // the object is still there) and move it into the ticket.
            h.store.give_extra_ref(&id).or_else(|e| {
                if e.kind() != ErrorKind::NotFound {
                    return Err(e);
                }
                h.store.add_ref(&id)?;
                h.store.give_ref(&id).inspect_err(|_| {
                    let _ = h.store.unref(&id);
                })
            })
        })?
        .map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                errors::from_kind(
                    py,
                    ErrorKind::NotFound,
                    format!(
                        "pickle a reference to object {}: the object is gone ({e}); an ObjectRef inherited \
                         through a fork is its parent's reference, and does not keep the object alive in the \
                         child",
                        id.to_hex()
                    ),
                )
            } else if e.kind() == ErrorKind::OutOfMemory {
                errors::from_kind(
                    py,
                    ErrorKind::OutOfMemory,
                    format!(
                        "pickle a reference to object {}: {e}, and none was taken within \
                         objstore.TICKET_ROOM_TIMEOUT (the table has an entry per 32 object slots of the \
                         store; a pickle of more ObjectRefs than that cannot be unpickled before it ends: \
                         pickle plain ObjectIDs, or make the store with more object slots)",
                        id.to_hex()
                    ),
                )
            } else {
                errors::from_core(py, &e, "pickle a reference (give_extra_ref)")
            }
        })?;
        note_ticket_given(py)?;
        let f = TAKE_REF.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(PyModule::import(py, "objstore._objstore")?.getattr("_take_ref")?.unbind())
        })?;
        let args = (me.name.as_str(), me.flags, PyBytes::new(py, &id.0), ticket).into_pyobject(py)?;
        PyTuple::new(py, [f.bind(py).clone(), args.into_any()])
    }
}

/// How long a pickle waits for room for its ticket when the hold table is
/// full, if `objstore.TICKET_ROOM_TIMEOUT` (which says the same) is not
/// there to read (seconds).
const TICKET_ROOM_TIMEOUT: f64 = 60.0;
/// The longest pause between two tries.
const TICKET_ROOM_MAX_PAUSE: Duration = Duration::from_millis(10);

/// `give` (a ticket for a reference), waiting while there is no room for
/// the ticket.
///
/// Tickets outstanding live in the store's hold table (`shared::holds`: an
/// entry per 32 object slots, at least 256). A pickler that runs far ahead
/// of its unpicklers (a pool's task thread pickling tasks while the workers
/// unpickle them) can fill it; it then waits for takers to make room, as a
/// writer to a full pipe waits for its reader, pausing 0.1 ms and doubling
/// up to 10 ms, with the GIL released; Ctrl-C ends the wait. After
/// `objstore.TICKET_ROOM_TIMEOUT` seconds without room (nobody takes: e.g.
/// one pickle holding more ObjectRefs than the table has entries) the
/// core's OutOfMemory goes up, as StoreFull.
fn give_waiting_for_room(
    py: Python<'_>,
    give: impl Fn() -> Result<u64, objstore::Error>,
) -> PyResult<Result<u64, objstore::Error>> {
    let mut started: Option<(Instant, Duration)> = None;
    let mut pause = Duration::from_micros(100);
    loop {
        match give() {
            Err(e) if e.kind() == ErrorKind::OutOfMemory => {
                let (start, limit) = match started {
                    Some(s) => s,
                    None => *started.insert((Instant::now(), ticket_room_timeout(py)?)),
                };
                if start.elapsed() >= limit {
                    return Ok(Err(e));
                }
                py.detach(|| std::thread::sleep(pause));
                py.check_signals()?;
                pause = (pause * 2).min(TICKET_ROOM_MAX_PAUSE);
            }
            r => return Ok(r),
        }
    }
}

/// `objstore.TICKET_ROOM_TIMEOUT` (seconds), else the default.
fn ticket_room_timeout(py: Python<'_>) -> PyResult<Duration> {
    let seconds = match PyModule::import(py, "objstore").and_then(|m| m.getattr("TICKET_ROOM_TIMEOUT")) {
        Ok(v) => v.extract::<f64>()?,
        Err(_) => TICKET_ROOM_TIMEOUT,
    };
    Duration::try_from_secs_f64(seconds.max(0.0)).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err("objstore.TICKET_ROOM_TIMEOUT must be a number of seconds")
    })
}

/// Whether every item of ``refs`` is an ObjectRef of the store the first
/// one names (objstore.wait's and objstore.as_completed's check that their
/// references share a store): compares the names an ObjectRef keeps, where
/// ``ref.store`` would look up a Store per reference (a Python call each,
/// most of the cost of a ``ray.wait`` loop's calls). ``ref.store`` of two
/// ObjectRefs is the same Store exactly when their names are the same.
#[pyfunction]
pub fn _one_store(refs: &Bound<'_, PyList>) -> bool {
    let Some(first) = refs.iter().next() else { return false };
    let Ok(first) = first.cast_into::<ObjectRef>() else { return false };
    let name = &first.get().name;
    refs.iter().all(|r| r.cast::<ObjectRef>().is_ok_and(|r| r.get().name == *name))
}

/// Unpickle an ObjectRef: attach to the store ``name`` (as unpickling a
/// Store does) and take the reference the ticket holds.
#[pyfunction]
pub fn _take_ref<'py>(
    py: Python<'py>,
    name: &str,
    flags: u32,
    id: &[u8],
    ticket: u64,
) -> PyResult<Bound<'py, ObjectRef>> {
    let id = ids::id_from_bytes(id)?;
    let store = attach(py, name, flags)?;
    let h = store.get().handle(py)?;
    h.store.take_ref(&id, ticket).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            errors::from_kind(
                py,
                ErrorKind::NotFound,
                format!(
                    "unpickle a reference to object {}: its ticket was taken already (a pickled ObjectRef \
                     can be unpickled once: pickle the reference again for each receiver), or the process \
                     that pickled it detached from the store or exited before it was unpickled, which drops \
                     the ticket ({e})",
                    id.to_hex()
                ),
            )
        } else {
            errors::from_core(py, &e, "unpickle a reference (take_ref)")
        }
    })?;
    ObjectRef::new(py, store.get(), &h, id)
}
