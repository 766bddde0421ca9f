//! `SharedBuffer`: the object that every zero-copy value handed to Python
//! hangs on. It exports a span of the store's mapping through the buffer
//! protocol (read-only for sealed objects, writable for an object being
//! created) and owns what keeps that span valid: a pin of a sealed object,
//! or the creation of an unsealed one (see `Owner`). It is dropped when the
//! last memoryview, ndarray or tensor over it is garbage-collected, and the
//! pin is released then (or earlier, by an explicit release).
//!
//! PyO3 supports `__getbuffer__` on a `#[pyclass]` only for the limited API
//! of Python 3.11 on, and this module is built for the limited API of 3.9
//! (one wheel for every CPython >= 3.9). So the type is made here with
//! `PyType_FromSpec` and the `bf_getbuffer` slot, which CPython accepts from
//! 3.9 on; `Py_buffer` and the two buffer functions used are declared here
//! (their layout and symbols are the same in every CPython 3).

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::pins::Owner;

/// `Py_buffer` (Include/pybuffer.h), the same in every CPython 3.
#[repr(C)]
pub struct PyBufferRaw {
    pub buf: *mut c_void,
    pub obj: *mut ffi::PyObject,
    pub len: ffi::Py_ssize_t,
    pub itemsize: ffi::Py_ssize_t,
    pub readonly: c_int,
    pub ndim: c_int,
    pub format: *mut c_char,
    pub shape: *mut ffi::Py_ssize_t,
    pub strides: *mut ffi::Py_ssize_t,
    pub suboffsets: *mut ffi::Py_ssize_t,
    pub internal: *mut c_void,
}

impl PyBufferRaw {
    pub const fn empty() -> PyBufferRaw {
        PyBufferRaw {
            buf: ptr::null_mut(),
            obj: ptr::null_mut(),
            len: 0,
            itemsize: 0,
            readonly: 0,
            ndim: 0,
            format: ptr::null_mut(),
            shape: ptr::null_mut(),
            strides: ptr::null_mut(),
            suboffsets: ptr::null_mut(),
            internal: ptr::null_mut(),
        }
    }
}

extern "C" {
    // In the stable ABI from 3.11, and exported by every CPython 3.
    pub fn PyObject_GetBuffer(obj: *mut ffi::PyObject, view: *mut PyBufferRaw, flags: c_int) -> c_int;
    pub fn PyBuffer_Release(view: *mut PyBufferRaw);
}

pub const PYBUF_WRITABLE: c_int = 0x0001;
pub const PYBUF_FORMAT: c_int = 0x0004;
pub const PYBUF_ND: c_int = 0x0008;
pub const PYBUF_STRIDES: c_int = 0x0010 | PYBUF_ND;
pub const PYBUF_C_CONTIGUOUS: c_int = 0x0020 | PYBUF_STRIDES;

// Slot numbers of Include/typeslots.h (values of 3.9..3.14, which later
// versions keep accepting).
const PY_BF_GETBUFFER: c_int = 1;
const PY_TP_DEALLOC: c_int = ffi::Py_tp_dealloc;
const PY_TP_DOC: c_int = ffi::Py_tp_doc;
const PY_TP_FREE: c_int = ffi::Py_tp_free;

/// What one SharedBuffer exports.
pub struct Span {
    /// Keeps the memory valid (released or aborted when the last holder
    /// goes): held for its Drop.
    #[allow(dead_code)]
    pub owner: Owner,
    pub ptr: *mut u8,
    pub len: usize,
    pub readonly: bool,
    /// struct-module format (NUL-terminated), "B" if None.
    pub format: Option<CString>,
    pub itemsize: usize,
    /// C-contiguous shape and strides (empty: one dimension of `len` bytes).
    pub shape: Vec<ffi::Py_ssize_t>,
    pub strides: Vec<ffi::Py_ssize_t>,
}

#[repr(C)]
struct SharedBufferObject {
    ob_base: ffi::PyObject,
    span: *mut Span,
    /// 1-D shape and stride storage for the plain byte view.
    len1: ffi::Py_ssize_t,
    one: ffi::Py_ssize_t,
}

static TYPE: AtomicPtr<ffi::PyTypeObject> = AtomicPtr::new(ptr::null_mut());

const DOC: &[u8] = b"A span of an objstore store's shared memory, kept valid (pinned) while this object lives.\n\n\
Exported read-only through the buffer protocol for sealed objects. Internal: get() returns\n\
memoryviews, ndarrays and tensors that hang on it.\0";

static NAME: &[u8] = b"objstore._objstore.SharedBuffer\0";
static FORMAT_B: &[u8] = b"B\0";

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    let o = obj as *mut SharedBufferObject;
    let span = unsafe { (*o).span };
    if !span.is_null() {
        unsafe {
            (*o).span = ptr::null_mut();
            drop(Box::from_raw(span)); // releases the pin or aborts the creation if last
        }
    }
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        let free = ffi::PyType_GetSlot(tp, PY_TP_FREE);
        if !free.is_null() {
            let free: unsafe extern "C" fn(*mut c_void) = std::mem::transmute(free);
            free(obj as *mut c_void);
        }
        ffi::Py_DECREF(tp as *mut ffi::PyObject);
    }
}

unsafe extern "C" fn getbuffer(obj: *mut ffi::PyObject, view: *mut PyBufferRaw, flags: c_int) -> c_int {
    let o = obj as *mut SharedBufferObject;
    let span = unsafe { (*o).span };
    if span.is_null() {
        // Made from Python (SharedBuffer()), not by this module: nothing to export.
        unsafe {
            (*view).obj = ptr::null_mut();
            ffi::PyErr_SetString(ffi::PyExc_BufferError, c"this SharedBuffer views no memory".as_ptr());
        }
        return -1;
    }
    let span = unsafe { &*span };
    if flags & PYBUF_WRITABLE != 0 && span.readonly {
        unsafe {
            (*view).obj = ptr::null_mut();
            ffi::PyErr_SetString(
                ffi::PyExc_BufferError,
                c"objects in an objstore store are immutable: this memory is read-only".as_ptr(),
            );
        }
        return -1;
    }
    let v = unsafe { &mut *view };
    v.buf = span.ptr as *mut c_void;
    unsafe { ffi::Py_INCREF(obj) };
    v.obj = obj;
    v.len = span.len as ffi::Py_ssize_t;
    v.readonly = span.readonly as c_int;
    v.suboffsets = ptr::null_mut();
    v.internal = ptr::null_mut();
    let want_nd = flags & PYBUF_ND == PYBUF_ND;
    let want_strides = flags & PYBUF_STRIDES == PYBUF_STRIDES;
    if !want_nd {
        // A consumer that asks for no shape sees the bytes (the data is
        // contiguous), as the protocol says.
        v.itemsize = 1;
        v.format = if flags & PYBUF_FORMAT != 0 { FORMAT_B.as_ptr() as *mut c_char } else { ptr::null_mut() };
        v.ndim = 1;
        v.shape = ptr::null_mut();
        v.strides = ptr::null_mut();
        return 0;
    }
    if span.shape.is_empty() {
        unsafe {
            (*o).len1 = span.len as ffi::Py_ssize_t;
            (*o).one = 1;
            v.shape = &mut (*o).len1;
            v.strides = if want_strides { &mut (*o).one } else { ptr::null_mut() };
        }
        v.itemsize = 1;
        v.format = if flags & PYBUF_FORMAT != 0 { FORMAT_B.as_ptr() as *mut c_char } else { ptr::null_mut() };
        v.ndim = 1;
        return 0;
    }
    v.itemsize = span.itemsize as ffi::Py_ssize_t;
    v.format = if flags & PYBUF_FORMAT != 0 {
        span.format.as_ref().map_or(FORMAT_B.as_ptr() as *mut c_char, |f| f.as_ptr() as *mut c_char)
    } else {
        ptr::null_mut()
    };
    v.ndim = span.shape.len() as c_int;
    v.shape = span.shape.as_ptr() as *mut ffi::Py_ssize_t;
    v.strides = if want_strides { span.strides.as_ptr() as *mut ffi::Py_ssize_t } else { ptr::null_mut() };
    0
}

/// Makes the type (once, at module init) and adds it to the module.
pub fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let mut slots = vec![
        ffi::PyType_Slot { slot: PY_TP_DEALLOC, pfunc: dealloc as *mut c_void },
        ffi::PyType_Slot { slot: PY_BF_GETBUFFER, pfunc: getbuffer as *mut c_void },
        ffi::PyType_Slot { slot: PY_TP_DOC, pfunc: DOC.as_ptr() as *mut c_void },
        ffi::PyType_Slot { slot: 0, pfunc: ptr::null_mut() },
    ];
    let mut spec = ffi::PyType_Spec {
        name: NAME.as_ptr() as *const c_char,
        basicsize: std::mem::size_of::<SharedBufferObject>() as c_int,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as c_uint,
        slots: slots.as_mut_ptr(),
    };
    // PyType_FromSpec copies what it needs out of the spec and slots.
    let tp = unsafe { ffi::PyType_FromSpec(&mut spec) };
    if tp.is_null() {
        return Err(PyErr::fetch(py));
    }
    let obj = unsafe { Bound::from_owned_ptr(py, tp) };
    m.add("SharedBuffer", &obj)?;
    // The module keeps the type alive; keep one more reference for good.
    TYPE.store(obj.into_ptr() as *mut ffi::PyTypeObject, Ordering::Release);
    Ok(())
}

/// A new SharedBuffer over `span` (owned reference).
pub fn new_object(py: Python<'_>, span: Span) -> PyResult<Bound<'_, PyAny>> {
    let tp = TYPE.load(Ordering::Acquire);
    if tp.is_null() {
        return Err(PyRuntimeError::new_err("objstore._objstore is not initialised"));
    }
    let boxed = Box::into_raw(Box::new(span));
    let obj = unsafe { ffi::PyType_GenericAlloc(tp, 0) };
    if obj.is_null() {
        drop(unsafe { Box::from_raw(boxed) });
        return Err(PyErr::fetch(py));
    }
    unsafe {
        (*(obj as *mut SharedBufferObject)).span = boxed;
        Ok(Bound::from_owned_ptr(py, obj))
    }
}

/// A memoryview over a new SharedBuffer.
pub fn memoryview<'py>(py: Python<'py>, span: Span) -> PyResult<Bound<'py, PyAny>> {
    let exporter = new_object(py, span)?;
    memoryview_of(&exporter)
}

pub fn memoryview_of<'py>(exporter: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = exporter.py();
    let mv = unsafe { ffi::PyMemoryView_FromObject(exporter.as_ptr()) };
    if mv.is_null() {
        return Err(PyErr::fetch(py));
    }
    Ok(unsafe { Bound::from_owned_ptr(py, mv) })
}

/// A plain read-only byte span of a pinned object.
pub fn bytes_span(owner: Owner, ptr: *const u8, len: usize) -> Span {
    Span {
        owner,
        ptr: ptr as *mut u8,
        len,
        readonly: true,
        format: None,
        itemsize: 1,
        shape: Vec::new(),
        strides: Vec::new(),
    }
}
