"""Open vs create: Store(name) alone attaches; creating takes an explicit sign."""

import os
import pickle

import pytest

import objstore


def test_a_mistyped_name_fails_at_once_with_the_name(store_name):
    typo = store_name + "-nmae"
    with pytest.raises(objstore.StoreNotFound) as e:
        objstore.Store(typo)
    assert typo in str(e.value) and "does not exist" in str(e.value)
    assert isinstance(e.value, objstore.ObjectNotFound) and isinstance(e.value, FileNotFoundError)
    assert isinstance(e.value, LookupError) and e.value.status_name == "OS_NOT_FOUND"
    assert not os.path.exists(f"/dev/shm/{typo}")  # nothing was created
    with pytest.raises(objstore.StoreNotFound):
        objstore.Store.open(typo)


def test_create_classmethod(store_name):
    with objstore.Store.create(store_name, capacity=1 << 20) as s:
        assert s.stats().capacity_bytes == 1 << 20
        with objstore.Store(store_name) as again:  # attaches
            assert again.stats().capacity_bytes == 1 << 20
        # Creating an existing store attaches to it (its size is its own) ...
        with objstore.Store.create(store_name, capacity=4 << 20) as same:
            assert same.stats().capacity_bytes == 1 << 20
        # ... unless exist_ok=False.
        with pytest.raises(objstore.ObjectExists):
            objstore.Store.create(store_name, exist_ok=False)


def test_capacity_or_create_true_creates(store_name):
    with objstore.Store(store_name, capacity=2 << 20) as s:  # as before: a capacity creates
        assert s.stats().capacity_bytes == 2 << 20
    objstore.destroy(store_name)
    with objstore.Store(store_name, create=True, max_objects=1000) as s:
        assert s.stats().max_objects == 1000
        assert s.stats().capacity_bytes > 0  # the default capacity


def test_create_on_the_class_and_on_an_instance(store_name):
    s = objstore.Store.create(store_name, capacity=1 << 20)
    try:
        p = s.create(3)  # on a Store: an object created in place
        assert isinstance(p, objstore.PendingObject)
        p.data[:] = b"abc"
        assert bytes(s.get(p.seal())) == b"abc"
    finally:
        s.close()


def test_attach_options_do_not_create(store_name, tmp_path):
    with pytest.raises(objstore.StoreNotFound):
        objstore.Store(store_name, spill_dir=str(tmp_path), prefault=True)
    assert not os.path.exists(f"/dev/shm/{store_name}")


def test_destroy_missing_store(store_name):
    with pytest.raises(objstore.StoreNotFound):
        objstore.destroy(store_name)
    objstore.destroy(store_name, missing_ok=True)


def test_unpickling_a_store_attaches(store_name):
    s = objstore.Store.create(store_name, capacity=1 << 20)
    blob = pickle.dumps(s)
    s.destroy()
    with pytest.raises(objstore.StoreNotFound):
        objstore._store._unpickled.pop(store_name, None)
        pickle.loads(blob)  # the store is gone: no new one appears


def test_store_paths(tmp_path):
    path = tmp_path / "a-store"
    with objstore.Store.create(path, capacity=1 << 20) as s:
        assert s.name == str(path) and os.fspath(s.path) == str(path)
        assert s.spill_dir is None
    with objstore.Store(str(path)) as again:
        assert again.stats().capacity_bytes == 1 << 20
    objstore.destroy(path)
