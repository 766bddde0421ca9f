"""Fuzzing the Python binding's value decoding (atheris, libFuzzer for Python).

An object's metadata and data come from the fuzzer; the object is created
with raw metadata through the public API (``Store.create``), then read back
with ``Store.get``, which parses the metadata and builds the value (bytes,
bytearray, a memoryview cast to its format and shape, a numpy array, or a
pickle5 value with out-of-band buffers): the native module
(objstore._objstore, Rust) takes the well-formed cases itself and hands
everything else to the Python reader (``_serial.decode_slow``,
``_format.parse``), which raises the documented errors. ``parse`` is also
called directly with other data lengths. Coverage guidance comes from the
Python code (atheris instruments it); the native module is exercised but
not instrumented.

Every input must end in a value or an exception of the binding's own kind
(``objstore.ObjectStoreError``, e.g. ``CorruptObject``): any other exception
type, a hang or a crash is a bug. After each input no pin may be left.

Pickle streams are the writer's own payload and run code when loaded (the
README says to share a store only with processes you trust), so the fuzzer
does not unpickle them with ``pickle.loads``: the binding's unpickling hook
(``objstore._serial.loads``, which the native module also calls) is
replaced, before the first get, by a restricted unpickler that only
rebuilds builtin containers, and whatever that unpickler raises about the
stream
(``PayloadError``) is accepted. What is checked is everything the binding
does around it: the metadata's stream length and buffer table, and the
buffers handed to it.

Run (in a venv with atheris, numpy and the package's wheel installed, as
.ci/fuzz.sh makes it)::

    python bindings/python/fuzz/fuzz_decode.py -max_total_time=30 CORPUS_DIR
    python bindings/python/fuzz/fuzz_decode.py FILE...     # replay inputs
"""

import gc
import io
import os
import pickle
import struct
import sys

import atheris

with atheris.instrument_imports():
    import objstore
    from objstore import _format as fmt
    from objstore import _serial

import numpy as np

MAGIC = b"OSPY"
DTYPES = [
    "<f4", "<f8", "|u1", "<i2", ">i4", "<u8", "|b1", "<c8", "<c16", "<f2", "<M8[ns]", "<m8[s]", "<U7", "|S3",
    "|V5", "|O", "<i8", "f4", "(2,3)f4", "O", "U", "V0", "|V0", "<U0",
]
DESCRS = [
    "[('a', '<i4'), ('b', '<f8')]",
    "[('x', '<f4', (2, 3))]",
    "[('', '|u1')]",
    "('<i4', (2,))",
    "[('a', [('b', '<f2')])]",
    "[('a', 'O')]",
    "{'names': ['a'], 'formats': ['<i4'], 'offsets': [4], 'itemsize': 16}",
    "[('a', '<i4', (-1,))]",
]
FORMATS = ["B", "b", "h", "i", "l", "q", "f", "d", "e", "?", "c", "P", "n", "<i", "2h", "x", "3s", "@i", "Z", "", "ii"]


class PayloadError(Exception):
    """The pickle stream itself was refused by the restricted unpickler."""


class _Restricted(pickle.Unpickler):
    # Builtin containers only. numpy's own reconstructors are not allowed: a
    # damaged stream that calls them can crash numpy (a segfault in
    # numpy._core.numeric._frombuffer or ndarray.__setstate__, found by this
    # harness: fuzz/regressions/python/numpy-unpickle-segfault), which is the
    # "pickles run code" trust boundary, not the binding. Out-of-band
    # buffers still reach the unpickler (NEXT_BUFFER needs no class).
    ALLOWED = {
        ("builtins", "list"), ("builtins", "dict"), ("builtins", "tuple"), ("builtins", "set"),
        ("builtins", "frozenset"), ("builtins", "bytearray"), ("builtins", "bytes"), ("builtins", "slice"),
        ("builtins", "complex"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"not allowed here: {module}.{name}")


def _safe_loads(data, *, buffers=()):
    """Stands in for ``pickle.loads`` as objstore._serial.loads."""
    try:
        return _Restricted(io.BytesIO(bytes(data)), buffers=buffers).load()
    except RecursionError:
        raise PayloadError("recursion") from None
    except MemoryError:
        raise PayloadError("memory") from None
    except Exception as e:  # whatever the stream makes the unpickler do
        raise PayloadError(f"{type(e).__name__}: {e}") from None


# Before any get: the native module takes the hook on its first use.
_serial.loads = _safe_loads

# The driver (.ci/fuzz.sh) names the store and destroys it after the run:
# libFuzzer ends the process without running atexit hooks.
STORE_NAME = os.environ.get("OBJSTORE_PYFUZZ_STORE") or f"objstore-pyfuzz-{os.getpid()}"
store = objstore.Store(STORE_NAME, capacity=64 << 20, max_objects=1024)


def _cleanup():
    try:
        store.close()
    finally:
        objstore.destroy(STORE_NAME)


import atexit  # noqa: E402

atexit.register(_cleanup)


def _u64s(fdp, n):
    out = []
    for _ in range(n):
        k = fdp.ConsumeIntInRange(0, 9)
        if k < 7:
            out.append(fdp.ConsumeIntInRange(0, 8))
        elif k == 7:
            out.append(fdp.ConsumeIntInRange(0, 1 << 16))
        else:
            out.append(fdp.ConsumeIntInRange(0, (1 << 64) - 1))
    return out


def _nbytes(itemsize, shape):
    n = itemsize
    for s in shape:
        n *= s
    return n


def build(fdp):
    """(meta, data) from the fuzz input."""
    mode = fdp.ConsumeIntInRange(0, 5)
    if mode == 0:  # anything at all
        meta = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64))
        return meta, fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    version = 1 if fdp.ConsumeIntInRange(0, 15) else fdp.ConsumeIntInRange(0, 255)
    kind = fdp.ConsumeIntInRange(0, 7)
    reserved = fdp.ConsumeIntInRange(0, 65535) if fdp.ConsumeIntInRange(0, 7) == 0 else 0
    head = struct.pack("<4sBBH", MAGIC, version, kind, reserved)
    if mode == 1:  # the header, then anything
        return head + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)), fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    fit = fdp.ConsumeIntInRange(0, 3) != 0  # data sized to what the metadata says
    if kind == fmt.KIND_MEMORYVIEW:
        ndim = fdp.ConsumeIntInRange(0, 3) if fdp.ConsumeIntInRange(0, 7) else fdp.ConsumeIntInRange(0, 255)
        f = fdp.PickValueInList(FORMATS) if fdp.ConsumeBool() else fdp.ConsumeBytes(3).decode("latin-1")
        fb = f.encode("latin-1")
        shape = _u64s(fdp, ndim)
        body = struct.pack("<BB", ndim, len(fb)) + fb + b"".join(struct.pack("<Q", s) for s in shape)
        try:
            n = _nbytes(struct.calcsize(f), shape)
        except Exception:
            n = None
    elif kind == fmt.KIND_NDARRAY:
        order = fdp.PickValueInList([b"C", b"F", b"A", b"\x00"])
        form = fdp.PickValueInList([0, 0, 1, 1, 2, 255])
        if fdp.ConsumeIntInRange(0, 3):
            ds = fdp.PickValueInList(DTYPES if form == 0 else DESCRS)
        else:
            ds = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)).decode("latin-1")
        d = ds.encode("latin-1")
        dlen = len(d) if fdp.ConsumeIntInRange(0, 7) else fdp.ConsumeIntInRange(0, 65535)
        ndim = fdp.ConsumeIntInRange(0, 4) if fdp.ConsumeIntInRange(0, 7) else fdp.ConsumeIntInRange(0, 255)
        shape = _u64s(fdp, ndim)
        body = struct.pack("<BBH", order[0], form, dlen) + d + struct.pack("<B", ndim)
        body += b"".join(struct.pack("<Q", s) for s in shape)
        try:
            dt = np.dtype(ds) if form == 0 else None
            n = _nbytes(dt.itemsize, shape) if dt is not None else None
        except Exception:
            n = None
    elif kind == fmt.KIND_PICKLE5:
        value = fdp.PickValueInList(
            [
                b"bytes",
                [1, 2, 3],
                {"a": np.arange(6, dtype=np.int32).reshape(2, 3)},
                (np.zeros(3, dtype=np.float64), np.ones((2, 2), dtype=np.uint8, order="F")),
                {"s": "text", "n": None},
            ]
        )
        p = fmt.Pickled(value)
        data = bytearray(p.total)
        data[: len(p.stream)] = p.stream
        for off, b in zip(p.offsets, p.buffers):
            data[off : off + b.nbytes] = b.cast("B")
        meta = bytearray(p.meta)
        # Damage: table entries, the stream length, stream bytes, the size.
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            what = fdp.ConsumeIntInRange(0, 3)
            if what == 0 and len(meta) > 8:
                at = fdp.ConsumeIntInRange(8, len(meta) - 1)
                meta[at] = fdp.ConsumeIntInRange(0, 255)
            elif what == 1 and data:
                at = fdp.ConsumeIntInRange(0, len(data) - 1)
                data[at] = fdp.ConsumeIntInRange(0, 255)
            elif what == 2:
                meta = meta[: fdp.ConsumeIntInRange(0, len(meta))]
            else:
                data = data[: fdp.ConsumeIntInRange(0, len(data))] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8))
        return bytes(meta), bytes(data)
    else:
        body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 32))
        n = None
    if fit and n is not None and n <= 1 << 16:
        data = fdp.ConsumeBytes(n)
        data += bytes(n - len(data))
    else:
        data = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 512))
    return head + body, data


def touch(value):
    """Reads a value through its own type (every byte of a view)."""
    if isinstance(value, np.ndarray):
        value.tobytes()
        assert not value.flags.writeable, "a get returned a writable array"
    elif isinstance(value, memoryview):
        value.tobytes()
        assert value.readonly, "a get returned a writable memoryview"
    elif isinstance(value, (bytes, bytearray)):
        len(value)
    else:
        repr(value)


def check_parse(meta, data_len):
    try:
        r = fmt.parse(meta, data_len)
    except objstore.CorruptObject:
        return
    assert isinstance(r, tuple) and r and r[0] in (0, 1, 2, 3, 4, 5), r


def TestOneInput(raw):
    fdp = atheris.FuzzedDataProvider(raw)
    meta, data = build(fdp)
    check_parse(meta, len(data))
    check_parse(meta, fdp.ConsumeIntInRange(0, (1 << 64) - 1))
    p = store.create(len(data), meta)
    p.data[:] = data
    ref = p.seal()
    del p
    try:
        value = store.get(ref, timeout=0)
        touch(value)
        del value
    except (objstore.ObjectStoreError, PayloadError):
        pass
    # No pin is left behind, whatever happened.
    if store.stats().pinned_count:
        gc.collect()
    pinned = store.stats().pinned_count
    store.delete(ref)
    assert pinned == 0, f"{pinned} pins left after a get of meta={meta!r} data_len={len(data)}"


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
