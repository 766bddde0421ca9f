//! The few parts of numpy's C API this module uses, found at run time
//! through numpy's `_ARRAY_API` capsule (as numpy's own `import_array()`
//! does), so numpy stays optional and any numpy >= 1.x works: the table
//! indices and `PyArrayObject`'s leading fields are numpy's stable ABI.

use std::ffi::{c_char, c_int, c_void};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCapsule;

pub const NPY_ARRAY_C_CONTIGUOUS: c_int = 0x0001;
pub const NPY_ARRAY_F_CONTIGUOUS: c_int = 0x0002;
pub const NPY_ARRAY_WRITEABLE: c_int = 0x0400;

/// The leading fields of numpy's PyArrayObject (ndarraytypes.h), the same in
/// numpy 1.x and 2.x.
#[repr(C)]
pub struct ArrayFields {
    pub ob_base: ffi::PyObject,
    pub data: *mut c_char,
    pub nd: c_int,
    pub dimensions: *mut ffi::Py_ssize_t,
    pub strides: *mut ffi::Py_ssize_t,
    pub base: *mut ffi::PyObject,
    pub descr: *mut ffi::PyObject,
    pub flags: c_int,
}

type NewFromDescr = unsafe extern "C" fn(
    *mut ffi::PyTypeObject,
    *mut ffi::PyObject,
    c_int,
    *const ffi::Py_ssize_t,
    *const ffi::Py_ssize_t,
    *mut c_void,
    c_int,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;
type SetBaseObject = unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject) -> c_int;

pub struct Api {
    pub array_type: *mut ffi::PyTypeObject,
    new_from_descr: NewFromDescr,
    set_base_object: SetBaseObject,
}

// SAFETY: the table is numpy's, immutable and process-wide.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

static API: PyOnceLock<Api> = PyOnceLock::new();

fn load(py: Python<'_>) -> PyResult<Api> {
    let m = PyModule::import(py, "numpy._core._multiarray_umath")
        .or_else(|_| PyModule::import(py, "numpy.core._multiarray_umath"))?;
    let cap = m.getattr("_ARRAY_API")?;
    let cap = cap.cast::<PyCapsule>().map_err(PyErr::from)?;
    let name = cap.name()?;
    let table = cap.pointer_checked(name.map(|n| unsafe { n.as_cstr() }))?;
    let table = table.as_ptr() as *const *const c_void;
    unsafe {
        Ok(Api {
            array_type: *table.add(2) as *mut ffi::PyTypeObject,
            new_from_descr: std::mem::transmute::<*const c_void, NewFromDescr>(*table.add(94)),
            set_base_object: std::mem::transmute::<*const c_void, SetBaseObject>(*table.add(282)),
        })
    }
}

/// numpy's API, importing numpy if needed.
pub fn api(py: Python<'_>) -> PyResult<&'static Api> {
    API.get_or_try_init(py, || load(py)).map_err(|e| {
        if e.is_instance_of::<pyo3::exceptions::PyImportError>(py) {
            pyo3::exceptions::PyImportError::new_err("this object holds a numpy array: install numpy to get it")
        } else {
            e
        }
    })
}

/// numpy's API if numpy has been imported by this process (a put of a
/// value that is not an ndarray never imports numpy).
pub fn api_if_loaded(py: Python<'_>) -> Option<&'static Api> {
    if let Some(a) = API.get(py) {
        return Some(a);
    }
    let modules = PyModule::import(py, "sys").ok()?.getattr("modules").ok()?;
    if modules.contains("numpy").ok()? {
        api(py).ok()
    } else {
        None
    }
}

impl Api {
    #[inline]
    pub fn is_exact_ndarray(&self, obj: &Bound<'_, PyAny>) -> bool {
        unsafe { ffi::Py_TYPE(obj.as_ptr()) == self.array_type }
    }

    /// A new ndarray over `data` (not copied), with `base` as its base
    /// object (it keeps the memory valid). `descr` is a numpy dtype.
    /// Read-only unless `writeable`.
    #[allow(clippy::too_many_arguments)]
    pub fn new_array<'py>(
        &self,
        py: Python<'py>,
        descr: &Bound<'py, PyAny>,
        shape: &[ffi::Py_ssize_t],
        fortran: bool,
        data: *mut u8,
        writeable: bool,
        base: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut flags = if fortran { NPY_ARRAY_F_CONTIGUOUS } else { NPY_ARRAY_C_CONTIGUOUS };
        if writeable {
            flags |= NPY_ARRAY_WRITEABLE;
        }
        unsafe {
            ffi::Py_INCREF(descr.as_ptr()); // stolen by NewFromDescr
            let arr = (self.new_from_descr)(
                self.array_type,
                descr.as_ptr(),
                shape.len() as c_int,
                shape.as_ptr(),
                std::ptr::null(),
                data as *mut c_void,
                flags,
                std::ptr::null_mut(),
            );
            if arr.is_null() {
                return Err(PyErr::fetch(py));
            }
            let arr = Bound::from_owned_ptr(py, arr);
            if (self.set_base_object)(arr.as_ptr(), base.into_ptr()) < 0 {
                return Err(PyErr::fetch(py));
            }
            Ok(arr)
        }
    }
}

/// The fields of an ndarray (the caller checked it is one).
#[inline]
pub fn fields<'a>(obj: &'a Bound<'_, PyAny>) -> &'a ArrayFields {
    unsafe { &*(obj.as_ptr() as *const ArrayFields) }
}
