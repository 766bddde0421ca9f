"""The remote tier from Python: a store publishes to a file:// remote and a
second store (a second machine) gets the object from it; the counters; a
published object read with nothing but the README's description of the
format; a store without a remote cannot publish."""

import os
import struct
import uuid
import zlib

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


def test_a_published_object_reads_as_the_readme_says(store_name, tmp_path):
    """A reader written from the README alone (here in Python, with struct
    and zlib): on a file:// remote the header leads the body."""
    a = objstore.Store(store_name, capacity=32 << 20, remote_url=f"file://{tmp_path}")
    try:
        data = os.urandom(300_000)
        oid = a.put(data)  # bytes: the data as they are, a tag as metadata
        a.publish(oid)
        body = (tmp_path / bytes(oid).hex()).read_bytes()
        head = body[:64]
        assert head[:8] == b"OBJREMOT"
        version, offset = struct.unpack_from("<II", head, 8)
        assert (version, offset) == (1, 64)
        assert head[16:36] == bytes(oid)
        m, d, crc, flags, reserved, head_crc = struct.unpack_from("<IQIIII", head, 36)
        assert (d, flags, reserved) == (len(data), 0, 0)
        assert head_crc == zlib.crc32(head[:60])
        assert len(body) == 64 + m + d
        assert crc == zlib.crc32(body[64:])
        assert body[64 + m :] == data
    finally:
        a.close()


def test_without_a_remote_nothing_is_published(store):
    ref = store.put(b"local")
    assert store.remote_url is None
    with pytest.raises(objstore.InvalidArgument):
        store.publish(ref)
