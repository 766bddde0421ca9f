"""How Python values are laid out in objstore objects (format version 1).

An object is a data blob plus a metadata blob (see objstore.h). The Python
binding writes a small, versioned header into the metadata that says how to
turn the data back into a value; readers in other languages can use it too.
All integers are little-endian.

Metadata header (8 bytes)::

    offset size  field
    0      4     magic     b"OSPY"
    4      1     version   1 (this document)
    5      1     kind      1 bytes, 2 bytearray, 3 memoryview, 4 ndarray, 5 pickle5
    6      2     hint      0, or for kind 4 (ndarray) the Python type the
                           array was (see below); readers that do not know a
                           hint ignore it (it was "reserved, 0" before hints
                           were defined, and writers left it 0)

The body that follows depends on the kind:

``bytes`` (1), ``bytearray`` (2)
    Empty. The data is the value's bytes. A get returns a new ``bytes`` /
    ``bytearray`` (a copy: both types own their memory).

``memoryview`` (3)
    ``u8 ndim, u8 format_len, format (ASCII, struct syntax), u64 shape[ndim]``.
    The data is the view's bytes in C order. A get returns a read-only
    memoryview of the shared memory (no copy), cast back to the format and
    shape when ``memoryview.cast`` supports them (a native single-character
    format, no zero in the shape); otherwise the writer stores format "B"
    and ``shape = [nbytes]``.

``ndarray`` (4)
    ``u8 order (b"C" or b"F"), u8 dtype_form, u16 dtype_len, dtype (ASCII),
    u8 ndim, u64 shape[ndim]``.
    ``dtype_form`` 0: the dtype string is numpy's ``dtype.str`` (e.g. "<f4",
    "|u1", "<M8[ns]", "<U7"); 1: it is the ``repr`` of the ``.npy`` format's
    descr (``numpy.lib.format.dtype_to_descr``), for structured and subarray
    dtypes. The data is the array's elements, contiguous in ``order``. A get
    returns a read-only ndarray over the shared memory (no copy).

    Hints (header bytes 6-7) of kind 4: 1 (HINT_TORCH), the value was a
    ``torch.Tensor`` (CPU) of the dtype given; 2 (HINT_TORCH_BFLOAT16), a
    ``torch.Tensor`` of dtype bfloat16, whose raw 16-bit values the dtype
    "<i2" holds. A Python reader with torch returns such objects as tensors
    over the shared memory (no copy); any other reader reads them as the
    ndarray the body describes. So C, C++ and Go programs read tensors that
    Python wrote, and what they write with this header comes back to Python
    as a numpy array (hint 0) or a tensor (hint 1).

``pickle5`` (5)
    ``u64 pickle_len, u32 nbuf, then nbuf entries (u64 offset, u64 length)``.
    The data holds a pickle stream (protocol 5) at offset 0, length
    ``pickle_len``, followed by its out-of-band buffers, each starting at the
    given offset (a multiple of 64, so buffers are as aligned as the object's
    data) with the given length. A get unpickles with ``buffers=`` read-only
    memoryviews of the shared memory, so numpy arrays inside come back as
    zero-copy read-only views (and so do pandas columns, Arrow buffers and
    torch tensors inside, which pickle their data as out-of-band buffers).
    The stream is written by cloudpickle (functions and classes defined in
    ``__main__``, lambdas and closures are pickled by value, as Ray does)
    and read by ``pickle.loads``.

Metadata that does not start with the magic (objects written by C, C++, Go
or ``Store.create`` with raw metadata) is foreign: a get returns the data as
a read-only memoryview of format "B" (no copy); ``Store.get_buffer`` gives
data and metadata as they are.

Compatibility: a reader rejects a version it does not know, and a kind it
does not know, with CorruptObject; a later format that old readers must not
misread gets a new version. Adding kinds is compatible.
"""

from __future__ import annotations

import ast
import pickle
import struct
import sys
from typing import Any

from .errors import CorruptObject

MAGIC = b"OSPY"
VERSION = 1
KIND_BYTES = 1
KIND_BYTEARRAY = 2
KIND_MEMORYVIEW = 3
KIND_NDARRAY = 4
KIND_PICKLE5 = 5
HINT_TORCH = 1
HINT_TORCH_BFLOAT16 = 2
# Returned by parse() for metadata that is not ours.
KIND_FOREIGN = 0

ALIGN = 64

_HEADER = struct.Struct("<4sBBH")
_U8 = struct.Struct("<B")
_U64 = struct.Struct("<Q")
_MV_HEAD = struct.Struct("<BB")
_ND_HEAD = struct.Struct("<BBH")
_PK_HEAD = struct.Struct("<QI")
_PK_ENTRY = struct.Struct("<QQ")

META_BYTES = _HEADER.pack(MAGIC, VERSION, KIND_BYTES, 0)
META_BYTEARRAY = _HEADER.pack(MAGIC, VERSION, KIND_BYTEARRAY, 0)


def _cast_ok(f: str) -> bool:
    mv: Any = memoryview(bytes(16))  # (typeshed's cast() takes literal formats only)
    try:
        mv.cast(f)
    except (ValueError, TypeError):
        return False
    return True


# Formats memoryview.cast() accepts (native, single character) in this
# Python: "e" (half float) only from Python 3.12 on. A writer stores other
# formats as "B" (see memoryview_meta); a reader refuses them.
_CASTABLE = frozenset(f for f in "cbB?hHiIlLqQnNfdPe" if _cast_ok(f))

# Bounded caches of encoded / parsed metadata: tensors of one dtype and shape
# are stored over and over, and parsing their header is most of a get's
# Python-side cost otherwise.
_CACHE_MAX = 4096
_nd_meta_cache: dict[tuple[Any, ...], bytes] = {}
_parse_cache: dict[tuple[bytes, int], tuple[Any, ...]] = {}


def align(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


# --------------------------------------------------------------- encoding


def memoryview_meta(mv: memoryview) -> bytes:
    fmt = mv.format.lstrip("@")
    shape: tuple[int, ...]
    if len(fmt) == 1 and fmt in _CASTABLE and mv.ndim >= 1 and mv.shape is not None and 0 not in mv.shape:
        shape = mv.shape
    else:
        fmt, shape = "B", (mv.nbytes,)
    f = fmt.encode("ascii")
    return b"".join(
        (_HEADER.pack(MAGIC, VERSION, KIND_MEMORYVIEW, 0), _MV_HEAD.pack(len(shape), len(f)), f)
        + tuple(_U64.pack(d) for d in shape)
    )


def ndarray_meta(arr: Any, order: str, hint: int = 0) -> bytes:
    """Metadata of a numpy array stored contiguous in ``order`` ('C'/'F'),
    with a type hint (HINT_TORCH...) or 0."""
    key = (arr.dtype, arr.shape, order, hint)
    meta = _nd_meta_cache.get(key)
    if meta is not None:
        return meta
    dt = arr.dtype
    if dt.fields is None and dt.subdtype is None:
        form, ds = 0, str(dt.str)
    else:
        import numpy.lib.format as npf

        form, ds = 1, repr(npf.dtype_to_descr(dt))
    d = ds.encode("ascii")
    if len(d) > 0xFFFF:
        raise ValueError(f"dtype description too long ({len(d)} bytes)")
    meta = b"".join(
        (
            _HEADER.pack(MAGIC, VERSION, KIND_NDARRAY, hint),
            _ND_HEAD.pack(ord(order), form, len(d)),
            d,
            _U8.pack(arr.ndim),
        )
        + tuple(_U64.pack(s) for s in arr.shape)
    )
    if len(_nd_meta_cache) >= _CACHE_MAX:
        _nd_meta_cache.clear()
    _nd_meta_cache[key] = meta
    return meta


def dtype_part(dt: Any) -> bytes:
    """The dtype's part of ndarray metadata: u8 dtype_form, u16 dtype_len,
    dtype (what follows the order byte)."""
    if dt.fields is None and dt.subdtype is None:
        form, ds = 0, str(dt.str)
    else:
        import numpy.lib.format as npf

        form, ds = 1, repr(npf.dtype_to_descr(dt))
    d = ds.encode("ascii")
    if len(d) > 0xFFFF:
        raise ValueError(f"dtype description too long ({len(d)} bytes)")
    head: bytes = _ND_HEAD.pack(0, form, len(d))[1:]
    return head + d


def ndarray_storable(arr: Any) -> bool:
    """Whether an ndarray (of exact type numpy.ndarray) is stored raw, else
    pickled: its elements must be plain bytes (no Python objects), of
    non-zero size."""
    return bool(not arr.dtype.hasobject and arr.dtype.itemsize > 0)


class Pickled:
    """A value pickled with protocol 5: the stream and its out-of-band
    buffers (contiguous byte memoryviews), with their offsets in the data.
    ``dumps(value, protocol=5, buffer_callback=...)`` makes the stream
    (objstore._serial passes cloudpickle's)."""

    __slots__ = ("stream", "buffers", "offsets", "total", "meta")

    def __init__(self, value: Any, dumps: Any = pickle.dumps) -> None:
        buffers: list[memoryview] = []

        def keep(pb: pickle.PickleBuffer) -> bool:
            try:
                buffers.append(pb.raw())
            except BufferError:  # not contiguous: let pickle copy it in-band
                return True
            return False

        self.stream = dumps(value, protocol=5, buffer_callback=keep)
        self.buffers = buffers
        offsets: list[int] = []
        end = len(self.stream)
        for b in buffers:
            off = align(end)
            offsets.append(off)
            end = off + b.nbytes
        self.offsets = offsets
        self.total = end
        self.meta = b"".join(
            (_HEADER.pack(MAGIC, VERSION, KIND_PICKLE5, 0), _PK_HEAD.pack(len(self.stream), len(buffers)))
            + tuple(_PK_ENTRY.pack(o, b.nbytes) for o, b in zip(offsets, buffers))
        )


# --------------------------------------------------------------- decoding


def _corrupt(msg: str) -> CorruptObject:
    return CorruptObject(f"object metadata: {msg}")


def parse(meta: bytes, data_len: int) -> tuple[Any, ...]:
    """Parse metadata into a tuple whose first item is the kind:

    (KIND_FOREIGN,), (KIND_BYTES,), (KIND_BYTEARRAY,),
    (KIND_MEMORYVIEW, format, shape), (KIND_NDARRAY, dtype, shape, order),
    (KIND_PICKLE5, pickle_len, [(offset, length), ...]).

    Checks every length against ``data_len``; raises CorruptObject.
    """
    key = (meta, data_len)
    hit = _parse_cache.get(key)
    if hit is not None:
        return hit
    r = _parse(meta, data_len)
    if r[0] != KIND_PICKLE5:  # buffer tables vary per object: not worth caching
        if len(_parse_cache) >= _CACHE_MAX:
            _parse_cache.clear()
        _parse_cache[key] = r
    return r


def _parse(meta: bytes, data_len: int) -> tuple[Any, ...]:
    if len(meta) < _HEADER.size or meta[:4] != MAGIC:
        return (KIND_FOREIGN,)
    _, version, kind, _reserved = _HEADER.unpack_from(meta)
    if version != VERSION:
        raise _corrupt(f"format version {version}, this objstore reads version {VERSION} (a newer writer?)")
    pos = _HEADER.size
    try:
        if kind == KIND_BYTES:
            return (KIND_BYTES,)
        if kind == KIND_BYTEARRAY:
            return (KIND_BYTEARRAY,)
        if kind == KIND_MEMORYVIEW:
            ndim, flen = _MV_HEAD.unpack_from(meta, pos)
            pos += _MV_HEAD.size
            fmt = meta[pos : pos + flen].decode("ascii")
            pos += flen
            shape = struct.unpack_from(f"<{ndim}Q", meta, pos)
            itemsize = struct.calcsize(fmt)
            n = itemsize
            for s in shape:
                n *= s
            if n != data_len:
                raise _corrupt(f"memoryview of {n} bytes in {data_len} bytes of data")
            # What a reader hands to memoryview.cast (all the writer writes).
            if not (fmt == "B" and ndim == 1) and (fmt not in _CASTABLE or not 1 <= ndim <= 64 or 0 in shape):
                raise _corrupt(f"memoryview format {fmt!r} with shape {shape} cannot be rebuilt by this Python")
            return (KIND_MEMORYVIEW, fmt, shape)
        if kind == KIND_NDARRAY:
            order, form, dlen = _ND_HEAD.unpack_from(meta, pos)
            pos += _ND_HEAD.size
            ds = meta[pos : pos + dlen].decode("ascii")
            if len(ds) != dlen:
                raise _corrupt("truncated dtype")
            pos += dlen
            (ndim,) = _U8.unpack_from(meta, pos)
            pos += 1
            shape = struct.unpack_from(f"<{ndim}Q", meta, pos)
            order = chr(order)
            if order not in "CF":
                raise _corrupt(f"array order {order!r}")
            dtype = _dtype(form, ds)
            # What the writer stores raw (ndarray_storable).
            if dtype.hasobject or dtype.itemsize == 0:
                raise _corrupt(f"dtype {dtype} is not stored raw")
            n = dtype.itemsize
            for s in shape:
                n *= s
            if n != data_len:
                raise _corrupt(f"array of {n} bytes ({dtype}, shape {shape}) in {data_len} bytes of data")
            return (KIND_NDARRAY, dtype, shape, order)
        if kind == KIND_PICKLE5:
            plen, nbuf = _PK_HEAD.unpack_from(meta, pos)
            pos += _PK_HEAD.size
            if len(meta) < pos + nbuf * _PK_ENTRY.size:
                raise _corrupt("truncated buffer table")
            table = [_PK_ENTRY.unpack_from(meta, pos + i * _PK_ENTRY.size) for i in range(nbuf)]
            if plen > data_len or any(o < plen or o + n > data_len for o, n in table):
                raise _corrupt("pickle buffer table points outside the object")
            return (KIND_PICKLE5, plen, table)
    except (struct.error, UnicodeDecodeError, TypeError, ValueError, SyntaxError) as e:
        raise _corrupt(f"malformed ({e})") from None
    raise _corrupt(f"unknown kind {kind} (a newer writer?)")


def _dtype(form: int, ds: str) -> Any:
    np = _numpy()
    if form == 0:
        return np.dtype(ds)
    if form == 1:
        import numpy.lib.format as npf

        return npf.descr_to_dtype(ast.literal_eval(ds))
    raise _corrupt(f"dtype form {form}")


def _numpy() -> Any:
    np = sys.modules.get("numpy")
    if np is None:
        try:
            import numpy as np
        except ImportError:
            raise ImportError("this object holds a numpy array: install numpy to get it") from None
    return np
