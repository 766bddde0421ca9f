"""The native module (objstore._objstore, PyO3 over the Rust core): every
status has its exception, versions agree, the wheel's module is abi3, and
the format it reads and writes in Rust is byte for byte the one _format.py
documents and implements."""

import ctypes
import gc
import os
import re
import sys

import numpy as np
import pytest

import objstore
from objstore import _format, _objstore, errors
from conftest import REPO


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_every_status_has_an_exception():
    codes = [code for code, _name, _desc, _doc in _objstore.STATUSES]
    assert codes == list(range(1, len(codes) + 1))  # dense, never reused
    names = {name for _code, name, _desc, _doc in _objstore.STATUSES}
    assert set(errors.BY_STATUS_NAME) == names
    for code, name, desc, doc in _objstore.STATUSES:
        assert getattr(objstore._lib, name) == code and desc and doc
    header = read(os.path.join(REPO, "include", "objstore.h"))
    for code, name, _desc, _doc in _objstore.STATUSES:
        assert re.search(rf"^#define {name} {code}$", header, re.M), name


def test_error_carries_status_and_operation(store):
    with pytest.raises(objstore.ObjectNotFound) as e:
        store.get(objstore.ObjectID(b"\x01" * 20), timeout=0)
    assert e.value.status == objstore._lib.OS_NOT_FOUND and e.value.status_name == "OS_NOT_FOUND"
    assert str(e.value).startswith("get: object 0101")
    with pytest.raises(objstore.StoreIOError) as e2:
        raise errors.make(objstore.StoreIOError, "some io failure", 10, "OS_IO_ERROR")
    assert str(e2.value) == "some io failure" and isinstance(e2.value, OSError)


def test_library_and_package_versions():
    assert objstore.library_version() == objstore.__version__
    for cargo in ("Cargo.toml", os.path.join("bindings", "python", "Cargo.toml")):
        assert f'version = "{objstore.__version__}"' in read(os.path.join(REPO, cargo)), cargo


def test_the_native_module_is_abi3_and_has_no_cffi():
    path = _objstore.__file__
    assert path.endswith(".abi3.so"), path
    assert os.path.dirname(path) == os.path.dirname(objstore.__file__)
    assert "cffi" not in sys.modules


def test_shared_buffer_is_read_only(store):
    ref = store.put(b"x" * 100)
    with store.get_buffer(ref) as buf:
        exporter = buf.data.obj
        assert type(exporter).__name__ == "SharedBuffer" and type(exporter) is _objstore.SharedBuffer
        assert buf.data.readonly and memoryview(exporter).readonly
        with pytest.raises((BufferError, TypeError), match="read-only|not writable"):
            (ctypes.c_char * 100).from_buffer(exporter)  # asks for a writable buffer
        arr = np.frombuffer(exporter, dtype=np.uint8)
        with pytest.raises(ValueError):
            arr.flags.writeable = True
        del arr, exporter


def test_array_base_is_the_exporter(store):
    got = store.get(store.put(np.arange(12.0).reshape(3, 4)))
    assert type(got.base) is _objstore.SharedBuffer
    assert not got.flags.writeable and got.flags.aligned and got.flags.c_contiguous
    view = memoryview(got.base)
    assert view.nbytes == got.nbytes and view.readonly


def test_pins_of_a_value_go_with_its_exporter(store):
    ref = store.put({"a": np.arange(10), "b": np.arange(5)})
    d = store.get(ref)
    assert store.stats().pinned_count == 1
    bases = {id(np.asarray(v).base) for v in d.values()}
    assert len(bases) == 2  # one exporter per out-of-band buffer, one pin for all
    del d
    gc.collect()
    assert store.stats().pinned_count == 0


DTYPES = [
    np.uint8,
    np.float32,
    np.dtype(">i4"),
    np.dtype("<M8[ns]"),
    np.dtype("U7"),
    np.dtype([("x", "<f8"), ("n", "<i2")]),
    np.dtype([("pos", "<f4", (3,)), ("id", ">u8")]),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("order", ["C", "F"])
def test_rust_writes_the_documented_ndarray_metadata(store, dtype, order):
    a = np.zeros((3, 4), dtype=dtype, order=order)
    ref = store.put(a)
    with store.get_buffer(ref) as buf:
        assert buf.meta == _format.ndarray_meta(a, order)
        assert _format.parse(buf.meta, buf.data.nbytes)[0] == _format.KIND_NDARRAY


def test_rust_reads_what_python_writes(store):
    # Metadata made by _format.py, data filled in place: read by the native module.
    a = np.arange(24, dtype="<i8").reshape(2, 3, 4)
    for order in ("C", "F"):
        p = store.create(a.nbytes, meta=_format.ndarray_meta(a, order))
        p.data[:] = (a if order == "C" else np.asfortranarray(a)).tobytes(order="A")
        got = store.get(p.seal())
        np.testing.assert_array_equal(got, a)
        assert got.flags.f_contiguous == (order == "F")
    mv = memoryview(np.arange(6, dtype="d")).cast("B").cast("d", (2, 3))
    p = store.create(mv.nbytes, meta=_format.memoryview_meta(mv))
    p.data[:] = mv.cast("B")
    got = store.get(p.seal())
    assert got.format == "d" and got.shape == (2, 3) and got.tolist() == mv.tolist()
    assert store.get_buffer(store.put(b"b")).meta == _format.META_BYTES
    assert store.get_buffer(store.put(bytearray(b"b"))).meta == _format.META_BYTEARRAY


def test_a_shared_buffer_made_from_python_views_nothing():
    try:
        b = _objstore.SharedBuffer()
    except TypeError:
        return  # not instantiable: as good
    with pytest.raises(BufferError):
        memoryview(b)
