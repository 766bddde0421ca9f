"""Objects built in place: create, fill, seal (or abort)."""

import gc
import threading

import numpy as np
import pytest

import objstore


def test_create_fill_seal(store):
    p = store.create(5, meta=b"m")
    assert not p.sealed and isinstance(p.data, memoryview) and not p.data.readonly
    p.data[:] = b"hello"
    assert p.id not in store
    ref = p.seal()
    assert ref == p.id and p.sealed and ref in store
    with store.get_buffer(ref) as buf:
        assert bytes(buf.data) == b"hello" and buf.meta == b"m"
    with pytest.raises(ValueError):
        p.data[0]  # our view of the writable memory is gone
    with pytest.raises(objstore.InvalidArgument):
        p.seal()


def test_create_with_chosen_id(store):
    oid = objstore.ObjectID("ab" * 20)
    with store.create(3, id=oid) as p:
        p.data[:] = b"abc"
    assert bytes(store.get(oid)) == b"abc"
    with pytest.raises(objstore.ObjectExists):
        store.create(3, id=oid)


def test_abort_and_context_manager_on_error(store):
    p = store.create(100)
    p.abort()
    assert store.stats().unsealed_count == 0
    with pytest.raises(RuntimeError):
        with store.create(100) as q:
            q.data[:4] = b"half"
            raise RuntimeError("failed while filling")
    assert q.id not in store and store.stats().unsealed_count == 0
    r = store.create(10)
    del r
    gc.collect()
    assert store.stats().unsealed_count == 0  # dropped unsealed: aborted


def test_a_view_kept_after_its_pending_object_keeps_the_object(store):
    data = store.create(10).data  # the PendingObject itself is gone at once
    gc.collect()
    assert store.stats().unsealed_count == 1  # not aborted under the view
    data[:] = b"0123456789"  # writes to memory still reserved for it
    del data
    gc.collect()
    assert store.stats().unsealed_count == 0  # aborted with the last view


def test_create_array(store):
    with store.create_array((3, 4), np.float32, order="F") as p:
        assert p.array.flags.writeable and p.array.flags.f_contiguous
        p.array[...] = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = store.get(p.id)
    assert got.dtype == np.float32 and got.shape == (3, 4) and got.flags.f_contiguous
    np.testing.assert_array_equal(got, np.arange(12).reshape(3, 4))
    with pytest.raises(ValueError):
        p.array[0, 0] = 1  # sealed: the array handed out is read-only now
    scalar = store.create_array((), np.int64)
    scalar.array[()] = 42
    assert store.get(scalar.seal()) == 42
    with pytest.raises(TypeError):
        store.create_array((2,), object)


def test_get_waits_for_the_seal(store):
    p = store.create_array((1000,), np.int32)
    got = []
    t = threading.Thread(target=lambda: got.append(store.get(p.id, timeout=30)))
    t.start()
    p.array[:] = 7
    p.seal()
    t.join()
    assert got[0].sum() == 7000


def test_unsealed_object_times_out(store):
    p = store.create(8)
    with pytest.raises(objstore.Timeout):
        store.get(p.id, timeout=0.05)
    p.abort()
