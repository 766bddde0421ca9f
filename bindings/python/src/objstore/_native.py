"""The C library: cffi's view of objstore.h and the loaded libobjstore.so.

``_ffi`` is generated at build time from the package's copy of objstore.h
(see _cdef.py and setup.py), and ``libobjstore.so`` is the library built from
the same source tree, so the two always agree.
"""

from __future__ import annotations

import os

from . import errors
from ._ffi import ffi

__all__ = ["ffi", "lib", "LIBRARY_PATH", "HEADER_PATH", "check", "error_for", "STATUS_NAMES"]

_HERE = os.path.dirname(os.path.abspath(__file__))
LIBRARY_PATH = os.path.join(_HERE, "libobjstore.so")
HEADER_PATH = os.path.join(_HERE, "objstore.h")

lib = ffi.dlopen(LIBRARY_PATH)

# Status code -> C name, for every OS_* status the header defines (the
# statuses are the #defines between OS_OK and the end of the list; they are
# recognised by name so that flags and object states are not mistaken for them).
STATUS_NAMES: dict[int, str] = {lib.OS_OK: "OS_OK"}
_CLASSES: dict[int, type[errors.ObjectStoreError]] = {}
for _name, _cls in errors.BY_STATUS_NAME.items():
    _code = getattr(lib, _name)  # AttributeError here = the header dropped a status
    STATUS_NAMES[_code] = _name
    _CLASSES[_code] = _cls


def error_for(status: int, op: str) -> errors.ObjectStoreError:
    """The exception for a failed call of ``op`` that returned ``status``,
    carrying this thread's ``os_last_error()``. Call it right after the
    failing call, on the same thread."""
    detail = ffi.string(lib.os_last_error()).decode("utf-8", "replace")
    if not detail:
        detail = ffi.string(lib.os_status_str(status)).decode("utf-8", "replace")
    name = STATUS_NAMES.get(status, f"status {status}")
    cls = _CLASSES.get(status, errors.ObjectStoreError)
    return cls(f"{op}: {detail}", status, name)


def check(status: int, op: str) -> None:
    """Raise the exception for ``status`` unless it is OS_OK."""
    if status:
        raise error_for(status, op)
