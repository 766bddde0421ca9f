"""``objstore.as_completed`` and ``Store.as_completed``: the references in
the order their objects are sealed, each once, over the core's wait set
(one look at every ID when it is made, then only at what was sealed
since). Producers in other threads and processes step through events, so
no assertion depends on timing; a wait that must end has a generous
limit that only a hang reaches. Ctrl-C is tested with the other blocked
calls, in test_interrupt.py."""

import gc
import multiprocessing
import os
import random
import threading
import time

import pytest

import objstore
from conftest import start

HANG = 60  # seconds: only a hang reaches it
METHODS = ["fork", "spawn"]


def fresh_id():
    return objstore.ObjectID(os.urandom(20))


def sets(store):
    """Wait sets the store counts (its sealers log while there is one)."""
    gc.collect()
    return store._wait_sets_counted()


def test_sealed_already_come_first_in_the_order_given(store):
    refs = [store.put(i) for i in range(5)]
    got = list(objstore.as_completed(refs, timeout=0))
    assert got == refs
    assert all(a is b for a, b in zip(got, refs))  # the given ObjectRefs, not copies
    assert sets(store) == 0


def test_order_of_seals_from_another_thread(store):
    ids = [fresh_id() for _ in range(4)]
    order = [2, 0, 3, 1]
    producer_may = threading.Semaphore(0)

    def produce():
        for i in order:
            producer_may.acquire()
            store.put(f"r{i}".encode(), id=ids[i])

    t = threading.Thread(target=produce)
    t.start()
    try:
        gen = objstore.as_completed(ids, store=store, timeout=HANG)
        taken = []
        for _ in order:
            producer_may.release()
            taken.append(store.get(next(gen)))
        assert taken == [b"r2", b"r0", b"r3", b"r1"]
        with pytest.raises(StopIteration):
            next(gen)
    finally:
        for _ in order:
            producer_may.release()
        t.join(HANG)
    assert sets(store) == 0


def test_many_references_sealed_in_a_random_order(store):
    # A thousand IDs: each wait looks up only what was logged since the
    # last one, through the set's table of logged hashes.
    ids = [fresh_id() for _ in range(1000)]
    order = list(range(len(ids)))
    random.Random(7).shuffle(order)
    batch = 50
    steps = [threading.Event() for _ in range(len(ids) // batch)]

    def produce():
        for k, step in enumerate(steps):
            step.wait(HANG)
            for i in order[k * batch : (k + 1) * batch]:
                store.put(b"", id=ids[i])

    t = threading.Thread(target=produce)
    t.start()
    try:
        gen = objstore.as_completed(ids, store=store, timeout=HANG)
        taken = []
        for k, step in enumerate(steps):
            step.set()
            taken += [next(gen) for _ in range(batch)]
            # Each batch is sealed before the next starts: its IDs, in any
            # order (a wait may find a batch's IDs in the order they were logged).
            assert sorted(taken[k * batch :]) == sorted(ids[i] for i in order[k * batch : (k + 1) * batch])
        assert next(gen, None) is None
    finally:
        for step in steps:
            step.set()
        t.join(HANG)
    assert sorted(taken) == sorted(ids)


def put_in_order(name, ids, order, q_step):
    store = objstore.Store(name)
    for i in order:
        q_step.get(timeout=HANG)
        store.put(f"p{i}".encode(), id=ids[i])
    store.close()


@pytest.mark.parametrize("method", METHODS)
def test_order_of_seals_from_another_process(store, processes, method):
    ids = [fresh_id() for _ in range(3)]
    order = [1, 2, 0]
    q_step = multiprocessing.get_context(method).Queue()
    p = start(processes, method, put_in_order, store.name, ids, order, q_step)
    taken = []
    q_step.put("next")
    for ref in objstore.as_completed(ids, store=store, timeout=HANG):
        taken.append(store.get(ref))
        if len(taken) < len(ids):
            q_step.put("next")
    p.join(HANG)
    assert p.exitcode == 0
    assert taken == [b"p1", b"p2", b"p0"]


def test_a_reference_given_twice_is_yielded_once(store):
    a, b = store.put(b"a"), store.put(b"b")
    got = list(objstore.as_completed([a, b, a, objstore.ObjectID(b)], timeout=0, store=store))
    assert got == [a, b] and got[0] is a and got[1] is b  # the first object that gave each ID
    gen = store.as_completed([b, b])
    assert list(gen) == [b]


def test_nothing_to_wait_for(store):
    assert list(objstore.as_completed([])) == []
    assert list(objstore.as_completed([], store=store)) == []
    assert list(store.as_completed(iter(()))) == []


def test_timeout_counts_from_the_call_and_yields_the_sealed_first(store):
    a = store.put(b"a")
    missing = fresh_id()
    gen = objstore.as_completed([missing, a], store=store, timeout=0.05)
    assert next(gen) is a
    started = time.monotonic()
    with pytest.raises(objstore.Timeout, match=r"as_completed: 1 of 2 objects were not sealed within 0.05s") as e:
        next(gen)
    assert time.monotonic() - started < HANG
    assert isinstance(e.value, TimeoutError) and e.value.status_name == "OS_TIMEOUT"
    with pytest.raises(StopIteration):  # a generator that raised is over
        next(gen)
    assert sets(store) == 0
    # timeout=0: a look, no wait.
    with pytest.raises(objstore.Timeout):
        list(store.as_completed([fresh_id()], timeout=0))
    # Sealed before the deadline is checked: yielded whatever the time.
    gen = store.as_completed([a], timeout=0)
    time.sleep(0.01)
    assert list(gen) == [a]


def test_a_canceller_ends_a_blocked_step_from_another_thread(store):
    c = objstore.Canceller()
    out = {}

    def run():
        try:
            out["value"] = list(objstore.as_completed([fresh_id()], store=store, canceller=c))
        except BaseException as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.05)  # most likely asleep in the wait by now; either way it must end
    c.cancel()
    t.join(HANG)
    assert not t.is_alive()
    assert isinstance(out.get("error"), objstore.Cancelled), out
    assert sets(store) == 0
    # A cancelled canceller: what is sealed is yielded, then the wait is cancelled.
    a = store.put(b"a")
    gen = store.as_completed([a, fresh_id()], canceller=c)
    assert next(gen) is a
    with pytest.raises(objstore.Cancelled):
        next(gen)


def test_a_blocked_step_on_the_main_thread_gets_its_object(store):
    # The helper-thread wait of the main thread (the one Ctrl-C can end),
    # when no signal comes; the GIL is released meanwhile (the timer's put
    # runs Python).
    oid = fresh_id()
    timer = threading.Timer(0.05, lambda: store.put(b"later", id=oid))
    timer.start()
    try:
        assert list(store.as_completed([oid], timeout=HANG)) == [oid]
    finally:
        timer.join()


def test_the_set_is_freed_when_the_generator_ends_is_closed_or_collected(store):
    refs = [store.put(i) for i in range(3)]
    assert sets(store) == 0
    gen = objstore.as_completed(refs)
    assert sets(store) == 1  # made at the call, not at the first step
    assert next(gen) is refs[0]
    gen.close()
    assert sets(store) == 0
    for ref in objstore.as_completed(refs):
        break
    assert sets(store) == 0  # the loop's generator is collected
    gen = objstore.as_completed(refs)
    del gen  # never started
    assert sets(store) == 0
    gen = objstore.as_completed(refs)
    gen.close()  # never started
    assert sets(store) == 0
    gens = [store.as_completed([fresh_id()]) for _ in range(3)]
    assert sets(store) == 3
    del gens
    assert sets(store) == 0


def test_the_wait_set_itself(store):
    a, b = store.put(b"a"), store.put(b"b")
    c = fresh_id()
    ws = store._wait_set([a, c, b, a])
    assert len(ws) == 3 and ws.remaining == 3 and not ws.closed
    assert repr(ws) == "WaitSet(3 references, 3 left)"
    assert ws.next(1, 0) == [a]
    assert ws.next(None, 0) == [b] and ws.remaining == 1
    with pytest.raises(objstore.Timeout, match="none of the 1 objects left"):
        ws.next(5, 0.01)
    store.put(b"c", id=c)
    assert ws.next(5, HANG) == [c]
    assert ws.next() == [] and ws.remaining == 0  # all handed out: empty at once
    with pytest.raises(objstore.InvalidArgument):
        ws.next(0)
    ws.close()
    ws.close()
    assert ws.closed and ws.remaining == 0 and repr(ws) == "WaitSet(3 references, closed)"
    with pytest.raises(objstore.InvalidArgument, match="closed"):
        ws.next()
    assert sets(store) == 0


def test_bad_arguments(store_name, store):
    a = store.put(b"a")
    with pytest.raises(TypeError):
        objstore.as_completed(42)
    with pytest.raises(TypeError, match="expected an ObjectID"):
        store.as_completed([a, "not an id"])
    with pytest.raises(TypeError, match="store="):
        objstore.as_completed([fresh_id()])
    with pytest.raises(ValueError, match="one store"):
        objstore.as_completed([a, objstore.ObjectID(a)])
    for bad in (-1, float("nan")):
        with pytest.raises(ValueError, match="timeout"):
            objstore.as_completed([a], timeout=bad)
        with pytest.raises(ValueError, match="timeout"):
            objstore.as_completed([], timeout=bad)
    with pytest.raises(TypeError, match="timeout"):
        store.as_completed([a], timeout="1")
    with pytest.raises(TypeError, match="canceller"):
        store.as_completed([a], canceller="no")
    assert list(store.as_completed([a], timeout=float("inf"))) == [a]
    # Refused at the call: no set was made.
    assert sets(store) == 0
    other_name = store_name + "-other"
    try:
        with objstore.Store(other_name, capacity=1 << 20) as other:
            b = other.put(b"b")
            with pytest.raises(ValueError, match="one store"):
                objstore.as_completed([a, b])
            # The store's own references, whichever Store they came through.
            assert list(objstore.as_completed([b], timeout=0)) == [b]
            del b
    finally:
        objstore.destroy(other_name, missing_ok=True)
    store.close()
    with pytest.raises(objstore.StoreClosed):
        store.as_completed([a])


def test_references_through_two_stores_of_one_name_are_of_one_store(store):
    # ObjectRefs name their store: put through two Stores of the same name,
    # they are of one store for objstore.wait and objstore.as_completed.
    twin = objstore.Store(store.name)
    try:
        a, b = store.put(b"a"), twin.put(b"b")
        assert list(objstore.as_completed([a, b], timeout=0)) == [a, b]
        assert objstore.wait([a, b], num_returns=2, timeout=0) == ([a, b], [])
        del a, b
    finally:
        twin.close()


def test_deleted_objects(store):
    # Deleted before the set is made: never sealed as far as it can see.
    gone = store.put(b"gone", refcounted=False)
    store.delete(gone)
    with pytest.raises(objstore.Timeout):
        list(store.as_completed([gone], timeout=0.01))
    # Sealed when the set looked, deleted after: yielded (no pin is taken),
    # and a get says it is gone.
    later = store.put(b"later", refcounted=False)
    gen = store.as_completed([later])
    store.delete(later)
    assert list(gen) == [later]
    with pytest.raises(objstore.ObjectNotFound):
        store.get(later, timeout=0)
    # An object deleted before it is sealed is never sealed: a put of its
    # ID afterwards is.
    oid = fresh_id()
    p = store.create(1, id=oid)
    gen = store.as_completed([oid], timeout=HANG)
    p.abort()
    store.put(b"again", id=oid)
    assert list(gen) == [oid]


def test_it_keeps_working_after_its_store_is_closed(store_name):
    s = objstore.Store(store_name, capacity=1 << 20)
    other = objstore.Store(store_name)
    oid = fresh_id()
    gen = s.as_completed([oid], timeout=HANG)
    s.close()
    other.put(b"x", id=oid)
    assert list(gen) == [oid]
    other.close()


def test_references_stay_alive_while_the_generator_holds_them(store):
    ref = store.put(b"kept")
    oid = objstore.ObjectID(ref)
    gen = store.as_completed([ref])
    del ref
    gc.collect()
    assert store.contains(oid)
    (got,) = list(gen)
    assert type(got) is objstore.ObjectRef and store.get(got) == b"kept"


def use_in_child(name, q):
    # A set made before a fork belongs to the parent: refused in the child.
    try:
        q.put(next(GEN))
    except objstore.InvalidArgument as e:
        q.put(f"refused: {e}")


GEN = None


def test_a_set_made_before_a_fork_is_the_parents(store, processes):
    global GEN
    a = store.put(b"a")
    GEN = store.as_completed([objstore.ObjectID(a)])
    try:
        q = multiprocessing.get_context("fork").Queue()
        p = start(processes, "fork", use_in_child, store.name, q)
        said = q.get(timeout=HANG)
        p.join(HANG)
        assert isinstance(said, str) and said.startswith("refused:") and "another process" in said, said
        assert next(GEN) == a  # the parent's set is untouched
        assert sets(store) == 1
    finally:
        GEN = None
    assert sets(store) == 0


def test_a_native_wait_set_grows_by_add(store):
    # WaitSet.add: the objects given are handed out as the set's own (one
    # sealed already by the next next, one sealed later by another thread
    # wakes a next that waits); an ID the set holds and has not handed out
    # is not added again, one it handed out is, and comes out again.
    ids = [fresh_id() for _ in range(4)]
    ws = store._wait_set(ids[:1])
    store.put(b"0", id=ids[0])
    assert ws.next(timeout=0) == [ids[0]]
    assert ws.next() == [] and ws.remaining == 0
    store.put(b"2", id=ids[2])
    ws.add([ids[1], ids[2], ids[3], ids[3], ids[1]])
    assert len(ws) == 4 and ws.remaining == 3
    assert ws.next(timeout=0) == [ids[2]]
    ws.add(iter([ids[1]]))  # held and not handed out: not again
    ws.add([])
    assert len(ws) == 4 and ws.remaining == 2
    producer = threading.Thread(target=lambda: store.put(b"3", id=ids[3]))
    producer.start()
    try:
        assert ws.next(timeout=HANG) == [ids[3]]
    finally:
        producer.join()
    store.delete(ids[3])
    ws.add([ids[3], ids[0]])  # handed out before: added again
    assert len(ws) == 6 and ws.remaining == 3
    assert ws.next(timeout=0) == [ids[0]]
    store.put(b"3 again", id=ids[3])
    assert ws.next(timeout=HANG) == [ids[3]]
    with pytest.raises(TypeError):
        ws.add([b"not an id"])
    assert len(ws) == 6
    ws.close()
    with pytest.raises(objstore.InvalidArgument):
        ws.add([ids[1]])
    assert sets(store) == 0


def add_in_child(name, q):
    # A set made before a fork belongs to the parent: its add is refused.
    try:
        WS.add([fresh_id()])
        q.put("added")
    except objstore.InvalidArgument as e:
        q.put(f"refused: {e}")


WS = None


def test_a_native_wait_set_made_before_a_fork_refuses_an_add_in_the_child(store, processes):
    global WS
    b = store.put(b"b")
    WS = store._wait_set([fresh_id()])
    try:
        q = multiprocessing.get_context("fork").Queue()
        p = start(processes, "fork", add_in_child, store.name, q)
        said = q.get(timeout=HANG)
        p.join(HANG)
        assert isinstance(said, str) and said.startswith("refused:") and "another process" in said, said
        WS.add([objstore.ObjectID(b)])  # the parent's set still grows
        assert WS.next(timeout=0) == [objstore.ObjectID(b)]
        assert len(WS) == 2
    finally:
        WS.close()
        WS = None
    assert sets(store) == 0
