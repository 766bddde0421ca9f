"""ObjectRef: what put returns holds a reference, as in Ray. The object goes
when the last ObjectRef of it is dropped in every process; a pickled
ObjectRef carries a ticket, taken once by unpickling, so references sent to
other processes keep the object alive on the way; a process killed holding
one leaks nothing once reclaimed. No assertion here depends on timing:
processes step through queues."""

import asyncio
import concurrent.futures
import copy
import gc
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import time

import pytest

import objstore
from conftest import REPO, start

METHODS = ["fork", "spawn"]


def gone(store, oid):
    gc.collect()
    return not store.contains(oid)


def test_put_returns_a_reference_and_its_object_goes_with_it(store):
    ref = store.put(b"counted")
    assert type(ref) is objstore.ObjectRef and isinstance(ref, objstore.ObjectID)
    oid = objstore.ObjectID(ref)  # a plain ID: holds nothing
    assert type(oid) is objstore.ObjectID and oid == ref and hash(oid) == hash(ref)
    assert ref.store is store and store.get(oid) == b"counted"
    assert store.stats().references == 1
    # Copies are the same ObjectRef; they count once.
    assert copy.copy(ref) is ref and copy.deepcopy(ref) is ref
    again = [ref, ref]
    del ref
    assert not gone(store, oid)
    del again
    assert gone(store, oid)
    s = store.stats()
    assert (s.object_count, s.used_bytes, s.references) == (0, 0, 0)


def test_plain_objects_stay_until_deleted(store):
    a = store.put(b"plain", refcounted=False)
    b = store.put(b"by id", id=objstore.ObjectID(bytes([5] * 20)))  # an ID given: plain by default
    assert type(a) is objstore.ObjectID and type(b) is objstore.ObjectID
    c = store.put(b"by id, counted", id=objstore.ObjectID(bytes([6] * 20)), refcounted=True)
    assert type(c) is objstore.ObjectRef
    oids = [objstore.ObjectID(x) for x in (a, b, c)]
    del a, b, c
    gc.collect()
    assert [store.contains(o) for o in oids] == [True, True, False]
    store.delete(oids[:2])
    assert store.stats().object_count == 0


def test_an_object_ref_is_not_made_by_hand(store):
    ref = store.put(b"x")
    with pytest.raises(TypeError, match="made by Store.put or by unpickling"):
        objstore.ObjectRef(ref.binary())
    with pytest.raises(TypeError, match="made by Store.put or by unpickling"):
        objstore.ObjectRef.from_hex(ref.hex())


def test_delete_of_a_reference_frees_at_once(store):
    ref = store.put(b"x" * 1000)
    store.delete(ref)
    s = store.stats()
    assert (s.object_count, s.used_bytes, s.references) == (0, 0, 0)
    del ref  # holds nothing any more: nothing to give back
    gc.collect()


def test_a_value_keeps_the_object_its_last_reference_left(store):
    import numpy as np

    ref = store.put(np.arange(1000.0))
    oid = objstore.ObjectID(ref)
    view = store.get(ref)  # pins it
    del ref
    assert not gone(store, oid)  # the pin keeps it
    assert view.sum() == 499500.0
    del view
    assert gone(store, oid)
    assert store.stats().used_bytes == 0


def test_pickling_in_one_process_and_tickets_taken_once(store):
    ref = store.put(b"ticketed")
    oid = objstore.ObjectID(ref)
    data = pickle.dumps(ref)
    assert store.stats().tickets == 1
    first = pickle.loads(data)
    assert type(first) is objstore.ObjectRef and first == ref and first is not ref
    assert store.stats().tickets == 0
    with pytest.raises(objstore.ObjectNotFound, match="ticket was taken already"):
        pickle.loads(data)
    del ref
    assert not gone(store, oid)  # `first` holds its own reference
    del first
    assert gone(store, oid)


def test_a_never_unpickled_ticket_goes_with_its_store(store_name):
    s = objstore.Store(store_name, capacity=1 << 20, ticket_linger=0)
    ref = s.put(b"given, never taken")
    oid = objstore.ObjectID(ref)
    data = pickle.dumps(ref)
    del ref
    gc.collect()
    assert s.contains(oid)  # the ticket holds it, charged to this process
    s.close()  # this process detaches: its tickets are dropped
    s = objstore.Store(store_name)
    try:
        assert not s.contains(oid) and s.stats().tickets == 0
        with pytest.raises(objstore.ObjectNotFound, match="detached from the store or exited"):
            pickle.loads(data)
    finally:
        s.close()


def test_a_reference_outlives_its_closed_store(store_name):
    s = objstore.Store(store_name, capacity=1 << 20)
    ref = s.put(b"closed under it")
    oid = objstore.ObjectID(ref)
    s.close()  # detaches only when `ref` is gone, as with values from gets
    other = objstore.Store(store_name)
    try:
        assert other.contains(oid)
        assert ref.store is other  # this process's open Store of that name
        copied = pickle.loads(pickle.dumps(ref))  # given through ref's handle, taken through other's
        del ref  # the last reference through the closed Store: its handle goes
        assert not gone(other, oid)
        del copied
        assert gone(other, oid)
        assert other.stats().references == 0
    finally:
        other.close()


def test_the_store_object_stays_collectable(store_name):
    import weakref

    s = objstore.Store(store_name, capacity=1 << 20)
    ref = s.put(b"x")
    w = weakref.ref(s)
    del s
    gc.collect()
    assert w() is None  # the ObjectRef holds the handle, not the Store
    other = objstore.Store(store_name)
    try:
        assert other.get(ref) == b"x"
        oid = objstore.ObjectID(ref)
        del ref
        assert gone(other, oid)
    finally:
        other.close()


def test_wait_returns_the_references_it_was_given(store):
    refs = [store.put(i) for i in range(3)]
    ready, not_ready = store.wait(refs, num_returns=3, timeout=0)
    assert not_ready == [] and all(a is b for a, b in zip(ready, refs))


# ---------------------------------------------------------------- processes


def hold_then_drop(q_in, q_out):
    """Take a reference (unpickled from the queue), drop it when told, stay
    attached until told to exit."""
    ref = q_in.get(timeout=60)
    q_out.put((type(ref).__name__, ref.store.get(ref)))
    assert q_in.get(timeout=60) == "drop"
    del ref
    gc.collect()
    q_out.put("dropped")
    assert q_in.get(timeout=60) == "exit"


@pytest.mark.parametrize("method", METHODS)
def test_a_reference_dropped_in_every_process_frees_the_object(store, processes, method):
    ctx = multiprocessing.get_context(method)
    q_in, q_out = ctx.Queue(), ctx.Queue()
    start(processes, method, hold_then_drop, q_in, q_out)
    ref = store.put(b"shared")
    oid = objstore.ObjectID(ref)
    q_in.put(ref)  # pickled: a ticket the child takes
    assert q_out.get(timeout=60) == ("ObjectRef", b"shared")
    del ref
    assert not gone(store, oid)  # the child's reference keeps it
    q_in.put("drop")
    assert q_out.get(timeout=60) == "dropped"
    assert gone(store, oid)
    s = store.stats()
    assert (s.object_count, s.used_bytes, s.references, s.tickets) == (0, 0, 0, 0)
    q_in.put("exit")
    processes[0].join(timeout=60)
    assert processes[0].exitcode == 0


KEPT = []


def keep(ref):
    KEPT.append(ref)
    return ref.store.get(ref)


def drop_kept():
    KEPT.clear()
    gc.collect()
    return os.getpid()


@pytest.mark.parametrize("method", METHODS)
def test_a_reference_sent_to_a_pool_outlives_the_senders(store, method):
    ref = store.put({"payload": list(range(10))})
    oid = objstore.ObjectID(ref)
    ctx = multiprocessing.get_context(method)
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        assert pool.submit(keep, ref).result(timeout=60) == {"payload": list(range(10))}
        del ref
        assert not gone(store, oid)  # the worker's reference keeps it
        assert pool.submit(drop_kept).result(timeout=60) != os.getpid()
        assert gone(store, oid)
    assert store.stats().references == 0


def first_byte(ref):
    return int(ref.store.get(ref)[0])


@pytest.mark.parametrize("method", METHODS)
def test_a_pool_map_over_one_reference_many_times(store_name, method):
    """Pool.map's task thread pickles tasks ahead of the workers: far more
    tickets of one object outstanding at once than fit near it in the
    store's table (a window of 64 entries), and, in a store of 1,024 object
    slots, than the table has entries (256): the pickles wait for the
    workers to take some."""
    import numpy as np

    store = objstore.Store(store_name, capacity=8 << 20, max_objects=1024)
    try:
        ref = store.put(np.full(16, 7, np.uint8))
        with multiprocessing.get_context(method).Pool(2) as pool:
            assert pool.map(first_byte, [ref] * 1000, chunksize=1) == [7] * 1000
        # Leaving the block terminates the workers (SIGTERM), which may come
        # after a worker sent its last result and before it dropped that
        # task's argument: a reference of a dead process, dropped when its
        # slot is reclaimed (here by the collect; also at the next attach).
        store.collect()
        s = store.stats()
        assert (s.tickets, s.object_count, s.references) == (0, 1, 1)
        del ref
        assert store.stats().object_count == 0
    finally:
        store.close()


def test_a_pickle_that_cannot_get_room_for_its_tickets_says_so(store_name, monkeypatch):
    """One pickle of more distinct ObjectRefs than the store's table of
    tickets has entries (256 in a store of 1,024 object slots): nobody can
    take a ticket before the pickle ends, so after
    objstore.TICKET_ROOM_TIMEOUT it raises StoreFull, saying why."""
    store = objstore.Store(store_name, capacity=8 << 20, max_objects=1024)
    try:
        ref = store.put(b"shared")
        refs = [pickle.loads(pickle.dumps(ref)) for _ in range(300)]  # distinct ObjectRefs
        assert len(pickle.loads(pickle.dumps(refs[:200]))) == 200, "200 tickets of one object fit"
        monkeypatch.setattr(objstore, "TICKET_ROOM_TIMEOUT", 0.2)
        with pytest.raises(objstore.StoreFull, match="TICKET_ROOM_TIMEOUT"):
            pickle.dumps(refs)
        # The tickets the failed pickle gave stay charged to this process
        # until it detaches, as any ticket never taken.
        assert 200 < store.stats().tickets < 300
        monkeypatch.setattr(objstore, "TICKET_ROOM_TIMEOUT", "soon")
        with pytest.raises(TypeError):
            pickle.dumps(refs)
    finally:
        store.close()


def take_and_wait_to_be_killed(q_in, q_out):
    ref = q_in.get(timeout=60)
    q_out.put(ref.store.get(ref))
    q_in.get()  # until killed


@pytest.mark.parametrize("method", METHODS)
def test_a_killed_holder_leaks_nothing_after_collect(store, processes, method):
    ctx = multiprocessing.get_context(method)
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = start(processes, method, take_and_wait_to_be_killed, q_in, q_out)
    ref = store.put(b"held by a doomed child")
    oid = objstore.ObjectID(ref)
    q_in.put(ref)
    assert q_out.get(timeout=60) == b"held by a doomed child"
    del ref
    assert not gone(store, oid)
    p.kill()  # SIGKILL: no chance to drop anything
    p.join(timeout=60)
    store.collect()
    assert gone(store, oid)
    s = store.stats()
    assert (s.object_count, s.used_bytes, s.references, s.tickets) == (0, 0, 0, 0)
    assert s.reclaimed_processes >= 1


def pickle_and_exit(ref, q_out):
    """Send a pickled reference (bytes: the queue does not unpickle it) and
    exit without waiting for anyone to take it."""
    q_out.put(pickle.dumps(ref))


def test_a_ticket_never_taken_goes_with_its_giver(store, processes):
    """The child waits its Store's ticket_linger (objstore.TICKET_LINGER,
    5 s) at exit for the ticket to be taken, then exits with it."""
    ref = store.put(b"given by a child")
    oid = objstore.ObjectID(ref)
    q_out = multiprocessing.get_context("spawn").Queue()
    p = start(processes, "spawn", pickle_and_exit, ref, q_out)
    data = q_out.get(timeout=60)
    p.join(timeout=60)
    assert p.exitcode == 0
    store.collect()
    del ref
    assert gone(store, oid)  # the child's ticket went with it
    with pytest.raises(objstore.ObjectNotFound, match="ticket was taken already"):
        pickle.loads(data)
    assert store.stats().tickets == 0


def test_a_giver_counts_and_waits_for_its_tickets(store):
    ref = store.put(b"handed on")
    assert store.tickets_outstanding() == 0
    store.wait_tickets_taken(0)
    data = pickle.dumps(ref)
    assert store.tickets_outstanding() == 1
    with pytest.raises(objstore.Timeout, match="1 tickets given by this process were not taken"):
        store.wait_tickets_taken(0.01)
    canceller = objstore.Canceller()
    canceller.cancel()
    with pytest.raises(objstore.Cancelled):
        store.wait_tickets_taken(None, canceller=canceller)
    with pytest.raises(ValueError):
        store.wait_tickets_taken(-1)
    taken = pickle.loads(data)
    store.wait_tickets_taken(None)
    assert store.tickets_outstanding() == 0 and taken == ref


@pytest.mark.parametrize("linger", [-1, float("nan"), float("inf"), "5"])
def test_a_bad_ticket_linger_is_refused(store_name, linger):
    with pytest.raises(objstore.InvalidArgument, match="ticket_linger"):
        objstore.Store(store_name, capacity=1 << 20, ticket_linger=linger)


def put_and_pickle(store, value):
    """A worker's result: a reference to a new object, pickled here (the
    pool does not unpickle bytes), so the parent unpickles it when it
    chooses to."""
    return pickle.dumps(store.put(value))


def put_value(store, value):
    return store.put(value)


def unpickle_from(conn):
    """Receive a pickled reference and report what it holds (or why not)."""
    data = conn.recv()
    try:
        ref = pickle.loads(data)
        conn.send(("ok", ref.store.get(ref)))
    except objstore.ObjectStoreError as e:
        conn.send(("error", str(e)))


def test_a_detach_waits_for_its_tickets_with_the_gil_released(store_name, processes):
    """The last handle's detach waits for the process's tickets (its
    ticket_linger): with the GIL released, so that another thread, here
    the one that sends the pickle whose ticket it waits for, runs
    meanwhile. With the GIL held, the pickle would leave only after the
    linger, its ticket dropped, and the receiver would fail."""
    s = objstore.Store(store_name, capacity=1 << 20, ticket_linger=10)
    ref = s.put(b"sent while its giver detaches")
    data = pickle.dumps(ref)
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    start(processes, "spawn", unpickle_from, theirs)

    def send_later():
        time.sleep(0.3)
        ours.send(data)

    sender = threading.Thread(target=send_later)
    sender.start()
    s.close()
    del ref  # the last handle: the detach waits for the ticket
    gc.collect()
    sender.join()
    assert ours.recv() == ("ok", b"sent while its giver detaches")


@pytest.mark.parametrize("method", METHODS)
def test_a_worker_exiting_after_its_result_waits_for_its_ticket(store, method):
    """A pool worker that exits after each task (maxtasksperchild=1) and
    returns a reference: its exit waits for the ticket to be taken, so a
    collect meanwhile (or the next worker's attach, which reclaims the
    exited one) does not drop it. Without the wait, the worker is gone
    within milliseconds, and the unpickle after the collect finds the
    object gone."""
    with multiprocessing.get_context(method).Pool(1, maxtasksperchild=1) as pool:
        data = pool.apply(put_and_pickle, (store, b"from an exiting worker"))
        time.sleep(0.3)
        store.collect()
        ref = pickle.loads(data)
        assert store.get(ref) == b"from an exiting worker"
    del ref
    gc.collect()
    store.collect()
    assert store.stats().object_count == 0


@pytest.mark.parametrize("method", METHODS)
def test_a_pool_of_short_lived_workers_returns_references(store, method):
    """Results as ObjectRefs from workers that each run one task and exit,
    through multiprocessing.Pool and ProcessPoolExecutor: every one
    arrives holding its object, and nothing is left once they are
    dropped."""
    values = [f"result {n}".encode() for n in range(12)]
    with multiprocessing.get_context(method).Pool(2, maxtasksperchild=1) as pool:
        refs = pool.starmap(put_value, [(store, v) for v in values], chunksize=1)
    store.collect()
    assert [store.get(r) for r in refs] == values
    if method != "fork":  # max_tasks_per_child cannot be used with fork
        ctx = multiprocessing.get_context(method)
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx, max_tasks_per_child=1) as pool:
            more = list(pool.map(put_value, [store] * len(values), values))
        store.collect()
        assert [store.get(r) for r in more] == values
        del more
    del refs
    gc.collect()
    store.collect()
    s = store.stats()
    assert (s.object_count, s.tickets, s.references) == (0, 0, 0)


def drop_inherited(ref, q_out):
    """A fork child: `ref` is the parent's object, not pickled. Dropping it
    here must not drop the parent's reference."""
    store = ref.store
    q_out.put(store.get(ref))
    del ref
    gc.collect()
    q_out.put("dropped")


def test_a_fork_child_does_not_drop_its_parents_references(store, processes):
    ref = store.put(b"inherited")
    oid = objstore.ObjectID(ref)
    q_out = multiprocessing.get_context("fork").Queue()
    p = start(processes, "fork", drop_inherited, ref, q_out)
    assert q_out.get(timeout=60) == b"inherited"
    assert q_out.get(timeout=60) == "dropped"
    p.join(timeout=60)
    assert p.exitcode == 0
    store.collect()
    assert store.contains(oid)  # still the parent's
    del ref
    assert gone(store, oid)


def pass_inherited_on(ref, q_out, q_in):
    """A fork child pickles an inherited ObjectRef: a reference of its own,
    in a ticket charged to it, so it stays until the parent took it."""
    q_out.put(pickle.dumps(ref))
    assert q_in.get(timeout=60) == "taken"


def test_a_fork_child_passes_an_inherited_reference_on(store, processes):
    ref = store.put(b"passed on")
    oid = objstore.ObjectID(ref)
    ctx = multiprocessing.get_context("fork")
    q_out, q_in = ctx.Queue(), ctx.Queue()
    p = start(processes, "fork", pass_inherited_on, ref, q_out, q_in)
    data = q_out.get(timeout=60)
    del ref
    assert not gone(store, oid)  # the child's ticket holds it
    mine = pickle.loads(data)
    q_in.put("taken")
    p.join(timeout=60)
    assert p.exitcode == 0
    store.collect()
    assert store.get(mine) == b"passed on"
    del mine
    assert gone(store, oid)


EXIT_HOLDING = """
import gc, sys, objstore
store = objstore.Store(sys.argv[1])
KEPT = [store.put(b"x" * 1000) for _ in range(5)]
cycle = [store.put(b"in a cycle")]
cycle.append(cycle)
gc.disable()  # the cycle stays for the interpreter's shutdown
print("holding", store.stats().references, flush=True)
"""


def test_exiting_with_references_alive_is_clean(store):
    # An interpreter that exits with ObjectRefs in globals and in a cycle:
    # no error at shutdown, and nothing left once its attachment is gone.
    r = subprocess.run([sys.executable, "-c", EXIT_HOLDING, store.name], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "holding 6", r.stdout + r.stderr
    assert r.stderr == ""
    store.collect()
    s = store.stats()
    assert (s.object_count, s.used_bytes, s.references) == (0, 0, 0)


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_the_process_pool_example(method):
    example = os.path.join(REPO, "examples", "python", "process_pool.py")
    r = subprocess.run(
        [sys.executable, example, "--start-method", method],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "every reference dropped: 0 objects, 0 bytes, 0 references" in r.stdout
    assert r.stdout.rstrip().endswith("ok")


def test_an_objectref_given_to_another_store_is_refused(store, store_name):
    """An ObjectRef names the store its object was put in: a Store of
    another name refuses it (ValueError) where it would otherwise report
    the object missing or wait for it in vain."""
    other_name = store_name + "-other"
    other = objstore.Store(other_name, capacity=1 << 20)
    try:
        ref = store.put(b"here")
        calls = {
            "get": lambda: other.get(ref, timeout=5),
            "get of a list": lambda: other.get([ref], timeout=5),
            "get_async": lambda: asyncio.run(other.get_async(ref, timeout=5)),
            "get_async of a list": lambda: asyncio.run(other.get_async([ref], timeout=5)),
            "await": lambda: asyncio.run(other.get_async(ref)),
            "wait": lambda: other.wait([ref], 1, 5),
            "objstore.wait": lambda: objstore.wait([ref], store=other, timeout=5),
            "as_completed": lambda: list(other.as_completed([ref], timeout=5)),
            "delete": lambda: other.delete(ref),
            "delete of a list": lambda: other.delete([ref]),
            "ref": lambda: other.ref(ref),
            "unref": lambda: other.unref(ref),
            "give_ref": lambda: other.give_ref(ref),
        }
        for what, call in calls.items():
            with pytest.raises(ValueError, match="given to store") as e:
                call()
            assert store_name in str(e.value) and other_name in str(e.value), what
        assert ref not in other and not other.contains(ref)
        # Nothing happened to it in its own store (a delete elsewhere once
        # gave its reference back, freeing it here); a plain ObjectID carries
        # no store, and is simply not found in the other.
        assert store.get(ref, timeout=0) == b"here" and store.stats().references == 1
        with pytest.raises(objstore.ObjectNotFound):
            other.get(objstore.ObjectID(ref), timeout=0)
        # Another handle of the same store takes it, by its name or by the
        # path of its file.
        for same in (store_name, os.path.join("/dev/shm", store_name)):
            again = objstore.Store(same)
            try:
                assert again.get(ref, timeout=0) == b"here"
                assert again.wait([ref], 1, 0) == ([ref], [])
                assert list(again.as_completed([ref], timeout=0)) == [ref]
            finally:
                again.close()
    finally:
        other.close()
        objstore.destroy(other_name, missing_ok=True)
