"""Ctrl-C interrupts a get, wait or as_completed step that blocks: a child
process blocks in the call with no timeout, receives SIGINT, and must raise
KeyboardInterrupt within a generous bound, leaving nothing pinned (and no
wait set). A blocked call runs with the GIL released, so without the
binding's canceller it would block the signal's handler until the object
came."""

import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import objstore

# A generous bound for "at once": the binding looks for signals every
# 50 ms, but the machine may be loaded.
BOUND_S = 2.0

CHILD = textwrap.dedent(
    """
    import signal, sys, objstore
    # Python installs its Ctrl-C handler only if SIGINT is not ignored at
    # start, and a background job of a non-interactive shell starts with
    # it ignored (pytest run from such a job passes that on): install it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    name, call = sys.argv[1], sys.argv[2]
    store = objstore.Store(name)
    present = store.put(b"here")
    absent = objstore.ObjectID.from_hex("ab" * 20)
    print("waiting", flush=True)
    try:
        if call == "get":
            store.get(absent)
        elif call == "get_list":
            store.get([present, absent])
        elif call == "wait":
            store.wait([present, absent], num_returns=2)
        elif call == "as_completed":
            for ref in objstore.as_completed([present, absent], store=store):
                assert ref is present  # then it blocks for the absent one
        print("returned", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        import gc, time; gc.collect()
        print("pinned", store.stats().pinned_count, flush=True)
        # The generator freed its wait set (a cancelled helper thread lets
        # go of it as soon as it wakes).
        for _ in range(1000):
            if store._wait_sets_counted() == 0:
                break
            time.sleep(0.01)
        print("sets", store._wait_sets_counted(), flush=True)
    """
)


def interrupt_child(script, *args):
    """Runs ``script`` in a child until it prints "waiting", sends it SIGINT
    a moment later: (its first line after that, seconds it took, the rest
    of its output, its stderr, its exit code)."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A child that never answers fails the test instead of hanging it.
    watchdog = threading.Timer(60, child.kill)
    watchdog.start()
    try:
        assert child.stdout.readline().strip() == "waiting"
        time.sleep(0.3)  # blocked in the call by now, most likely; either way it must end
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        first = child.stdout.readline().strip()
        elapsed = time.monotonic() - sent
        rest, err = child.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    return first, elapsed, rest, err, child.returncode


@pytest.mark.parametrize("call", ["get", "get_list", "wait", "as_completed"])
def test_ctrl_c_interrupts_a_blocked_call(store, call):
    first, elapsed, rest, err, code = interrupt_child(CHILD, store.name, call)
    assert first == "interrupted", (first, rest, err)
    assert elapsed < BOUND_S, f"KeyboardInterrupt came {elapsed:.2f}s after SIGINT"
    assert rest.split() == ["pinned", "0", "sets", "0"], (rest, err)
    assert code == 0, err


WAIT_SET_CHILD = textwrap.dedent(
    """
    import signal, sys, objstore
    signal.signal(signal.SIGINT, signal.default_int_handler)
    store = objstore.Store(sys.argv[1])
    absent = objstore.ObjectID.from_hex("ab" * 20)
    ws = store._wait_set([absent])
    print("waiting", flush=True)
    try:
        ws.next()
        print("returned", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    store.put(b"now", id=absent)
    print(ws.next(None, 30) == [absent], ws.remaining, flush=True)
    """
)


def test_a_wait_set_interrupted_by_ctrl_c_loses_nothing(store):
    # The native set behind as_completed: after KeyboardInterrupt it is
    # still usable, and hands out what is sealed later (or what the
    # abandoned wait found meanwhile).
    first, elapsed, rest, err, code = interrupt_child(WAIT_SET_CHILD, store.name)
    assert first == "interrupted", (first, rest, err)
    assert elapsed < BOUND_S, f"KeyboardInterrupt came {elapsed:.2f}s after SIGINT"
    assert rest.split() == ["True", "0"], (rest, err)
    assert code == 0, err


def test_a_blocked_get_off_the_main_thread_gets_its_object(store):
    # Off the main thread no signal can be handled: the call just blocks in
    # place, and gets the object once it is sealed.
    ref = objstore.ObjectID.from_hex("cd" * 20)
    got = []
    t = threading.Thread(target=lambda: got.append(store.get(ref)))
    t.start()
    time.sleep(0.05)
    store.put(b"sealed later", id=ref)
    t.join(timeout=30)
    assert not t.is_alive() and got == [b"sealed later"]


def test_a_blocked_get_on_the_main_thread_gets_its_object(store):
    # The helper-thread path of the main thread, when no signal comes.
    ref = objstore.ObjectID.from_hex("ce" * 20)
    timer = threading.Timer(0.05, lambda: store.put(b"sealed later", id=ref))
    timer.start()
    try:
        assert store.get(ref) == b"sealed later"
        assert store.get([ref, ref]) == [b"sealed later", b"sealed later"]
        assert store.wait([ref], num_returns=1, timeout=None) == ([ref], [])
    finally:
        timer.join()
    with pytest.raises(objstore.Timeout):
        store.get(objstore.ObjectID.from_hex("cf" * 20), timeout=0.01)
