"""The remote tier from Python: a store publishes to a file:// remote and a
second store (a second machine) gets the object from it; the counters; a
store without a remote cannot publish."""

import os
import uuid

import numpy as np
import pytest

import objstore


@pytest.fixture
def second_name():
    name = f"objstore-pytest-{os.getpid()}-{uuid.uuid4().hex[:12]}-b"
    yield name
    objstore.destroy(name, missing_ok=True)


def test_publish_here_get_there(store_name, second_name, tmp_path):
    url = f"file://{tmp_path}"
    a = objstore.Store(store_name, capacity=32 << 20, remote_url=url)
    b = objstore.Store(second_name, capacity=32 << 20, remote_url=url)
    try:
        assert a.remote_url == url and b.remote_url == url
        array = np.arange(100_000, dtype=np.float32).reshape(100, 1000)
        ref = a.put(array)
        a.publish(ref)
        a.publish(ref, timeout=10)  # published already: nothing to do
        got = b.get(ref, timeout=10)
        assert isinstance(got, np.ndarray) and np.array_equal(got, array)
        del got
        assert b.stats().fetches_total == 1
        assert a.stats().publishes_total >= 1
        a.unpublish(ref)
        with pytest.raises(objstore.ObjectNotFound):
            a.unpublish(ref)
    finally:
        a.close()
        b.close()


def test_without_a_remote_nothing_is_published(store):
    ref = store.put(b"local")
    assert store.remote_url is None
    with pytest.raises(objstore.InvalidArgument):
        store.publish(ref)
