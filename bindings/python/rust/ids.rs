//! `ObjectID`: 20 bytes, held by a small Python object (fast to hash,
//! compare and pickle). A class of this module, open to subclassing, so
//! that object references can be built on it.

use pyo3::basic::CompareOp;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple, PyType};

use objstore::{ObjectId, ID_SIZE};

use crate::errors;

/// A 20-byte object ID.
///
/// ``ObjectID(x)`` takes 20 bytes, 40 hex characters or another ObjectID.
/// IDs compare and hash by value, pickle as their bytes, and print as
/// ``ObjectID(3f9a1c2e…b7d4f110)`` (the first and last 8 hex digits; IDs put
/// by one process share a prefix). ``hex()`` gives all 40 digits.
#[pyclass(frozen, subclass, module = "objstore", name = "ObjectID")]
pub struct PyObjectId {
    pub id: ObjectId,
}

fn parse_hex(text: &str) -> PyResult<ObjectId> {
    ObjectId::from_hex(text).map_err(|e| errors::from_core_err(&e, "parse object ID"))
}

pub fn id_from_bytes(b: &[u8]) -> PyResult<ObjectId> {
    let arr: [u8; ID_SIZE] =
        b.try_into().map_err(|_| PyValueError::new_err(format!("an object ID is {ID_SIZE} bytes, not {}", b.len())))?;
    Ok(ObjectId(arr))
}

/// The ID of an ObjectID argument, or TypeError.
#[inline]
pub fn extract(obj: &Bound<'_, PyAny>) -> PyResult<ObjectId> {
    match obj.cast::<PyObjectId>() {
        Ok(o) => Ok(o.get().id),
        Err(_) => Err(PyTypeError::new_err(format!(
            "expected an ObjectID, not {}",
            obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
        ))),
    }
}

pub fn new_id(py: Python<'_>, id: ObjectId) -> PyResult<Bound<'_, PyObjectId>> {
    Bound::new(py, PyObjectId { id })
}

#[pymethods]
impl PyObjectId {
    #[new]
    fn new(id: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(o) = id.cast::<PyObjectId>() {
            return Ok(PyObjectId { id: o.get().id });
        }
        if let Ok(s) = id.cast::<PyString>() {
            return Ok(PyObjectId { id: parse_hex(&s.to_cow()?)? });
        }
        if let Ok(b) = id.cast::<PyBytes>() {
            return Ok(PyObjectId { id: id_from_bytes(b.as_bytes())? });
        }
        if let Ok(b) = id.cast::<PyByteArray>() {
            return Ok(PyObjectId { id: id_from_bytes(&b.to_vec())? });
        }
        if id.is_instance_of::<pyo3::types::PyMemoryView>() {
            let b = id.py().get_type::<PyBytes>().call1((id,))?;
            return Ok(PyObjectId { id: id_from_bytes(b.cast::<PyBytes>()?.as_bytes())? });
        }
        Err(PyTypeError::new_err(format!(
            "ObjectID() takes 20 bytes or 40 hex characters, not {}",
            id.get_type().name()?
        )))
    }

    /// Parse 40 hex characters (either case).
    #[classmethod]
    fn from_hex<'py>(cls: &Bound<'py, PyType>, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let id = parse_hex(text)?;
        if cls.is(cls.py().get_type::<PyObjectId>()) {
            return Ok(new_id(cls.py(), id)?.into_any());
        }
        cls.call1((PyBytes::new(cls.py(), &id.0),))
    }

    /// The ID as 40 lower-case hex characters.
    fn hex(&self) -> String {
        self.id.to_hex()
    }

    /// The ID's 20 bytes.
    fn binary<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.id.0)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.id.0)
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(o) = other.cast::<PyObjectId>() else {
            return Ok(py.NotImplemented());
        };
        let (a, b) = (&self.id.0, &o.get().id.0);
        let r = match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
        };
        Ok(pyo3::types::PyBool::new(py, r).to_owned().into_any().unbind())
    }

    fn __hash__(&self) -> u64 {
        // The last 8 bytes of a fresh ID are a mixed counter, the first 12
        // a per-process prefix: fold all of them.
        let b = &self.id.0;
        let lo = u64::from_le_bytes(b[12..20].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let mid = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes")) as u64;
        let h = lo ^ hi.rotate_left(29) ^ mid.rotate_left(47);
        let h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 2; // positive, never -1 as a Py_hash_t
        h ^ (h >> 29)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let h = slf.get().id.to_hex();
        let name = slf.get_type().name()?;
        Ok(format!("{name}({}\u{2026}{})", &h[..8], &h[32..]))
    }

    fn __str__(&self) -> String {
        self.id.to_hex()
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let args = PyTuple::new(py, [PyBytes::new(py, &slf.get().id.0)])?;
        PyTuple::new(py, [slf.get_type().into_any(), args.into_any()])
    }

    fn __copy__(slf: &Bound<'_, Self>) -> Py<Self> {
        slf.clone().unbind()
    }

    fn __deepcopy__(slf: &Bound<'_, Self>, _memo: &Bound<'_, PyAny>) -> Py<Self> {
        slf.clone().unbind()
    }
}
