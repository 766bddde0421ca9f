"""Store, ObjectID and the objects a get or create hands out.

The operations are the native module's (objstore._objstore.StoreCore, the
base class of Store, in Rust over the core's Store API); this module adds
the arguments, the scopes and the records around them.

Lifetimes, in one place (the native module implements them):

- A Store holds one attachment (handle) to the store; every value from a
  get that views shared memory holds it too. So closing a Store while
  arrays from it are alive detaches only when they are gone: their memory
  stays mapped while they can be read, and no view ever dangles.
- A get of a zero-copy value (ndarray, memoryview, torch tensor, pickled
  value with buffers) pins the object once; every view of the value hangs
  on an exporter that holds the pin, which is released when the last view
  is garbage-collected, or earlier by an explicit release (``Pinned``,
  ``Buffer``), whichever comes first (once).
- Values that are copies (bytes, bytearray) are released at once.
- ``put`` returns an ObjectRef (an ObjectID holding one reference, as a Ray
  ObjectRef; rust/refs.rs has the design): the object, put
  OBJECT_REFCOUNTED, is freed when the last ObjectRef of it in every
  process is garbage-collected. Each ObjectRef owns one reference of the
  Store's handle, so copies of an ID never double-count; a pickled
  ObjectRef carries a ticket (one more reference), taken once when it is
  unpickled. ``put(value, refcounted=False)`` returns a plain ObjectID,
  whose object stays until ``delete``. An ObjectRef holds the handle, as
  a value does (closing the Store detaches when the ObjectRefs made
  through it are gone too); one inherited through a fork is the parent's
  reference, not the child's.
- A handle belongs to the process that opened it. After a fork the child's
  first call re-attaches by name; pins inherited from the parent are the
  parent's, and the child never releases them (the parent does, or reclaim
  after its death).
"""

from __future__ import annotations

import math
import os
import time
import types
import weakref
from typing import (
    Any,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    NamedTuple,
    Sequence,
    TypeVar,
    Union,
    overload,
)

from . import _aio
from . import _format as fmt
from . import _objstore
from ._objstore import ObjectID, ObjectRef, StoreCore
from .errors import InvalidArgument, StoreNotFound, Timeout

__all__ = [
    "ObjectID",
    "ObjectRef",
    "Store",
    "StoreStats",
    "ObjectInfo",
    "ProcessInfo",
    "PendingObject",
    "Buffer",
    "Pinned",
    "destroy",
]

# Flags a re-attach keeps (the C API's OS_OPEN_* values).
_PREFAULT, _HUGEPAGES, _ANY_OWNER = 4, 8, 16

Refs = Union[ObjectID, Sequence[ObjectID]]
# The references as_completed hands back: those it was given.
_R = TypeVar("_R", bound=ObjectID)


# --------------------------------------------------------------- records


class StoreStats(NamedTuple):
    """A store's counters (``os_store_stats`` in objstore.h, with the spill
    totals)."""

    capacity_bytes: int
    used_bytes: int
    object_count: int
    unsealed_count: int
    pinned_count: int
    spilled_count: int
    spilled_bytes: int
    max_objects: int
    attached_processes: int
    max_processes: int
    reclaimed_processes: int
    spills_total: int
    restores_total: int
    publishes_total: int
    published_bytes: int
    fetches_total: int
    fetched_bytes: int
    references: int
    """References held: one per process and object it holds references to."""
    referenced_count: int
    """Objects with at least one reference."""
    tickets: int
    """Tickets given (pickled ObjectRefs, ``give_ref``) and not taken yet."""
    evictions_total: int
    """OBJECT_EVICTABLE objects deleted to make room so far."""


class ProcessInfo(NamedTuple):
    """A process attached to a store (``os_process_info`` in objstore.h):
    its slot in the store's process table and its pid."""

    slot: int
    pid: int


class ObjectInfo(NamedTuple):
    """One object of Store.objects() (``os_object_info`` in objstore.h), with
    ``id`` an ObjectID and ``state`` a name ('unsealed', 'sealed',
    'deleted', 'spilled')."""

    id: ObjectID
    data_len: int
    meta_len: int
    state: str
    pinning_processes: int
    created_unix: int
    #: Processes holding at least one reference (a ticket not taken yet
    #: counts for its giver).
    referencing_processes: int
    #: The flags it was put with: OBJECT_REFCOUNTED, OBJECT_EVICTABLE.
    flags: int


# --------------------------------------------------------------- helpers


def _non_negative(name: str, value: Any) -> int:
    if value is None:
        return 0
    n = int(value)
    if n < 0:
        raise InvalidArgument(f"{name} must be >= 0, not {n}")
    return n


def _store_name(name: Any) -> str:
    text: str = os.fsdecode(name)
    if "\0" in text:
        raise InvalidArgument(f"store name contains a NUL character: {text!r}")
    # A path stays valid for other processes (and after a chdir).
    return os.path.abspath(text) if "/" in text else text


# This process's open Stores by name (weak), and those it attached to by
# unpickling (strong: a multiprocessing worker receives the Store with every
# task, and should attach once, not once per task).
_registry: weakref.WeakValueDictionary[str, Store] = weakref.WeakValueDictionary()
_unpickled: dict[str, Store] = {}


def _attach(name: str, flags: int) -> Store:
    """Unpickle a Store (e.g. in a multiprocessing worker): this process's
    open Store of that name if there is one, else a new attachment."""
    s = _registry.get(name)
    if s is not None and not s.closed:
        return s
    s = _unpickled.get(name)
    if s is not None and not s.closed:
        return s
    s = _unpickled[name] = Store(
        name,
        attach_only=True,
        prefault=bool(flags & _PREFAULT),
        hugepages=bool(flags & _HUGEPAGES),
        any_owner=bool(flags & _ANY_OWNER),
    )
    return s


# The process that set up `_linger_at_exit` (a fork child sets up its own:
# multiprocessing clears a child's inherited finalizers).
_linger_pid = 0


def _set_up_linger_at_exit() -> None:
    """Called by the native module when this process gives its first
    ticket: at exit, wait for its tickets to be taken (see
    ``_linger_at_exit``). A multiprocessing finalizer, which runs at the
    interpreter's exit and also when a multiprocessing child ends (it ends
    with ``os._exit``, which runs no ``atexit`` handler)."""
    global _linger_pid
    if _linger_pid == os.getpid():
        return
    from multiprocessing import util

    util.Finalize(None, _linger_at_exit, exitpriority=10)
    _linger_pid = os.getpid()


def _linger_at_exit() -> None:
    """Wait, for each open Store of this process, up to its
    ``ticket_linger`` for the tickets this process gave (references it
    pickled) to be taken. An exiting process does not detach (its stores
    stay open until the end), so the core's wait at detach does not run:
    its tickets would go when a survivor reclaims its slot, which a pool's
    next worker does as it attaches, perhaps before the parent has
    unpickled the result that carried them."""
    seen: set[str] = set()
    for s in [*_registry.values(), *_unpickled.values()]:
        if s.closed or s.name in seen:
            continue
        seen.add(s.name)
        try:
            if s.tickets_outstanding():
                s.wait_tickets_taken(s._ticket_linger)
        except Exception:  # timed out, or the store is gone: nothing to save
            pass


def destroy(name: str | os.PathLike[str], missing_ok: bool = False) -> None:
    """Remove the store ``name`` (its file and its spill files). Processes
    still attached keep working on their mapping until they close it.
    Raises StoreNotFound (an ObjectNotFound) if there is no such store,
    unless ``missing_ok``."""
    try:
        _objstore._destroy(_store_name(name))
    except StoreNotFound:
        if not missing_ok:
            raise


# --------------------------------------------------------------- Store


class _CreateDescriptor:
    """``Store.create(name, capacity=None, **options)`` creates a store (or
    attaches to it if it exists, unless ``exist_ok=False``);
    ``store.create(size, meta=b"", *, id=None)`` creates an object in place.
    The one name serves both: on the class it is the first, on a Store the
    second."""

    @overload
    def __get__(self, obj: None, objtype: type[Store]) -> Callable[..., Store]: ...

    @overload
    def __get__(self, obj: Store, objtype: type[Store] | None = None) -> Callable[..., PendingObject]: ...

    def __get__(self, obj: Store | None, objtype: type[Store] | None = None) -> Callable[..., Any]:
        if obj is None:
            assert objtype is not None
            return types.MethodType(_create_store, objtype)
        return types.MethodType(_create_object, obj)


def _create_store(
    cls: type[Store], name: str | os.PathLike[str], capacity: int | None = None, *, exist_ok: bool = True, **options: Any
) -> Store:
    """Create the store ``name`` with ``capacity`` bytes for objects (default:
    25% of RAM, capped by free space), or attach to it if it exists
    (``exist_ok=False``: ObjectExists instead). Options as for Store()."""
    return cls(name, capacity, create=True, create_only=not exist_ok, **options)


def _create_object(
    self: Store, size: int, meta: bytes = b"", *, id: ObjectID | None = None, flags: int = 0
) -> PendingObject:
    """Create an object of ``size`` bytes to fill in place: returns a
    PendingObject whose ``data`` is a writable memoryview; call its
    ``seal()`` (or use it as a context manager) to publish it. ``meta`` is
    raw metadata (a get of the object returns its data as a read-only
    memoryview; see ``create_array`` for an object that reads back as a
    numpy array). ``flags`` as for ``put``."""
    size = _non_negative("size", size)
    oid, creation = self._create(size, bytes(meta), id, flags)
    return PendingObject(oid, creation, None)


class Store(StoreCore):
    """A shared-memory object store.

    ``Store(name)`` attaches to an existing store: StoreNotFound (an
    ObjectNotFound and a FileNotFoundError) at once if there is none, so a
    mistyped name fails loudly. Creating takes an explicit sign:
    ``Store.create(name, capacity=...)``, or ``capacity=`` or
    ``create=True`` given to Store (which then create the store if absent,
    else attach to it).

    Arguments (all but ``name`` optional; the sizes matter only when the
    store is created, an existing store keeps its own):

    - ``name``: a store name (the file /dev/shm/NAME) or a path containing
      '/' (made absolute).
    - ``capacity``: bytes for objects (default: 25% of RAM, capped by free
      space); giving it means "create if absent".
    - ``create``: create the store if absent (with the default capacity
      unless ``capacity`` is given).
    - ``max_objects``, ``max_processes``: table sizes (defaults from the library).
    - ``spill_dir``: directory for spilling under memory pressure (default
      none: a full store raises StoreFull); fixed at creation.
    - ``mode``: file mode of a new store (default 0o600).
    - ``create_only`` / ``attach_only``: fail if the store exists / does not.
    - ``prefault``: map and reserve the whole store now; ``hugepages``:
      transparent huge pages; ``any_owner``: attach to a store of another
      user (a store shared by a group).
    - ``remote_url``: the remote tier, fixed at creation:
      ``"s3://bucket/prefix"`` (also ``"file:///dir"``), credentials and
      endpoint from the AWS_* environment. A get of an ID not in the store
      fetches it from there; ``publish(ref)`` puts an object there.
    - ``ticket_linger``: seconds this process, when it detaches from the
      store or exits, waits for the references it pickled (tickets) to be
      unpickled (taken) before they go with it (default
      ``objstore.TICKET_LINGER``, 5 s; 0: not at all). A pool's worker that returns
      an ObjectRef and exits at once (``maxtasksperchild``) would otherwise
      drop it, and the object, before the parent unpickles the result.
      The wait ends as soon as every ticket is taken.

    Usable from many threads. Picklable (by name), so multiprocessing workers
    receive it and attach; a process forked from one that uses it
    re-attaches by itself on its first call. Use it as a context manager or
    call ``close()``.
    """

    name: str
    _flags: int
    _ticket_linger: float

    create = _CreateDescriptor()

    def __init__(
        self,
        name: str | os.PathLike[str],
        capacity: int | None = None,
        *,
        create: bool = False,
        max_objects: int | None = None,
        max_processes: int | None = None,
        spill_dir: str | os.PathLike[str] | None = None,
        mode: int | None = None,
        create_only: bool = False,
        attach_only: bool = False,
        prefault: bool = False,
        hugepages: bool = False,
        any_owner: bool = False,
        remote_url: str | None = None,
        ticket_linger: float | None = None,
    ) -> None:
        self.name = _store_name(name)
        if ticket_linger is None:
            import objstore

            ticket_linger = objstore.TICKET_LINGER
        if not (isinstance(ticket_linger, (int, float)) and 0 <= ticket_linger < math.inf):
            raise InvalidArgument(f"ticket_linger must be a number of seconds >= 0, not {ticket_linger!r}")
        self._ticket_linger = float(ticket_linger)
        if create_only and attach_only:
            raise InvalidArgument("create_only and attach_only exclude each other")
        creating = create or create_only or capacity is not None
        self._flags = (_PREFAULT if prefault else 0) | (_HUGEPAGES if hugepages else 0) | (_ANY_OWNER if any_owner else 0)
        self._open(
            self.name,
            capacity=_non_negative("capacity", capacity),
            max_objects=_non_negative("max_objects", max_objects),
            max_processes=_non_negative("max_processes", max_processes),
            spill_dir=None if spill_dir is None else os.fsdecode(spill_dir),
            mode=_non_negative("mode", mode),
            create_only=create_only,
            attach_only=attach_only or not creating,
            prefault=prefault,
            hugepages=hugepages,
            any_owner=any_owner,
            remote_url=remote_url,
            ticket_linger=self._ticket_linger,
        )
        _registry[self.name] = self

    @classmethod
    def open(cls, name: str | os.PathLike[str], **options: Any) -> Store:
        """Attach to the existing store ``name`` (StoreNotFound if there is
        none): the same as ``Store(name)``."""
        return cls(name, attach_only=True, **options)

    # ---- lifecycle

    def close(self) -> None:
        """Close this Store. Further calls raise StoreClosed. The process
        detaches when no value from this Store is alive any more (values
        from gets keep the memory they view mapped). Idempotent."""
        _aio.close(self)
        self._close()
        if _registry.get(self.name) is self:
            del _registry[self.name]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Callable[[str, int], Store], tuple[str, int]]:
        if self.closed:
            from .errors import StoreClosed

            raise StoreClosed(f"store {self.name!r} is closed")
        return (_attach, (self.name, self._flags))

    def __repr__(self) -> str:
        return f"Store({self.name!r}{', closed' if self.closed else ''})"

    def destroy(self) -> None:
        """Close this Store and remove the store's files (see ``destroy``)."""
        self.close()
        destroy(self.name, missing_ok=True)

    # ---- create in place

    def create_array(
        self, shape: int | Sequence[int], dtype: Any, order: str = "C", *, id: ObjectID | None = None
    ) -> PendingObject:
        """Create a numpy array in place: returns a PendingObject whose
        ``array`` is a writable ndarray over the shared memory; fill it and
        ``seal()``. A get of the object returns it as a read-only ndarray."""
        import numpy as np

        if order not in ("C", "F"):
            raise ValueError("order must be 'C' or 'F'")
        template = np.empty(0, dtype=dtype)
        if not fmt.ndarray_storable(template):
            raise TypeError(f"cannot store dtype {template.dtype} in place (object or empty dtype)")
        shp = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        view = np.lib.stride_tricks.as_strided(template, shape=shp, strides=(0,) * len(shp))
        meta = fmt.ndarray_meta(view, order)
        size = template.dtype.itemsize * math.prod(shp)
        oid, creation = self._create(size, meta, id)
        return PendingObject(oid, creation, (np, template.dtype, shp, order))

    # ---- get

    def pinned(self, refs: Refs, timeout: float | None = None) -> Pinned:
        """Like ``get``, as a scope that releases the pins when it ends::

            with store.pinned(ref) as arr:
                total = arr.sum()
            # released here: arr must not be used any more

        (or ``p = store.pinned(ref); p.value; p.release()``)."""
        return Pinned(self, refs, timeout)

    def get_async(self, refs: Refs, timeout: float | None = None) -> Coroutine[Any, Any, Any]:
        """``get`` for asyncio: ``value = await store.get_async(ref)`` (or a
        list of IDs) waits without blocking the event loop until the objects
        are sealed, then gets them; ``timeout`` in seconds (None: for ever)
        raises Timeout when it runs out. No polling and no thread per await:
        one thread per open Store waits for any of the awaited objects (see
        objstore._aio). ``await ref`` on an ObjectRef is the same."""
        return _aio.get(self, refs, timeout)

    def get_buffer(self, ref: ObjectID, timeout: float | None = None) -> Buffer:
        """Get one object's raw data and metadata, whatever wrote it (C, Go,
        ...): a Buffer with ``data`` (read-only memoryview, zero-copy) and
        ``meta`` (bytes). Released by ``release()``, its scope, or GC."""
        data, meta, pin = self._get_buffer(ref, timeout)
        return Buffer(ref, data, meta, pin)

    # ---- wait

    def as_completed(
        self, refs: Iterable[_R], timeout: float | None = None, *, canceller: _objstore.Canceller | None = None
    ) -> Generator[_R, None, None]:
        """The references ``refs`` (ObjectIDs of this store), each once, in
        the order their objects are sealed, as ``concurrent.futures``'
        ``as_completed`` yields futures: those sealed already first, in
        the order given::

            for ref in store.as_completed(refs):
                use(store.get(ref))

        It yields the very objects given (an ObjectRef stays one) and gets
        no value, pins nothing. An ID given twice is yielded once (the first
        object that gave it), as ``concurrent.futures.as_completed`` does.

        A wait set (``os_wait_set_new``): the references are looked up
        once, when this is called, and each wait after looks only at what
        was sealed since the last, so taking N results costs O(N) in all,
        where a ``while pending: ready, pending = store.wait(pending)`` loop
        looks at every pending reference on every call (O(N²)).

        ``timeout`` (seconds from this call; None: for ever): when it has
        passed and no object not yielded yet is sealed, the next step raises
        Timeout (a TimeoutError). Ctrl-C interrupts a wait at once
        (KeyboardInterrupt), and so does ``canceller`` (a Canceller) from
        another thread (Cancelled); the wait runs without the GIL. An
        object deleted before it was sealed (or before this call) is never
        yielded; one deleted after may be (a get then raises
        ObjectNotFound).

        The set is freed when the generator ends, is closed (``close()``,
        or leaving a ``for`` loop by ``break`` and dropping it) or is
        garbage-collected; while any set exists, the store's sealers log
        their seals for it. It keeps working if this Store is closed."""
        deadline = None if timeout is None else time.monotonic() + _seconds(timeout)
        if canceller is not None and not isinstance(canceller, _objstore.Canceller):
            raise TypeError(f"canceller must be an objstore.Canceller, not {type(canceller).__name__}")
        return _completed(self._wait_set(refs), timeout, deadline, canceller)

    # ---- the rest
    # ---- the rest

    def stats(self) -> StoreStats:
        """The store's counters."""
        return StoreStats(*self._stats())

    def objects(self, batch: int = 1024) -> Iterator[ObjectInfo]:
        """Iterate over the store's objects (ObjectInfo records). A scan, not
        a snapshot: objects put or deleted meanwhile may or may not appear."""
        cursor: int | None = 0
        while cursor is not None:
            infos, cursor = self._list_from(cursor, batch)
            for rec in infos:
                yield ObjectInfo(*rec)

    def processes(self) -> list[ProcessInfo]:
        """The live processes attached to the store (this one included)."""
        return [ProcessInfo(*p) for p in self._processes()]

    def pin_holders(self, ref: ObjectID) -> list[ProcessInfo]:
        """The live processes that pin the object ``ref`` now (it is sealed,
        or deleted but still pinned); ObjectNotFound if there is no such
        object."""
        return [ProcessInfo(*p) for p in self._pin_holders(ref)]


def _seconds(timeout: Any) -> float:
    """A timeout in seconds, checked (>= 0; inf: for ever)."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {type(timeout).__name__}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be None or >= 0 seconds, not {timeout!r}")
    return float(timeout)


def _completed(
    wait_set: _objstore.WaitSet, timeout: float | None, deadline: float | None, canceller: _objstore.Canceller | None
) -> Generator[Any, None, None]:
    """Store.as_completed's generator over a WaitSet, which it frees when
    it ends, is closed or is collected."""
    try:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                batch = wait_set.next(None, left, canceller)
            except Timeout as e:
                raise Timeout(
                    f"as_completed: {wait_set.remaining} of {len(wait_set)} objects were not sealed within {timeout}s",
                    e.status,
                    e.status_name,
                ) from None
            if not batch:
                return
            yield from batch
    finally:
        wait_set.close()


# --------------------------------------------------------------- handed out


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

    def __init__(self, oid: ObjectID, creation: Any, array_spec: Any) -> None:
        self.id = oid
        self._c = creation
        self.data: memoryview = creation.memoryview()
        self.array: Any = None
        if array_spec is not None:
            np, dtype, shape, order = array_spec
            self.array = np.frombuffer(self.data, dtype=dtype).reshape(shape, order=order)

    def _finish(self, seal: bool) -> None:
        self._c.take()  # InvalidArgument if sealed or aborted, or a fork child
        if self.array is not None:
            self.array.flags.writeable = False
        try:
            self.data.release()
        except BufferError:  # views of it are still alive; nothing to do
            pass
        self._c.finish(seal)

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
        return not self._c.open

    def __enter__(self) -> PendingObject:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._c.open:
            self._finish(exc_type is None)

    def __repr__(self) -> str:
        return f"<PendingObject {self.id!r} {'open' if self._c.open else 'finished'}>"


class Buffer:
    """An object's raw data (read-only memoryview over the shared memory)
    and metadata (bytes), pinned until ``release()``, the end of its ``with``
    block, or garbage collection of every view of ``data``."""

    __slots__ = ("id", "data", "meta", "_pin")

    def __init__(self, oid: ObjectID, data: memoryview, meta: bytes, pin: Any) -> None:
        self.id = oid
        self.data = data
        self.meta = meta
        self._pin = pin

    def release(self) -> None:
        """Release the pin now. ``data`` (and views of it) must not be used
        afterwards. Idempotent."""
        self._pin.release()

    def __enter__(self) -> Buffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<Buffer {self.id!r} data={self.data.nbytes} meta={len(self.meta)} bytes>"


class Pinned:
    """A get as a scope (``Store.pinned``): ``value`` is what ``get`` would
    return; ``release()`` — or leaving the ``with`` block — releases the pins
    at once instead of at garbage collection. The value must not be used
    after that (its memory may be reused once the object is deleted)."""

    __slots__ = ("value", "_pins")

    def __init__(self, store: Store, refs: Refs, timeout: float | None) -> None:
        self._pins: list[Any] = []
        if not isinstance(refs, (ObjectID, list, tuple)):
            raise TypeError(f"pinned() takes an ObjectID or a list of them, not {type(refs).__name__}")
        self.value: Any = store._get(refs, timeout, self._pins)

    def release(self) -> None:
        pins, self._pins = self._pins, []
        self.value = None
        for p in pins:
            p.release()

    def __enter__(self) -> Any:
        return self.value

    def __exit__(self, *exc: object) -> None:
        self.release()
