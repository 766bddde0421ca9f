"""The tensor walk-through that Ray users know, on objstore.

With Ray it reads:

    refs = [ray.put(np.random.rand(i, 8, 8).astype(np.float32)) for i in range(1, 16)]
    tensors = ray.get(refs)            # zero-copy, read-only numpy arrays
    [first] = ray.get([refs[0]])       # a list in, a list out
    new_refs = [transpose.remote(r) for r in refs]   # workers make new objects

Here the "cluster" is a store file in /dev/shm that every process maps, the
workers are multiprocessing processes (started by fork or spawn), and the
object IDs travel to them like any other argument. The same walk-through
runs with numpy, then with torch when it is installed (tensors, too, come
back as zero-copy views of the store).

Run:  python examples/python/tensors.py [--start-method fork|spawn]
"""

import argparse
import multiprocessing
import os

import numpy as np

import objstore

N = 15


def transpose(args):
    """A worker: get a tensor by ID, put its transpose, return the new ID."""
    store, ref = args
    t = store.get(ref)  # a zero-copy view of the producer's bytes
    return store.put(np.ascontiguousarray(t.transpose(0, 2, 1)))


def transpose_torch(args):
    store, ref = args
    t = store.get(ref)  # a torch.Tensor over the producer's bytes: no copy
    return store.put(t.transpose(1, 2))  # one copy, straight into the store


def walk_through_numpy(store, pool):
    print("numpy:")
    rng = np.random.default_rng(0)
    tensors = [rng.random((i, 8, 8), dtype=np.float32) for i in range(1, N + 1)]
    refs = [store.put(t) for t in tensors]
    print(f"  put {len(refs)} float32 tensors of shape (i, 8, 8); first ID {refs[0]!r}")

    fetched = store.get(refs)
    for t, f in zip(tensors, fetched):
        assert f.dtype == np.float32 and f.shape == t.shape and np.array_equal(f, t)
        assert not f.flags.writeable  # views of shared memory are read-only
    print(f"  got them back: shapes {fetched[0].shape} .. {fetched[-1].shape}, read-only, zero-copy")

    [first] = store.get([refs[0]])  # a list of one, as ray.get([ref])
    assert np.array_equal(first, tensors[0])
    try:
        first[0, 0, 0] = 1.0
        raise AssertionError("a fetched tensor was writable")
    except ValueError:
        print("  one fetched as a list; writing to it raises ValueError, as with Ray")

    new_refs = pool.map(transpose, [(store, r) for r in refs])
    for t, r, nr in zip(tensors, refs, new_refs):
        assert np.array_equal(store.get(nr), t.transpose(0, 2, 1))
        assert np.array_equal(store.get(r), t)  # the originals are unchanged
    print(f"  {len(new_refs)} transposes made by worker processes; originals unchanged")

    # Deterministic release (Ray has none: its pins go with garbage collection).
    with store.pinned(refs[-1]) as big:
        total = float(big.sum())
    print(f"  sum of the last tensor, pinned only inside a with-block: {total:.2f}")
    store.delete(refs + new_refs)


def walk_through_torch(store, pool, require):
    try:
        import torch
    except ImportError:
        if require:
            raise SystemExit("torch is not installed, and --require-torch was given")
        print("torch: not installed, skipping the torch walk-through (pip install torch to run it)")
        return
    print(f"torch {torch.__version__}:")
    torch.manual_seed(0)
    tensors = [torch.rand(i, 8, 8, dtype=torch.float32) for i in range(1, N + 1)]

    # Tensors are stored raw (dtype and shape in the metadata) and come back
    # as tensors over the shared memory: zero-copy, as numpy arrays do.
    refs = [store.put(t) for t in tensors]
    fetched = store.get(refs)
    assert all(type(f) is torch.Tensor and torch.equal(f, t) for f, t in zip(fetched, tensors))
    [first] = store.get([refs[0]])
    assert torch.equal(first, tensors[0])
    new_refs = pool.map(transpose_torch, [(store, r) for r in refs])
    for t, r, nr in zip(tensors, refs, new_refs):
        assert torch.equal(store.get(nr), t.transpose(1, 2))
        assert torch.equal(store.get(r), t)
    print(f"  put, got, got as a list, transposed by workers: {len(new_refs)} tensors, originals unchanged")

    # Zero-copy: every get of an object views the same bytes of the store.
    with store.get_buffer(refs[-1]) as buf:
        where = np.frombuffer(buf.data, np.uint8).__array_interface__["data"][0]
        a, b = store.get(refs[-1]), store.get(refs[-1])
        assert a.data_ptr() == b.data_ptr() == where
    print("  zero-copy: store.get(ref) is a tensor over the store's memory (do not write to it)")

    # Tensors inside a value (a state dict) are zero-copy too.
    model = torch.nn.Linear(8, 8)
    sd = store.get(store.put(model.state_dict()))
    assert all(torch.equal(sd[k], v) for k, v in model.state_dict().items())
    print(f"  a state_dict of {len(sd)} tensors through the store, tensors zero-copy")
    store.delete(refs + new_refs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--start-method", default="spawn", choices=multiprocessing.get_all_start_methods())
    ap.add_argument("--store", default=f"objstore-example-{os.getpid()}")
    ap.add_argument("--require-torch", action="store_true", help="fail rather than skip the torch part without torch")
    args = ap.parse_args()
    try:
        with objstore.Store.create(args.store, capacity=256 << 20) as store:
            with multiprocessing.get_context(args.start_method).Pool(4) as pool:
                print(f"store {store.name!r}, workers started by {args.start_method}")
                walk_through_numpy(store, pool)
                walk_through_torch(store, pool, args.require_torch)
    finally:
        objstore.destroy(args.store, missing_ok=True)
    print("ok")


if __name__ == "__main__":
    main()
