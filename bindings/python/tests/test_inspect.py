"""Inspecting a store and the library from Python: processes, pin holders,
the audit, objects created with a fresh ID, stores of another user
(any_owner), and the version constants and check (the C API's
os_processes, os_pin_holders, os_audit, os_create_new, OS_OPEN_ANY_OWNER,
OS_VERSION_* and os_check_version)."""

import gc
import os

import pytest

import objstore
from conftest import start


def _hold(name, ref, conn):
    s = objstore.Store(name)
    v = s.get(ref)  # pinned while v lives
    conn.send(os.getpid())
    conn.recv()  # until told to go
    del v
    s.close()


def test_processes_lists_this_process(store):
    ps = store.processes()
    assert all(isinstance(p, objstore.ProcessInfo) for p in ps)
    assert os.getpid() in [p.pid for p in ps]
    assert len(ps) == store.stats().attached_processes


def test_pin_holders_of_this_and_another_process(store, processes):
    import multiprocessing

    ref = store.put(memoryview(b"x" * 100))
    assert store.pin_holders(ref) == []
    v = store.get(ref)
    me = [p for p in store.processes() if p.pid == os.getpid()]
    assert store.pin_holders(ref) == me
    # Another process pins it too.
    parent, child = multiprocessing.Pipe()
    start(processes, "spawn", _hold, store.name, ref, child)
    pid = parent.recv()
    assert sorted(p.pid for p in store.pin_holders(ref)) == sorted([os.getpid(), pid])
    assert pid in [p.pid for p in store.processes()]
    parent.send("go")
    processes[-1].join(timeout=30)
    assert [p.pid for p in store.pin_holders(ref)] == [os.getpid()]
    # Deleted but pinned: still listed until the last view goes.
    store.delete(ref)
    assert [p.pid for p in store.pin_holders(ref)] == [os.getpid()]
    del v
    gc.collect()
    with pytest.raises(objstore.ObjectNotFound):
        store.pin_holders(ref)


def test_pin_holders_checks_its_argument(store):
    with pytest.raises(TypeError):
        store.pin_holders("not an id")  # type: ignore[arg-type]
    with pytest.raises(objstore.ObjectNotFound):
        store.pin_holders(objstore.ObjectID(bytes(20)))


def test_audit_of_a_sound_store(store):
    refs = [store.put(b"a" * n) for n in (1, 100, 10_000, 1 << 20)]
    p = store.create(10)
    held = store.get(refs[2])
    assert store.audit() == []
    del held
    p.abort()
    store.delete(refs)
    assert store.audit() == []


def test_create_without_an_id_gets_a_fresh_one(store):
    made = set()
    for _ in range(100):
        with store.create(8) as p:
            p.data[:] = b"12345678"
        made.add(p.id)
    assert len(made) == 100 and all(r in store for r in made)
    # A fresh ID is never one already taken.
    taken = store.put(b"x", id=objstore.ObjectID(os.urandom(20)))
    assert store.create(1).id != taken


def test_a_store_of_another_user_needs_any_owner(store_name):
    if os.geteuid() != 0:
        pytest.fail("this test makes a store file of another user, which needs root (CI runs as root)")
    with objstore.Store.create(store_name, capacity=4 << 20, mode=0o666) as s:
        ref = s.put(b"planted", refcounted=False)  # outlives the Store and its attachment
        path = s.path
    os.chown(path, 65534, 65534)
    with pytest.raises(objstore.PermissionDenied, match="OS_OPEN_ANY_OWNER"):
        objstore.Store(store_name)
    with objstore.Store(store_name, any_owner=True) as shared:
        assert shared.get(ref) == b"planted"


def test_version_constants_and_check():
    assert objstore.VERSION_STRING == objstore.__version__
    assert objstore.VERSION_NUMBER == objstore.make_version(
        objstore.VERSION_MAJOR, objstore.VERSION_MINOR, objstore.VERSION_PATCH
    )
    assert f"{objstore.VERSION_MAJOR}.{objstore.VERSION_MINOR}.{objstore.VERSION_PATCH}" == objstore.__version__
    assert objstore.library_version_number() == objstore.make_version(*map(int, objstore.library_version().split(".")))
    assert objstore.make_version(1, 2, 3) == 1_002_003
    with pytest.raises(objstore.InvalidArgument):
        objstore.make_version(0, 1000, 0)
    objstore.check_version()
    objstore.check_version(objstore.VERSION_NUMBER)
    major, minor = objstore.VERSION_MAJOR, objstore.VERSION_MINOR
    objstore.check_version(objstore.make_version(major, minor, 0))
    # Newer than the library, or another series: refused, naming both.
    for newer in (
        objstore.library_version_number() + 1,
        objstore.make_version(major, minor + 1, 0),
        objstore.make_version(major + 1, 0, 0),
    ):
        with pytest.raises(objstore.IncompatibleStore, match=objstore.library_version()):
            objstore.check_version(newer)
    if major == 0 and minor > 0:  # 0.x: an older minor is another series
        with pytest.raises(objstore.IncompatibleStore):
            objstore.check_version(objstore.make_version(0, minor - 1, 0))


def test_objects_say_their_references_and_flags(store):
    """Store.objects(): each ObjectInfo says how many processes reference
    the object and the flags it was put with (os_object_info's
    referencing_processes and flags)."""
    counted = store.put(b"counted")  # an ObjectRef: refcounted, referenced
    cached = store.put(b"cached", refcounted=False, flags=objstore.OBJECT_EVICTABLE)
    plain = store.put(b"plain", refcounted=False)
    infos = {info.id: info for info in store.objects()}
    assert len(infos) == 3
    assert (infos[counted].flags, infos[counted].referencing_processes) == (objstore.OBJECT_REFCOUNTED, 1)
    assert (infos[cached].flags, infos[cached].referencing_processes) == (objstore.OBJECT_EVICTABLE, 0)
    assert (infos[plain].flags, infos[plain].referencing_processes) == (0, 0)
    store.ref(plain)
    assert next(i for i in store.objects() if i.id == plain).referencing_processes == 1
    store.unref(plain)
    store.delete([cached, plain])
    assert (objstore.OBJECT_REFCOUNTED, objstore.OBJECT_EVICTABLE) == (1, 2)  # os_put_ex's flags
