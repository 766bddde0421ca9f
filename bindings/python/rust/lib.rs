//! `objstore._objstore`: the native module of the Python package, PyO3 over
//! the core's Rust API (`objstore::Store`). The Python package
//! (bindings/python/src/objstore) builds its public API on it.

mod cancel;
mod errors;
mod exporter;
mod format;
mod gil;
mod ids;
mod interrupt;
mod numpy;
mod pins;
mod refs;
mod store;
mod wait_set;

use pyo3::prelude::*;
use pyo3::types::PyTuple;

/// Remove the store ``name`` (its file and its spill files). Processes
/// still attached keep working on their mapping until they close it.
#[pyfunction]
fn _destroy(py: Python<'_>, name: &str) -> PyResult<()> {
    let n = name.to_owned();
    py.detach(move || objstore::Store::destroy(&n)).map_err(|e| {
        if e.kind() == objstore::ErrorKind::NotFound {
            errors::store_not_found(py, &e, &format!("destroy {name:?}"))
        } else {
            errors::from_core(py, &e, &format!("destroy {name:?}"))
        }
    })
}

/// Whether a pickle stream stores only to memo indices within its length
/// (see `format::pickle_memo_in_bounds`): the slow path's check before
/// ``pickle.loads``.
#[pyfunction]
fn _pickle_memo_in_bounds(stream: &[u8]) -> bool {
    format::pickle_memo_in_bounds(stream)
}

/// The file a store name stands for (a name without '/' is in /dev/shm).
#[pyfunction]
fn _store_path(py: Python<'_>, name: &str) -> PyResult<std::path::PathBuf> {
    objstore::store_path(name).map_err(|e| errors::from_core(py, &e, "store path"))
}

#[pymodule]
fn _objstore(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    pins::register_fork_handler();
    exporter::init(m)?;
    m.add_class::<ids::PyObjectId>()?;
    m.add_class::<store::StoreCore>()?;
    m.add_class::<refs::ObjectRef>()?;
    m.add_class::<cancel::PyCanceller>()?;
    m.add_function(wrap_pyfunction!(refs::_take_ref, m)?)?;
    m.add_function(wrap_pyfunction!(refs::_one_store, m)?)?;
    m.add_class::<store::Pin>()?;
    m.add_class::<store::Creation>()?;
    m.add_class::<wait_set::PyWaitSet>()?;
    m.add_function(wrap_pyfunction!(_destroy, m)?)?;
    m.add_function(wrap_pyfunction!(_store_path, m)?)?;
    m.add_function(wrap_pyfunction!(_pickle_memo_in_bounds, m)?)?;
    m.add("VERSION", objstore::VERSION)?;
    m.add("PACKAGE_VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add("ID_SIZE", objstore::ID_SIZE)?;
    m.add("SHM_DIR", objstore::SHM_DIR)?;
    m.add("OBJECT_REFCOUNTED", objstore::OBJECT_REFCOUNTED)?;
    m.add("OBJECT_EVICTABLE", objstore::OBJECT_EVICTABLE)?;
    // (code, C name, description, documentation) of every status.
    let statuses: Vec<Bound<'_, PyTuple>> = objstore::ErrorKind::ALL
        .iter()
        .map(|k| {
            PyTuple::new(
                py,
                [
                    k.code().into_pyobject(py)?.into_any(),
                    k.c_name().into_pyobject(py)?.into_any(),
                    k.description().into_pyobject(py)?.into_any(),
                    k.documentation().into_pyobject(py)?.into_any(),
                ],
            )
        })
        .collect::<PyResult<_>>()?;
    m.add("STATUSES", statuses)?;
    Ok(())
}
