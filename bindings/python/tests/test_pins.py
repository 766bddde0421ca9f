"""Pins: held while a zero-copy value is alive, released by garbage
collection, by the end of a `pinned` scope, or by an explicit release."""

import gc
import weakref

import numpy as np
import pytest

import objstore
from conftest import pinned


def test_array_pin_released_on_gc(store):
    ref = store.put(np.arange(100))
    a = store.get(ref)
    assert pinned(store) == 1
    del a
    assert pinned(store) == 0


def test_derived_views_keep_the_pin(store):
    ref = store.put(np.arange(100).reshape(10, 10))
    a = store.get(ref)
    row = a[3]  # a view of a view
    t = a.T
    del a
    assert pinned(store) == 1
    assert row.tolist() == list(range(30, 40))
    del row
    assert pinned(store) == 1
    del t
    assert pinned(store) == 0


def test_copies_do_not_pin(store):
    for value in (b"bytes", bytearray(b"bytearray"), {"plain": "python"}):
        got = store.get(store.put(value))
        assert got == value
        assert pinned(store) == 0


def test_pickled_value_pinned_until_its_last_array_goes(store):
    ref = store.put({"a": np.arange(10), "b": np.ones(5)})
    d = store.get(ref)
    a, b = d["a"], d["b"]
    del d
    assert pinned(store) == 1
    del a
    assert pinned(store) == 1
    del b
    assert pinned(store) == 0


def test_each_get_is_one_pin(store):
    refs = [store.put(np.full(4, i)) for i in range(5)]
    vals = store.get(refs)
    assert pinned(store) == 5
    again = store.get(refs[0])
    del vals
    assert pinned(store) == 1  # refs[0] is still pinned by `again`
    del again
    assert pinned(store) == 0


def test_pinned_scope_releases_at_exit(store):
    ref = store.put(np.arange(10))
    with store.pinned(ref) as arr:
        assert arr.sum() == 45
        assert pinned(store) == 1
    # `arr` is still bound, but the pin is gone.
    assert pinned(store) == 0
    del arr
    assert pinned(store) == 0  # and not released twice (that would raise in C)


def test_pinned_scope_releases_on_exception(store):
    refs = [store.put(np.arange(3)), store.put({"x": np.arange(2)})]
    with pytest.raises(RuntimeError):
        with store.pinned(refs) as (a, d):
            assert pinned(store) == 2
            raise RuntimeError("boom")
    assert pinned(store) == 0


def test_pinned_explicit_release(store):
    ref = store.put(np.arange(10))
    p = store.pinned(ref)
    keep = p.value
    assert pinned(store) == 1
    p.release()
    assert pinned(store) == 0 and p.value is None
    p.release()  # idempotent
    assert keep.sum() == 45  # memory still mapped: readable (the object is not deleted)


def test_buffer_release_and_scope(store):
    ref = store.put(b"x" * 100)
    buf = store.get_buffer(ref)
    assert pinned(store) == 1
    buf.release()
    buf.release()
    assert pinned(store) == 0
    with store.get_buffer(ref) as b2:
        assert bytes(b2.data) == b"x" * 100 and b2.meta.startswith(b"OSPY")
        assert pinned(store) == 1
    assert pinned(store) == 0
    b3 = store.get_buffer(ref)
    del b3
    assert pinned(store) == 0


def test_delete_while_pinned_keeps_bytes_until_release(store):
    ref = store.put(np.arange(1000, dtype=np.int64))
    a = store.get(ref)
    used = store.stats().used_bytes
    store.delete(ref)
    assert ref not in store
    with pytest.raises(objstore.ObjectNotFound):
        store.get(ref, timeout=0)
    with pytest.raises(objstore.ObjectExists):  # reserved while pinned
        store.put(b"", id=ref)
    np.testing.assert_array_equal(a, np.arange(1000))
    assert store.stats().used_bytes == used
    del a
    gc.collect()
    assert store.stats().used_bytes < used
    assert store.put(b"reused", id=ref) == ref  # the ID is free again


def test_close_with_live_views_keeps_them_valid(store_name):
    s = objstore.Store(store_name, capacity=1 << 20)
    ref = s.put(np.arange(50))
    a = s.get(ref)
    probe = objstore.Store(store_name)
    s.close()
    with pytest.raises(objstore.StoreClosed):
        s.get(ref)
    assert a.sum() == sum(range(50))  # still mapped
    assert probe.stats().pinned_count == 1  # and still pinned
    del a
    gc.collect()
    assert probe.stats().pinned_count == 0
    probe.close()


def test_store_object_is_collectable(store_name):
    s = objstore.Store(store_name, capacity=1 << 20)
    ref = s.put(np.arange(5))
    a = s.get(ref)
    w = weakref.ref(s)
    del s
    gc.collect()
    assert w() is None
    assert a.tolist() == [0, 1, 2, 3, 4]  # the handle lives on in the view
