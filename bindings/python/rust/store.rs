//! `StoreCore`: the base class of `objstore.Store`, with every operation
//! that touches the store. The hot paths (a put of bytes or of an ndarray,
//! a get of any value the format describes) run here without Python-level
//! work beyond building the result; anything else (pickling, torch,
//! registered serializers, strided arrays, errors in metadata) goes to the
//! Python helpers of objstore._serial.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use objstore::{Canceller, ErrorKind, ObjectId, Options, RawObject};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::cancel::PyCanceller;
use crate::errors;
use crate::exporter::{self, PyBufferRaw, Span, PYBUF_C_CONTIGUOUS};
use crate::format::{self, Parsed};
use crate::gil::GilCell;
use crate::ids::{self, PyObjectId};
use crate::interrupt::wait_interruptibly;
use crate::numpy;
use crate::pins::{CreationState, Handle, Owner, PinState};
use crate::refs::ObjectRef;
use crate::wait_set::PyWaitSet;

/// Copies of at least this many bytes run with the GIL released.
const DETACH_BYTES: usize = 256 << 10;
const HINT_TORCH: u16 = 1;
const HINT_TORCH_BFLOAT16: u16 = 2;

// ----------------------------------------------------------------- helpers

/// The Python helpers (objstore._serial), imported on first use.
struct Serial {
    registered: Py<PyDict>,
    serialize: Py<PyAny>,
    dtype_info: Py<PyAny>,
    dtype_from_key: Py<PyAny>,
    tensor_from: Py<PyAny>,
    decode_slow: Py<PyAny>,
    loads: Py<PyAny>,
}

static SERIAL: PyOnceLock<Serial> = PyOnceLock::new();

fn serial(py: Python<'_>) -> PyResult<&'static Serial> {
    SERIAL.get_or_try_init(py, || {
        let m = PyModule::import(py, "objstore._serial")?;
        Ok(Serial {
            registered: m.getattr("_registered")?.cast_into::<PyDict>()?.unbind(),
            serialize: m.getattr("serialize")?.unbind(),
            dtype_info: m.getattr("dtype_info")?.unbind(),
            dtype_from_key: m.getattr("dtype_from_key")?.unbind(),
            tensor_from: m.getattr("tensor_from")?.unbind(),
            decode_slow: m.getattr("decode_slow")?.unbind(),
            loads: m.getattr("loads")?.unbind(),
        })
    })
}

/// What a put needs of an ndarray's dtype (keyed by the dtype object).
struct PutDtype {
    _keep: Py<PyAny>,
    /// form, length, dtype string: the dtype part of the metadata.
    part: Vec<u8>,
    storable: bool,
    itemsize: usize,
}

/// What a get needs of a dtype (keyed by its part of the metadata).
struct GetDtype {
    dtype: Py<PyAny>,
    itemsize: usize,
}

const CACHE_MAX: usize = 4096;
static PUT_DTYPES: GilCell<Option<HashMap<usize, PutDtype>>> = GilCell::new(None);
static GET_DTYPES: GilCell<Option<HashMap<Vec<u8>, GetDtype>>> = GilCell::new(None);

fn put_dtype<'py>(py: Python<'py>, descr: &Bound<'py, PyAny>) -> PyResult<(Vec<u8>, bool, usize)> {
    let key = descr.as_ptr() as usize;
    let hit =
        PUT_DTYPES.with(py, |g| g.as_ref().and_then(|m| m.get(&key)).map(|d| (d.part.clone(), d.storable, d.itemsize)));
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let info = serial(py)?.dtype_info.bind(py).call1((descr,))?;
    let (part, storable, itemsize): (Vec<u8>, bool, usize) = info.extract()?;
    // Keeping the dtype object keeps its address from being reused.
    let entry = PutDtype { _keep: descr.clone().unbind(), part: part.clone(), storable, itemsize };
    let evicted = PUT_DTYPES.with(py, |g| {
        let m = g.get_or_insert_with(HashMap::new);
        let old = if m.len() >= CACHE_MAX { std::mem::take(m) } else { HashMap::new() };
        m.insert(key, entry);
        old
    });
    drop(evicted); // dropping Py references outside the cell
    Ok((part, storable, itemsize))
}

fn get_dtype<'py>(py: Python<'py>, key: &[u8]) -> PyResult<(Bound<'py, PyAny>, usize)> {
    let hit = GET_DTYPES.with(py, |g| g.as_ref().and_then(|m| m.get(key)).map(|d| (d.dtype.clone_ref(py), d.itemsize)));
    if let Some((dtype, itemsize)) = hit {
        return Ok((dtype.into_bound(py), itemsize));
    }
    let r = serial(py)?.dtype_from_key.bind(py).call1((PyBytes::new(py, key),))?;
    let (dtype, itemsize): (Bound<'py, PyAny>, usize) = r.extract()?;
    let entry = GetDtype { dtype: dtype.clone().unbind(), itemsize };
    let evicted = GET_DTYPES.with(py, |g| {
        let m = g.get_or_insert_with(HashMap::new);
        let old = if m.len() >= CACHE_MAX { std::mem::take(m) } else { HashMap::new() };
        m.insert(key.to_vec(), entry);
        old
    });
    drop(evicted);
    Ok((dtype, itemsize))
}

/// A get with timeout zero. On a store with a remote it may ask the remote
/// (and fetch the object), so it runs with the GIL released there.
fn get_now(py: Python<'_>, h: &Arc<Handle>, id: &ObjectId) -> objstore::Result<RawObject> {
    if h.store.remote_url().is_some() {
        let (hh, idc) = (h.clone(), *id);
        py.detach(move || hh.store.get_raw(&idc, Some(Duration::ZERO)))
    } else {
        h.store.get_raw(id, Some(Duration::ZERO))
    }
}

/// Seconds (None: for ever) as the core's timeout.
pub fn timeout_arg(timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(t) = timeout else { return Ok(None) };
    if t.is_none() {
        return Ok(None);
    }
    let secs: f64 = t.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "timeout must be None or a number of seconds, not {}",
            t.get_type().name().map(|n| n.to_string()).unwrap_or_default()
        ))
    })?;
    if secs.is_nan() || secs < 0.0 {
        return Err(PyValueError::new_err(format!("timeout must be None or >= 0 seconds, not {}", t.repr()?)));
    }
    if secs.is_infinite() {
        return Ok(None);
    }
    Ok(Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)))
}

pub(crate) fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    let t = format!("{s}");
    if t.contains('e') {
        format!("{s:.6}")
    } else {
        t
    }
}

/// A contiguous buffer of a Python object, released when dropped.
struct HeldBuffer(PyBufferRaw);

impl HeldBuffer {
    fn get(obj: &Bound<'_, PyAny>) -> PyResult<HeldBuffer> {
        let mut b = PyBufferRaw::empty();
        if unsafe { exporter::PyObject_GetBuffer(obj.as_ptr(), &mut b, PYBUF_C_CONTIGUOUS) } < 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(HeldBuffer(b))
    }
    fn bytes(&self) -> &[u8] {
        if self.0.len == 0 {
            return &[];
        }
        unsafe { std::slice::from_raw_parts(self.0.buf as *const u8, self.0.len as usize) }
    }
}

impl Drop for HeldBuffer {
    fn drop(&mut self) {
        // Dropped with the GIL held (never moved into a detached closure).
        unsafe { exporter::PyBuffer_Release(&mut self.0) };
    }
}

/// Raw pointers handed to a copy that runs with the GIL released.
struct Parts(Vec<(usize, *const u8, usize)>);
// SAFETY: the buffers are held (HeldBuffer) by the caller until the copy
// returns; the destination is this process's mapping of an object it
// created and nobody else can see yet.
unsafe impl Send for Parts {}
struct Dst(*mut u8);
unsafe impl Send for Dst {}

fn copy_parts(dst: *mut u8, total: usize, parts: &[(usize, *const u8, usize)]) {
    let mut end = 0usize;
    for &(off, src, len) in parts {
        // SAFETY: `put_serialized` checked that the parts lie in order inside
        // the object's `total` bytes at `dst` (created by this process, seen
        // by nobody yet), and holds each source buffer (`HeldBuffer`) until
        // this returns; a part and the object's memory never overlap.
        unsafe {
            if off > end {
                std::ptr::write_bytes(dst.add(end), 0, off - end); // no stale bytes in the padding
            }
            if len > 0 {
                // The core's copy: `rep movsb` where it is the faster.
                objstore::copy_bytes(
                    std::slice::from_raw_parts_mut(dst.add(off), len),
                    std::slice::from_raw_parts(src, len),
                );
            }
        }
        end = off + len;
    }
    if total > end {
        // SAFETY: `end <= total`: the rest of the object's bytes.
        unsafe { std::ptr::write_bytes(dst.add(end), 0, total - end) };
    }
}

// ----------------------------------------------------------------- Pin, Creation

/// One pin of a value from a get (for `Pinned` and `Buffer`): releasing it
/// releases the object at once, whatever views of it are still alive.
#[pyclass(frozen, module = "objstore._objstore")]
pub struct Pin {
    state: Arc<PinState>,
}

#[pymethods]
impl Pin {
    /// Release the pin now; False if it was released already.
    fn release(&self) -> bool {
        self.state.release()
    }
    #[getter]
    fn released(&self) -> bool {
        self.state.released()
    }
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyObjectId>> {
        ids::new_id(py, self.state.id)
    }
}

/// An object created in place, not yet sealed (see objstore.PendingObject).
#[pyclass(frozen, module = "objstore._objstore")]
pub struct Creation {
    state: Arc<CreationState>,
}

#[pymethods]
impl Creation {
    /// A writable memoryview of the object's bytes (keeps the creation
    /// alive: the object is aborted only when it and this are gone).
    fn memoryview<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = &self.state;
        exporter::memoryview(
            py,
            Span {
                owner: Owner::Creation(s.clone()),
                ptr: s.ptr,
                len: s.len,
                readonly: false,
                format: None,
                itemsize: 1,
                shape: Vec::new(),
                strides: Vec::new(),
            },
        )
    }

    /// Take the right to seal or abort: InvalidArgument if it was taken,
    /// or if this process did not create the object (a fork child).
    fn take(&self, py: Python<'_>) -> PyResult<()> {
        let s = &self.state;
        if !s.handle.is_current() {
            return Err(errors::from_kind(
                py,
                ErrorKind::InvalidArgument,
                format!("object {} was created by another process (before a fork)", s.id),
            ));
        }
        if !s.take() {
            return Err(errors::from_kind(
                py,
                ErrorKind::InvalidArgument,
                format!("object {} is already sealed or aborted", s.id),
            ));
        }
        Ok(())
    }

    /// After take(): seal (True) or abort (False).
    fn finish(&self, py: Python<'_>, seal: bool) -> PyResult<()> {
        let s = &self.state;
        let r = if seal { s.handle.store.seal(&s.id) } else { s.handle.store.abort(&s.id) };
        r.map_err(|e| errors::from_core(py, &e, if seal { "seal" } else { "abort" }))
    }

    #[getter]
    fn open(&self) -> bool {
        self.state.is_open()
    }
}

// ----------------------------------------------------------------- StoreCore

struct State {
    handle: Option<Arc<Handle>>,
    name: String,
    /// What a re-attach (in a fork child) keeps of the options.
    reattach: Options,
    pid: u32,
}

/// The store operations of ``objstore.Store`` (its base class).
#[pyclass(frozen, subclass, module = "objstore._objstore")]
pub struct StoreCore {
    state: GilCell<State>,
}

/// Whether a timeout means "do not wait".
fn no_wait(timeout: Option<Duration>) -> bool {
    timeout.is_some_and(|d| d.is_zero())
}

enum Current {
    Ready(Arc<Handle>),
    Closed(String),
    Stale(String, Options),
}

impl StoreCore {
    /// The store's name and the open flags a re-attach keeps (the C API's
    /// OS_OPEN_PREFAULT, _HUGEPAGES, _ANY_OWNER): what objstore._store._attach
    /// takes to find or open this store in any process.
    pub(crate) fn attach_args(&self, py: Python<'_>) -> (String, u32) {
        self.state.with(py, |st| {
            let o = &st.reattach;
            let flags = (if o.prefault { 4 } else { 0 })
                | (if o.hugepages { 8 } else { 0 })
                | (if o.any_owner { 16 } else { 0 });
            (st.name.clone(), flags)
        })
    }

    /// ValueError if ``r`` is an ObjectRef of another store: its object is
    /// never in this one, so a get would wait for it in vain, and a wait,
    /// a delete or an unref would report it missing. Checked where the
    /// object was not found here (a get or a delete), or before a wait.
    fn check_ref_store(&self, py: Python<'_>, r: &Bound<'_, PyAny>) -> PyResult<()> {
        let Ok(r) = r.cast::<ObjectRef>() else { return Ok(()) };
        let theirs = r.get().store_name();
        match self.state.with(py, |st| (st.name != theirs).then(|| st.name.clone())) {
            None => Ok(()),
            Some(ours) if same_store_file(&ours, theirs) => Ok(()),
            Some(ours) => Err(PyValueError::new_err(format!(
                "an ObjectRef of store {theirs:?} was given to store {ours:?}: its object is in the store it was put in"
            ))),
        }
    }

    /// `check_ref_store` for each of `items`.
    fn check_refs_store(&self, py: Python<'_>, items: &[Bound<'_, PyAny>]) -> PyResult<()> {
        items.iter().try_for_each(|r| self.check_ref_store(py, r))
    }

    /// `errors::from_core` for a call about ``r`` that failed with `e`:
    /// ValueError instead of ObjectNotFound for an ObjectRef of another
    /// store (see `check_ref_store`).
    fn ref_error(&self, py: Python<'_>, r: &Bound<'_, PyAny>, e: &objstore::Error, op: &str) -> PyErr {
        if e.kind() == ErrorKind::NotFound {
            if let Err(foreign) = self.check_ref_store(py, r) {
                return foreign;
            }
        }
        errors::from_core(py, e, op)
    }

    #[inline]
    pub(crate) fn handle(&self, py: Python<'_>) -> PyResult<Arc<Handle>> {
        let cur = self.state.with(py, |st| match &st.handle {
            Some(h) if h.is_current() => Current::Ready(h.clone()),
            Some(_) => Current::Stale(st.name.clone(), st.reattach.clone()),
            None => Current::Closed(st.name.clone()),
        });
        match cur {
            Current::Ready(h) => Ok(h),
            Current::Closed(name) => Err(errors::store_closed(py, &name)),
            Current::Stale(name, mut opts) => {
                // A fork child: the inherited handle is the parent's. Attach
                // anew (views inherited from the parent keep the old one).
                opts.attach_only = true;
                let store = objstore::Store::open(&name, &opts)
                    .map_err(|e| errors::from_core(py, &e, &format!("open store {name:?}")))?;
                let fresh = Arc::new(Handle::new(store));
                let (h, old) = self.state.with(py, |st| match &st.handle {
                    Some(h) if h.is_current() => (h.clone(), None), // another thread was first
                    Some(_) => {
                        st.pid = std::process::id();
                        (fresh.clone(), st.handle.replace(fresh.clone()))
                    }
                    None => (fresh.clone(), None),
                });
                drop(old);
                Ok(h)
            }
        }
    }

    // ---- put

    /// A put of any value (see ``put``): its ID.
    fn put_value(
        py: Python<'_>,
        h: &Arc<Handle>,
        value: &Bound<'_, PyAny>,
        id: Option<&Bound<'_, PyAny>>,
        flags: u32,
    ) -> PyResult<ObjectId> {
        let id = match id {
            None => None,
            Some(x) if x.is_none() => None,
            Some(x) => Some(ids::extract(x)?),
        };
        let tp = unsafe { ffi::Py_TYPE(value.as_ptr()) };
        let s = serial(py)?;
        let registered = s.registered.bind(py);
        let custom = !registered.is_empty() && registered.contains(value.get_type())?;
        if !custom {
            if tp == std::ptr::addr_of_mut!(ffi::PyBytes_Type) {
                let b = value.cast::<PyBytes>()?.as_bytes();
                return Self::put_raw(py, h, id, b, &format::META_BYTES, flags);
            }
            if tp == std::ptr::addr_of_mut!(ffi::PyByteArray_Type) {
                let b = value.cast::<pyo3::types::PyByteArray>()?;
                // Copied with the GIL held: a bytearray can be resized.
                let r = unsafe { h.store.put_with_meta_or_as(id, b.as_bytes(), &format::META_BYTEARRAY, flags) };
                return r.map_err(|e| errors::from_core(py, &e, "put"));
            }
            if let Some(api) = numpy::api_if_loaded(py) {
                if api.is_exact_ndarray(value) {
                    if let Some(oid) = Self::put_ndarray(py, h, value, id, flags)? {
                        return Ok(oid);
                    }
                }
            }
        }
        Self::put_serialized(py, h, value, id, flags)
    }

    fn put_raw(
        py: Python<'_>,
        h: &Handle,
        id: Option<ObjectId>,
        data: &[u8],
        meta: &[u8],
        flags: u32,
    ) -> PyResult<ObjectId> {
        let run = || match id {
            None => h.store.put_ex(data, meta, flags),
            Some(id) => h.store.put_as_ex(&id, data, meta, flags).map(|()| id),
        };
        let r = if data.len() >= DETACH_BYTES { py.detach(run) } else { run() };
        r.map_err(|e| errors::from_core(py, &e, "put"))
    }

    fn create_raw(
        py: Python<'_>,
        h: &Handle,
        id: Option<ObjectId>,
        size: usize,
        meta: &[u8],
        flags: u32,
    ) -> PyResult<(ObjectId, *mut u8)> {
        let r = h.store.create_ex_raw(id.as_ref(), size, meta, flags);
        r.map_err(|e| errors::from_core(py, &e, "create"))
    }

    fn seal_or_abort(py: Python<'_>, h: &Handle, id: &ObjectId, ok: PyResult<()>) -> PyResult<()> {
        match ok {
            Ok(()) => h.store.seal(id).map_err(|e| errors::from_core(py, &e, "seal")),
            Err(e) => {
                let _ = h.store.abort(id);
                Err(e)
            }
        }
    }

    fn put_ndarray(
        py: Python<'_>,
        h: &Handle,
        value: &Bound<'_, PyAny>,
        id: Option<ObjectId>,
        flags: u32,
    ) -> PyResult<Option<ObjectId>> {
        let f = numpy::fields(value);
        let fortran = if f.flags & numpy::NPY_ARRAY_C_CONTIGUOUS != 0 {
            false
        } else if f.flags & numpy::NPY_ARRAY_F_CONTIGUOUS != 0 {
            true
        } else {
            return Ok(None); // strided: the Python path copies it in one go
        };
        let descr = unsafe { Bound::from_borrowed_ptr(py, f.descr) };
        let (part, storable, itemsize) = put_dtype(py, &descr)?;
        if !storable {
            return Ok(None);
        }
        let shape: &[isize] =
            if f.nd == 0 { &[] } else { unsafe { std::slice::from_raw_parts(f.dimensions, f.nd as usize) } };
        let Some(nbytes) = format::nbytes(shape, itemsize) else { return Ok(None) };
        let meta = format::ndarray_meta(&part, fortran, shape, 0);
        let data: &[u8] =
            if nbytes == 0 { &[] } else { unsafe { std::slice::from_raw_parts(f.data as *const u8, nbytes) } };
        Self::put_raw(py, h, id, data, &meta, flags).map(Some)
    }

    /// The Python path: objstore._serial.serialize(value) says what to write.
    fn put_serialized(
        py: Python<'_>,
        h: &Arc<Handle>,
        value: &Bound<'_, PyAny>,
        id: Option<ObjectId>,
        flags: u32,
    ) -> PyResult<ObjectId> {
        let r = serial(py)?.serialize.bind(py).call1((value,))?;
        let t = r.cast::<PyTuple>()?;
        let meta = t.get_item(0)?;
        let meta = meta.cast::<PyBytes>()?.as_bytes();
        let total: usize = t.get_item(1)?.extract()?;
        let parts = t.get_item(2)?;
        if let Ok(list) = parts.cast::<PyList>() {
            let mut held = Vec::with_capacity(list.len());
            let mut raw = Vec::with_capacity(list.len());
            let mut end = 0usize;
            for item in list.iter() {
                let (off, buf): (usize, Bound<'_, PyAny>) = item.extract()?;
                let b = HeldBuffer::get(&buf)?;
                let len = b.bytes().len();
                if off < end || off.checked_add(len).is_none_or(|e| e > total) {
                    return Err(PyValueError::new_err("serializer parts overlap or overrun the object"));
                }
                end = off + len;
                raw.push((off, b.bytes().as_ptr(), len));
                held.push(b);
            }
            if held.len() == 1 && raw[0].0 == 0 && raw[0].2 == total {
                return Self::put_raw(py, h, id, held[0].bytes(), meta, flags);
            }
            let (oid, ptr) = Self::create_raw(py, h, id, total, meta, flags)?;
            let (parts, dst) = (Parts(raw), Dst(ptr));
            if total >= DETACH_BYTES {
                py.detach(move || {
                    let (parts, dst) = (parts, dst);
                    copy_parts(dst.0, total, &parts.0)
                });
            } else {
                copy_parts(dst.0, total, &parts.0);
            }
            drop(held);
            Self::seal_or_abort(py, h, &oid, Ok(()))?;
            return Ok(oid);
        }
        // A callable fills the object in place through a writable memoryview.
        let (oid, ptr) = Self::create_raw(py, h, id, total, meta, flags)?;
        let creation = CreationState::new(h.clone(), oid, ptr, total);
        let filled = (|| -> PyResult<()> {
            let mv = Creation { state: creation.clone() }.memoryview(py)?;
            let r = parts.call1((&mv,));
            let _ = mv.call_method0("release");
            r.map(|_| ())
        })();
        // This call seals or aborts, not the creation's drop.
        creation.take();
        Self::seal_or_abort(py, h, &oid, filled)?;
        Ok(oid)
    }

    // ---- get

    fn get_one_raw(
        &self,
        py: Python<'_>,
        h: &Arc<Handle>,
        id: &ObjectId,
        timeout: Option<Duration>,
        canceller: Option<&Canceller>,
    ) -> PyResult<RawObject> {
        match get_now(py, h, id) {
            Ok(raw) => return Ok(raw),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if no_wait(timeout) {
                    return Err(errors::from_core(py, &e, "get"));
                }
            }
            Err(e) => return Err(errors::from_core(py, &e, "get")),
        }
        // One wait, with the GIL released, that Ctrl-C interrupts (see
        // `interrupt`); an interrupted get releases what it got.
        let (hw, hu, idc) = (h.clone(), h.clone(), *id);
        let got = wait_interruptibly(
            py,
            canceller,
            move |c| hw.store.get_raw_cancellable(&idc, timeout, Some(c)),
            move |r| {
                if r.is_ok() {
                    let _ = hu.store.release(&idc);
                }
            },
        )?;
        match got {
            Ok(raw) => Ok(raw),
            Err(e) if e.kind() == ErrorKind::Timeout => Err(errors::timeout(
                py,
                format!("get: object {} was not sealed within {}s", id, fmt_secs(timeout.unwrap_or_default())),
            )),
            Err(e) => Err(errors::from_core(py, &e, "get")),
        }
    }

    /// Pins every ID (waiting for the missing ones), or none.
    fn get_many_raw(
        &self,
        py: Python<'_>,
        h: &Arc<Handle>,
        ids: &[ObjectId],
        timeout: Option<Duration>,
        canceller: Option<&Canceller>,
    ) -> PyResult<Vec<RawObject>> {
        let n = ids.len();
        let mut out: Vec<Option<RawObject>> = vec![None; n];
        let release_all = |out: &mut Vec<Option<RawObject>>| {
            for (i, o) in out.iter_mut().enumerate() {
                if o.take().is_some() {
                    let _ = h.store.release(&ids[i]);
                }
            }
        };
        let first = if h.store.remote_url().is_some() {
            // It may ask the remote: without the GIL.
            py.detach(|| h.store.get_many_raw(ids, Some(Duration::ZERO), &mut out))
        } else {
            h.store.get_many_raw(ids, Some(Duration::ZERO), &mut out)
        };
        match first {
            Ok(()) => return Ok(out.into_iter().map(|o| o.expect("all pinned")).collect()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if no_wait(timeout) {
                    release_all(&mut out);
                    return Err(errors::from_core(py, &e, "get"));
                }
            }
            Err(e) => return Err(errors::from_core(py, &e, "get")), // the core released them
        }
        // The missing ones, in one wait with the GIL released that Ctrl-C
        // interrupts (see `interrupt`); an interrupted get releases what it
        // got, and what it had got before.
        let missing: Vec<usize> = (0..n).filter(|&i| out[i].is_none()).collect();
        let sub: Vec<ObjectId> = missing.iter().map(|&i| ids[i]).collect();
        let (hw, hu) = (h.clone(), h.clone());
        let waited = wait_interruptibly(
            py,
            canceller,
            move |c| {
                let mut got: Vec<Option<RawObject>> = vec![None; sub.len()];
                let r = hw.store.get_many_raw_cancellable(&sub, timeout, Some(c), &mut got);
                (r, got, sub)
            },
            move |(_, got, sub)| {
                for (id, g) in sub.iter().zip(got) {
                    if g.is_some() {
                        let _ = hu.store.release(id);
                    }
                }
            },
        );
        let (r, got, _) = match waited {
            Ok(w) => w,
            Err(interrupted) => {
                release_all(&mut out);
                return Err(interrupted);
            }
        };
        for (j, g) in got.into_iter().enumerate() {
            if g.is_some() {
                out[missing[j]] = g;
            }
        }
        match r {
            Ok(()) => Ok(out.into_iter().map(|o| o.expect("all pinned")).collect()),
            Err(e) if e.kind() == ErrorKind::Timeout => {
                let still = (0..n).filter(|&i| out[i].is_none()).count();
                let first = ids[(0..n).find(|&i| out[i].is_none()).unwrap_or(0)];
                release_all(&mut out);
                Err(errors::timeout(
                    py,
                    format!(
                        "get: {still} of {n} objects (the first {first}) were not sealed within {}s",
                        fmt_secs(timeout.unwrap_or_default())
                    ),
                ))
            }
            Err(e) => {
                release_all(&mut out);
                Err(errors::from_core(py, &e, "get"))
            }
        }
    }
}

/// Turns a pinned object into its value. Consumes the pin: releases it at
/// once for copies and on error, else hands it to the value's views.
fn decode<'py>(
    py: Python<'py>,
    h: &Arc<Handle>,
    id: ObjectId,
    raw: RawObject,
    pins: Option<&Bound<'py, PyList>>,
) -> PyResult<Bound<'py, PyAny>> {
    let meta: &[u8] =
        if raw.meta_len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(raw.meta, raw.meta_len) } };
    let data: &[u8] =
        if raw.data_len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(raw.data, raw.data_len) } };
    let parsed = format::parse(meta, raw.data_len);
    match parsed {
        Parsed::Bytes => {
            let v = PyBytes::new(py, data).into_any();
            let _ = h.store.release(&id);
            return Ok(v);
        }
        Parsed::ByteArray => {
            let v = pyo3::types::PyByteArray::new(py, data).into_any();
            let _ = h.store.release(&id);
            return Ok(v);
        }
        _ => {}
    }
    let pin = PinState::new(h.clone(), id);
    if let Some(list) = pins {
        if let Err(e) = list.append(Pin { state: pin.clone() }) {
            pin.release();
            return Err(e);
        }
    }
    let r = decode_pinned(py, &pin, raw, meta, parsed);
    if r.is_err() {
        // Nothing escaped (but the traceback): release now rather than at GC.
        pin.release();
    }
    r
}

fn span_of(pin: &Arc<PinState>, ptr: *const u8, len: usize) -> Span {
    exporter::bytes_span(Owner::Pin(pin.clone()), ptr, len)
}

fn decode_pinned<'py>(
    py: Python<'py>,
    pin: &Arc<PinState>,
    raw: RawObject,
    meta: &[u8],
    parsed: Parsed<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    match parsed {
        Parsed::Foreign => exporter::memoryview(py, span_of(pin, raw.data, raw.data_len)),
        Parsed::MemoryView { format, itemsize, shape } => {
            let mut strides = vec![0isize; shape.len()];
            let mut step = itemsize as isize;
            for i in (0..shape.len()).rev() {
                strides[i] = step;
                step *= shape[i].max(1);
            }
            let span = Span {
                owner: Owner::Pin(pin.clone()),
                ptr: raw.data as *mut u8,
                len: raw.data_len,
                readonly: true,
                format: Some(CString::new(format).map_err(|_| PyValueError::new_err("bad format"))?),
                itemsize,
                shape,
                strides,
            };
            exporter::memoryview(py, span)
        }
        Parsed::NdArray { fortran, dtype_key, shape, hint } => {
            let (dtype, itemsize) = get_dtype(py, dtype_key)?;
            // The shape fills the data exactly, and numpy can make it: its
            // size without the zero dimensions fits in intp ("array is too
            // big" otherwise, found by the fuzzer). The Python reader raises
            // the documented error for the rest.
            if format::nbytes(&shape, itemsize) != Some(raw.data_len) || !format::fits_numpy(&shape, itemsize) {
                return decode_slow(py, pin, raw, meta);
            }
            let api = numpy::api(py)?;
            let base = exporter::new_object(py, span_of(pin, raw.data, raw.data_len))?;
            let arr = match api.new_array(py, &dtype, &shape, fortran, raw.data as *mut u8, false, base) {
                Ok(arr) => arr,
                // Any other limit of numpy's: CorruptObject from the Python reader.
                Err(_) => return decode_slow(py, pin, raw, meta),
            };
            if hint == HINT_TORCH || hint == HINT_TORCH_BFLOAT16 {
                return serial(py)?.tensor_from.bind(py).call1((arr, hint));
            }
            Ok(arr)
        }
        Parsed::Pickle5 { stream_len, table } => {
            // SAFETY: the object is pinned (`pin`) and `parse` checked that
            // its stream lies within its data.
            let bytes =
                if stream_len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(raw.data, stream_len) } };
            if !format::pickle_memo_in_bounds(bytes) {
                // A damaged stream: CorruptObject from the Python reader.
                return decode_slow(py, pin, raw, meta);
            }
            let stream = exporter::memoryview(py, span_of(pin, raw.data, stream_len))?;
            let buffers = PyList::empty(py);
            for (off, len) in table {
                buffers.append(exporter::memoryview(py, span_of(pin, unsafe { raw.data.add(off) }, len))?)?;
            }
            let kwargs = PyDict::new(py);
            kwargs.set_item(pyo3::intern!(py, "buffers"), buffers)?;
            serial(py)?.loads.bind(py).call((stream,), Some(&kwargs))
        }
        Parsed::Slow => decode_slow(py, pin, raw, meta),
        Parsed::Bytes | Parsed::ByteArray => unreachable!("copies are decoded before pinning"),
    }
}

/// objstore._serial.decode_slow(meta, view): raises CorruptObject for bad
/// metadata, or decodes what the fast path does not handle.
fn decode_slow<'py>(py: Python<'py>, pin: &Arc<PinState>, raw: RawObject, meta: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let view = exporter::memoryview(py, span_of(pin, raw.data, raw.data_len))?;
    serial(py)?.decode_slow.bind(py).call1((PyBytes::new(py, meta), view))
}

/// Whether two store names, which differ, name one store file: a name
/// and the path of its file in /dev/shm, or two paths through a symbolic
/// link.
fn same_store_file(a: &str, b: &str) -> bool {
    let file = |name: &str| objstore::store_path(name).ok().map(|p| std::fs::canonicalize(&p).unwrap_or(p));
    matches!((file(a), file(b)), (Some(x), Some(y)) if x == y)
}

fn id_list(refs: &Bound<'_, PyAny>) -> PyResult<Option<Vec<ObjectId>>> {
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = refs.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = refs.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Ok(None);
    };
    items.iter().map(ids::extract).collect::<PyResult<Vec<_>>>().map(Some)
}

#[pymethods]
impl StoreCore {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> Self {
        StoreCore {
            state: GilCell::new(State { handle: None, name: String::new(), reattach: Options::default(), pid: 0 }),
        }
    }

    /// Open the store (see Store.__init__, which checks the arguments).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (name, *, capacity=0, max_objects=0, max_processes=0, spill_dir=None, mode=0, create_only=false, attach_only=false, prefault=false, hugepages=false, any_owner=false, remote_url=None, ticket_linger=0.0))]
    fn _open(
        &self,
        py: Python<'_>,
        name: String,
        capacity: u64,
        max_objects: u64,
        max_processes: u32,
        spill_dir: Option<PathBuf>,
        mode: u32,
        create_only: bool,
        attach_only: bool,
        prefault: bool,
        hugepages: bool,
        any_owner: bool,
        remote_url: Option<String>,
        ticket_linger: f64,
    ) -> PyResult<()> {
        let ticket_linger = Duration::try_from_secs_f64(ticket_linger)
            .map_err(|_| PyValueError::new_err(format!("ticket_linger must be >= 0 seconds, not {ticket_linger}")))?;
        let opts = Options {
            capacity_bytes: capacity,
            max_objects,
            max_processes,
            spill_dir,
            mode,
            create_only,
            attach_only,
            prefault,
            hugepages,
            any_owner,
            remote_url,
            ticket_linger,
            ..Options::default()
        };
        let op = format!("open store {name:?}");
        let nm = name.clone();
        let o2 = opts.clone();
        let store = py.detach(move || objstore::Store::open(&nm, &o2)).map_err(|e| {
            if e.kind() == ErrorKind::NotFound && attach_only {
                errors::store_not_found(py, &e, &op)
            } else {
                errors::from_core(py, &e, &op)
            }
        })?;
        let reattach = Options { prefault, hugepages, any_owner, ticket_linger, ..Options::default() };
        let fresh = Arc::new(Handle::new(store));
        let pid = std::process::id();
        let old = self.state.with(py, |st| {
            st.name = name;
            st.reattach = reattach;
            st.pid = pid;
            st.handle.replace(fresh)
        });
        drop(old);
        Ok(())
    }

    /// Drop this object's handle (views from it keep the attachment).
    fn _close(&self, py: Python<'_>) {
        let h = self.state.with(py, |st| st.handle.take());
        drop(h);
    }

    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.state.with(py, |st| st.handle.is_none())
    }

    /// The pid of the process whose handle this is (a fork child's
    /// re-attaches on its first call).
    #[getter]
    fn _pid(&self, py: Python<'_>) -> u32 {
        self.state.with(py, |st| st.pid)
    }

    /// The store file.
    #[getter]
    fn path(&self, py: Python<'_>) -> PyResult<PathBuf> {
        Ok(self.handle(py)?.store.path().to_path_buf())
    }

    /// The store's spill directory, or None.
    #[getter]
    fn spill_dir(&self, py: Python<'_>) -> PyResult<Option<PathBuf>> {
        Ok(self.handle(py)?.store.spill_dir().map(|p| p.to_path_buf()))
    }

    /// The store's remote URL (its remote tier, fixed at creation), or None.
    #[getter]
    fn remote_url(&self, py: Python<'_>) -> PyResult<Option<String>> {
        Ok(self.handle(py)?.store.remote_url().map(str::to_string))
    }

    /// Upload the sealed object ``ref`` to the store's remote, where a get
    /// on any machine whose store has the same remote fetches it. Nothing to
    /// do if it is published already. ``timeout`` (seconds; None: only the
    /// client's own retries, which give up on an endpoint that does not
    /// answer within seconds) bounds the upload.
    #[pyo3(signature = (r#ref, timeout=None))]
    fn publish(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let id = ids::extract(r#ref)?;
        let t = timeout_arg(timeout)?;
        let h = self.handle(py)?;
        py.detach(move || h.store.publish(&id, t)).map_err(|e| errors::from_core(py, &e, "publish"))
    }

    /// Remove the published copy of ``ref`` from the store's remote (the
    /// local object stays). ObjectNotFound if it is not published.
    #[pyo3(signature = (r#ref, timeout=None))]
    fn unpublish(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let id = ids::extract(r#ref)?;
        let t = timeout_arg(timeout)?;
        let h = self.handle(py)?;
        py.detach(move || h.store.unpublish(&id, t)).map_err(|e| errors::from_core(py, &e, "unpublish"))
    }

    /// Store ``value`` as a new sealed object and return a reference to it.
    ///
    /// bytes, bytearray, memoryview and numpy arrays are stored raw (one
    /// copy into shared memory; numpy arrays with dtype, shape and order in
    /// the metadata), and so are torch tensors (CPU); anything else is
    /// pickled with protocol 5 by cloudpickle, its out-of-band buffers (e.g.
    /// numpy arrays inside lists and dicts, pandas and Arrow data) copied
    /// straight into the object. ``id``: store under this ID instead of a
    /// fresh one (ObjectExists if it is taken).
    ///
    /// ``refcounted`` (the default without ``id``, as in Ray): the object
    /// is put OBJECT_REFCOUNTED and the result is an ObjectRef holding the
    /// creator's reference: the object is freed when the last ObjectRef of
    /// it is garbage-collected in every process that has one (and no value
    /// from a get pins it). ``refcounted=False`` (the default with ``id``:
    /// an ID chosen by the caller is a rendezvous for processes that find
    /// the object by it and hold no reference): a plain ObjectID, and an
    /// object that stays until ``delete``. ``flags``: more flags, or-ed
    /// (OBJECT_EVICTABLE: deleted when memory runs short); with
    /// ``refcounted=False``, ``flags=OBJECT_REFCOUNTED`` is the low level:
    /// this Store holds the creator's reference, to drop with ``unref`` or
    /// hand over with ``give_ref``.
    #[pyo3(signature = (value, *, id=None, refcounted=None, flags=0))]
    fn put<'py>(
        slf: &Bound<'py, Self>,
        value: &Bound<'py, PyAny>,
        id: Option<&Bound<'py, PyAny>>,
        refcounted: Option<bool>,
        flags: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let h = slf.get().handle(py)?;
        let id = id.filter(|x| !x.is_none());
        if !refcounted.unwrap_or(id.is_none()) {
            return Ok(ids::new_id(py, Self::put_value(py, &h, value, id, flags)?)?.into_any());
        }
        let oid = Self::put_value(py, &h, value, id, flags | objstore::OBJECT_REFCOUNTED)?;
        // The creator's reference becomes the ObjectRef's.
        ObjectRef::new(py, slf.get(), &h, oid).map(Bound::into_any).inspect_err(|_| {
            let _ = h.store.unref(&oid);
        })
    }

    /// Get one object (an ObjectID) or several (a list or tuple of them).
    ///
    /// Waits for objects not sealed yet: ``timeout`` in seconds, None = for
    /// ever, 0 = not at all (ObjectNotFound if absent); Timeout when it runs
    /// out. Ctrl-C interrupts a wait at once (KeyboardInterrupt, nothing
    /// left pinned). numpy arrays, memoryviews, torch tensors and buffers inside
    /// pickled values are read-only zero-copy views of the shared memory;
    /// the object stays pinned until they are garbage-collected (see
    /// ``pinned`` to release at a known point). bytes and bytearray values
    /// are copies. ``canceller``: an objstore.Canceller another thread may
    /// cancel the wait with (objstore.Cancelled).
    #[pyo3(signature = (refs, timeout=None, *, canceller=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        refs: &Bound<'py, PyAny>,
        timeout: Option<&Bound<'py, PyAny>>,
        canceller: Option<&Bound<'py, PyCanceller>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self._get(py, refs, timeout, None, canceller)
    }

    /// ``get(ref, 0)`` of one ObjectID that returns ``absent`` where that
    /// raises ObjectNotFound (objstore._aio's look before it awaits: no
    /// exception made and caught per await). Any other error is raised as
    /// by get: ValueError for an ObjectRef of another store, StoreClosed.
    fn _get_if_sealed<'py>(
        &self,
        py: Python<'py>,
        r#ref: &Bound<'py, PyAny>,
        absent: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Ok(r) = r#ref.cast::<PyObjectId>() else {
            return Err(PyTypeError::new_err(format!(
                "get() takes an ObjectID or a list of them, not {}",
                r#ref.get_type().name()?
            )));
        };
        let id = r.get().id;
        let h = self.handle(py)?;
        match get_now(py, &h, &id) {
            Ok(raw) => decode(py, &h, id, raw, None),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.check_ref_store(py, r#ref)?;
                Ok(absent)
            }
            Err(e) => Err(errors::from_core(py, &e, "get")),
        }
    }

    /// get() that appends the pin of each value to ``pins`` (for Pinned).
    #[pyo3(signature = (refs, timeout=None, pins=None, canceller=None))]
    fn _get<'py>(
        &self,
        py: Python<'py>,
        refs: &Bound<'py, PyAny>,
        timeout: Option<&Bound<'py, PyAny>>,
        pins: Option<&Bound<'py, PyList>>,
        canceller: Option<&Bound<'py, PyCanceller>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let canceller = canceller.map(|c| &c.get().inner);
        if let Ok(r) = refs.cast::<PyObjectId>() {
            let id = r.get().id;
            if let Some(t) = timeout {
                if !t.is_none() {
                    timeout_arg(Some(t))?; // a bad timeout fails whether or not the object is there
                }
            }
            let h = self.handle(py)?;
            let raw = match get_now(py, &h, &id) {
                Ok(raw) => raw, // present: the common case, no timeout to parse
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    self.check_ref_store(py, refs)?;
                    self.get_one_raw(py, &h, &id, timeout_arg(timeout)?, canceller)?
                }
                Err(e) => return Err(errors::from_core(py, &e, "get")),
            };
            return decode(py, &h, id, raw, pins);
        }
        let Some(ids) = id_list(refs)? else {
            return Err(PyTypeError::new_err(format!(
                "get() takes an ObjectID or a list of them, not {}",
                refs.get_type().name()?
            )));
        };
        self.check_refs_store(py, &refs.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
        let timeout = timeout_arg(timeout)?;
        let h = self.handle(py)?;
        let out = PyList::empty(py);
        if ids.is_empty() {
            return Ok(out.into_any());
        }
        let raws = self.get_many_raw(py, &h, &ids, timeout, canceller)?;
        for (i, raw) in raws.iter().enumerate() {
            match decode(py, &h, ids[i], *raw, pins) {
                Ok(v) => out.append(v)?,
                Err(e) => {
                    // Entry i was dealt with by decode; the ones after it are
                    // still pinned and owned by no one.
                    for id in &ids[i + 1..] {
                        let _ = h.store.release(id);
                    }
                    return Err(e);
                }
            }
        }
        Ok(out.into_any())
    }

    /// One object's raw data (read-only memoryview), metadata (bytes) and
    /// pin, whatever wrote it.
    #[pyo3(signature = (r#ref, timeout=None))]
    fn _get_buffer<'py>(
        &self,
        py: Python<'py>,
        r#ref: &Bound<'py, PyAny>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyBytes>, Pin)> {
        let id = ids::extract(r#ref)?;
        let timeout = timeout_arg(timeout)?;
        let h = self.handle(py)?;
        let raw = self.get_one_raw(py, &h, &id, timeout, None)?;
        let meta: &[u8] =
            if raw.meta_len == 0 { &[] } else { unsafe { std::slice::from_raw_parts(raw.meta, raw.meta_len) } };
        let meta = PyBytes::new(py, meta);
        let pin = PinState::new(h.clone(), id);
        let view = exporter::memoryview(py, span_of(&pin, raw.data, raw.data_len))?;
        Ok((view, meta, Pin { state: pin }))
    }

    /// Create an object of ``size`` bytes to fill in place: (ID, Creation).
    /// ``flags`` as for ``put``.
    #[pyo3(signature = (size, meta, id=None, flags=0))]
    fn _create<'py>(
        &self,
        py: Python<'py>,
        size: usize,
        meta: &[u8],
        id: Option<&Bound<'py, PyAny>>,
        flags: u32,
    ) -> PyResult<(Bound<'py, PyObjectId>, Creation)> {
        let id = match id {
            None => None,
            Some(x) if x.is_none() => None,
            Some(x) => Some(ids::extract(x)?),
        };
        let h = self.handle(py)?;
        let (oid, ptr) = Self::create_raw(py, &h, id, size, meta, flags)?;
        let state = CreationState::new(h, oid, ptr, size);
        Ok((ids::new_id(py, oid)?, Creation { state }))
    }

    /// Delete one object or a list of them. A deleted object disappears at
    /// once; its memory is freed when the last pin (value) is released and
    /// no process holds a reference. An ObjectRef given here gives its own
    /// reference back (it holds none afterwards). For a list, every ID is
    /// tried and the first error is raised after.
    fn delete(&self, py: Python<'_>, refs: &Bound<'_, PyAny>) -> PyResult<()> {
        if let Ok(r) = refs.cast::<PyObjectId>() {
            // Before anything: an ObjectRef of another store keeps its
            // reference (giving it back would free its object there).
            self.check_ref_store(py, refs)?;
            let h = self.handle(py)?;
            let res = h.store.delete(&r.get().id).map_err(|e| errors::from_core(py, &e, "delete"));
            release_if_ref(r);
            return res;
        }
        let Some(ids) = id_list(refs)? else {
            return Err(PyTypeError::new_err(format!(
                "delete() takes an ObjectID or a list of them, not {}",
                refs.get_type().name()?
            )));
        };
        // Before anything, as above.
        self.check_refs_store(py, &refs.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
        let h = self.handle(py)?;
        let mut first = None;
        for id in &ids {
            if let Err(e) = h.store.delete(id) {
                first.get_or_insert(e);
            }
        }
        for r in refs.try_iter()? {
            release_if_ref(r?.cast::<PyObjectId>()?);
        }
        match first {
            Some(e) => Err(errors::from_core(py, &e, "delete")),
            None => Ok(()),
        }
    }

    /// Whether a sealed object with this ID is in the store (in memory or
    /// spilled). Does not pin it.
    fn contains(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>) -> PyResult<bool> {
        let id = ids::extract(r#ref)?;
        let h = self.handle(py)?;
        h.store.contains(&id).map_err(|e| errors::from_core(py, &e, "contains"))
    }

    fn __contains__(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>) -> PyResult<bool> {
        match r#ref.cast::<PyObjectId>() {
            Ok(r) => {
                let h = self.handle(py)?;
                h.store.contains(&r.get().id).map_err(|e| errors::from_core(py, &e, "contains"))
            }
            Err(_) => Ok(false),
        }
    }

    /// Take one more reference to a sealed object (``os_ref``): while any
    /// process holds one, the object is not freed (nor deleted, if put with
    /// OBJECT_REFCOUNTED). Not a pin: it may be spilled. ObjectNotFound if
    /// it is absent or deleted. Closing the store drops its references.
    fn r#ref(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = ids::extract(r#ref)?;
        let h = self.handle(py)?;
        h.store.add_ref(&id).map_err(|e| self.ref_error(py, r#ref, &e, "ref"))
    }

    /// Drop one of this store's references (``os_unref``); an
    /// OBJECT_REFCOUNTED object that nothing references or pins any more is
    /// deleted. ObjectNotFound if this store holds none.
    fn unref(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = ids::extract(r#ref)?;
        let h = self.handle(py)?;
        h.store.unref(&id).map_err(|e| self.ref_error(py, r#ref, &e, "unref"))
    }

    /// Move one of this store's references into a ticket (``os_ref_give``),
    /// an int to send to another process, which takes it with ``take_ref``;
    /// until then the reference is charged to this process.
    fn give_ref(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>) -> PyResult<u64> {
        let id = ids::extract(r#ref)?;
        let h = self.handle(py)?;
        let ticket = h.store.give_ref(&id).map_err(|e| self.ref_error(py, r#ref, &e, "give_ref"))?;
        crate::refs::note_ticket_given(py)?;
        Ok(ticket)
    }

    /// How many tickets this process gave (pickled ObjectRefs, ``give_ref``)
    /// that no process has taken yet (unpickled).
    fn tickets_outstanding(&self, py: Python<'_>) -> PyResult<u64> {
        let h = self.handle(py)?;
        h.store.tickets_outstanding().map_err(|e| errors::from_core(py, &e, "tickets_outstanding"))
    }

    /// Wait until every ticket this process gave is taken, up to ``timeout``
    /// seconds (None: for ever); StoreTimeout if some are still outstanding
    /// then. Ctrl-C interrupts it.
    #[pyo3(signature = (timeout=None, *, canceller=None))]
    fn wait_tickets_taken<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
        canceller: Option<&Bound<'py, PyCanceller>>,
    ) -> PyResult<()> {
        let timeout = match timeout {
            None => None,
            Some(t) if t.is_finite() && t >= 0.0 => Some(Duration::from_secs_f64(t)),
            Some(t) => return Err(PyValueError::new_err(format!("timeout must be None or >= 0, not {t}"))),
        };
        let h = self.handle(py)?;
        let hw = h.clone();
        let r = wait_interruptibly(
            py,
            canceller.map(|c| &c.get().inner),
            move |c| hw.store.wait_tickets_taken(timeout, Some(c)),
            |_| {},
        )?;
        r.map_err(|e| errors::from_core(py, &e, "wait_tickets_taken"))
    }

    /// Take the reference a ticket holds (``os_ref_take``), once per ticket.
    fn take_ref(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>, ticket: u64) -> PyResult<()> {
        let id = ids::extract(r#ref)?;
        let h = self.handle(py)?;
        h.store.take_ref(&id, ticket).map_err(|e| errors::from_core(py, &e, "take_ref"))
    }

    /// Wait until at least ``num_returns`` of ``refs`` are sealed, or
    /// ``timeout`` seconds pass (None: for ever), taking no pins (``os_wait``,
    /// as ``ray.wait``): returns (ready, not_ready), two lists of the IDs in
    /// their order in ``refs``. Ctrl-C interrupts it at once
    /// (KeyboardInterrupt); so does ``canceller`` (an objstore.Canceller)
    /// from another thread (objstore.Cancelled).
    #[pyo3(signature = (refs, num_returns=1, timeout=None, *, canceller=None))]
    fn wait<'py>(
        &self,
        py: Python<'py>,
        refs: &Bound<'py, PyAny>,
        num_returns: usize,
        timeout: Option<f64>,
        canceller: Option<&Bound<'py, PyCanceller>>,
    ) -> PyResult<ReadyAndNot<'py>> {
        let items: Vec<Bound<'py, PyAny>> = refs.try_iter()?.collect::<PyResult<_>>()?;
        let ids: Vec<ObjectId> = items.iter().map(|r| ids::extract(r)).collect::<PyResult<_>>()?;
        self.check_refs_store(py, &items)?;
        let timeout = match timeout {
            None => None,
            Some(t) if t.is_finite() && t >= 0.0 => Some(std::time::Duration::from_secs_f64(t)),
            Some(t) => return Err(PyValueError::new_err(format!("timeout must be None or >= 0, not {t}"))),
        };
        let h = self.handle(py)?;
        // A first look, which needs no wait (nor a helper thread) when
        // enough are sealed; then one wait, with the GIL released, that
        // Ctrl-C interrupts (see `interrupt`).
        let mut ready = vec![false; ids.len()];
        let mut r = h.store.wait(&ids, num_returns, Some(Duration::ZERO), None, &mut ready);
        if !no_wait(timeout) && matches!(&r, Err(e) if e.kind() == ErrorKind::Timeout) {
            let hw = h.clone();
            (r, ready) = wait_interruptibly(
                py,
                canceller.map(|c| &c.get().inner),
                move |c| {
                    let mut ready = vec![false; ids.len()];
                    let r = hw.store.wait(&ids, num_returns, timeout, Some(c), &mut ready);
                    (r, ready)
                },
                |_| {},
            )?;
        }
        match r {
            Ok(_) => {}
            Err(e) if e.kind() == objstore::ErrorKind::Timeout => {}
            Err(e) => return Err(errors::from_core(py, &e, "wait")),
        }
        let (mut yes, mut no) = (Vec::new(), Vec::new());
        for (item, r) in items.into_iter().zip(ready) {
            if r {
                yes.push(item);
            } else {
                no.push(item);
            }
        }
        Ok((yes, no))
    }

    /// A wait set of ``refs`` (objstore._objstore.WaitSet), for
    /// ``Store.as_completed``: its objects are handed out once each as they
    /// are sealed, each wait looking only at what was sealed since the last
    /// (``os_wait_set_new``). An ID given twice is kept once.
    fn _wait_set(&self, py: Python<'_>, refs: &Bound<'_, PyAny>) -> PyResult<PyWaitSet> {
        let items: Vec<Bound<'_, PyAny>> = refs.try_iter()?.collect::<PyResult<_>>()?;
        self.check_refs_store(py, &items)?;
        let refs = PyList::new(py, items)?;
        let refs = refs.as_any();
        let h = self.handle(py)?;
        PyWaitSet::new(py, &h.store, refs)
    }

    /// How many wait sets, of every process, the store counts (its sealers
    /// log while there is one): for tests that a set is freed.
    fn _wait_sets_counted(&self, py: Python<'_>) -> PyResult<u64> {
        Ok(self.handle(py)?.store.wait_sets_counted())
    }

    /// The counters, in the order of StoreStats' fields.
    fn _stats(&self, py: Python<'_>) -> PyResult<Vec<u64>> {
        let h = self.handle(py)?;
        let s = h.store.stats().map_err(|e| errors::from_core(py, &e, "stats"))?;
        Ok(vec![
            s.capacity_bytes,
            s.used_bytes,
            s.object_count,
            s.unsealed_count,
            s.pinned_count,
            s.spilled_count,
            s.spilled_bytes,
            s.max_objects,
            s.attached_processes as u64,
            s.max_processes as u64,
            s.reclaimed_processes,
            s.spills_total,
            s.restores_total,
            s.publishes_total,
            s.published_bytes,
            s.fetches_total,
            s.fetched_bytes,
            s.references,
            s.referenced_count,
            s.tickets,
            s.evictions_total,
        ])
    }

    /// Up to ``limit`` objects from ``cursor``: ([(id, data_len, meta_len,
    /// state, pinning_processes, created_unix)], next cursor or None).
    #[allow(clippy::type_complexity)]
    fn _list_from<'py>(
        &self,
        py: Python<'py>,
        cursor: u64,
        limit: usize,
    ) -> PyResult<(Vec<(Bound<'py, PyObjectId>, u64, u64, &'static str, u32, u64, u32, u32)>, Option<u64>)> {
        let h = self.handle(py)?;
        let (infos, next) = h.store.list_from(cursor, limit).map_err(|e| errors::from_core(py, &e, "list"))?;
        let mut out = Vec::with_capacity(infos.len());
        for i in infos {
            out.push((
                ids::new_id(py, i.id)?,
                i.data_len,
                i.meta_len,
                i.state.name(),
                i.pinning_processes,
                i.created_unix,
                i.referencing_processes,
                i.flags,
            ));
        }
        Ok((out, next))
    }

    /// Reclaim what dead processes held now (attaches and allocations under
    /// pressure do it too).
    fn collect(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.handle(py)?;
        h.store.collect().map(|_| ()).map_err(|e| errors::from_core(py, &e, "collect"))
    }

    /// The live processes attached to the store: [(slot, pid)].
    fn _processes(&self, py: Python<'_>) -> PyResult<Vec<(u32, u32)>> {
        let h = self.handle(py)?;
        let ps = h.store.processes().map_err(|e| errors::from_core(py, &e, "processes"))?;
        Ok(ps.into_iter().map(|p| (p.slot, p.pid)).collect())
    }

    /// The live processes pinning an object (sealed, or deleted but still
    /// pinned): [(slot, pid)].
    fn _pin_holders(&self, py: Python<'_>, r#ref: &Bound<'_, PyAny>) -> PyResult<Vec<(u32, u32)>> {
        let id = ids::extract(r#ref)?;
        let h = self.handle(py)?;
        let ps = h.store.pin_holders(&id).map_err(|e| errors::from_core(py, &e, "pin_holders"))?;
        Ok(ps.into_iter().map(|p| (p.slot, p.pid)).collect())
    }

    /// Check the store's consistency: the problems found, one sentence
    /// each (an empty list for a sound store). Exact on a quiet store; on a
    /// busy one a step in progress elsewhere may show as a problem that a
    /// second look no longer finds.
    fn audit(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let h = self.handle(py)?;
        py.detach(|| h.store.audit()).map_err(|e| errors::from_core(py, &e, "audit"))
    }
}

/// After a delete: an ObjectRef gives its reference back, so that the
/// object is freed at once if nothing else holds it (its ID is gone anyway).
fn release_if_ref(r: &Bound<'_, PyObjectId>) {
    if let Ok(r) = r.cast::<ObjectRef>() {
        r.get().release();
    }
}

/// What `wait` returns: the ready IDs, then the others.
type ReadyAndNot<'py> = (Vec<Bound<'py, PyAny>>, Vec<Bound<'py, PyAny>>);

/// A bytearray put, with the GIL held.
trait PutOrAs {
    /// # Safety
    /// `data` must stay valid and unchanged during the call.
    unsafe fn put_with_meta_or_as(
        &self,
        id: Option<ObjectId>,
        data: &[u8],
        meta: &[u8],
        flags: u32,
    ) -> objstore::Result<ObjectId>;
}

impl PutOrAs for objstore::Store {
    unsafe fn put_with_meta_or_as(
        &self,
        id: Option<ObjectId>,
        data: &[u8],
        meta: &[u8],
        flags: u32,
    ) -> objstore::Result<ObjectId> {
        match id {
            None => self.put_ex(data, meta, flags),
            Some(id) => self.put_as_ex(&id, data, meta, flags).map(|()| id),
        }
    }
}
