"""Ctrl-C interrupts a get or wait that blocks: a child process blocks in
the call with no timeout, receives SIGINT, and must raise KeyboardInterrupt
within a generous bound, leaving nothing pinned. A blocked call runs with
the GIL released, so without the binding's canceller it would block the
signal's handler until the object came."""

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
        print("returned", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        import gc; gc.collect()
        print("pinned", store.stats().pinned_count, flush=True)
    """
)


@pytest.mark.parametrize("call", ["get", "get_list", "wait"])
def test_ctrl_c_interrupts_a_blocked_call(store, call):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, store.name, call],
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
    assert first == "interrupted", (first, rest, err)
    assert elapsed < BOUND_S, f"KeyboardInterrupt came {elapsed:.2f}s after SIGINT"
    assert rest.split() == ["pinned", "0"], (rest, err)
    assert child.returncode == 0, err


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
