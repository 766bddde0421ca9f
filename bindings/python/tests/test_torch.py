"""torch tensors: stored raw (dtype and shape in the format's ndarray
metadata, with a torch hint) and returned as tensors over the shared
memory, zero-copy; inside containers, out-of-band and zero-copy too."""

import gc
import multiprocessing

import numpy as np
import pytest

import objstore
from objstore import _format
from conftest import pinned, start

torch = pytest.importorskip("torch")


def address(t):
    return t.data_ptr()


def object_range(store, ref):
    with store.get_buffer(ref) as buf:
        a = np.frombuffer(buf.data, np.uint8)
        lo = a.__array_interface__["data"][0]
        return lo, lo + a.nbytes


DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int8,
    torch.uint8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.bool,
    torch.complex64,
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_round_trip_every_dtype(store, dtype):
    t = (torch.arange(24) % 7).reshape(2, 3, 4).to(dtype)
    ref = store.put(t)
    got = store.get(ref)
    assert type(got) is torch.Tensor and got.dtype == dtype and got.shape == t.shape
    assert torch.equal(got, t)
    lo, hi = object_range(store, ref)
    assert lo <= address(got) < hi  # a view of the store's memory, no copy


def test_zero_copy_and_pins(store):
    t = torch.rand(1024, 1024)
    ref = store.put(t)
    a, b = store.get(ref), store.get(ref)
    assert address(a) == address(b) and address(a) % 64 == 0
    assert pinned(store) == 1
    view = a[10:20]
    del a, b
    gc.collect()
    assert pinned(store) == 1  # a slice of the tensor keeps the pin
    del view
    gc.collect()
    assert pinned(store) == 0


def test_the_format_is_ndarray_with_a_hint(store):
    t = torch.arange(6, dtype=torch.int32).reshape(2, 3)
    with store.get_buffer(store.put(t)) as buf:
        kind, dtype, shape, order = _format.parse(buf.meta, buf.data.nbytes)
        assert (kind, dtype, shape, order) == (_format.KIND_NDARRAY, np.dtype("<i4"), (2, 3), "C")
        assert buf.meta[6] == _format.HINT_TORCH
        assert buf.meta == _format.ndarray_meta(t.numpy(), "C", _format.HINT_TORCH)
    # What another language writes with the hint comes back as a tensor,
    # without it as an ndarray.
    arr = np.arange(4, dtype=np.float32)
    for hint, kind in ((_format.HINT_TORCH, torch.Tensor), (0, np.ndarray)):
        p = store.create(arr.nbytes, meta=_format.ndarray_meta(arr, "C", hint))
        p.data[:] = arr.tobytes()
        assert type(store.get(p.seal())) is kind


def test_non_contiguous_and_special_tensors(store):
    base = torch.arange(100.0).reshape(10, 10)
    for t in (base.T, base[::2, 1::3], base[:, 3]):
        got = store.get(store.put(t))
        assert torch.equal(got, t) and got.is_contiguous()
    grad = torch.ones(3, requires_grad=True)
    got = store.get(store.put(grad))  # autograd state: pickled by torch, as before
    assert got.requires_grad and torch.equal(got.detach(), grad.detach())
    p = torch.nn.Parameter(torch.ones(2))
    assert isinstance(store.get(store.put(p)), torch.nn.Parameter)


def test_tensors_inside_containers_are_zero_copy(store):
    state = {"w": torch.rand(64, 64), "b": torch.zeros(64), "step": 3, "half": torch.ones(8, dtype=torch.bfloat16)}
    ref = store.put(state)
    got = store.get(ref)
    lo, hi = object_range(store, ref)
    for k in ("w", "b", "half"):
        assert torch.equal(got[k], state[k]) and got[k].dtype == state[k].dtype
        assert lo <= address(got[k]) < hi
    assert got["step"] == 3


def test_module_state_dict_round_trip(store):
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    ref = store.put(model.state_dict())
    clone = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    clone.load_state_dict(store.get(ref))
    x = torch.rand(5, 8)
    assert torch.equal(model(x), clone(x))


def worker_sum(store, ref, q):
    t = store.get(ref, timeout=30)
    q.put((type(t).__name__, float(t.sum())))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_tensor_to_another_process(store, processes, method):
    t = torch.ones(100, 100)
    ref = store.put(t)
    q = multiprocessing.get_context(method).Queue()
    start(processes, method, worker_sum, store, ref, q)
    assert q.get(timeout=120) == ("Tensor", 10000.0)
