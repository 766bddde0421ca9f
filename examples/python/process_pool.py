"""Object references across a process pool, the Ray way, on objstore.

With Ray it reads:

    refs = [ray.put(np.random.rand(i, 8, 8).astype(np.float32)) for i in range(1, 16)]
    pending = [transpose.remote(r) for r in refs]
    while pending:
        ready, pending = ray.wait(pending)    # results as they finish
        ...
    del refs, ready ...                       # every object goes with its last reference

Here the workers are a concurrent.futures.ProcessPoolExecutor. A put returns
an ObjectRef, which holds a reference to its object; passing it to a worker
pickles it as a ticket that the worker takes (the object cannot vanish on
the way), and the worker's result, a new ObjectRef, comes back the same way.
Results are taken with Store.wait as the workers put them. When the last
ObjectRef of an object is gone in every process, the object is freed: at the
end the store holds no object and no byte, which the example checks (it
exits non-zero otherwise).

Run:  python examples/python/process_pool.py [--start-method fork|spawn|forkserver]
"""

import argparse
import concurrent.futures
import gc
import multiprocessing
import os
import sys

import numpy as np

import objstore

N = 15


def transpose(ref, out_id):
    """A worker: get a tensor by its reference, put its transpose under the
    ID the caller chose, return the new reference.

    `ref` arrived pickled: unpickling attached this process to the store
    and took the reference its ticket carried, so the tensor is alive here
    whatever the caller does meanwhile. `ref.store` is the store it is in.
    """
    store = ref.store
    t = store.get(ref)  # a zero-copy, read-only view of the caller's bytes
    # refcounted=True: an ID given to put makes a plain object by default.
    return store.put(np.ascontiguousarray(t.transpose(0, 2, 1)), id=out_id, refcounted=True)
    # Returning the ObjectRef pickles it: one more reference, in a ticket
    # charged to this worker until the caller unpickles the result. The
    # worker's own reference, and its view of `ref`, go with this call.


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--start-method", default="spawn", choices=multiprocessing.get_all_start_methods())
    ap.add_argument("--store", default=f"objstore-example-pool-{os.getpid()}")
    args = ap.parse_args()
    ok = False
    try:
        with objstore.Store.create(args.store, capacity=64 << 20) as store:
            rng = np.random.default_rng(0)
            tensors = [rng.random((i, 8, 8), dtype=np.float32) for i in range(1, N + 1)]
            refs = [store.put(t) for t in tensors]
            s = store.stats()
            print(f"put {len(refs)} tensors: {s.object_count} objects, {s.used_bytes} bytes, first {refs[0]!r}")

            ctx = multiprocessing.get_context(args.start_method)
            with concurrent.futures.ProcessPoolExecutor(max_workers=4, mp_context=ctx) as pool:
                # The results' IDs are chosen here, as Ray's task returns
                # are; Store.wait hands them over as the workers seal them,
                # as ray.wait does, and each future's result is the
                # worker's ObjectRef (unpickling it takes its ticket).
                outs = [objstore.ObjectID(os.urandom(20)) for _ in refs]
                futures = {o: pool.submit(transpose, r, o) for r, o in zip(refs, outs)}
                index = {o: i for i, o in enumerate(outs)}
                results = []
                pending = outs
                while pending:
                    ready, pending = store.wait(pending, num_returns=1, timeout=10)
                    if not ready:  # a worker that failed never seals its result
                        for f in futures.values():
                            if f.done() and f.exception() is not None:
                                raise f.exception()
                    for o in ready:
                        new = futures.pop(o).result()  # an ObjectRef, now this process's
                        i = index[o]
                        assert np.array_equal(store.get(new), tensors[i].transpose(0, 2, 1)), f"result {i} is wrong"
                        assert np.array_equal(store.get(refs[i]), tensors[i]), f"original {i} changed"
                        results.append(new)
                        print(f"  result {i:2} ready: the transpose of a {tensors[i].shape} tensor")
                done = len(results)
            s = store.stats()
            print(f"{done} transposes checked: {s.object_count} objects, {s.tickets} tickets outstanding")

            # Drop every reference (and every value viewing the store): the
            # objects go with their last references, as in Ray.
            del refs, results, new
            gc.collect()
            s = store.stats()
            print(f"every reference dropped: {s.object_count} objects, {s.used_bytes} bytes, {s.references} references")
            ok = s.object_count == 0 and s.used_bytes == 0 and s.references == 0 and s.tickets == 0
    finally:
        objstore.destroy(args.store, missing_ok=True)
    if not ok:
        print("FAILED: the store still holds objects or bytes", file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
