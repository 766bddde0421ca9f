"""Fixtures: every test gets a store of its own, removed afterwards (even
when the test fails), and child processes that cannot outlive the test."""

import gc
import multiprocessing
import os
import uuid

import pytest

import objstore

# The repository's root (tests run against the installed package, but some
# compare it with the source tree).
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

CAPACITY = 64 << 20


@pytest.fixture
def store_name():
    """A store name no other test (or run) uses; its files are removed at
    teardown."""
    name = f"objstore-pytest-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    yield name
    gc.collect()  # let views of the store go before its files do
    objstore.destroy(name, missing_ok=True)
    assert not os.path.exists(f"/dev/shm/{name}")


@pytest.fixture
def store(store_name):
    s = objstore.Store(store_name, capacity=CAPACITY)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def processes():
    """Start child processes through this list: any still running at
    teardown are killed and reaped."""
    started = []
    yield started
    for p in started:
        p.join(timeout=30)
        if p.is_alive():
            p.kill()
            p.join()


def start(processes, method, target, *args):
    p = multiprocessing.get_context(method).Process(target=target, args=args)
    p.start()
    processes.append(p)
    return p


def pinned(store):
    gc.collect()
    return store.stats().pinned_count
