//! Errors of the core as the exceptions of objstore.errors: one class per
//! status (ErrorKind), carrying the core's message, `status` (the C code)
//! and `status_name` (its C name).

use objstore::{Error, ErrorKind};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

struct Classes {
    by_name: Py<PyDict>,
    base: Py<PyAny>,
    store_closed: Py<PyAny>,
    store_not_found: Py<PyAny>,
    timeout: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&'static Classes> {
    CLASSES.get_or_try_init(py, || {
        let m = PyModule::import(py, "objstore.errors")?;
        Ok(Classes {
            by_name: m.getattr("BY_STATUS_NAME")?.cast_into::<PyDict>()?.unbind(),
            base: m.getattr("ObjectStoreError")?.unbind(),
            store_closed: m.getattr("StoreClosed")?.unbind(),
            store_not_found: m.getattr("StoreNotFound")?.unbind(),
            timeout: m.getattr("Timeout")?.unbind(),
        })
    })
}

/// An exception of class `cls` with `message`, status and status name set.
fn make(py: Python<'_>, cls: &Bound<'_, PyAny>, message: String, kind: Option<ErrorKind>) -> PyErr {
    let built = (|| -> PyResult<Bound<'_, PyAny>> {
        let exc = cls.call1((message.clone(),))?;
        if let Some(k) = kind {
            exc.setattr("status", k.code())?;
            exc.setattr("status_name", k.c_name())?;
        }
        Ok(exc)
    })();
    match built {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => {
            let _ = py;
            e
        }
    }
}

/// The exception for a core error of an operation (`op: message`).
pub fn from_core(py: Python<'_>, e: &Error, op: &str) -> PyErr {
    from_kind(py, e.kind(), format!("{op}: {e}"))
}

/// As `from_core`, for callers without a `Python` token at hand.
pub fn from_core_err(e: &Error, op: &str) -> PyErr {
    Python::attach(|py| from_core(py, e, op))
}

pub fn from_kind(py: Python<'_>, kind: ErrorKind, message: String) -> PyErr {
    match classes(py) {
        Ok(c) => {
            let cls = c.by_name.bind(py).get_item(kind.c_name()).ok().flatten();
            let cls = cls.unwrap_or_else(|| c.base.bind(py).clone());
            make(py, &cls, message, Some(kind))
        }
        Err(e) => e,
    }
}

pub fn store_closed(py: Python<'_>, name: &str) -> PyErr {
    match classes(py) {
        Ok(c) => make(py, c.store_closed.bind(py), format!("store {name:?} is closed"), None),
        Err(e) => e,
    }
}

/// Opening a store that does not exist.
pub fn store_not_found(py: Python<'_>, e: &Error, op: &str) -> PyErr {
    match classes(py) {
        Ok(c) => make(py, c.store_not_found.bind(py), format!("{op}: {e}"), Some(ErrorKind::NotFound)),
        Err(e) => e,
    }
}

pub fn timeout(py: Python<'_>, message: String) -> PyErr {
    match classes(py) {
        Ok(c) => make(py, c.timeout.bind(py), message, Some(ErrorKind::Timeout)),
        Err(e) => e,
    }
}
