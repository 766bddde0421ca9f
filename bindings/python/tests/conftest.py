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


def pytest_sessionfinish(session, exitstatus):
    """With OBJSTORE_TEST_NO_SKIP=1 (make test-python sets it) a skipped test
    fails the run: every dependency a test needs is installed there, so a
    skip would hide a test that did not run."""
    if os.environ.get("OBJSTORE_TEST_NO_SKIP") != "1" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"OBJSTORE_TEST_NO_SKIP=1: {len(skipped)} test(s) skipped, which fails this run:", red=True)
        for rep in skipped:
            reporter.write_line(f"  {rep.nodeid}: {rep.longrepr[-1] if isinstance(rep.longrepr, tuple) else rep.longrepr}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
