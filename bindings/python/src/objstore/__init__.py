"""objstore: a shared-memory object store, from Python.

Processes on one machine open the same store by name; one puts a value and
gets an ObjectID, any other gets the value back by that ID, numpy arrays
and torch tensors as zero-copy read-only views of the shared memory::

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

from . import _objstore
from ._format import VERSION as FORMAT_VERSION  # noqa: F401
from ._serial import deregister_serializer as deregister_serializer
from ._serial import register_serializer as register_serializer
from ._store import (
    Buffer as Buffer,
    ObjectID as ObjectID,
    ObjectInfo as ObjectInfo,
    PendingObject as PendingObject,
    Pinned as Pinned,
    Store as Store,
    StoreStats as StoreStats,
    destroy as destroy,
)
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
    InternalError as InternalError,
    StoreClosed as StoreClosed,
)

__version__: str = _objstore.PACKAGE_VERSION


def library_version() -> str:
    """The version of the objstore core this package was built with."""
    return _objstore.VERSION


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
    "ObjectID",
    "StoreStats",
    "ObjectInfo",
    "PendingObject",
    "Buffer",
    "Pinned",
    "destroy",
    "register_serializer",
    "deregister_serializer",
    "library_version",
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
    "InternalError",
    "StoreClosed",
]
