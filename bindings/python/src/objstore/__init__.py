"""objstore: a shared-memory object store, from Python.

Processes on one machine open the same store by name; one puts a value and
gets an ObjectRef (an ObjectID that keeps the object alive, as in Ray), any
other gets the value back by that ID, numpy arrays and torch tensors as
zero-copy read-only views of the shared memory::

    import numpy as np, objstore

    with objstore.Store.create("demo", capacity=1 << 30) as store:
        ref = store.put(np.arange(10.0))
        arr = store.get(ref)          # read-only view, no copy

    # another process: objstore.Store("demo") attaches (StoreNotFound if absent)

The distribution is ``objstore-shm`` (``pip install objstore-shm``); the
import name is ``objstore``. The native module (objstore._objstore) is
PyO3 over the Rust core; see the package README for the value format and
the lifetime rules.
"""

from __future__ import annotations

import types as _types
from typing import Any, Generator, Iterable, Sequence, TypeVar

from . import _objstore
from ._format import VERSION as FORMAT_VERSION  # noqa: F401
from ._serial import deregister_serializer as deregister_serializer
from ._serial import register_serializer as register_serializer
from ._objstore import Canceller as Canceller
from ._objstore import OBJECT_EVICTABLE as OBJECT_EVICTABLE
from ._objstore import OBJECT_REFCOUNTED as OBJECT_REFCOUNTED
from ._store import (
    Buffer as Buffer,
    ObjectID as ObjectID,
    ObjectRef as ObjectRef,
    ObjectInfo as ObjectInfo,
    ProcessInfo as ProcessInfo,
    PendingObject as PendingObject,
    Pinned as Pinned,
    Store as Store,
    StoreStats as StoreStats,
    destroy as destroy,
)
from ._store import _seconds
from .errors import (
    ObjectStoreError as ObjectStoreError,
    InvalidArgument as InvalidArgument,
    ObjectNotFound as ObjectNotFound,
    StoreNotFound as StoreNotFound,
    ObjectExists as ObjectExists,
    StoreFull as StoreFull,
    ObjectTooLarge as ObjectTooLarge,
    Timeout as Timeout,
    NotSealed as NotSealed,
    IncompatibleStore as IncompatibleStore,
    CorruptObject as CorruptObject,
    StoreIOError as StoreIOError,
    PermissionDenied as PermissionDenied,
    TooManyProcesses as TooManyProcesses,
    Cancelled as Cancelled,
    InternalError as InternalError,
    StoreClosed as StoreClosed,
)

__version__: str = _objstore.PACKAGE_VERSION

# The references as_completed hands back: those it was given.
_R = TypeVar("_R", bound=ObjectID)

#: Seconds a pickle of an ObjectRef waits for room for its ticket. Tickets
#: outstanding (pickled, not yet unpickled) live in a table of the store
#: with an entry per 32 object slots (at least 256); a pickler that finds it
#: full waits for unpicklers to take some, and raises StoreFull if none is
#: taken for this long.
TICKET_ROOM_TIMEOUT: float = 60.0

#: Default of ``Store(ticket_linger=...)``: seconds a process that detaches
#: from a store, or exits, waits for the references it pickled to be
#: unpickled elsewhere (their tickets taken), so that they, and the objects
#: they alone keep, do not go with it: a pool's worker returning an
#: ObjectRef and exiting at once (``maxtasksperchild``). The wait ends as
#: soon as every ticket is taken; one never unpickled costs this much at
#: exit.
TICKET_LINGER: float = 5.0


def make_version(major: int, minor: int, patch: int) -> int:
    """The number of a version, ``major * 1000000 + minor * 1000 + patch``
    (``OS_MAKE_VERSION`` in C), so that versions compare as integers."""
    if not (0 <= minor < 1000 and 0 <= patch < 1000 and 0 <= major < 4000):
        raise InvalidArgument(f"version {major}.{minor}.{patch}: a component out of range")
    return major * 1_000_000 + minor * 1_000 + patch


def _version_number(text: str) -> int:
    major, minor, patch = (int(part) for part in text.split("+")[0].split("-")[0].split(".")[:3])
    return make_version(major, minor, patch)


# The version of this package's API (``OS_VERSION_*`` in C: what a program
# was written against), from the package's version.
VERSION_STRING: str = __version__
VERSION_NUMBER: int = _version_number(__version__)
VERSION_MAJOR: int = VERSION_NUMBER // 1_000_000
VERSION_MINOR: int = VERSION_NUMBER // 1_000 % 1_000
VERSION_PATCH: int = VERSION_NUMBER % 1_000


def library_version() -> str:
    """The version of the objstore core this package was built with
    (``os_version``)."""
    return _objstore.VERSION


def library_version_number() -> int:
    """The core's version as a number (``os_version_number``)."""
    return _version_number(_objstore.VERSION)


def check_version(required: int = VERSION_NUMBER) -> None:
    """Check that this objstore serves code written for version number
    ``required`` (``make_version(0, 2, 0)``, say; by default the package's
    own): the core must be at least as new and of the same major version,
    or for 0.x of the same minor (Cargo's reading of semantic versions), as
    ``os_check_version`` rules. Raises IncompatibleStore (the class of
    ``OS_INCOMPATIBLE``) naming both versions otherwise."""
    have = library_version_number()
    req = int(required)
    if req < 0:
        raise InvalidArgument(f"version number {req} is negative")
    same_series = (have // 1_000_000 == req // 1_000_000) and (have >= 1_000_000 or have // 1_000 == req // 1_000)
    if not same_series or have < req:
        want = f"{req // 1_000_000}.{req // 1_000 % 1_000}.{req % 1_000}"
        raise IncompatibleStore(
            f"objstore {_objstore.VERSION} cannot serve code written for {want}: "
            "it needs the same major version (for 0.x, the same minor) and at least that version"
        )


def wait(
    refs: Sequence[ObjectID],
    num_returns: int = 1,
    timeout: float | None = None,
    *,
    store: Store | None = None,
    canceller: Canceller | None = None,
) -> tuple[list[ObjectID], list[ObjectID]]:
    """Wait until ``num_returns`` of ``refs`` are sealed, or ``timeout``
    seconds pass (None: for ever), as ``ray.wait`` does: returns (ready,
    not_ready), the given references in their order, with no value got and
    nothing pinned (``os_wait``).

    Each call looks up every reference it is given, so the ``ray.wait``
    loop ``while pending: ready, pending = objstore.wait(pending)`` costs
    O(N²) for N references: to take results in the order they finish, use
    ``as_completed``, whose waits look only at what was sealed since the
    last (O(N) in all).

    The store is the one the ObjectRefs were put in (they must share one);
    plain ObjectIDs need ``store``. Ctrl-C interrupts the wait at once, and
    so does ``canceller`` (a Canceller) from another thread (Cancelled).

    As ``ray.wait``, it refuses a reference given twice and a
    ``num_returns`` below 1 (ValueError), as well as one above
    ``len(refs)`` (InvalidArgument, a ValueError); an empty ``refs``
    returns ``([], [])``."""
    refs = list(refs)
    if refs and num_returns < 1:
        raise ValueError(f"objstore.wait: num_returns must be at least 1, not {num_returns} (as in ray.wait)")
    if len(set(refs)) != len(refs):
        raise ValueError("objstore.wait: a reference given twice (ray.wait too needs unique references)")
    if store is None:
        if not refs:
            return [], []
        store = _store_of(refs, "objstore.wait")
    return store.wait(refs, num_returns, timeout, canceller=canceller)


def as_completed(
    refs: Iterable[_R],
    timeout: float | None = None,
    *,
    store: Store | None = None,
    canceller: Canceller | None = None,
) -> Generator[_R, None, None]:
    """The references ``refs``, each once, in the order their objects are
    sealed, as ``concurrent.futures.as_completed`` yields futures (those
    sealed already first, in the order given); no value is got and nothing
    pinned::

        for ref in objstore.as_completed(refs):
            use(store.get(ref))

    The way to take results as they finish: a ``while pending: ready,
    pending = objstore.wait(pending)`` loop looks up every pending
    reference on each call (O(N²) for N references), while this makes one
    wait set (``os_wait_set_new``) whose waits look only at what was
    sealed since the last (O(N) in all).

    It yields the very objects given (ObjectRefs stay ObjectRefs); an ID
    given twice is yielded once, the first object that gave it (as
    ``concurrent.futures.as_completed``; ``objstore.wait``, as
    ``ray.wait``, refuses it). ``timeout``: seconds from this call (None:
    for ever) after which a step that finds nothing sealed raises Timeout
    (a TimeoutError). Ctrl-C interrupts a wait at once, and so does
    ``canceller`` (a Canceller) from another thread (Cancelled); the wait
    runs without the GIL. The set is freed when the generator ends, is
    closed or is garbage-collected. See ``Store.as_completed``.

    The store is the one the ObjectRefs were put in (they must share one);
    plain ObjectIDs need ``store``. The arguments are checked, and the
    references looked up, when this is called, not at the first step."""
    refs = list(refs)
    if store is None:
        if not refs:
            if timeout is not None:
                _seconds(timeout)  # checked all the same
            return (r for r in refs)  # nothing to wait for
        store = _store_of(refs, "objstore.as_completed")
    return store.as_completed(refs, timeout, canceller=canceller)


def _store_of(refs: list[Any], what: str) -> Store:
    """The one store of ObjectRefs ``refs`` (not empty)."""
    first = refs[0]
    if not isinstance(first, ObjectRef):
        raise TypeError(f"{what}: plain ObjectIDs do not say their store: pass store=")
    store = first.store
    if _objstore._one_store(refs):
        return store
    for r in refs[1:]:
        if not isinstance(r, ObjectRef) or r.store is not store:
            raise ValueError(f"{what}: every reference must be an ObjectRef of one store (or pass store=)")
    return store


# The status codes and open flags of the C API (objstore.h), by their C names.
_lib = _types.SimpleNamespace(
    OS_OK=0,
    OS_OPEN_CREATE_ONLY=1,
    OS_OPEN_ATTACH_ONLY=2,
    OS_OPEN_PREFAULT=4,
    OS_OPEN_HUGEPAGES=8,
    OS_OPEN_ANY_OWNER=16,
    **{name: code for code, name, _desc, _doc in _objstore.STATUSES},
)

__all__ = [
    "Store",
    "wait",
    "as_completed",
    "Canceller",
    "OBJECT_REFCOUNTED",
    "OBJECT_EVICTABLE",
    "ObjectID",
    "ObjectRef",
    "StoreStats",
    "ObjectInfo",
    "ProcessInfo",
    "PendingObject",
    "Buffer",
    "Pinned",
    "destroy",
    "register_serializer",
    "deregister_serializer",
    "library_version",
    "library_version_number",
    "check_version",
    "make_version",
    "VERSION_STRING",
    "VERSION_NUMBER",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "VERSION_PATCH",
    "FORMAT_VERSION",
    "__version__",
    "ObjectStoreError",
    "InvalidArgument",
    "ObjectNotFound",
    "StoreNotFound",
    "ObjectExists",
    "StoreFull",
    "ObjectTooLarge",
    "Timeout",
    "NotSealed",
    "IncompatibleStore",
    "CorruptObject",
    "StoreIOError",
    "PermissionDenied",
    "TooManyProcesses",
    "Cancelled",
    "InternalError",
    "StoreClosed",
]
