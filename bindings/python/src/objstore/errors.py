"""Exceptions: one class per status of the library (``ErrorKind`` in Rust,
``os_status`` in C).

Every failing call raises the class of its status, with the library's own
detail message (e.g. "object 3f9a… not found") and the operation that
failed. The status code is in ``.status``, its C name in ``.status_name``.
Where a builtin exception says the same thing, the class also derives from
it, so ``except TimeoutError``, ``except ValueError`` or ``except
FileNotFoundError`` work as a Python user expects.
"""

from __future__ import annotations

__all__ = [
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
    "Cancelled",
    "StoreClosed",
]


class ObjectStoreError(Exception):
    """Base class of every objstore error.

    ``status`` is the C status code (an int, or None for an error found by
    the Python layer), ``status_name`` its name in objstore.h.
    """

    status: int | None = None
    status_name: str | None = None

    def __init__(self, message: str, status: int | None = None, status_name: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        if status_name is not None:
            self.status_name = status_name


class InvalidArgument(ObjectStoreError, ValueError):
    """OS_INVALID_ARGUMENT: a bad argument, or an operation the object's
    state does not allow (e.g. releasing a pin this handle does not hold)."""


class ObjectNotFound(ObjectStoreError, LookupError):
    """OS_NOT_FOUND: no such object (with timeout 0), or no such store
    (StoreNotFound, a subclass)."""


class StoreNotFound(ObjectNotFound, FileNotFoundError):
    """OS_NOT_FOUND from opening a store: there is no store of that name
    (``Store(name)`` alone attaches; pass ``capacity=`` or ``create=True``,
    or use ``Store.create``, to create one), or nothing to destroy."""


class ObjectExists(ObjectStoreError):
    """OS_ALREADY_EXISTS: the ID names a live object (or one deleted but
    still pinned), or the store exists (with ``create_only=True``)."""


class StoreFull(ObjectStoreError):
    """OS_OUT_OF_MEMORY: the store is full and nothing could be freed or
    spilled (only stores with a ``spill_dir`` spill)."""


class ObjectTooLarge(ObjectStoreError):
    """OS_TOO_LARGE: the object is larger than the store could ever hold."""


class Timeout(ObjectStoreError, TimeoutError):
    """OS_TIMEOUT: a positive timeout ran out before the object was sealed."""


class NotSealed(ObjectStoreError):
    """OS_NOT_SEALED: the object is created but not sealed yet."""


class IncompatibleStore(ObjectStoreError):
    """OS_INCOMPATIBLE: a store file of another layout version."""


class CorruptObject(ObjectStoreError):
    """OS_CORRUPT: a store or spill file fails its checks. Also raised by the
    Python layer for an object whose Python metadata header is malformed or
    of a newer format version (``status`` is then None)."""


class StoreIOError(ObjectStoreError, OSError):
    """OS_IO_ERROR: an operating-system call failed."""


class PermissionDenied(ObjectStoreError, PermissionError):
    """OS_PERMISSION_DENIED: the caller may not open or create the store."""


class TooManyProcesses(ObjectStoreError):
    """OS_TOO_MANY_PROCESSES: every process slot is held by a live process."""


class InternalError(ObjectStoreError):
    """OS_PANIC: a bug in objstore, caught before it reached Python."""


class Cancelled(ObjectStoreError):
    """OS_CANCELLED: a blocked get or wait was cancelled from another thread
    (a Ctrl-C in Python raises KeyboardInterrupt instead)."""


class StoreClosed(ObjectStoreError, ValueError):
    """The Store was closed (Python layer; no C status)."""


def make(cls: type[ObjectStoreError], message: str, status: int | None, status_name: str | None) -> ObjectStoreError:
    """An exception of ``cls`` with its status set (built with the message
    alone: OSError's constructor reads meaning into further arguments)."""
    e = cls(message)
    e.status = status
    e.status_name = status_name
    return e


# The C name of each status (as #defined in objstore.h) -> its class. The
# native module maps each ErrorKind through its C name, so a renumbered
# status cannot be mismapped; a status the library adds later maps to
# ObjectStoreError until it gets a class here.
BY_STATUS_NAME: dict[str, type[ObjectStoreError]] = {
    "OS_INVALID_ARGUMENT": InvalidArgument,
    "OS_NOT_FOUND": ObjectNotFound,
    "OS_ALREADY_EXISTS": ObjectExists,
    "OS_OUT_OF_MEMORY": StoreFull,
    "OS_TOO_LARGE": ObjectTooLarge,
    "OS_TIMEOUT": Timeout,
    "OS_NOT_SEALED": NotSealed,
    "OS_INCOMPATIBLE": IncompatibleStore,
    "OS_CORRUPT": CorruptObject,
    "OS_IO_ERROR": StoreIOError,
    "OS_PERMISSION_DENIED": PermissionDenied,
    "OS_TOO_MANY_PROCESSES": TooManyProcesses,
    "OS_PANIC": InternalError,
    "OS_CANCELLED": Cancelled,
}
