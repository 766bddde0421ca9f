"""Errors: each status is its own exception, with the library's message."""

import os
import threading

import numpy as np
import pytest

import objstore
from objstore import _format

MISSING = objstore.ObjectID(b"\xee" * 20)


def test_not_found_with_timeout_zero(store):
    with pytest.raises(objstore.ObjectNotFound) as e:
        store.get(MISSING, timeout=0)
    assert e.value.status_name == "OS_NOT_FOUND" and e.value.status == objstore._lib.OS_NOT_FOUND
    assert MISSING.hex() in str(e.value) and "not found" in str(e.value)
    assert isinstance(e.value, LookupError)


def test_timeout(store):
    with pytest.raises(objstore.Timeout) as e:
        store.get(MISSING, timeout=0.05)
    assert isinstance(e.value, TimeoutError) and e.value.status_name == "OS_TIMEOUT"
    # Past one wait slice (the wait is cut in slices to let Ctrl-C in).
    with pytest.raises(objstore.Timeout, match=MISSING.hex()):
        store.get(MISSING, timeout=0.25)
    present = store.put(b"here")
    with pytest.raises(objstore.Timeout, match="1 of 2 objects"):
        store.get([present, MISSING], timeout=0.25)
    with pytest.raises(objstore.ObjectNotFound):
        store.get([present, MISSING], timeout=0)
    assert store.stats().pinned_count == 0  # the present one was released


def test_get_waits_for_a_later_put(store):
    oid = objstore.ObjectID(b"\x01" * 20)
    t = threading.Timer(0.3, lambda: store.put(np.arange(3), id=oid))
    t.start()
    try:
        np.testing.assert_array_equal(store.get(oid, timeout=30), np.arange(3))
        both = store.get([oid, store.put(b"x")], timeout=30)
        assert both[1] == b"x"
    finally:
        t.join()


def test_get_list_waits_in_slices_for_the_missing(store):
    first, late = store.put(b"first"), objstore.ObjectID(b"\x02" * 20)
    t = threading.Timer(0.35, lambda: store.put(b"late", id=late))
    t.start()
    try:
        assert store.get([first, late], timeout=None) == [b"first", b"late"]
    finally:
        t.join()
    assert store.stats().pinned_count == 0


def test_delete_errors(store):
    with pytest.raises(objstore.ObjectNotFound):
        store.delete(MISSING)
    ref = store.put(b"x")
    store.delete(ref)
    with pytest.raises(objstore.ObjectNotFound):
        store.delete(ref)
    a, b = store.put(b"a"), store.put(b"b")
    with pytest.raises(objstore.ObjectNotFound):
        store.delete([a, MISSING, b])
    assert a not in store and b not in store  # every ID was tried


def test_not_sealed(store):
    p = store.create(10)
    with pytest.raises(objstore.NotSealed):
        store.delete(p.id)
    assert not store.contains(p.id)
    with pytest.raises(objstore.ObjectNotFound):
        store.get(p.id, timeout=0)  # invisible until sealed
    p.seal()
    assert store.contains(p.id)


def test_store_full_and_too_large(store_name):
    with objstore.Store(store_name, capacity=1 << 20) as s:
        with pytest.raises(objstore.ObjectTooLarge, match="cannot fit"):
            s.put(bytes(2 << 20))
        refs = []
        with pytest.raises(objstore.StoreFull) as e:
            for _ in range(100):
                refs.append(s.put(np.zeros(100_000, np.uint8)))
        assert e.value.status_name == "OS_OUT_OF_MEMORY"
        assert 0 < len(refs) < 100
        # Values of every write path fail the same way and leave nothing behind.
        for value in ({"a": np.zeros(50_000)}, np.zeros((300, 600))[:, ::2]):
            with pytest.raises(objstore.StoreFull):
                s.put(value)
        with pytest.raises(objstore.StoreFull):
            s.create(400_000)
        assert s.stats().unsealed_count == 0
        s.delete(refs)  # room again
        s.put(np.zeros(100_000, np.uint8))


def test_exists_and_open_flags(store_name):
    with pytest.raises(objstore.ObjectNotFound):
        objstore.Store(store_name, attach_only=True)
    with objstore.Store(store_name, capacity=1 << 20, create_only=True):
        with pytest.raises(objstore.ObjectExists):
            objstore.Store(store_name, create_only=True)
        with objstore.Store(store_name, attach_only=True) as again:
            assert again.stats().capacity_bytes == 1 << 20


def test_bad_store_files(store_name):
    path = f"/dev/shm/{store_name}"
    with open(path, "wb") as f:
        f.write(b"not a store" * 10000)
    with pytest.raises(objstore.CorruptObject) as e:
        objstore.Store(store_name)
    assert e.value.status_name == "OS_CORRUPT" and store_name in str(e.value)
    os.truncate(path, 10)
    with pytest.raises((objstore.CorruptObject, objstore.IncompatibleStore)):
        objstore.Store(store_name)


def test_bad_arguments(store, store_name):
    with pytest.raises(TypeError):
        store.get("not an id")
    with pytest.raises(TypeError):
        store.get([store.put(b"x"), "nope"])
    with pytest.raises(TypeError):
        store.delete(42)
    with pytest.raises(TypeError):
        store.put(b"x", id=b"\0" * 20)
    with pytest.raises(ValueError):
        store.get(MISSING, timeout=-1)
    with pytest.raises(ValueError):
        store.get(store.put(b"present"), timeout=-1)
    with pytest.raises(TypeError):
        store.get(MISSING, timeout="soon")
    with pytest.raises(objstore.InvalidArgument):
        objstore.Store(store_name + "-x", capacity=-5)
    with pytest.raises(objstore.InvalidArgument):
        objstore.Store("bad/" + store_name + "/\0")
    with pytest.raises(objstore.InvalidArgument, match="spill"):
        objstore.Store(store.name, spill_dir="/tmp/some-other-dir")
    with pytest.raises(ValueError):
        objstore.Store(store_name + "-y", capacity=1 << 20, max_processes=100_000)
    assert not os.path.exists(f"/dev/shm/{store_name}-y")
    assert not MISSING in store
    assert "x" not in store


def test_closed_store(store_name):
    s = objstore.Store(store_name, capacity=1 << 20)
    ref = s.put(b"x")
    s.close()
    s.close()
    assert s.closed and "closed" in repr(s)
    for call in (lambda: s.put(b"y"), lambda: s.get(ref), lambda: s.stats(), lambda: s.contains(ref)):
        with pytest.raises(objstore.StoreClosed):
            call()


def test_spill_dir_is_the_stores(store_name, tmp_path):
    with objstore.Store(store_name, capacity=1 << 20, spill_dir=str(tmp_path)) as s:
        ref = s.put(b"kept")
        with objstore.Store(store_name, spill_dir=str(tmp_path)) as same:
            assert same.get(ref) == b"kept"
        with pytest.raises(objstore.InvalidArgument, match="spill directory"):
            objstore.Store(store_name, spill_dir=str(tmp_path / "elsewhere"))


def test_malformed_python_metadata(store):
    newer = _format.MAGIC + bytes([9, 4, 0, 0])
    p = store.create(8, meta=newer)
    ref = p.seal()
    with pytest.raises(objstore.CorruptObject, match="version 9"):
        store.get(ref)
    truncated = _format.MAGIC + bytes([1, 4, 0, 0, ord("C"), 0])
    ref2 = store.create(8, meta=truncated).seal()
    with pytest.raises(objstore.CorruptObject, match="malformed"):
        store.get(ref2)
    lying = _format.ndarray_meta(np.zeros((4, 4)), "C")  # 128 bytes claimed
    ref3 = store.create(8, meta=lying).seal()
    with pytest.raises(objstore.CorruptObject, match="128 bytes"):
        store.get(ref3)
    with pytest.raises(objstore.CorruptObject, match="unknown kind"):
        store.get(store.create(0, meta=_format.MAGIC + bytes([1, 99, 0, 0])).seal())
    # None of these failures left a pin behind, in a list get either.
    with pytest.raises(objstore.CorruptObject):
        store.get([store.put(np.arange(3)), ref, store.put(np.arange(2))])
    assert store.stats().pinned_count == 0
    # The raw bytes are still reachable.
    with store.get_buffer(ref) as buf:
        assert buf.meta == newer


def test_exception_hierarchy():
    for name in (
        "InvalidArgument",
        "ObjectNotFound",
        "ObjectExists",
        "StoreFull",
        "ObjectTooLarge",
        "Timeout",
        "NotSealed",
        "IncompatibleStore",
        "CorruptObject",
        "StoreIOError",
        "PermissionDenied",
        "TooManyProcesses",
        "InternalError",
        "Cancelled",
        "StoreClosed",
    ):
        assert issubclass(getattr(objstore, name), objstore.ObjectStoreError)
    assert issubclass(objstore.PermissionDenied, PermissionError)
    assert issubclass(objstore.InvalidArgument, ValueError)
