"""Regressions found by the atheris harness (bindings/python/fuzz/): objects
whose metadata the Python layer parses but cannot turn into a value must
raise CorruptObject (never ValueError or TypeError from numpy or
memoryview), release their pin, and round trips of what the writer itself
stores must work. Reproducers: fuzz/regressions/python/."""

import pickle
import struct

import pytest

import objstore
from objstore import _format as fmt

np = pytest.importorskip("numpy")


def _raw(store, meta, data):
    p = store.create(len(data), meta)
    p.data[:] = data
    return p.seal()


def _mv_meta(f, shape):
    fb = f.encode()
    return (
        struct.pack("<4sBBH", b"OSPY", 1, fmt.KIND_MEMORYVIEW, 0)
        + struct.pack("<BB", len(shape), len(fb))
        + fb
        + b"".join(struct.pack("<Q", s) for s in shape)
    )


def _nd_meta(ds, shape, order=b"C"):
    d = ds.encode()
    return (
        struct.pack("<4sBBH", b"OSPY", 1, fmt.KIND_NDARRAY, 0)
        + struct.pack("<BBH", order[0], 0, len(d))
        + d
        + struct.pack("<B", len(shape))
        + b"".join(struct.pack("<Q", s) for s in shape)
    )


@pytest.mark.parametrize(
    "meta, data_len",
    [
        (_mv_meta("i", [0, 3]), 0),  # zero in the shape: cast refuses it
        (_mv_meta("i", []), 4),  # no dimension
        (_mv_meta("<i", [2]), 8),  # not a native single character
        (_nd_meta("V0", [3]), 0),  # zero itemsize
        (_nd_meta("|O", [1]), 8),  # Python objects from raw memory
        (_nd_meta("<U7", [15927646236092203261, 0]), 0),  # a dimension numpy cannot have
        (_nd_meta("|u1", [1] * 70), 1),  # more dimensions than numpy has
        (_nd_meta("|u1", [1 << 62, 2, 0]), 0),  # fills 0 bytes, but numpy's size overflows intp
    ],
)
def test_unbuildable_values_are_corrupt_objects(store, meta, data_len):
    ref = _raw(store, meta, bytes(data_len))
    with pytest.raises(objstore.CorruptObject):
        store.get(ref, timeout=0)
    assert store.stats().pinned_count == 0
    store.delete(ref)


def test_a_raw_half_float_memoryview_by_python_version(store):
    # memoryview.cast takes a half float ('e') only from Python 3.12: before,
    # such an object is CorruptObject (the writer never stores one there).
    ref = _raw(store, _mv_meta("e", [4]), bytes(8))
    if "e" in fmt._CASTABLE:
        v = store.get(ref, timeout=0)
        assert (v.format, v.shape, v.readonly) == ("e", (4,), True)
        del v
    else:
        with pytest.raises(objstore.CorruptObject):
            store.get(ref, timeout=0)
    assert store.stats().pinned_count == 0
    store.delete(ref)


def test_a_half_float_memoryview_round_trips(store):
    mv = memoryview(np.arange(6, dtype=np.float16).reshape(2, 3))
    v = store.get(store.put(mv))
    assert v.tobytes() == mv.tobytes()
    if "e" in fmt._CASTABLE:
        assert (v.format, v.shape) == ("e", (2, 3))
    else:  # stored as bytes, as the format says for what cast cannot rebuild
        assert (v.format, v.shape) == ("B", (12,))


def _pickle_meta(stream_len):
    return struct.pack("<4sBBH", b"OSPY", 1, fmt.KIND_PICKLE5, 0) + struct.pack("<QQ", stream_len, 0)


@pytest.mark.parametrize(
    "stream",
    [
        # None, then LONG_BINPUT at index 2^31: CPython's unpickler would
        # grow its memo table to 16 GiB before anything failed.
        b"\x80\x05N" + b"r" + struct.pack("<I", 1 << 31) + b".",
        # The same with PUT (text protocol), and behind a FRAME.
        b"Np4000000000\n.",
        b"\x80\x05\x95\x07\x00\x00\x00\x00\x00\x00\x00Nr\x00\x00\x00\x10.",
    ],
)
def test_a_pickle_that_memoizes_beyond_its_length_is_a_corrupt_object(store, stream):
    """fuzz/regressions/python/memo-index-beyond-stream: a damaged length
    byte turned the stream's next bytes into a LONG_BINPUT of 680,825,748,
    and a get allocated ~10 GB for a moment before it failed."""
    assert not objstore._objstore._pickle_memo_in_bounds(stream)
    ref = _raw(store, _pickle_meta(len(stream)), stream)
    with pytest.raises(objstore.CorruptObject, match="memo index"):
        store.get(ref, timeout=0)
    assert store.stats().pinned_count == 0
    store.delete(ref)


def test_the_memo_check_walks_every_protocols_pickles():
    """Every opcode of real pickles is stepped over with its argument: a
    check that lost its place would refuse some of them."""
    value = {
        "ints": [0, 1, -1, 255, 256, 65535, 1 << 31, -(1 << 40), 1 << 70, -(1 << 200)],
        "floats": [0.5, -1e300, float("inf")],
        "text": ["", "a", "é" * 300, "\n", "x" * 70000],
        "bytes": [b"", b"\x00\n" * 200, bytearray(b"ba")],
        "nested": ((1, 2), (3,), (), frozenset({1}), {2, 3}, None, True, False),
        "shared": [[1]] * 3,
        "cls": (objstore.CorruptObject, struct.Struct),
        "array": np.arange(12, dtype=np.int32).reshape(3, 4),
    }
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        stream = pickle.dumps(value, protocol=protocol)
        assert objstore._objstore._pickle_memo_in_bounds(stream), protocol
        assert pickle.loads(stream)["shared"] == [[1]] * 3
    p = fmt.Pickled(value)
    assert objstore._objstore._pickle_memo_in_bounds(bytes(p.stream))
