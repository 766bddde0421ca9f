"""asyncio: ``await asyncio.gather(*(store.get_async(i) for i in ids))``
over N IDs that another thread puts after the awaits started, with the
waiter thread of objstore._aio (one wait set that grows) against an older
waiter given as a file (one ``Store.wait`` over every awaited ID, again at
each new await and each seal), in one run.

    git show 73a6548:bindings/python/src/objstore/_aio.py > /tmp/old_aio.py
    python bindings/python/bench/bench_aio_gather.py /tmp/old_aio.py [N ...]

Run in a venv with the objstore wheel (build/py-venv, which make
test-python makes). N defaults to 1000 and 10000; three rounds each,
alternating the two waiters. Without an old waiter file only the current
one runs. Each round: the N awaits start (one event-loop turn), then a
thread puts the N objects; the time is from the gather's start to its
end. The start of the awaits is also given alone, in wall time and in CPU
time of the event loop's thread (less swayed by other load on the
machine than wall time). Timings are informative: nothing here asserts
on them.
"""
import asyncio, importlib.util, os, sys, threading, time, objstore
from objstore import _aio

args = sys.argv[1:]
old = None
if args and not args[0].isdigit():
    spec = importlib.util.spec_from_file_location("objstore._aio_old", args.pop(0))
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
sizes = [int(a) for a in args] or [1000, 10000]
name = f"bench-aio-{os.getpid()}"
s = objstore.Store(name, capacity=256 << 20, max_objects=1 << 16)


def one_round(waiter, n):
    ids = [objstore.ObjectID(os.urandom(20)) for _ in range(n)]

    def produce():
        for i in ids:
            s.put(b"y" * 64, id=i)

    async def main():
        t, cpu = time.perf_counter(), time.thread_time()
        gathered = asyncio.gather(*(waiter.get(s, i) for i in ids))
        await asyncio.sleep(0)  # every await has started (and waits)
        started = (time.perf_counter() - t, time.thread_time() - cpu)
        th = threading.Thread(target=produce)
        th.start()
        values = await gathered
        took = time.perf_counter() - t
        th.join()
        assert len(values) == n and values[-1] == b"y" * 64
        return started, took

    r = asyncio.run(main())
    for i in ids:
        s.delete(i)
    return r


try:
    for n in sizes:
        for rnd in range(3):
            started, took = one_round(_aio, n)
            line = (f"N={n}: current waiter {took*1e3:.1f} ms (awaits started in {started[0]*1e3:.1f} ms,"
                    f" {started[1]*1e3:.1f} ms CPU)")
            if old is not None:
                o_started, o_took = one_round(old, n)
                line += (f"; old waiter {o_took*1e3:.1f} ms (awaits started in {o_started[0]*1e3:.1f} ms,"
                         f" {o_started[1]*1e3:.1f} ms CPU) ({o_took/took:.1f}x; start {o_started[0]/started[0]:.1f}x,"
                         f" CPU {o_started[1]/started[1]:.1f}x)")
            print(line, flush=True)
finally:
    s.close()
    objstore.destroy(name, missing_ok=True)
