"""Store, ObjectID and the objects a get or create hands out.

Lifetimes, in one place (the rest of the module follows from these):

- A Store owns one C handle (``os_store *``), wrapped by ``ffi.gc`` so that
  ``os_close`` runs when the last Python reference to it goes. The Store
  holds one reference; every pinned view holds another. So closing a Store
  while arrays from it are alive detaches only when they are gone: their
  memory stays mapped while they can be read, and no view ever dangles.
- A get of a zero-copy value (ndarray, memoryview, pickled value with
  buffers) pins the object once and ties the pin to a ``_Pin``. The views of
  the value all derive from one read-only memoryview whose exporter is an
  ``ffi.gc`` pointer whose destructor releases the pin; so the pin is
  released when the last view is garbage-collected, or earlier by an
  explicit release (``Pinned``, ``Buffer``), whichever comes first (once).
- Values that are copies (bytes, bytearray) are released at once.
- A handle belongs to the process that opened it (the C library refuses a
  handle inherited across fork()). After a fork the child's first call
  re-attaches by name; pins inherited from the parent are the parent's, and
  the child never releases them (the parent does, or reclaim after its
  death).
"""

from __future__ import annotations

import collections
import itertools
import math
import os
import pickle
import sys
import threading
import time
import weakref

from . import _format as fmt
from ._native import check, error_for, ffi, lib
from .errors import InvalidArgument, ObjectExists, StoreClosed, Timeout

__all__ = [
    "ObjectID",
    "Store",
    "StoreStats",
    "ObjectInfo",
    "PendingObject",
    "Buffer",
    "Pinned",
    "destroy",
]

_OK = lib.OS_OK
_TIMEOUT = lib.OS_TIMEOUT
_NOT_FOUND = lib.OS_NOT_FOUND
_ID_SIZE = lib.OS_ID_SIZE

# A blocking get waits in slices of this many milliseconds, so that a
# signal (Ctrl-C) is handled within a slice instead of after the whole wait.
_WAIT_SLICE_MS = 100

# --------------------------------------------------------------- fork state

# The pid of this process, updated in a fork child (os.register_at_fork), so
# that checking "was this handle opened here?" costs no system call.
_pid = os.getpid()
_lock = threading.Lock()


class _IdGen:
    """Fresh IDs for objects this process creates in place (the C library
    makes the IDs of plain puts): a random 12-byte prefix per process and a
    counter through a 64-bit bijection, as the core does."""

    def __init__(self):
        r = os.urandom(20)
        self.prefix = r[:12]
        self.key = int.from_bytes(r[12:], "little")
        self.counter = itertools.count()

    def next(self) -> ObjectID:
        n = next(self.counter)  # atomic under the GIL
        suffix = ((n ^ self.key) * 0x9E3779B97F4A7C15) & 0xFFFF_FFFF_FFFF_FFFF
        return ObjectID._from_bytes(self.prefix + suffix.to_bytes(8, "little"))


_ids = _IdGen()


def _after_fork_in_child():
    global _pid, _lock, _ids
    _pid = os.getpid()
    _lock = threading.Lock()  # another thread may have held it at the fork
    _ids = _IdGen()  # or parent and child would make the same IDs


os.register_at_fork(after_in_child=_after_fork_in_child)

# --------------------------------------------------------------- ObjectID


class ObjectID:
    """A 20-byte object ID.

    ``ObjectID(x)`` takes 20 bytes, 40 hex characters or another ObjectID.
    IDs compare and hash by value, pickle as their bytes, and print as
    ``ObjectID(3f9a1c2e…b7d4f110)`` (the first and last 8 hex digits; IDs put
    by one process share a prefix). ``hex()`` gives all 40 digits.
    """

    __slots__ = ("_b", "_c")

    def __init__(self, id):
        if isinstance(id, ObjectID):
            b = id._b
        elif isinstance(id, str):
            b = _parse_hex(id)
        elif isinstance(id, (bytes, bytearray, memoryview)):
            b = bytes(id)
        else:
            raise TypeError(f"ObjectID() takes 20 bytes or 40 hex characters, not {type(id).__name__}")
        if len(b) != _ID_SIZE:
            raise ValueError(f"an object ID is {_ID_SIZE} bytes, not {len(b)}")
        self._b = b
        self._c = None

    @classmethod
    def _from_bytes(cls, b: bytes) -> ObjectID:
        o = cls.__new__(cls)
        o._b = b
        o._c = None
        return o

    @classmethod
    def _from_c(cls, p) -> ObjectID:
        o = cls.__new__(cls)
        o._b = ffi.buffer(p)[:]
        o._c = p
        return o

    @classmethod
    def from_hex(cls, text: str) -> ObjectID:
        """Parse 40 hex characters (either case)."""
        return cls._from_bytes(_parse_hex(text))

    def _ptr(self):
        c = self._c
        if c is None:
            c = self._c = ffi.from_buffer("os_object_id *", self._b)
        return c

    def hex(self) -> str:
        """The ID as 40 lower-case hex characters."""
        return self._b.hex()

    def binary(self) -> bytes:
        """The ID's 20 bytes."""
        return self._b

    def __bytes__(self) -> bytes:
        return self._b

    def __eq__(self, other):
        if type(other) is ObjectID:
            return self._b == other._b
        return NotImplemented

    def __hash__(self):
        return hash(self._b)

    def __repr__(self):
        h = self._b.hex()
        return f"ObjectID({h[:8]}\u2026{h[-8:]})"

    def __str__(self):
        return self._b.hex()

    def __reduce__(self):
        return (ObjectID, (self._b,))


def _parse_hex(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"expected a hex string, not {type(text).__name__}")
    out = ffi.new("os_object_id *")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raw = b"?"  # the library then reports the bad character
    if b"\0" in raw:
        raise InvalidArgument("object ID hex contains a NUL character")
    check(lib.os_id_from_hex(raw, out), "parse object ID")
    return ffi.buffer(out)[:]


# --------------------------------------------------------------- records

def _fields(struct):
    # struct_size is the ABI's (the size the caller was compiled with), not a value.
    return [name for name, _ in ffi.typeof(struct).fields if name != "struct_size"]


StoreStats = collections.namedtuple("StoreStats", _fields("os_store_stats"), module=__name__)
StoreStats.__doc__ = "A store's counters: the fields of os_store_stats (objstore.h)."

ObjectInfo = collections.namedtuple("ObjectInfo", _fields("os_object_info"), module=__name__)
ObjectInfo.__doc__ = (
    "One object of Store.objects(): the fields of os_object_info (objstore.h), with `id` "
    "an ObjectID and `state` a name ('unsealed', 'sealed', 'deleted', 'spilled')."
)

_STATE_NAMES = {
    getattr(lib, n): n[len("OS_OBJECT_") :].lower()
    for n in dir(lib)
    if n.startswith("OS_OBJECT_") and not n.endswith("_MIN_SIZE")
}

# --------------------------------------------------------------- pins


class _Pin:
    """One pin (one successful os_get) of one object through one handle.

    Released exactly once: by ``release()`` or when the pointer that the
    views hang on is garbage-collected. It keeps the handle alive, so the
    mapping outlives every view even after an early release.
    """

    __slots__ = ("_h", "_todo", "_pid")

    def __init__(self, h, oid: ObjectID):
        self._h = h
        self._todo = [oid]
        self._pid = _pid

    def release(self) -> bool:
        try:
            oid = self._todo.pop()  # atomic: a GC finaliser and a scope may race
        except IndexError:
            return False
        if self._pid == _pid:  # never release a parent's pin in a fork child
            lib.os_release(self._h, oid._ptr())
        return True

    def _on_gc(self, _ptr):
        try:
            self.release()
        except Exception:  # a finaliser must not raise (e.g. at interpreter exit)
            pass


def _pinned_view(h, oid, data, data_len, pins):
    """A read-only memoryview of ``data_len`` bytes at ``data`` whose
    lifetime holds the pin just taken on ``oid``, and that pin."""
    pin = _Pin(h, oid)
    if pins is not None:
        pins.append(pin)
    return memoryview(ffi.buffer(ffi.gc(data, pin._on_gc), data_len)).toreadonly(), pin


_tls = threading.local()


def _get_buf():
    """This thread's os_buffer for single gets (fields are read out before
    anything that could re-enter a get runs)."""
    try:
        return _tls.buf
    except AttributeError:
        b = _tls.buf = ffi.new("os_buffer *")
        return b


def _release_entry(h, oid):
    lib.os_release(h, oid._ptr())


# --------------------------------------------------------------- helpers


def _timeout_ms(timeout) -> int:
    """Seconds (None = forever) -> the C library's milliseconds (-1 = forever)."""
    if timeout is None:
        return -1
    t = float(timeout)
    if not t >= 0:
        raise ValueError(f"timeout must be None or >= 0 seconds, not {timeout!r}")
    if t == 0:
        return 0
    if math.isinf(t):
        return -1
    return max(1, math.ceil(t * 1000))


def _check_id(ref) -> ObjectID:
    if type(ref) is not ObjectID:
        raise TypeError(f"expected an ObjectID, not {type(ref).__name__}")
    return ref


def _non_negative(name, value):
    if value is None:
        return 0
    value = int(value)
    if value < 0:
        raise InvalidArgument(f"{name} must be >= 0, not {value}")
    return value


# This process's open Stores by name (weak), and those it attached to by
# unpickling (strong: a multiprocessing worker receives the Store with every
# task, and should attach once, not once per task).
_registry: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_unpickled: dict = {}


def _attach(name, flags):
    """Unpickle a Store (e.g. in a multiprocessing worker): this process's
    open Store of that name if there is one, else a new attachment."""
    s = _registry.get(name)
    if s is not None and s._h is not None:
        return s
    s = _unpickled.get(name)
    if s is not None and s._h is not None:
        return s
    s = _unpickled[name] = Store(
        name,
        attach_only=True,
        prefault=bool(flags & lib.OS_OPEN_PREFAULT),
        hugepages=bool(flags & lib.OS_OPEN_HUGEPAGES),
    )
    return s


def _c_string(what, value) -> bytes:
    b = os.fsencode(value)
    if b"\0" in b:
        raise InvalidArgument(f"{what} contains a NUL character: {value!r}")
    return b


def destroy(name, missing_ok: bool = False) -> None:
    """Remove the store ``name`` (its file and its spill files). Processes
    still attached keep working on their mapping until they close it.
    Raises ObjectNotFound if there is no such store, unless ``missing_ok``."""
    st = lib.os_destroy(_c_string("store name", name))
    if st == lib.OS_NOT_FOUND and missing_ok:
        return
    check(st, f"destroy {os.fsdecode(name)!r}")


# --------------------------------------------------------------- Store


class Store:
    """A shared-memory object store, created if absent, else attached.

    Arguments (all but ``name`` optional; the sizes matter only when the store
    is created, an existing store keeps its own):

    - ``name``: a store name (the file /dev/shm/NAME) or a path containing '/'
      (made absolute).
    - ``capacity``: bytes for objects (default: 25% of RAM, capped by free space).
    - ``max_objects``, ``max_processes``: table sizes (defaults from the library).
    - ``spill_dir``: directory for spilling under memory pressure (default none:
      a full store raises StoreFull); fixed at creation.
    - ``mode``: file mode of a new store (default 0o600).
    - ``create_only`` / ``attach_only``: fail if the store exists / does not.
    - ``prefault``, ``hugepages``: the OS_OPEN_PREFAULT / OS_OPEN_HUGEPAGES flags.

    Usable from many threads. Picklable (by name), so multiprocessing workers
    receive it and attach; a process forked from one that uses it re-attaches
    by itself on its first call. Use it as a context manager or call
    ``close()``.
    """

    def __init__(
        self,
        name,
        capacity=None,
        *,
        max_objects=None,
        max_processes=None,
        spill_dir=None,
        mode=None,
        create_only=False,
        attach_only=False,
        prefault=False,
        hugepages=False,
    ):
        name = os.fsdecode(name)
        # A path stays valid for other processes (and after a chdir).
        self.name = os.path.abspath(name) if "/" in name else name
        flags = (
            (lib.OS_OPEN_CREATE_ONLY if create_only else 0)
            | (lib.OS_OPEN_ATTACH_ONLY if attach_only else 0)
            | (lib.OS_OPEN_PREFAULT if prefault else 0)
            | (lib.OS_OPEN_HUGEPAGES if hugepages else 0)
        )
        # What a re-attach (fork child, unpickling) keeps of the flags.
        self._flags = flags & (lib.OS_OPEN_PREFAULT | lib.OS_OPEN_HUGEPAGES)
        self._h = None
        self._h = self._open(
            flags,
            capacity=_non_negative("capacity", capacity),
            max_objects=_non_negative("max_objects", max_objects),
            max_processes=_non_negative("max_processes", max_processes),
            mode=_non_negative("mode", mode),
            spill_dir=spill_dir,
        )
        self._pid = _pid
        _registry[self.name] = self

    def _open(self, flags, capacity=0, max_objects=0, max_processes=0, mode=0, spill_dir=None):
        # os_options_default() is inline in the header, not in the library.
        o = ffi.new("os_options *")
        o.struct_size = ffi.sizeof("os_options")
        check(lib.os_options_init(o), "default options")
        o.capacity_bytes = capacity
        o.max_objects = max_objects
        o.max_processes = max_processes
        o.mode = mode
        o.flags = flags
        keep = None
        if spill_dir is not None:
            keep = ffi.new("char[]", _c_string("spill_dir", spill_dir))
            o.spill_dir = keep
        out = ffi.new("os_store **")
        check(lib.os_open(_c_string("store name", self.name), o, out), f"open store {self.name!r}")
        del keep
        return ffi.gc(out[0], lib.os_close)

    def _handle(self):
        h = self._h
        if self._pid != _pid or h is None:
            h = self._reattach()
        return h

    def _reattach(self):
        if self._h is None:
            raise StoreClosed(f"store {self.name!r} is closed")
        with _lock:
            if self._pid != _pid:
                # A fork child: the inherited handle is the parent's. Drop our
                # reference (views inherited from the parent keep it, and
                # os_close in the child frees only the child's copy).
                self._h = self._open(self._flags | lib.OS_OPEN_ATTACH_ONLY)
                self._pid = _pid
            return self._h

    # ---- lifecycle

    def close(self) -> None:
        """Close this Store. Further calls raise StoreClosed. The process
        detaches when no value from this Store is alive any more (values
        from gets keep the memory they view mapped). Idempotent."""
        self._h = None
        if _registry.get(self.name) is self:
            del _registry[self.name]

    @property
    def closed(self) -> bool:
        return self._h is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        if self._h is None:
            raise StoreClosed(f"store {self.name!r} is closed")
        return (_attach, (self.name, self._flags))

    def __repr__(self):
        return f"Store({self.name!r}{', closed' if self._h is None else ''})"

    def destroy(self) -> None:
        """Close this Store and remove the store's files (see ``destroy``)."""
        self.close()
        destroy(self.name, missing_ok=True)

    # ---- put

    def put(self, value, *, id: ObjectID | None = None) -> ObjectID:
        """Store ``value`` as a new sealed object and return its ID.

        bytes, bytearray, memoryview and numpy arrays are stored raw (one copy
        into shared memory; numpy arrays with dtype, shape and order in the
        metadata); anything else is pickled with protocol 5, its out-of-band
        buffers (e.g. numpy arrays inside lists and dicts) copied straight
        into the object. ``id``: store under this ID instead of a fresh one
        (ObjectExists if it is taken).
        """
        h = self._handle()
        t = type(value)
        if t is bytes:
            return self._put_contiguous(h, value, fmt.META_BYTES, id)
        if t is bytearray:
            return self._put_contiguous(h, value, fmt.META_BYTEARRAY, id)
        if t is memoryview:
            meta = fmt.memoryview_meta(value)
            return self._put_contiguous(h, value if value.c_contiguous else value.tobytes(), meta, id)
        np = sys.modules.get("numpy")
        if np is not None and t is np.ndarray and fmt.ndarray_storable(value):
            flags = value.flags
            if flags.c_contiguous:
                return self._put_contiguous(h, value, fmt.ndarray_meta(value, "C"), id)
            if flags.f_contiguous:
                # value.T is the same memory, C-contiguous.
                return self._put_contiguous(h, value.T, fmt.ndarray_meta(value, "F"), id)
            return self._put_strided(h, np, value, id)
        return self._put_pickled(h, value, id)

    def _put_contiguous(self, h, data, meta, id):
        src = ffi.from_buffer(data)
        if id is None:
            out = ffi.new("os_object_id *")
            check(lib.os_put_with_meta(h, src, len(src), meta, len(meta), out), "put")
            return ObjectID._from_c(out)
        oid = _check_id(id)
        ptr = self._create(h, oid, len(src), meta)
        try:
            ffi.memmove(ptr, src, len(src))
        except BaseException:
            lib.os_abort(h, oid._ptr())
            raise
        check(lib.os_seal(h, oid._ptr()), "seal")
        return oid

    def _put_strided(self, h, np, arr, id):
        # One copy, straight from the strided array into shared memory.
        meta = fmt.ndarray_meta(arr, "C")

        def fill(ptr):
            dst = np.frombuffer(ffi.buffer(ptr, arr.nbytes), dtype=arr.dtype).reshape(arr.shape)
            np.copyto(dst, arr, casting="no")

        return self._put_filled(h, arr.nbytes, meta, fill, id)

    def _put_pickled(self, h, value, id):
        p = fmt.Pickled(value)
        if not p.buffers:
            return self._put_contiguous(h, p.stream, p.meta, id)

        def fill(ptr):
            ffi.memmove(ptr, p.stream, len(p.stream))
            end = len(p.stream)
            for off, b in zip(p.offsets, p.buffers):
                if off > end:  # zero the padding: no stale bytes from freed objects
                    ffi.memmove(ptr + end, bytes(off - end), off - end)
                ffi.memmove(ptr + off, b, b.nbytes)
                end = off + b.nbytes

        return self._put_filled(h, p.total, p.meta, fill, id)

    def _put_filled(self, h, size, meta, fill, id):
        """create + fill(ptr) + seal, under ``id`` or a fresh ID."""
        if id is not None:
            oid = _check_id(id)
            ptr = self._create(h, oid, size, meta)
        else:
            for attempt in range(8):
                oid = _ids.next()
                try:
                    ptr = self._create(h, oid, size, meta)
                    break
                except ObjectExists:  # someone chose this ID: take the next
                    if attempt == 7:
                        raise
        try:
            fill(ptr)
        except BaseException:
            lib.os_abort(h, oid._ptr())
            raise
        check(lib.os_seal(h, oid._ptr()), "seal")
        return oid

    @staticmethod
    def _create(h, oid, size, meta):
        out = ffi.new("uint8_t **")
        check(lib.os_create(h, oid._ptr(), size, meta, len(meta), out), "create")
        return out[0]

    # ---- create in place

    def create(self, size: int, meta: bytes = b"", *, id: ObjectID | None = None) -> PendingObject:
        """Create an object of ``size`` bytes to fill in place: returns a
        PendingObject whose ``data`` is a writable memoryview; call its
        ``seal()`` (or use it as a context manager) to publish it. ``meta``
        is raw metadata (a get of the object returns its data as a read-only
        memoryview; see ``create_array`` for an object that reads back as a
        numpy array)."""
        size = _non_negative("size", size)
        meta = bytes(meta)
        return self._pending(size, meta, id, None)

    def create_array(self, shape, dtype, order: str = "C", *, id: ObjectID | None = None) -> PendingObject:
        """Create a numpy array in place: returns a PendingObject whose
        ``array`` is a writable ndarray over the shared memory; fill it and
        ``seal()``. A get of the object returns it as a read-only ndarray."""
        import numpy as np

        if order not in ("C", "F"):
            raise ValueError("order must be 'C' or 'F'")
        template = np.empty(0, dtype=dtype)
        if not fmt.ndarray_storable(template):
            raise TypeError(f"cannot store dtype {template.dtype} in place (object or empty dtype)")
        shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        view = np.lib.stride_tricks.as_strided(template, shape=shape, strides=(0,) * len(shape))
        meta = fmt.ndarray_meta(view, order)
        size = template.dtype.itemsize * math.prod(shape)
        return self._pending(size, meta, id, (np, template.dtype, shape, order))

    def _pending(self, size, meta, id, array_spec):
        h = self._handle()
        if id is None:
            for attempt in range(8):
                oid = _ids.next()
                try:
                    ptr = self._create(h, oid, size, meta)
                    break
                except ObjectExists:
                    if attempt == 7:
                        raise
        else:
            oid = _check_id(id)
            ptr = self._create(h, oid, size, meta)
        return PendingObject(h, oid, ptr, size, array_spec)

    # ---- get

    def get(self, refs, timeout: float | None = None):
        """Get one object (an ObjectID) or several (a list or tuple of them).

        Waits for objects not sealed yet: ``timeout`` in seconds, None = for
        ever, 0 = not at all (ObjectNotFound if absent); Timeout when it runs
        out. numpy arrays, memoryviews and buffers inside pickled values are
        read-only zero-copy views of the shared memory; the object stays
        pinned until they are garbage-collected (see ``pinned`` to release
        at a known point). bytes and bytearray values are copies.
        """
        if type(refs) is ObjectID:
            return self._get_one(refs, timeout, None)
        if isinstance(refs, (list, tuple)):
            return self._get_many(refs, timeout, None)
        raise TypeError(f"get() takes an ObjectID or a list of them, not {type(refs).__name__}")

    def pinned(self, refs, timeout: float | None = None) -> Pinned:
        """Like ``get``, as a scope that releases the pins when it ends::

            with store.pinned(ref) as arr:
                total = arr.sum()
            # released here: arr must not be used any more

        (or ``p = store.pinned(ref); p.value; p.release()``)."""
        return Pinned(self, refs, timeout)

    def get_buffer(self, ref: ObjectID, timeout: float | None = None) -> Buffer:
        """Get one object's raw data and metadata, whatever wrote it (C, Go,
        ...): a Buffer with ``data`` (read-only memoryview, zero-copy) and
        ``meta`` (bytes). Released by ``release()``, its scope, or GC."""
        h = self._handle()
        oid = _check_id(ref)
        buf = ffi.new("os_buffer *")
        st = lib.os_get(h, oid._ptr(), 0, buf)
        if st:
            self._wait_one(h, oid, st, _timeout_ms(timeout), buf)
        meta = ffi.buffer(buf.meta, buf.meta_len)[:]
        data, pin = _pinned_view(h, oid, buf.data, buf.data_len, None)
        return Buffer(oid, data, meta, pin)

    def _get_one(self, ref, timeout, pins):
        h = self._h
        if self._pid != _pid or h is None:
            h = self._reattach()
        if type(ref) is not ObjectID:
            _check_id(ref)
        buf = _get_buf()
        st = lib.os_get(h, ref._c or ref._ptr(), 0, buf)  # present: the common case
        if st:
            self._wait_one(h, ref, st, _timeout_ms(timeout), buf)
        return _decode(h, ref, buf.data, buf.data_len, buf.meta, buf.meta_len, pins)

    def _wait_one(self, h, oid, st, ms, buf):
        """After a get without waiting returned ``st``: wait up to ``ms``
        (-1: for ever) in slices, or raise."""
        if st != _NOT_FOUND or ms == 0:
            check(st, "get")
        p = oid._ptr()
        deadline = None if ms < 0 else time.monotonic() + ms / 1000
        step = _WAIT_SLICE_MS if ms < 0 else min(ms, _WAIT_SLICE_MS)
        while True:
            st = lib.os_get(h, p, step, buf)
            if st != _TIMEOUT:
                check(st, "get")
                return
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Timeout(
                        f"get: object {oid.hex()} was not sealed within {ms / 1000:g}s", _TIMEOUT, "OS_TIMEOUT"
                    )
                step = max(1, min(_WAIT_SLICE_MS, math.ceil(left * 1000)))

    def _get_many(self, refs, timeout, pins):
        h = self._handle()
        n = len(refs)
        if n == 0:
            return []
        for r in refs:
            if type(r) is not ObjectID:
                _check_id(r)
        out = ffi.new("os_buffer[]", n)
        self._wait_many(h, refs, _timeout_ms(timeout), out)
        values = []
        i = 0
        try:
            for i in range(n):
                e = out[i]
                values.append(_decode(h, refs[i], e.data, e.data_len, e.meta, e.meta_len, pins))
        except BaseException:
            # Entry i was dealt with by _decode; the ones after it are still
            # pinned and owned by no one.
            for j in range(i + 1, n):
                _release_entry(h, refs[j])
            raise
        return values

    def _wait_many(self, h, refs, ms, out):
        """Fill ``out`` with all of ``refs`` pinned, waiting up to ``ms``
        (-1: for ever) in slices and keeping what was found; on failure
        release what was pinned and raise."""
        n = len(refs)
        ids = ffi.from_buffer("os_object_id[]", b"".join([r._b for r in refs]))
        try:
            st = lib.os_get_many(h, ids, n, 0, out)
            if st == _OK:
                return
            if st != _NOT_FOUND or ms == 0:
                raise error_for(st, "get")
            deadline = None if ms < 0 else time.monotonic() + ms / 1000
            step = _WAIT_SLICE_MS if ms < 0 else min(ms, _WAIT_SLICE_MS)
            while True:
                missing = [i for i in range(n) if out[i].data == ffi.NULL]
                sub_ids = ffi.from_buffer("os_object_id[]", b"".join([refs[i]._b for i in missing]))
                sub = ffi.new("os_buffer[]", len(missing))
                st = lib.os_get_many(h, sub_ids, len(missing), step, sub)
                for j, i in enumerate(missing):
                    if sub[j].data != ffi.NULL:
                        out[i] = sub[j]
                if st == _OK:
                    return
                if st != _TIMEOUT:
                    raise error_for(st, "get")
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        missing = [i for i in missing if out[i].data == ffi.NULL]
                        raise Timeout(
                            f"get: {len(missing)} of {n} objects (the first {refs[missing[0]].hex()}) "
                            f"were not sealed within {ms / 1000:g}s",
                            _TIMEOUT,
                            "OS_TIMEOUT",
                        )
                    step = max(1, min(_WAIT_SLICE_MS, math.ceil(left * 1000)))
        except BaseException:
            for i in range(n):
                if out[i].data != ffi.NULL:
                    _release_entry(h, refs[i])
            raise

    # ---- the rest

    def delete(self, refs) -> None:
        """Delete one object or a list of them. A deleted object disappears
        at once; its memory is freed when the last pin (value) is released.
        For a list, every ID is tried and the first error is raised after."""
        h = self._handle()
        if type(refs) is ObjectID:
            check(lib.os_delete(h, refs._ptr()), "delete")
            return
        if not isinstance(refs, (list, tuple)):
            raise TypeError(f"delete() takes an ObjectID or a list of them, not {type(refs).__name__}")
        first = None
        for r in refs:
            st = lib.os_delete(h, _check_id(r)._ptr())
            if st and first is None:
                first = error_for(st, "delete")
        if first is not None:
            raise first

    def contains(self, ref: ObjectID) -> bool:
        """Whether a sealed object with this ID is in the store (in memory
        or spilled). Does not pin it."""
        h = self._handle()
        out = ffi.new("bool *")
        check(lib.os_contains(h, _check_id(ref)._ptr(), out), "contains")
        return bool(out[0])

    def __contains__(self, ref) -> bool:
        return type(ref) is ObjectID and self.contains(ref)

    def stats(self) -> StoreStats:
        """The store's counters (os_store_stats)."""
        h = self._handle()
        out = ffi.new("os_store_stats *")
        out.struct_size = ffi.sizeof("os_store_stats")
        check(lib.os_stats(h, out), "stats")
        return StoreStats(*(getattr(out, f) for f in StoreStats._fields))

    def objects(self, batch: int = 1024):
        """Iterate over the store's objects (ObjectInfo records). A scan, not
        a snapshot: objects put or deleted meanwhile may or may not appear."""
        h = self._handle()
        cursor = ffi.new("uint64_t *", 0)
        out = ffi.new("os_object_info[]", batch)
        count = ffi.new("size_t *")
        fields = ObjectInfo._fields
        while cursor[0] != lib.OS_LIST_END:
            # Each call: the library leaves its own size in the entries.
            out[0].struct_size = ffi.sizeof("os_object_info")
            check(lib.os_list(h, cursor, out, batch, count), "list")
            for i in range(count[0]):
                e = out[i]
                rec = {f: getattr(e, f) for f in fields if f not in ("id", "state")}
                rec["id"] = ObjectID._from_bytes(ffi.buffer(ffi.addressof(e, "id"))[:])
                rec["state"] = _STATE_NAMES.get(e.state, str(e.state))
                yield ObjectInfo(**rec)

    def collect(self) -> None:
        """Reclaim what dead processes held now (attaches and allocations
        under pressure do it too)."""
        check(lib.os_collect(self._handle()), "collect")


# --------------------------------------------------------------- decoding


def _decode(h, oid, data, data_len, meta_ptr, meta_len, pins):
    """Turn a pinned object into its value. Consumes the pin: releases it at
    once for copies and on error, else hands it to the value's views."""
    try:
        meta = ffi.buffer(meta_ptr, meta_len)[:] if meta_len else b""
        info = fmt.parse(meta, data_len)
        kind = info[0]
        if kind == fmt.KIND_BYTES:
            value = ffi.buffer(data, data_len)[:]
        elif kind == fmt.KIND_BYTEARRAY:
            value = bytearray(ffi.buffer(data, data_len))
        else:
            value = None
    except BaseException:
        _release_entry(h, oid)
        raise
    if value is not None:
        _release_entry(h, oid)
        return value
    view, pin = _pinned_view(h, oid, data, data_len, pins)
    if kind == fmt.KIND_FOREIGN:
        return view
    try:
        if kind == fmt.KIND_NDARRAY:
            _, dtype, shape, order = info
            np = sys.modules.get("numpy") or fmt._numpy()
            # frombuffer keeps the read-only memoryview as the array's base
            # (np.ndarray(buffer=) would skip to the writable exporter, and
            # the WRITEABLE flag could be turned back on). parse() checked
            # that the shape fills the data exactly; numpy's own limits
            # (dimensions, sizes) are checked here.
            try:
                a = np.frombuffer(view, dtype=dtype)
                return a if len(shape) == 1 else a.reshape(shape, order=order)
            except (ValueError, TypeError) as e:
                raise fmt._corrupt(f"array of {dtype}, shape {shape} cannot be rebuilt ({e})") from None
        if kind == fmt.KIND_MEMORYVIEW:
            _, f, shape = info
            try:
                return view if (f == "B" and len(shape) == 1) else view.cast(f, shape)
            except (ValueError, TypeError) as e:
                raise fmt._corrupt(f"memoryview of format {f!r}, shape {shape} cannot be rebuilt ({e})") from None
        # KIND_PICKLE5
        _, plen, table = info
        return pickle.loads(view[:plen], buffers=[view[o : o + n] for o, n in table])
    except BaseException:
        # Nothing escaped (but the traceback): release now rather than at GC.
        pin.release()
        raise


# --------------------------------------------------------------- handed out


class _Creation:
    """The state of one created, unsealed object. Its ``_on_gc`` is the
    destructor of the pointer that every writable view hangs on: an object
    dropped unsealed is aborted only once no view of its memory is left, so
    a view kept after its PendingObject is gone never writes to freed
    memory. It also keeps the handle (and so the mapping) alive."""

    __slots__ = ("h", "oid", "pid", "todo")

    def __init__(self, h, oid):
        self.h = h
        self.oid = oid
        self.pid = _pid
        self.todo = [True]  # popped by the one seal, abort or GC abort

    def take(self) -> bool:
        try:
            return self.todo.pop()
        except IndexError:
            return False

    def _on_gc(self, _ptr):
        try:
            if self.pid == _pid and self.take():
                lib.os_abort(self.h, self.oid._ptr())
        except Exception:  # a finaliser must not raise
            pass


class PendingObject:
    """An object created in place, not yet sealed (``Store.create``,
    ``Store.create_array``).

    ``data`` is a writable memoryview of its bytes (``array`` a writable
    ndarray over them, for create_array). Fill it, then ``seal()`` to publish
    the object (it is then immutable: do not write through views kept from
    ``data``/``array``), or ``abort()`` to drop it (then do not write at
    all). As a context manager it seals on success and aborts on an
    exception. Dropped unsealed, it is aborted once no view of it is left.
    """

    __slots__ = ("id", "data", "array", "_c")

    def __init__(self, h, oid, ptr, size, array_spec):
        self.id = oid
        self._c = _Creation(h, oid)
        self.data = memoryview(ffi.buffer(ffi.gc(ptr, self._c._on_gc), size))
        self.array = None
        if array_spec is not None:
            np, dtype, shape, order = array_spec
            self.array = np.frombuffer(self.data, dtype=dtype).reshape(shape, order=order)

    def _finish(self, seal: bool):
        c = self._c
        if c.pid != _pid:
            raise InvalidArgument(f"object {self.id.hex()} was created by another process (before a fork)")
        if not c.take():
            raise InvalidArgument(f"object {self.id.hex()} is already sealed or aborted")
        if self.array is not None:
            self.array.flags.writeable = False
        try:
            self.data.release()
        except BufferError:  # views of it are still alive; nothing to do
            pass
        op = lib.os_seal if seal else lib.os_abort
        check(op(c.h, self.id._ptr()), "seal" if seal else "abort")

    def seal(self) -> ObjectID:
        """Publish the object (visible to gets, immutable). Returns its ID."""
        self._finish(True)
        return self.id

    def abort(self) -> None:
        """Drop the object; its memory is freed and its ID free again."""
        self._finish(False)

    @property
    def sealed(self) -> bool:
        """True once sealed or aborted."""
        return not self._c.todo

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._c.todo:
            self._finish(exc_type is None)

    def __repr__(self):
        return f"<PendingObject {self.id!r} {'open' if self._c.todo else 'finished'}>"


class Buffer:
    """An object's raw data (read-only memoryview over the shared memory)
    and metadata (bytes), pinned until ``release()``, the end of its ``with``
    block, or garbage collection of every view of ``data``."""

    __slots__ = ("id", "data", "meta", "_pin")

    def __init__(self, oid, data, meta, pin):
        self.id = oid
        self.data = data
        self.meta = meta
        self._pin = pin

    def release(self) -> None:
        """Release the pin now. ``data`` (and views of it) must not be used
        afterwards. Idempotent."""
        self._pin.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return f"<Buffer {self.id!r} data={self.data.nbytes} meta={len(self.meta)} bytes>"


class Pinned:
    """A get as a scope (``Store.pinned``): ``value`` is what ``get`` would
    return; ``release()`` — or leaving the ``with`` block — releases the pins
    at once instead of at garbage collection. The value must not be used
    after that (its memory may be reused once the object is deleted)."""

    __slots__ = ("value", "_pins")

    def __init__(self, store, refs, timeout):
        self._pins = []
        if type(refs) is ObjectID:
            self.value = store._get_one(refs, timeout, self._pins)
        elif isinstance(refs, (list, tuple)):
            self.value = store._get_many(refs, timeout, self._pins)
        else:
            raise TypeError(f"pinned() takes an ObjectID or a list of them, not {type(refs).__name__}")

    def release(self) -> None:
        pins, self._pins = self._pins, []
        self.value = None
        for p in pins:
            p.release()

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        self.release()
