"""Serialization: what the native module calls for values it does not
store raw itself, and the serializers users register.

The native module (objstore._objstore) stores bytes, bytearray and
C/F-contiguous numpy arrays raw, and reads back every kind of the format
(_format.py) itself. For anything else a put calls ``serialize(value)``,
which returns ``(meta, total, parts)``: the object's metadata, its data
size, and either a list of ``(offset, buffer)`` to copy into the data (gaps
are zeroed) or a callable that fills a writable memoryview of the data in
place. As Ray does:

- torch tensors (CPU, strided, no autograd history) are stored raw, as
  ndarray objects with a torch hint, and come back zero-copy;
- everything else is pickled by cloudpickle with protocol 5 (functions,
  lambdas and closures by value), its out-of-band buffers (numpy arrays,
  pandas columns, Arrow buffers, torch tensors inside containers) copied
  straight into the object and returned zero-copy on get;
- ``register_serializer(cls, serializer, deserializer)`` replaces how
  objects of exactly that class are pickled, anywhere in a value.
"""

from __future__ import annotations

import io
import pickle
import sys
import warnings
from collections import ChainMap
from typing import Any, Callable, TypeVar

from . import _format as fmt
from . import _objstore
from .errors import CorruptObject

try:
    import cloudpickle as _cloudpickle

    _BasePickler: Any = _cloudpickle.Pickler
except ImportError:  # pragma: no cover - cloudpickle is a dependency
    _cloudpickle = None
    _BasePickler = pickle.Pickler

__all__ = ["register_serializer", "deregister_serializer", "serialize", "dumps"]

# What a get unpickles a pickle5 object's stream with (the native module
# takes it from here once, on its first use of this module): pickle.loads,
# which a test harness may replace before the first get (the fuzzer
# bindings/python/fuzz/fuzz_decode.py does, with a restricted unpickler).
loads: Callable[..., Any] = pickle.loads

T = TypeVar("T")

# type -> reducer (obj -> (deserializer, (serializer(obj),))): the classes
# registered by users. The native module checks it before its own raw
# paths, so a registered serializer wins for bytes and ndarrays too.
_registered: dict[type, Callable[[Any], Any]] = {}
# type -> reducer: objstore's own (torch tensors as out-of-band arrays).
_builtin: dict[type, Callable[[Any], Any]] = {}


def register_serializer(
    cls: type[T], *, serializer: Callable[[T], Any], deserializer: Callable[[Any], T]
) -> None:
    """Store objects of class ``cls`` (exactly that class, not subclasses)
    as ``serializer(obj)``, and rebuild them with ``deserializer(data)``,
    wherever they appear in a value (as Ray's ``register_serializer``).
    Classes that pickle saves itself (bytes, str, int, float, list, tuple,
    dict, set, ...) are used so only as the value itself, not inside
    another.

    ``serializer`` returns anything objstore can store (numpy arrays in it
    stay zero-copy); ``deserializer`` is pickled by cloudpickle along with
    it, so processes that read the value need not register anything (it
    must be importable there, or picklable by value as a function defined
    in ``__main__`` or a lambda is)."""
    if not isinstance(cls, type):
        raise TypeError(f"register_serializer() takes a class, not {type(cls).__name__}")
    if not callable(serializer) or not callable(deserializer):
        raise TypeError("serializer and deserializer must be callable")

    def reduce(obj: Any) -> Any:
        return (deserializer, (serializer(obj),))

    _registered[cls] = reduce


def deregister_serializer(cls: type) -> None:
    """Undo ``register_serializer(cls, ...)`` (KeyError if none)."""
    del _registered[cls]


# --------------------------------------------------------------- pickling


class _Pickler(_BasePickler):  # type: ignore[misc]
    # Registered serializers first, then objstore's, then cloudpickle's and
    # copyreg's. A ChainMap sees later registrations.
    dispatch_table = ChainMap(_registered, _builtin, getattr(_BasePickler, "dispatch_table", {}))


def dumps(value: Any, protocol: int = 5, buffer_callback: Callable[[pickle.PickleBuffer], Any] | None = None) -> bytes:
    """cloudpickle.dumps with objstore's and the registered reducers."""
    f = io.BytesIO()
    _Pickler(f, protocol=protocol, buffer_callback=buffer_callback).dump(value)
    return f.getvalue()


# --------------------------------------------------------------- torch

# Tensors whose dtype numpy has: stored with numpy's dtype and HINT_TORCH.
# bfloat16 (numpy has none): its bits as int16, HINT_TORCH_BFLOAT16.


def _torch_plain(t: Any, torch: Any) -> bool:
    """A tensor stored raw: exactly torch.Tensor, on the CPU, strided,
    dense, with no autograd history and a dtype numpy has (or bfloat16)."""
    return (
        type(t) is torch.Tensor
        and t.device.type == "cpu"
        and t.layout is torch.strided
        and not t.requires_grad
        and not t.is_conj()
        and not t.is_neg()
        and (t.dtype is torch.bfloat16 or t.dtype in _torch_numpy_dtypes(torch))
    )


_TORCH_NP: frozenset[Any] | None = None


def _torch_numpy_dtypes(torch: Any) -> frozenset[Any]:
    global _TORCH_NP
    if _TORCH_NP is None:
        names = [
            "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
            "complex64", "complex128", "uint16", "uint32", "uint64",
        ]  # fmt: skip
        _TORCH_NP = frozenset(getattr(torch, n) for n in names if hasattr(torch, n))
    return _TORCH_NP


def _tensor_array(t: Any, torch: Any) -> tuple[Any, int]:
    """The tensor's elements as an ndarray sharing its memory, and the hint."""
    if t.dtype is torch.bfloat16:
        return t.view(torch.int16).numpy(), fmt.HINT_TORCH_BFLOAT16
    return t.numpy(), fmt.HINT_TORCH


_torch_warned = False


def tensor_from(arr: Any, hint: int) -> Any:
    """The torch.Tensor over a read-only ndarray of the store (no copy).
    Without torch, the ndarray itself."""
    global _torch_warned
    torch: Any = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:
            return arr
    if not _torch_warned:
        # torch warns, once per process, that the array is not writable: it
        # is the store's shared memory, and torch has no read-only tensors.
        # Do not write to tensors from a get.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(arr)
        _torch_warned = True
    else:
        t = torch.from_numpy(arr)
    if hint == fmt.HINT_TORCH_BFLOAT16:
        t = t.view(torch.bfloat16)
    return t


def _rebuild_tensor(arr: Any, hint: int) -> Any:
    return tensor_from(arr, hint)


def _reduce_tensor(t: Any) -> Any:
    torch = sys.modules["torch"]
    if not _torch_plain(t, torch):
        return t.__reduce_ex__(5)
    arr, hint = _tensor_array(t.contiguous(), torch)
    return (_rebuild_tensor, (arr, hint))


def _install_torch() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.Tensor not in _builtin:
        _builtin[torch.Tensor] = _reduce_tensor


# --------------------------------------------------------------- serialize


def _raw_parts(meta: bytes, data: Any) -> tuple[bytes, int, list[tuple[int, Any]]]:
    mv = memoryview(data)
    return meta, mv.nbytes, [(0, mv)]


def _strided_fill(np: Any, arr: Any) -> Callable[[memoryview], None]:
    def fill(mv: memoryview) -> None:
        # One copy, straight from the strided array into shared memory.
        dst = np.frombuffer(mv, dtype=arr.dtype).reshape(arr.shape)
        np.copyto(dst, arr, casting="no")

    return fill


class _Reduced:
    """A value of a registered class, already reduced: pickled as its
    reduction. pickle saves the builtin types (bytes, str, int, list, dict,
    ...) itself, without the dispatch table; so they can be registered as
    the value itself, not inside another (as in Ray)."""

    __slots__ = ("rv",)

    def __init__(self, rv: Any) -> None:
        self.rv = rv

    def __reduce__(self) -> Any:
        return self.rv


def serialize(value: Any) -> tuple[bytes, int, Any]:
    """``(meta, total, parts)`` for a value the native module does not store
    raw by itself (see the module docstring)."""
    t = type(value)
    reducer = _registered.get(t)
    if reducer is not None:
        value = _Reduced(reducer(value))
    else:
        if t is memoryview:
            meta = fmt.memoryview_meta(value)
            return _raw_parts(meta, value if value.c_contiguous else value.tobytes())
        np = sys.modules.get("numpy")
        if np is not None and t is np.ndarray and fmt.ndarray_storable(value):
            if value.flags.c_contiguous:  # (the native module takes these itself)
                return _raw_parts(fmt.ndarray_meta(value, "C"), value)
            if value.flags.f_contiguous:
                return _raw_parts(fmt.ndarray_meta(value, "F"), value.T)
            return fmt.ndarray_meta(value, "C"), value.nbytes, _strided_fill(np, value)
        torch = sys.modules.get("torch")
        if torch is not None:
            _install_torch()
            if t is torch.Tensor and np is not None and _torch_plain(value, torch):
                arr, hint = _tensor_array(value, torch)
                if arr.flags.c_contiguous:
                    return _raw_parts(fmt.ndarray_meta(arr, "C", hint), arr)
                return fmt.ndarray_meta(arr, "C", hint), arr.nbytes, _strided_fill(np, arr)
    if "torch" in sys.modules:
        _install_torch()
    p = fmt.Pickled(value, dumps)
    parts: list[tuple[int, Any]] = [(0, p.stream)]
    parts.extend(zip(p.offsets, p.buffers))
    return p.meta, p.total, parts


# --------------------------------------------------------------- for get


def dtype_info(dtype: Any) -> tuple[bytes, bool, int]:
    """For a put of an ndarray of this dtype: its part of the metadata,
    whether it is stored raw (no Python objects, non-zero size), item size."""
    storable = not dtype.hasobject and dtype.itemsize > 0
    return (fmt.dtype_part(dtype) if storable else b""), storable, dtype.itemsize


def dtype_from_key(key: bytes) -> tuple[Any, int]:
    """The dtype of ndarray metadata's dtype part (form, length, string)."""
    form = key[0]
    try:
        ds = key[3:].decode("ascii")
        dt = fmt._dtype(form, ds)
    except CorruptObject:
        raise
    except ImportError:
        raise
    except Exception as e:
        raise fmt._corrupt(f"malformed ({e})") from None
    # What the writer stores raw (fmt.ndarray_storable): never Python objects
    # read from raw memory, never a zero-size item.
    if dt.hasobject or dt.itemsize == 0:
        raise fmt._corrupt(f"dtype {dt} is not stored raw")
    return dt, dt.itemsize


def decode_slow(meta: bytes, view: memoryview) -> Any:
    """What the native module's fast paths leave: raises CorruptObject for
    metadata that is malformed or of a newer format, else decodes."""
    info = fmt.parse(meta, view.nbytes)
    kind = info[0]
    if kind == fmt.KIND_FOREIGN:
        return view
    if kind == fmt.KIND_BYTES:
        return bytes(view)
    if kind == fmt.KIND_BYTEARRAY:
        return bytearray(view)
    if kind == fmt.KIND_MEMORYVIEW:
        _, f, shape = info
        try:
            return view if (f == "B" and len(shape) == 1) else view.cast(f, shape)
        except (ValueError, TypeError) as e:
            raise fmt._corrupt(f"memoryview of format {f!r}, shape {shape} cannot be rebuilt ({e})") from None
    if kind == fmt.KIND_NDARRAY:
        _, dtype, shape, order = info
        np = fmt._numpy()
        # parse() checked that the shape fills the data exactly; numpy's own
        # limits (dimensions, sizes) are checked here.
        try:
            a = np.frombuffer(view, dtype=dtype).reshape(shape, order=order)
        except (ValueError, TypeError) as e:
            raise fmt._corrupt(f"array of {dtype}, shape {shape} cannot be rebuilt ({e})") from None
        hint = int.from_bytes(meta[6:8], "little")
        return tensor_from(a, hint) if hint in (fmt.HINT_TORCH, fmt.HINT_TORCH_BFLOAT16) else a
    _, plen, table = info
    # CPython's unpickler grows its memo table to any index a damaged
    # stream names (up to 32 GiB) before it fails: refused first.
    if not _objstore._pickle_memo_in_bounds(bytes(view[:plen])):
        raise fmt._corrupt("its pickle stream stores to a memo index beyond its length (damaged)")
    return loads(view[:plen], buffers=[view[o : o + n] for o, n in table])
