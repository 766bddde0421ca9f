"""Code using objstore as a user would, checked by mypy --strict (test_typing.py)."""

from __future__ import annotations

import objstore


def use(name: str) -> int:
    with objstore.Store.create(name, capacity=1 << 20) as store:
        ref: objstore.ObjectID = store.put(b"bytes")
        again = objstore.ObjectID(ref.hex())
        assert again == ref and ref in store
        value = store.get(ref, timeout=1.0)
        values = store.get([ref, again])
        with store.pinned(ref) as v:
            del v
        with store.get_buffer(ref) as buf:
            n = buf.data.nbytes + len(buf.meta)
        p: objstore.PendingObject = store.create(4, b"meta")
        p.data[:] = b"abcd"
        sealed: objstore.ObjectID = p.seal()
        stats: objstore.StoreStats = store.stats()
        counted: objstore.ObjectRef = store.put([1, 2])
        plain: objstore.ObjectID = store.put(3, refcounted=False)
        named: objstore.ObjectRef = store.put(4, id=objstore.ObjectID(bytes(20)), refcounted=True)
        ready, not_ready = counted.store.wait([counted, plain, named], num_returns=3, timeout=0)
        done: list[objstore.ObjectRef] = [r for r in objstore.as_completed([counted, named], timeout=0)]
        firsts: objstore.ObjectID = next(store.as_completed([plain, counted]))
        del done, firsts
        tickets: int = stats.tickets + stats.references
        del ready, not_ready, tickets
        infos = [info.state for info in store.objects()]
        store.delete([ref, sealed])
        objstore.register_serializer(complex, serializer=lambda c: (c.real, c.imag), deserializer=lambda t: complex(*t))
        objstore.deregister_serializer(complex)
        del value, values, infos
    attached = objstore.Store(name)
    attached.close()
    objstore.destroy(name, missing_ok=True)
    return n + int(stats.object_count)
