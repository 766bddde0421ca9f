"""One Store used from many threads, and waits that signals can interrupt."""

import signal
import threading

import numpy as np
import pytest

import objstore
from conftest import pinned


def test_threads_share_a_store(store):
    errors = []

    def work(k):
        try:
            for i in range(200):
                a = np.full((8, 8), k * 1000 + i, dtype=np.int32)
                ref = store.put(a if i % 2 else {"a": a, "i": i})
                got = store.get(ref)
                arr = got if i % 2 else got["a"]
                assert (arr == k * 1000 + i).all()
                del got, arr
                store.delete(ref)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert pinned(store) == 0 and store.stats().object_count == 0


class Interrupted(Exception):
    pass


def interrupt_after(seconds):
    def handler(signum, frame):
        raise Interrupted()

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return old


@pytest.mark.parametrize("as_list", [False, True])
def test_a_blocking_get_can_be_interrupted(store, as_list):
    present = store.put(np.arange(3))
    missing = objstore.ObjectID(b"\x07" * 20)
    old = interrupt_after(0.2)
    try:
        # Without wait slices the handler would run only after 30 s, and
        # the get would raise Timeout instead.
        with pytest.raises(Interrupted):
            store.get([present, missing] if as_list else missing, timeout=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert pinned(store) == 0  # the present object was released
