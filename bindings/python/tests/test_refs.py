"""References, tickets and wait from Python, low level (the C API's
os_put_ex, os_ref, os_unref, os_ref_give, os_ref_take and os_wait): a
REFCOUNTED object goes with its last reference, a ticket moves one and is
taken once, wait returns (ready, not_ready) as ray.wait does and pins
nothing."""

import threading

import pytest

import objstore
from objstore import _objstore


def test_a_refcounted_object_goes_with_its_last_reference(store, store_name):
    # The low level: a plain ID, this Store holding the creator's reference
    # (a put's default, an ObjectRef, holds it itself: test_objectref.py).
    ref = store.put(b"counted", refcounted=False, flags=_objstore.OBJECT_REFCOUNTED)
    assert type(ref) is objstore.ObjectID
    with pytest.raises(objstore.ObjectNotFound):
        store.unref(objstore.ObjectID(bytes([3] * 20)))
    ticket = store.give_ref(ref)
    assert isinstance(ticket, int)
    other = objstore.Store(store_name)
    try:
        with pytest.raises(objstore.ObjectNotFound):
            other.take_ref(ref, ticket ^ 1)
        other.take_ref(ref, ticket)
        with pytest.raises(objstore.ObjectNotFound):
            other.take_ref(ref, ticket)
        other.ref(ref)
        other.unref(ref)
        assert store.contains(ref)
        other.unref(ref)
        assert not store.contains(ref)
        with pytest.raises(objstore.ObjectNotFound):
            store.ref(ref)
    finally:
        other.close()


def test_wait_returns_ready_and_not_ready(store):
    a = store.put(b"a")
    b = objstore.ObjectID(bytes([7] * 20))
    threading.Timer(0.05, lambda: store.put(b"b", id=b)).start()
    ready, not_ready = store.wait([a, b], num_returns=2, timeout=30)
    assert (ready, not_ready) == ([a, b], [])
    absent = objstore.ObjectID(bytes([9] * 20))
    ready, not_ready = store.wait([absent, a], num_returns=2, timeout=0)
    assert (ready, not_ready) == ([a], [absent])
    assert store.stats().pinned_count == 0


def test_an_object_created_refcounted_goes_with_its_creators_reference(store):
    pending = store.create(3, b"", flags=_objstore.OBJECT_REFCOUNTED)
    pending.data[:] = b"abc"
    ref = pending.seal()
    assert store.contains(ref)
    store.unref(ref)
    assert not store.contains(ref)
