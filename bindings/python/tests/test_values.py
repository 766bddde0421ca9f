"""Round trips of every kind of value, zero-copy and read-only views."""

import array
import datetime
import fractions
import pickle

import numpy as np
import pytest

import objstore
from objstore import _format

DTYPES = [
    np.bool_,
    np.int8,
    np.uint8,
    np.int16,
    np.uint16,
    np.int32,
    np.uint32,
    np.int64,
    np.uint64,
    np.float16,
    np.float32,
    np.float64,
    np.complex64,
    np.complex128,
    np.dtype(">i4"),  # byte order is kept
    np.dtype("<M8[ns]"),
    np.dtype("m8[s]"),
    np.dtype("U7"),
    np.dtype("S5"),
    np.dtype("V3"),
    np.dtype([("x", "<f8"), ("n", "<i2"), ("name", "S4")]),  # structured
    np.dtype((np.float32, (2, 3))),  # subarray: numpy folds it into the shape
    np.dtype([("pos", "<f4", (3,)), ("id", ">u8")]),
]


class Point:
    """A user class: pickled."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)


def sample(dtype, shape=(3, 4)):
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    raw = np.random.default_rng(7).integers(0, 256, size=n * dt.itemsize, dtype=np.uint8)
    return np.frombuffer(raw.tobytes(), dtype=dt).reshape(shape) if dt.subdtype is None else np.zeros(shape, dt)


def address(a):
    return a.__array_interface__["data"][0]


def same(a, b):
    assert type(a) is type(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("value", [b"", b"hello", bytes(range(256)) * 1000])
def test_bytes(store, value):
    got = store.get(store.put(value))
    assert type(got) is bytes and got == value


@pytest.mark.parametrize("value", [bytearray(), bytearray(b"mutable \x00 bytes")])
def test_bytearray_is_a_copy_that_stays_mutable(store, value):
    ref = store.put(value)
    got = store.get(ref)
    assert type(got) is bytearray and got == value
    got[:0] = b"changed"  # a copy: changing it changes nothing in the store
    assert store.get(ref) == value


def test_memoryview_keeps_format_and_shape(store):
    a = array.array("d", [1.5, -2.0, 3.25, 4.0, 5.0, 6.0])
    mv = memoryview(a).cast("B").cast("d", (2, 3))
    got = store.get(store.put(mv))
    assert type(got) is memoryview
    assert got.readonly and got.format == "d" and got.shape == (2, 3)
    assert got.tolist() == mv.tolist()


def test_memoryview_noncontiguous_and_exotic_format(store):
    mv = memoryview(bytes(range(20)))[::3]  # not contiguous: copied to C order
    got = store.get(store.put(mv))
    assert got.tobytes() == mv.tobytes() and got.format == "B"
    # A format memoryview.cast() cannot make (a struct) comes back as bytes.
    odd = memoryview(np.array([(1, 2), (3, 4)], dtype=[("a", "<i4"), ("b", "u1")]))
    got = store.get(store.put(odd))
    assert got.format == "B" and got.shape == (odd.nbytes,) and got.tobytes() == odd.tobytes()
    zeros = memoryview(bytearray(0)).cast("d")
    got = store.get(store.put(zeros))
    assert got.nbytes == 0 and got.readonly


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_ndarray_every_dtype(store, dtype):
    a = sample(dtype)
    got = store.get(store.put(a))
    same(got, a)
    assert not got.flags.writeable


@pytest.mark.parametrize(
    "shape", [(), (0,), (5, 0, 3), (7,), (2, 3, 4, 5), (1,) * 32], ids=lambda s: "x".join(map(str, s)) or "0d"
)
def test_ndarray_shapes(store, shape):
    a = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    same(store.get(store.put(a)), a)


def test_ndarray_fortran_order_is_kept(store):
    a = np.asfortranarray(np.arange(24.0).reshape(4, 6))
    got = store.get(store.put(a))
    same(got, a)
    assert got.flags.f_contiguous and not got.flags.c_contiguous


def test_ndarray_strided_is_stored_contiguous(store):
    base = np.arange(100.0).reshape(10, 10)
    for a in (base[::2, 1::3], base.T[2:7], base[:, ::-1]):
        got = store.get(store.put(a))
        np.testing.assert_array_equal(got, a)
        assert got.flags.c_contiguous


def test_object_arrays_and_subclasses_are_pickled(store):
    objs = np.array([1, "two", None, [3]], dtype=object)
    got = store.get(store.put(objs))
    assert got.dtype == object and list(got) == list(objs)
    m = np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    got = store.get(store.put(m))
    assert isinstance(got, np.ma.MaskedArray) and got.mask.tolist() == [False, True, False]


@pytest.mark.parametrize(
    "value",
    [
        None,
        0,
        -(2**100),
        3.5,
        "text ✓",
        (1, "a", None),
        [1, [2, [3]]],
        {"a": 1, 2: "b"},
        {1, 2, 3},
        Point(1, 2),
        fractions.Fraction(1, 3),
        datetime.date(2024, 2, 29),
        array.array("i", [1, 2, 3]),
    ],
    ids=repr,
)
def test_pickled_values(store, value):
    got = store.get(store.put(value))
    assert type(got) is type(value) and got == value


def test_arrays_inside_containers_are_out_of_band(store):
    a = np.arange(1000, dtype=np.float64).reshape(10, 100)
    b = np.ones((3, 3), dtype=np.uint8)
    value = {"a": a, "nested": [b, {"c": a[::2]}], "bytes": b"x" * 100, "ba": bytearray(b"yz")}
    ref = store.put(value)
    # The contiguous arrays are out-of-band buffers, not
    # in the pickle stream; a[::2] is not contiguous, so pickle copies it in.
    with store.get_buffer(ref) as buf:
        info = _format.parse(buf.meta, buf.data.nbytes)
        assert info[0] == _format.KIND_PICKLE5
        plen, table = info[1], info[2]
        assert a[::2].nbytes < plen < a.nbytes
        assert [n for _, n in table] == [a.nbytes, b.nbytes]
        assert all(off % 64 == 0 for off, _ in table)
    got = store.get(ref)
    same(got["a"], a)
    same(got["nested"][0], b)
    np.testing.assert_array_equal(got["nested"][1]["c"], a[::2])
    assert got["bytes"] == value["bytes"] and got["ba"] == value["ba"] and type(got["ba"]) is bytearray
    for arr in (got["a"], got["nested"][0]):
        assert not arr.flags.writeable
        assert address(arr) % 64 == 0


@pytest.mark.parametrize("nbytes", [(256 << 10) - 1, (256 << 10) + 4097, (9 << 20) + 13])
@pytest.mark.parametrize("offset", [0, 16, 48])
def test_large_values_come_back_byte_for_byte(store, nbytes, offset):
    """Every way a put copies (memcpy; rep movsb from 256 KiB; streamed
    stores from 8 MiB), from sources at several offsets into their pages:
    an array alone (one copy), arrays in a container (a copy per part), and
    bytes."""
    base = np.random.default_rng(nbytes + offset).integers(0, 256, nbytes + 64, dtype=np.uint8)
    a = base[offset : offset + nbytes]
    assert address(a) % 64 == (address(base) + offset) % 64
    same(store.get(store.put(a)), a)
    pair = {"x": a, "y": a[::-1].copy()}
    got = store.get(store.put(pair))
    same(got["x"], a)
    same(got["y"], pair["y"])
    del got
    b = a.tobytes()
    assert store.get(store.put(b)) == b


def test_zero_copy_by_address(store):
    a = np.arange(1 << 16, dtype=np.float32)
    ref = store.put(a)
    x, y = store.get(ref), store.get(ref)
    assert address(x) == address(y)  # both views of the one copy in the store
    assert address(x) % 64 == 0
    with store.get_buffer(ref) as buf:
        raw = np.frombuffer(buf.data, dtype=np.uint8)
        assert address(raw) == address(x)
    d = store.get(store.put({"k": a}))
    d2 = store.get(store.put({"k": a}))  # another object: another address
    assert address(d["k"]) != address(d2["k"])


def test_create_array_then_get_sees_the_same_memory(store):
    p = store.create_array((4, 5), np.int16)
    p.array[...] = np.arange(20).reshape(4, 5)
    where = address(p.array)
    ref = p.seal()
    got = store.get(ref)
    assert address(got) == where
    np.testing.assert_array_equal(got, np.arange(20).reshape(4, 5))


def test_views_are_read_only(store):
    arr = store.get(store.put(np.zeros(10)))
    with pytest.raises(ValueError):
        arr[0] = 1
    with pytest.raises(ValueError):
        arr.flags.writeable = True
    with pytest.raises(ValueError):
        np.add(arr, 1, out=arr)
    mv = store.get(store.put(memoryview(b"abc")))
    with pytest.raises(TypeError):
        mv[0] = 0
    inner = store.get(store.put([np.zeros(4)]))[0]
    with pytest.raises(ValueError):
        inner[:] = 1
    # No array handed out can be made writable again, whatever its layout.
    for a in (inner, store.get(store.put(np.zeros((3, 4)))), store.get(store.put(np.zeros((3, 4), order="F")))):
        with pytest.raises(ValueError):
            a.flags.writeable = True
        with pytest.raises(ValueError):
            a.T.flags.writeable = True
    with store.get_buffer(store.put(b"raw")) as buf:
        with pytest.raises(TypeError):
            buf.data[0] = 0
    assert store.get(store.put(np.zeros(10))).sum() == 0


def test_values_read_back_after_put_source_changes(store):
    a = np.arange(10)
    ref = store.put(a)
    a[:] = -1  # put copied: the object does not change
    np.testing.assert_array_equal(store.get(ref), np.arange(10))


def test_get_list_and_tuple_in_order(store):
    values = [b"a", np.arange(3), {"x": 1}, bytearray(b"b"), memoryview(b"c")]
    refs = [store.put(v) for v in values]
    got = store.get(refs)
    assert isinstance(got, list) and len(got) == len(values)
    assert got[0] == b"a" and got[2] == {"x": 1} and got[3] == bytearray(b"b")
    np.testing.assert_array_equal(got[1], np.arange(3))
    assert bytes(got[4]) == b"c"
    assert store.get(tuple(refs[:2]))[0] == b"a"
    assert store.get([]) == []
    dup = store.get([refs[1], refs[1]])
    assert address(dup[0]) == address(dup[1])


def test_put_with_chosen_id(store):
    oid = objstore.ObjectID(bytes(range(20)))
    assert store.put(np.arange(4), id=oid) == oid
    np.testing.assert_array_equal(store.get(oid), np.arange(4))
    for value in (b"bytes", {"pickled": np.arange(2)}, np.arange(9.0)[::3]):
        other = objstore.ObjectID.from_hex(f"{len(repr(value)):040x}")
        assert store.put(value, id=other) == other
    with pytest.raises(objstore.ObjectExists):
        store.put(b"again", id=oid)


def test_foreign_objects_come_back_raw(store):
    # An object written with raw metadata (as C or Go would write it).
    p = store.create(6, meta=b'{"dtype": "u1"}')
    p.data[:] = b"abcdef"
    ref = p.seal()
    got = store.get(ref)
    assert type(got) is memoryview and got.readonly and bytes(got) == b"abcdef"
    with store.get_buffer(ref) as buf:
        assert buf.meta == b'{"dtype": "u1"}' and bytes(buf.data) == b"abcdef"
    q = store.create(3)
    q.data[:] = b"xyz"
    assert bytes(store.get(q.seal())) == b"xyz"


def test_object_id():
    raw = bytes(range(20))
    oid = objstore.ObjectID(raw)
    assert oid.binary() == raw and bytes(oid) == raw
    assert oid.hex() == raw.hex() and str(oid) == raw.hex()
    assert objstore.ObjectID(raw.hex()) == oid == objstore.ObjectID.from_hex(raw.hex().upper())
    assert objstore.ObjectID(oid) == oid
    assert hash(objstore.ObjectID(raw)) == hash(oid)
    assert {oid: 1}[objstore.ObjectID(raw)] == 1
    assert oid != objstore.ObjectID(bytes(20)) and oid != raw
    assert pickle.loads(pickle.dumps(oid)) == oid
    assert repr(oid) == "ObjectID(00010203\u202610111213)"
    with pytest.raises(ValueError):
        objstore.ObjectID(b"short")
    with pytest.raises(objstore.InvalidArgument, match="hex"):
        objstore.ObjectID("zz" * 20)
    with pytest.raises(objstore.InvalidArgument):
        objstore.ObjectID("ab" * 19)
    with pytest.raises(TypeError):
        objstore.ObjectID(12)


def test_fresh_ids_are_distinct(store):
    refs = {store.put(b"x") for _ in range(500)}
    refs |= {store.put({"i": i, "a": np.arange(2)}) for i in range(500)}  # IDs made by Python
    assert len(refs) == 1000
    assert all(r in store for r in refs)


def test_values_from_a_get_can_be_put_again(store):
    for value in (np.arange(5.0).reshape(5, 1), memoryview(b"abc"), {"x": np.arange(3)}):
        got = store.get(store.put(value))  # read-only views of shared memory
        again = store.get(store.put(got))
        if isinstance(value, dict):
            np.testing.assert_array_equal(again["x"], value["x"])
        elif isinstance(value, memoryview):
            assert bytes(again) == bytes(value)
        else:
            same(again, value)
            assert address(again) != address(got)  # a new object, a new copy
