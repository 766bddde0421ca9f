"""Waiting in every way a Python program does: a Canceller that ends a
blocked get or wait from another thread, ``objstore.wait`` as ``ray.wait``,
and asyncio (``await ref``, ``store.get_async``) with one waiter thread per
store, no polling and no thread per await. No assertion depends on timing:
threads and tasks step through events, and a wait that must end is joined
with a generous limit that only a hang reaches."""

import asyncio
import multiprocessing
import os
import threading
import time

import pytest

import objstore
from objstore import _aio
from conftest import start

HANG = 60  # seconds: only a hang reaches it


def fresh_id():
    return objstore.ObjectID(os.urandom(20))


def in_thread(fn):
    """Runs fn in a thread; returns the thread and a dict that gets
    'value' or 'error'."""
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, out


def let_it_sleep():
    """Gives a thread just started time to go to sleep in its wait, so that
    a cancel most likely wakes a sleeping wait (the core's tests pin that
    case down). Nothing depends on it: a canceller stays cancelled, so a
    wait that starts after the cancel ends at once too."""
    time.sleep(0.05)


# ------------------------------------------------------------------ Canceller


def test_a_canceller_ends_a_blocked_get_from_another_thread(store):
    c = objstore.Canceller()
    assert not c.cancelled and repr(c) == "Canceller()"
    t, out = in_thread(lambda: store.get(fresh_id(), canceller=c))
    let_it_sleep()
    c.cancel()
    t.join(HANG)
    assert not t.is_alive()
    assert isinstance(out.get("error"), objstore.Cancelled), out
    assert c.cancelled and repr(c) == "Canceller(cancelled)"
    assert store.stats().pinned_count == 0


def test_a_canceller_ends_a_blocked_get_of_many_and_a_wait(store):
    present = store.put(b"here")
    c = objstore.Canceller()
    t1, got = in_thread(lambda: store.get([present, fresh_id()], canceller=c))
    t2, waited = in_thread(lambda: store.wait([present, fresh_id()], num_returns=2, canceller=c))
    let_it_sleep()
    c.cancel()
    for t in (t1, t2):
        t.join(HANG)
        assert not t.is_alive()
    assert isinstance(got.get("error"), objstore.Cancelled), got
    assert isinstance(waited.get("error"), objstore.Cancelled), waited
    assert store.stats().pinned_count == 0  # the present object's pin went with the cancelled get


def test_a_cancelled_canceller_ends_waits_until_reset(store):
    c = objstore.Canceller()
    c.cancel()
    with pytest.raises(objstore.Cancelled):
        store.get(fresh_id(), canceller=c)
    with pytest.raises(objstore.Cancelled):
        store.wait([fresh_id()], canceller=c)
    # Only a wait is cancelled: a sealed object is there.
    ref = store.put(b"sealed")
    assert store.get(ref, canceller=c) == b"sealed"
    c.reset()
    assert not c.cancelled
    with pytest.raises(objstore.Timeout):
        store.get(fresh_id(), timeout=0.01, canceller=c)


def test_a_canceller_is_not_anything_else(store):
    with pytest.raises(TypeError):
        store.get(fresh_id(), canceller=object())
    with pytest.raises(TypeError):
        store.wait([fresh_id()], canceller="no")


# ------------------------------------------------------------ objstore.wait


def test_module_wait_is_ray_wait(store):
    refs = [store.put(bytes([i])) for i in range(3)]
    # At most num_returns are ready (as ray.wait): the rest are not_ready,
    # each list in the order of refs.
    ready, not_ready = objstore.wait(refs, num_returns=2, timeout=0)
    assert len(ready) == 2 and sorted(ready + not_ready) == sorted(refs)
    assert ready == [r for r in refs if r in ready] and not_ready == [r for r in refs if r in not_ready]
    assert objstore.wait(refs, num_returns=3, timeout=0) == (refs, [])
    assert all(type(r) is objstore.ObjectRef for r in ready)  # the given references, not copies
    absent = fresh_id()
    ready, not_ready = objstore.wait([absent, refs[0]], num_returns=2, timeout=0, store=store)
    assert ready == [refs[0]] and not_ready == [absent]
    assert objstore.wait([]) == ([], [])


def test_module_wait_refuses_what_ray_wait_refuses(store):
    a, b = store.put(b"a"), store.put(b"b")
    with pytest.raises(ValueError, match="twice"):
        objstore.wait([a, b, a], num_returns=1, timeout=0)
    with pytest.raises(ValueError, match="twice"):
        objstore.wait([a, objstore.ObjectID(a)], store=store, timeout=0)
    for n in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            objstore.wait([a, b], num_returns=n, timeout=0)
    with pytest.raises(ValueError):
        objstore.wait([a, b], num_returns=3, timeout=0)
    assert objstore.wait([a, b], num_returns=2, timeout=0) == ([a, b], [])


def test_module_wait_takes_results_in_the_order_they_finish(store):
    ids = [fresh_id() for _ in range(3)]
    order = [2, 0, 1]
    taken = []
    producer_may = threading.Semaphore(0)

    def produce():
        for i in order:
            producer_may.acquire()
            store.put(f"r{i}".encode(), id=ids[i])

    t = threading.Thread(target=produce)
    t.start()
    pending = list(ids)
    while pending:
        producer_may.release()
        ready, pending = objstore.wait(pending, store=store, timeout=HANG)
        assert ready, "timed out"
        taken += [store.get(r) for r in ready]
    t.join(HANG)
    assert taken == [b"r2", b"r0", b"r1"]


def test_module_wait_needs_to_know_the_store(store_name, store):
    with pytest.raises(TypeError, match="store="):
        objstore.wait([fresh_id()])
    other_name = store_name + "-other"
    try:
        with objstore.Store(other_name, capacity=1 << 20) as other:
            a, b = store.put(b"a"), other.put(b"b")
            with pytest.raises(ValueError, match="one store"):
                objstore.wait([a, b])
            with pytest.raises(ValueError, match="one store"):
                objstore.wait([a, objstore.ObjectID(b)])
            del b
    finally:
        objstore.destroy(other_name, missing_ok=True)


def test_module_wait_with_a_canceller(store):
    c = objstore.Canceller()
    t, out = in_thread(lambda: objstore.wait([fresh_id()], store=store, canceller=c))
    let_it_sleep()
    c.cancel()
    t.join(HANG)
    assert isinstance(out.get("error"), objstore.Cancelled), out


# ------------------------------------------------------------------- asyncio


def test_await_a_reference(store):
    ref = store.put({"a": [1, 2, 3]})

    async def main():
        return await ref

    assert asyncio.run(main()) == {"a": [1, 2, 3]}


def test_get_async_waits_without_blocking_the_loop(store):
    oid = fresh_id()

    async def main():
        task = asyncio.ensure_future(store.get_async(oid))
        # The loop keeps running while the get waits: this coroutine puts
        # the object the task awaits.
        for _ in range(3):
            await asyncio.sleep(0)
        assert not task.done()
        store.put(b"late", id=oid)
        return await asyncio.wait_for(task, HANG)

    assert asyncio.run(main()) == b"late"


def test_many_awaits_share_one_waiter_thread(store):
    # More awaits than the default executor has threads, sealed in reverse
    # order by another thread: a thread per await, or a pool of them,
    # would not see them all.
    n = 64
    ids = [fresh_id() for _ in range(n)]
    threads_before = threading.active_count()
    seen_threads = []

    def produce():
        for i in reversed(range(n)):
            store.put(i.to_bytes(2, "little"), id=ids[i])

    async def main():
        tasks = [asyncio.ensure_future(store.get_async(oid)) for oid in ids]
        for _ in range(3):
            await asyncio.sleep(0)
        seen_threads.append(threading.active_count())
        t = threading.Thread(target=produce)
        t.start()
        values = await asyncio.wait_for(asyncio.gather(*tasks), HANG)
        t.join(HANG)
        return values

    values = asyncio.run(main())
    assert [int.from_bytes(v, "little") for v in values] == list(range(n))
    # The store's one waiter thread, at most (one may be left from an
    # earlier test of the same store name: none here, the store is new).
    assert seen_threads[0] <= threads_before + 1


def test_get_async_of_a_list_and_its_timeout(store):
    a = store.put(b"a")
    b = fresh_id()

    async def main():
        with pytest.raises(objstore.Timeout):
            await store.get_async([a, b], timeout=0.01)
        store.put(b"b", id=b)
        return await store.get_async([a, b], timeout=HANG)

    assert asyncio.run(main()) == [b"a", b"b"]
    with pytest.raises(ValueError):
        asyncio.run(store.get_async(a, timeout=-1))


def test_a_cancelled_await_leaves_the_waiter_working(store):
    first, second = fresh_id(), fresh_id()

    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(store.get_async(first), 0.01)
        task = asyncio.ensure_future(store.get_async(first))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # Nobody awaits `first` any more; a later await of another object
        # is served, and so is one of `first` again.
        later = asyncio.ensure_future(store.get_async(second))
        await asyncio.sleep(0)
        store.put(b"2", id=second)
        store.put(b"1", id=first)
        return await asyncio.wait_for(asyncio.gather(later, store.get_async(first)), HANG)

    assert asyncio.run(main()) == [b"2", b"1"]


def test_awaits_from_two_event_loops_in_two_threads(store):
    oid = fresh_id()
    results = []

    def loop_thread():
        results.append(asyncio.run(asyncio.wait_for(store.get_async(oid), HANG)))

    threads = [threading.Thread(target=loop_thread) for _ in range(2)]
    for t in threads:
        t.start()
    let_it_sleep()
    store.put(b"both", id=oid)
    for t in threads:
        t.join(HANG)
    assert results == [b"both", b"both"]


def _await_in_child(name, oid_bytes, out):
    store = objstore.Store(name, attach_only=True)
    oid = objstore.ObjectID(oid_bytes)

    async def main():
        return await asyncio.wait_for(store.get_async(oid), HANG)

    out.put(asyncio.run(main()))
    store.close()


def test_a_fork_child_awaits_with_a_waiter_of_its_own(store, processes):
    # The parent's waiter thread exists (it served an await) and is not in
    # the child: the child must start its own.
    ready = fresh_id()

    async def warm():
        task = asyncio.ensure_future(store.get_async(ready))
        await asyncio.sleep(0)
        store.put(b"warm", id=ready)
        return await asyncio.wait_for(task, HANG)

    assert asyncio.run(warm()) == b"warm"
    oid = fresh_id()
    out = multiprocessing.get_context("fork").Queue()
    p = start(processes, "fork", _await_in_child, store.path.name, oid.binary(), out)
    store.put(b"for the child", id=oid)
    assert out.get(timeout=HANG) == b"for the child"
    p.join(HANG)
    assert p.exitcode == 0


def _waiter_threads():
    return [t for t in threading.enumerate() if t.name == "objstore-await"]


def test_closing_the_store_fails_its_awaits_and_ends_its_waiter(store_name):
    store = objstore.Store(store_name, capacity=1 << 20)
    before = set(_waiter_threads())
    oid = fresh_id()

    async def main():
        task = asyncio.ensure_future(store.get_async(oid))
        for _ in range(3):
            await asyncio.sleep(0)
        store.close()
        with pytest.raises(objstore.StoreClosed):
            await asyncio.wait_for(task, HANG)

    asyncio.run(main())
    for t in set(_waiter_threads()) - before:
        t.join(HANG)
        assert not t.is_alive(), "the waiter of a closed store still runs"
    with pytest.raises(objstore.StoreClosed):
        asyncio.run(store.get_async(oid))


def test_a_dropped_store_is_collected_after_awaits(store_name):
    import gc
    import weakref

    store = objstore.Store(store_name, capacity=1 << 20)
    oid = store.put(b"x", id=fresh_id())

    async def main(s):
        later = fresh_id()
        task = asyncio.ensure_future(s.get_async(later))
        await asyncio.sleep(0)
        s.put(b"y", id=later)
        return await s.get_async(oid), await asyncio.wait_for(task, HANG)

    assert asyncio.run(main(store)) == (b"x", b"y")
    gone = weakref.ref(store)
    del store
    # The waiter holds its Store only while something is awaited.
    for _ in range(HANG * 100):
        gc.collect()
        if gone() is None:
            break
        time.sleep(0.01)
    assert gone() is None, "the waiter thread keeps a dropped Store alive"


# The waiter's wait set (objstore._aio): one per Store, grown by each new
# await, made again without the IDs nobody awaits, freed when nothing is
# awaited. Internals are read where the behaviour shows nowhere else; a
# condition the thread brings about is polled up to HANG.


def _until(cond):
    for _ in range(HANG * 100):
        if cond():
            return True
        time.sleep(0.01)
    return cond()


async def _until_async(cond):
    for _ in range(HANG * 100):
        if cond():
            return True
        await asyncio.sleep(0.01)
    return cond()


def test_awaits_grow_one_wait_set_freed_when_nothing_is_awaited(store):
    n = 300
    ids = [fresh_id() for _ in range(n)]

    def produce():
        for oid in ids:
            store.put(oid.binary(), id=oid)

    async def main():
        gathered = asyncio.gather(*(store.get_async(oid) for oid in ids))
        await asyncio.sleep(0)
        # Every await started: their IDs are in one set, not one each.
        w = _aio._waiter(store)
        assert await _until_async(lambda: len(w._in_set) == n and store._wait_sets_counted() == 1)
        t = threading.Thread(target=produce)
        t.start()
        values = await asyncio.wait_for(gathered, HANG)
        t.join(HANG)
        return values

    assert asyncio.run(main()) == [oid.binary() for oid in ids]
    # Nothing awaited: the set is freed (the store's sealers stop logging).
    assert _until(lambda: store._wait_sets_counted() == 0)


def test_cancelled_awaits_leave_the_set_when_they_are_most_of_it(store):
    ids = [fresh_id() for _ in range(100)]
    kept, later = ids[0], fresh_id()
    w = _aio._waiter(store)

    async def main():
        tasks = [asyncio.ensure_future(store.get_async(oid)) for oid in ids]
        assert await _until_async(lambda: len(w._in_set) == 100 and not w._pending)
        for t in tasks[1:]:
            t.cancel()
        for t in tasks[1:]:
            with pytest.raises(asyncio.CancelledError):
                await t
        for _ in range(3):
            await asyncio.sleep(0)  # the cancelled awaits end
        assert list(w._awaited) == [kept] and len(w._unawaited) == 99
        # A new await wakes the thread, which finds 99 of the 101 IDs
        # unawaited: a new set of the two still awaited.
        task = asyncio.ensure_future(store.get_async(later))
        assert await _until_async(
            lambda: w._in_set == {kept, later} and not w._unawaited and store._wait_sets_counted() == 1
        )
        store.put(b"kept", id=kept)
        store.put(b"later", id=later)
        return await asyncio.wait_for(asyncio.gather(tasks[0], task), HANG)

    assert asyncio.run(main()) == [b"kept", b"later"]


def test_an_object_deleted_after_it_was_handed_out_is_awaited_again(store):
    # The waiter hands the ID out; the object is deleted before the get
    # runs; the get awaits it again, so the thread adds it to its set again.
    oid = fresh_id()
    w = _aio._waiter(store)

    async def main():
        task = asyncio.ensure_future(store.get_async(oid))
        assert await _until_async(lambda: oid in w._in_set and not w._pending)
        store.put(b"first", id=oid)
        # The loop is held here, so the get cannot run before the delete.
        assert _until(lambda: oid not in w._in_set)
        store.delete(oid)
        assert await _until_async(lambda: oid in w._in_set and not w._pending)
        assert not task.done()
        store.put(b"second", id=oid)
        return await asyncio.wait_for(task, HANG)

    assert asyncio.run(main()) == b"second"


# A get_async first looks without waiting (no waiter, no timeout when every
# object is there); one object not there is awaited through its waiter
# future alone, a list through those of the objects missing.


def test_get_if_sealed_returns_its_absent_value_instead_of_raising(store):
    absent = object()
    oid = fresh_id()
    assert store._get_if_sealed(oid, absent) is absent
    store.put(None, id=oid)
    assert store._get_if_sealed(oid, absent) is None  # a value of None is there
    ref = store.put({"k": 1})
    assert store._get_if_sealed(ref, absent) == {"k": 1}
    with pytest.raises(TypeError, match="takes an ObjectID"):
        store._get_if_sealed(b"x" * 20, absent)
    store.close()
    with pytest.raises(objstore.StoreClosed):
        store._get_if_sealed(ref, absent)


def test_an_await_of_sealed_objects_needs_no_waiter_nor_time(store):
    ref, other = store.put(b"here"), store.put(b"too")
    w_before = _aio._waiters.get((os.getpid(), id(store)))

    async def main():
        return (
            await ref,
            await store.get_async(ref, timeout=0),
            await store.get_async([ref, other], timeout=0),
            await store.get_async((other,)),
            await store.get_async([]),
        )

    assert asyncio.run(main()) == (b"here", b"here", [b"here", b"too"], [b"too"], [])
    # No await waited: no waiter thread was started for them.
    assert _aio._waiters.get((os.getpid(), id(store))) is w_before
    absent = fresh_id()
    for refs in (absent, [ref, absent]):
        with pytest.raises(objstore.Timeout):
            asyncio.run(store.get_async(refs, timeout=0))


def test_awaits_of_present_absent_and_repeated_objects_at_once(store):
    present = [store.put(i.to_bytes(2, "little")) for i in range(20)]
    absent = [fresh_id() for _ in range(20)]

    def produce():
        for i, oid in enumerate(absent):
            store.put((100 + i).to_bytes(2, "little"), id=oid)

    async def main():
        # Each absent object awaited twice alone and once in a list with a
        # present one: all served by one seal each.
        singles = [store.get_async(oid) for oid in absent + present + absent]
        lists = [store.get_async([p, a]) for p, a in zip(present, absent)]
        gathered = asyncio.gather(*singles, *lists)
        for _ in range(3):
            await asyncio.sleep(0)
        t = threading.Thread(target=produce)
        t.start()
        values = await asyncio.wait_for(gathered, HANG)
        t.join(HANG)
        return values

    values = [v if isinstance(v, list) else [v] for v in asyncio.run(main())]
    got = [[int.from_bytes(b, "little") for b in v] for v in values]
    late, early = list(range(100, 120)), list(range(20))
    assert got[:60] == [[i] for i in late + early + late]
    assert got[60:] == [[p, a] for p, a in zip(early, late)]


def test_objects_deleted_after_they_were_handed_out_to_a_list_get_are_awaited_again(store):
    a, b = fresh_id(), fresh_id()
    w = _aio._waiter(store)

    async def main():
        task = asyncio.ensure_future(store.get_async([a, b]))
        assert await _until_async(lambda: {a, b} <= w._in_set and not w._pending)
        store.put(b"a1", id=a)
        store.put(b"b1", id=b)
        # The loop is held here, so the get cannot run before the delete.
        assert _until(lambda: a not in w._in_set and b not in w._in_set)
        store.delete(b)
        assert await _until_async(lambda: b in w._in_set and not w._pending)
        assert not task.done() and a not in w._in_set  # only b is awaited again
        store.put(b"b2", id=b)
        return await asyncio.wait_for(task, HANG)

    assert asyncio.run(main()) == [b"a1", b"b2"]


def test_an_evicted_object_is_awaited_again(store_name):
    # A cache entry sealed and evicted (the store full) before the get of
    # the await that was told it was sealed.
    store = objstore.Store(store_name, capacity=1 << 20)
    try:
        oid = fresh_id()
        w = _aio._waiter(store)

        async def main():
            task = asyncio.ensure_future(store.get_async(oid))
            assert await _until_async(lambda: oid in w._in_set and not w._pending)
            store.put(b"e" * 1000, id=oid, refcounted=False, flags=objstore.OBJECT_EVICTABLE)
            assert _until(lambda: oid not in w._in_set)
            # Fill the store with objects of its own until the entry goes.
            kept = []
            while oid in store:
                kept.append(store.put(b"f" * 4096))
            assert await _until_async(lambda: oid in w._in_set and not w._pending)
            assert not task.done()
            store.delete(kept)
            store.put(b"again", id=oid)
            return await asyncio.wait_for(task, HANG)

        assert asyncio.run(main()) == b"again"
    finally:
        store.close()


def test_a_cancelled_single_await_drops_its_interest_at_once(store):
    oid = fresh_id()
    w = _aio._waiter(store)

    async def main():
        task = asyncio.ensure_future(store.get_async(oid))
        assert await _until_async(lambda: oid in w._awaited)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)  # the cancelled await ends
        assert oid not in w._awaited
        with pytest.raises(objstore.Timeout):
            await store.get_async(oid, timeout=0.01)
        assert oid not in w._awaited

    asyncio.run(main())


def test_an_await_whose_coroutine_is_closed_drops_its_interest_at_once(store):
    # Not cancelled: its coroutine is closed while it waits (as when it is
    # dropped unfinished), so GeneratorExit, not CancelledError, reaches
    # its await.
    a, b = fresh_id(), fresh_id()
    w = _aio._waiter(store)

    async def main():
        one = store.get_async(a)
        assert isinstance(one.send(None), asyncio.Future)  # at its await
        assert a in w._awaited
        listed = store.get_async([a, b])
        assert isinstance(listed.send(None), asyncio.Future)
        assert len(w._awaited[a]) == 2 and b in w._awaited
        one.close()
        assert len(w._awaited[a]) == 1 and b in w._awaited
        listed.close()
        assert not w._awaited
        # The waiter still serves a later await of the same IDs.
        later = asyncio.ensure_future(store.get_async(a))
        await asyncio.sleep(0)
        store.put(b"a", id=a)
        return await asyncio.wait_for(later, HANG)

    assert asyncio.run(main()) == b"a"


def test_an_id_awaited_again_after_its_first_await_was_cancelled_before_the_thread_ran(store):
    # The thread first finds nothing awaited (the one await was cancelled
    # before it ran) and sleeps; the same ID awaited again must wake it.
    import sys

    oid = fresh_id()
    w = _aio._waiter(store)
    let_it_sleep()  # the thread sleeps: nothing is awaited

    async def main():
        task = asyncio.ensure_future(store.get_async(oid))
        await asyncio.sleep(0)
        task.cancel()
        for _ in range(3):
            await asyncio.sleep(0)  # the cancelled await ends
        assert not w._awaited
        await asyncio.sleep(0.05)  # the thread runs, finds nothing awaited
        again = asyncio.ensure_future(store.get_async(oid))
        await asyncio.sleep(0)
        store.put(b"there", id=oid)
        return await asyncio.wait_for(again, HANG)

    # The loop keeps the GIL until it sleeps, so the thread runs only then.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(HANG)
    try:
        assert asyncio.run(main()) == b"there"
    finally:
        sys.setswitchinterval(interval)


def test_a_cancelled_list_await_drops_its_interest_and_others_keep_theirs(store):
    a, b = fresh_id(), fresh_id()
    w = _aio._waiter(store)

    async def main():
        listed = asyncio.ensure_future(store.get_async([a, b]))
        alone = asyncio.ensure_future(store.get_async(a))
        assert await _until_async(lambda: len(w._awaited.get(a, ())) == 2 and b in w._awaited)
        listed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listed
        # The list's interest in both is gone; the other await of a stays.
        assert b not in w._awaited and len(w._awaited[a]) == 1 and b in w._unawaited
        assert not alone.done()
        store.put(b"a", id=a)
        return await asyncio.wait_for(alone, HANG)

    assert asyncio.run(main()) == b"a"
