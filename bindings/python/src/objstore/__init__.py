"""objstore: a shared-memory object store, from Python.

Processes on one machine open the same store by name; one puts a value and
gets an ObjectID, any other gets the value back by that ID, numpy arrays as
zero-copy read-only views of the shared memory::

    import numpy as np, objstore

    with objstore.Store("demo", capacity=1 << 30) as store:
        ref = store.put(np.arange(10.0))
        arr = store.get(ref)          # read-only view, no copy

A thin layer over the C library (libobjstore.so, shipped in this package)
through cffi; the declarations come from the library's own header. See the
package README for the value format and the lifetime rules.
"""

from ._native import ffi as _ffi, lib as _lib
from ._store import (
    Buffer,
    ObjectID,
    ObjectInfo,
    PendingObject,
    Pinned,
    Store,
    StoreStats,
    destroy,
)
from ._format import VERSION as FORMAT_VERSION
from ._version import __version__
from .errors import *  # noqa: F401,F403  (the exception classes)
from .errors import __all__ as _errors_all


def library_version() -> str:
    """The version of the bundled libobjstore.so (os_version())."""
    return _ffi.string(_lib.os_version()).decode()


__all__ = [
    "Store",
    "ObjectID",
    "StoreStats",
    "ObjectInfo",
    "PendingObject",
    "Buffer",
    "Pinned",
    "destroy",
    "library_version",
    "FORMAT_VERSION",
    "__version__",
] + list(_errors_all)
