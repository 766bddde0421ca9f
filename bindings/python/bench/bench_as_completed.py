"""Results as they finish, from Python: a ``ray.wait`` loop over N refs
(``objstore.wait(not_ready, num_returns=1)`` until none is left) against
``objstore.as_completed(refs)`` (one wait set), in one run.

    python bindings/python/bench/bench_as_completed.py [N]

Run in a venv with the objstore wheel (build/py-venv, which make
test-python makes). Two cases, three rounds each: N objects sealed
already, and N objects put by another thread while the consumer takes
them. Timings are informative: nothing here asserts on them.
"""
import os, sys, time, threading, objstore
N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
name = f"bench-ac-{os.getpid()}"
s = objstore.Store(name, capacity=256 << 20)
try:
    def sealed_refs():
        return [s.put(b"x" * 64) for _ in range(N)]
    rows = []
    for rnd in range(3):
        refs = sealed_refs()
        t = time.perf_counter()
        left = list(refs)
        while left:
            ready, left = objstore.wait(left, num_returns=1)
        a = time.perf_counter() - t
        t = time.perf_counter()
        n = sum(1 for _ in objstore.as_completed(refs))
        b = time.perf_counter() - t
        assert n == N
        del refs
        # producer thread sealing while the consumer takes
        ids = [objstore.ObjectID.from_hex(os.urandom(20).hex()) for _ in range(N)]
        def produce():
            for i in ids:
                s.put(b"y" * 64, id=i)
        th = threading.Thread(target=produce); t = time.perf_counter(); th.start()
        left = list(ids)
        while left:
            ready, left = s.wait(left, num_returns=1)
        th.join(); c = time.perf_counter() - t
        for i in ids: s.delete(i)
        ids = [objstore.ObjectID.from_hex(os.urandom(20).hex()) for _ in range(N)]
        th = threading.Thread(target=produce); t = time.perf_counter(); th.start()
        n = sum(1 for _ in s.as_completed(ids))
        th.join(); d = time.perf_counter() - t
        for i in ids: s.delete(i)
        rows.append((a, b, c, d))
    for a, b, c, d in rows:
        print(f"N={N}: sealed: wait loop {a*1e3:.1f} ms, as_completed {b*1e3:.2f} ms ({a/b:.0f}x); "
              f"while a thread seals: wait loop {c*1e3:.1f} ms, as_completed {d*1e3:.1f} ms ({c/d:.1f}x)")
finally:
    s.close(); objstore.destroy(name, missing_ok=True)
