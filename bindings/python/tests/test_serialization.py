"""Serialization as Ray does it: cloudpickle for functions and closures,
registered serializers, and their out-of-band buffers."""

import functools
import gc
import multiprocessing

import numpy as np
import pytest

import objstore
from objstore import _format
from conftest import pinned, start


def test_lambdas_and_closures(store):
    k = 10
    values = {"lambda": lambda x: x + 1, "closure": (lambda: lambda y: y * k)(), "partial": functools.partial(max, 3)}
    got = store.get(store.put(values))
    assert got["lambda"](1) == 2 and got["closure"](2) == 20 and got["partial"](1) == 3
    f = store.get(store.put(lambda: "top-level lambda"))
    assert f() == "top-level lambda"


class Local:
    def __init__(self, v):
        self.v = v

    def double(self):
        return 2 * self.v


def test_classes_and_instances(store):
    class Inner:  # defined in a function: pickled by value
        def __init__(self):
            self.arr = np.arange(4)

        def total(self):
            return int(self.arr.sum())

    got = store.get(store.put(Inner()))
    assert got.total() == 6 and not got.arr.flags.writeable  # its array is out-of-band
    assert store.get(store.put(Local(4))).double() == 8
    cls = store.get(store.put(Inner))
    assert cls().total() == 6


def run_function(store, ref, q):
    f = store.get(ref, timeout=30)
    q.put(f(21))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_lambda_runs_in_another_process(store, processes, method):
    offset = 21
    ref = store.put(lambda x: x + offset)
    q = multiprocessing.get_context(method).Queue()
    start(processes, method, run_function, store, ref, q)
    assert q.get(timeout=60) == 42


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class Unpicklable:
    def __init__(self, payload):
        self.payload = payload

    def __reduce__(self):
        raise TypeError("Unpicklable cannot be pickled")


CALLS = []


def ser_unpicklable(u):
    CALLS.append("ser")
    return {"payload": u.payload}


def de_unpicklable(d):
    # Importable (this module): pickled by reference, so CALLS is this one.
    CALLS.append("de")
    return Unpicklable(d["payload"])


def test_register_serializer(store):
    CALLS.clear()
    with pytest.raises(TypeError, match="cannot be pickled"):
        store.put(Unpicklable(1))
    objstore.register_serializer(Unpicklable, serializer=ser_unpicklable, deserializer=de_unpicklable)
    try:
        got = store.get(store.put([Unpicklable(np.arange(3)), Unpicklable("x")]))
        assert isinstance(got[0], Unpicklable) and got[1].payload == "x"
        np.testing.assert_array_equal(got[0].payload, np.arange(3))
        assert not got[0].payload.flags.writeable  # arrays it returns stay zero-copy
        assert CALLS == ["ser", "ser", "de", "de"]
        top = store.get(store.put(Unpicklable(5)))  # the value itself, not only inside one
        assert top.payload == 5
        # A deserializer defined in a function travels by value (cloudpickle).
        objstore.register_serializer(Unpicklable, serializer=lambda u: u.payload * 2, deserializer=lambda p: Unpicklable(-p))
        assert store.get(store.put(Unpicklable(21))).payload == -42
    finally:
        objstore.deregister_serializer(Unpicklable)
    with pytest.raises(TypeError):
        store.put(Unpicklable(1))
    with pytest.raises(KeyError):
        objstore.deregister_serializer(Unpicklable)


def test_registered_serializer_wins_over_raw_paths(store):
    # bytes, like every type pickle saves itself, can be registered for the
    # value itself (not inside another value, as in Ray).
    objstore.register_serializer(bytes, serializer=lambda b: b[::-1], deserializer=lambda b: b"<" + b[::-1] + b">")
    try:
        assert store.get(store.put(b"abc")) == b"<abc>"
        with store.get_buffer(store.put(b"abc")) as buf:
            assert _format.parse(buf.meta, buf.data.nbytes)[0] == _format.KIND_PICKLE5
    finally:
        objstore.deregister_serializer(bytes)
    assert store.get(store.put(b"abc")) == b"abc"


def test_registered_point_crosses_processes(store, processes):
    objstore.register_serializer(Point, serializer=lambda p: (p.x, p.y), deserializer=lambda t: Point(*t))
    try:
        ref = store.put(Point(3, 4))
    finally:
        objstore.deregister_serializer(Point)
    q = multiprocessing.get_context("spawn").Queue()
    # The reader registers nothing: the deserializer travels with the value.
    start(processes, "spawn", read_point, store, ref, q)
    assert q.get(timeout=60) == (3, 4)


def read_point(store, ref, q):
    p = store.get(ref, timeout=30)
    q.put((p.x, p.y))


def test_register_serializer_checks_its_arguments():
    with pytest.raises(TypeError):
        objstore.register_serializer("not a class", serializer=str, deserializer=str)
    with pytest.raises(TypeError):
        objstore.register_serializer(Point, serializer=1, deserializer=str)


def test_pickled_values_release_their_pin(store):
    ref = store.put({"f": lambda: 1, "a": np.arange(100)})
    v = store.get(ref)
    assert pinned(store) == 1
    del v
    gc.collect()
    assert pinned(store) == 0
