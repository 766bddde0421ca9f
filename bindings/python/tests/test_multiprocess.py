"""Several processes on one store: multiprocessing workers started by fork
and by spawn attach by name; a forked child re-attaches by itself."""

import gc
import multiprocessing
import os
import signal

import numpy as np
import pytest

import objstore
from conftest import pinned, start

METHODS = ["fork", "spawn"]


def transpose_worker(store, jobs, out_queue):
    """Get tensors, put their transposes, report the new IDs."""
    out = []
    for i, ref in jobs:
        t = store.get(ref, timeout=30)
        assert not t.flags.writeable
        # Plain objects: this worker exits right after sending, and the
        # tickets of ObjectRefs (the default) would go with it, maybe
        # before the parent takes them (test_objectref.py has the Ray way).
        out.append((i, store.put(np.ascontiguousarray(t.transpose(0, 2, 1)), refcounted=False)))
    out_queue.put(out)


@pytest.mark.parametrize("method", METHODS)
def test_workers_transpose_tensors(store, processes, method):
    ctx = multiprocessing.get_context(method)
    tensors = [np.random.default_rng(i).random((i + 1, 8, 8), dtype=np.float32) for i in range(6)]
    refs = [store.put(t) for t in tensors]
    q = ctx.Queue()
    jobs = list(enumerate(refs))
    for part in (jobs[:3], jobs[3:]):
        start(processes, method, transpose_worker, store, part, q)
    new = dict(q.get(timeout=60) + q.get(timeout=60))
    for p in processes:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(new) == list(range(6))
    for i, t in enumerate(tensors):
        np.testing.assert_array_equal(store.get(new[i]), t.transpose(0, 2, 1))
        np.testing.assert_array_equal(store.get(refs[i]), t)  # originals unchanged


def pool_task(args):
    store, ref = args
    return float(store.get(ref, timeout=30).sum()), os.getpid()


@pytest.mark.parametrize("method", METHODS)
def test_pool_with_store_argument(store, method):
    refs = [store.put(np.full(100, i, dtype=np.float64)) for i in range(8)]
    with multiprocessing.get_context(method).Pool(2) as pool:
        out = pool.map(pool_task, [(store, r) for r in refs])
    assert [s for s, _ in out] == [100.0 * i for i in range(8)]
    assert all(pid != os.getpid() for _, pid in out)
    assert pinned(store) == 0


def inherited_worker(store, ref, parent_view_sum, q):
    # `store` is the parent's object (fork: not pickled). Its first call
    # re-attaches this process.
    assert os.getpid() != store._pid
    ref2 = store.put(np.arange(5))
    q.put((float(store.get(ref).sum()), parent_view_sum, ref2, store.stats().attached_processes))


def test_forked_child_reattaches_by_itself(store, processes):
    ref = store.put(np.ones(10))
    view = store.get(ref)  # the parent holds a pin; the child inherits the view
    q = multiprocessing.get_context("fork").Queue()
    start(processes, "fork", inherited_worker, store, ref, float(view.sum()), q)
    total, parent_sum, ref2, attached = q.get(timeout=60)
    processes[0].join(timeout=60)
    assert processes[0].exitcode == 0
    assert total == parent_sum == 10.0 and attached == 2
    np.testing.assert_array_equal(store.get(ref2), np.arange(5))
    assert store.stats().pinned_count >= 1  # the parent's pin on `ref` survived the child


def test_raw_fork_child_uses_inherited_views_and_store(store):
    ref = store.put(np.arange(100))
    view = store.get(ref)
    assert pinned(store) == 1
    pid = os.fork()
    if pid == 0:  # the child: exit code says what went wrong
        code = 0
        try:
            if view.sum() != 4950:  # the inherited mapping is readable
                code = 1
            del view
            gc.collect()  # must not release the parent's pin
            if store.get(ref, timeout=5).sum() != 4950:  # re-attached
                code = 2
            s = store.stats()
            if s.attached_processes != 2 or s.pinned_count != 1:
                code = 3
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pinned(store) == 1  # still the parent's pin
    del view
    assert pinned(store) == 0


def producer(store, oid, q):
    q.get(timeout=60)  # wait until the consumer is waiting
    store.put({"payload": np.arange(1000)}, id=oid)


@pytest.mark.parametrize("method", METHODS)
def test_consumer_waits_for_producer_process(store, processes, method):
    oid = objstore.ObjectID(os.urandom(20))
    q = multiprocessing.get_context(method).Queue()
    start(processes, method, producer, store, oid, q)
    q.put("go")
    got = store.get(oid, timeout=60)
    np.testing.assert_array_equal(got["payload"], np.arange(1000))


def die_holding_a_pin(name, ref, q):
    s = objstore.Store(name)
    keep = s.get(ref)
    pending = s.create(1000)  # and an unsealed object  # noqa: F841
    q.put(float(keep.sum()))
    signal.pause()  # until killed


@pytest.mark.parametrize("method", METHODS)
def test_pins_of_a_killed_worker_are_reclaimed(store, processes, method):
    ref = store.put(np.ones(10))
    q = multiprocessing.get_context(method).Queue()
    p = start(processes, method, die_holding_a_pin, store.name, ref, q)
    assert q.get(timeout=60) == 10.0
    s = store.stats()
    assert s.pinned_count == 1 and s.unsealed_count == 1 and s.attached_processes == 2
    p.kill()
    p.join(timeout=60)
    store.collect()
    s = store.stats()
    assert s.pinned_count == 0 and s.unsealed_count == 0 and s.attached_processes == 1
    assert s.reclaimed_processes >= 1


def test_store_by_path_and_pickling_in_one_process(tmp_path):
    path = str(tmp_path / "store-file")
    s = objstore.Store(path, capacity=1 << 20)
    try:
        assert s.name == path and os.path.exists(path)
        ref = s.put(b"by path")
        import pickle

        assert pickle.loads(pickle.dumps(s)) is s  # same process: the same Store
        assert pickle.loads(pickle.dumps(ref)) == ref
    finally:
        s.close()
        objstore.destroy(path)
    assert not os.path.exists(path)
