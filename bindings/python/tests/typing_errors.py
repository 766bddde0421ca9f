"""Misuses mypy must report (test_typing.py): each line marked E."""

import objstore

store = objstore.Store("x")
store.put(b"x", id="not an id")  # E: an ObjectID, not a str
store.get(42)  # E: not an ObjectID
objstore.ObjectID(12)  # E: neither bytes nor hex
n: int = store.stats()  # E: a StoreStats
store.delete("abc")  # E: not an ObjectID
bad_ref: objstore.ObjectRef = store.put(b"x", refcounted=False)  # E: a plain ObjectID
objstore.as_completed(store.put(b"x"))  # E: a list of IDs, not one
store.as_completed([b"id"])  # E: ObjectIDs, not bytes
