"""asyncio: ``await ref`` and ``await store.get_async(...)`` without a
polling loop and without a thread per awaited object.

Each open Store has one waiter thread, started on the first
await. It blocks in ``Store.wait`` for any one of the IDs being awaited,
with an objstore.Canceller and the GIL released, so it sleeps until an
object is sealed (the core's futex wake-up, not a timer). When an await
adds an ID, it cancels that wait; the thread then waits again for the
larger set. When an ID is sealed, the thread hands the news to each
awaiting event loop (``call_soon_threadsafe``), and the coroutine takes
the value there with a get that does not wait.

Ordering: the thread resets its canceller and takes the set of IDs under
the lock; an await adds its ID and cancels under the same lock. A cancel
that comes after the thread took the set therefore ends the wait that set
went into (a canceller stays cancelled until reset), and one that comes
before is undone by the reset, whose set already holds the new ID.

A cancelled await (``asyncio.wait_for``'s timeout, ``task.cancel()``)
drops its interest; the thread forgets an ID when nobody awaits it any
more, at its next look. The thread is a daemon: it holds no pin and no
reference, so a process may exit under it.

The thread holds its Store only while it waits for something (an await
holds the Store too, meanwhile), so a Store dropped by its program is
still collected. ``Store.close`` ends the thread (``close``): awaits under
way fail with StoreClosed, and a later await on another Store of the same
name starts a new thread.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Sequence

from . import _objstore
from .errors import Cancelled, ObjectNotFound, StoreClosed, Timeout

if TYPE_CHECKING:
    from ._store import Store


class _Waiter:
    """The waiter thread of one store in this process (see the module docs)."""

    def __init__(self, store: Store) -> None:
        self._store = weakref.ref(store)
        self._name = store.name
        self._ended = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._canceller = _objstore.Canceller()
        # ID -> the futures awaiting it (each of its own event loop).
        self._awaited: dict[Any, list[asyncio.Future[None]]] = {}
        self._thread = threading.Thread(target=self._run, name="objstore-await", daemon=True)
        self._thread.start()

    def sealed(self, oid: Any) -> asyncio.Future[None]:
        """A future of the running loop that is done once ``oid`` is sealed
        (or fails with the error the thread's wait met)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._ended:
                fut.set_exception(StoreClosed(f"store {self._name!r} is closed"))
                return fut
            self._awaited.setdefault(oid, []).append(fut)
            self._canceller.cancel()
            self._changed.notify()
        return fut

    def end(self) -> None:
        """Ends the thread (its Store is closing): awaits under way and later
        ones fail with StoreClosed."""
        with self._lock:
            self._ended = True
            self._canceller.cancel()
            self._changed.notify()

    def _end_here(self) -> None:
        with self._lock:
            self._ended = True
            failed = [f for futs in self._awaited.values() for f in futs]
            self._awaited.clear()
        with _waiters_lock:
            for key in [k for k, w in _waiters.items() if w is self]:
                del _waiters[key]
        for f in failed:
            _settle(f, StoreClosed(f"store {self._name!r} is closed"))

    def _run(self) -> None:
        while True:
            with self._lock:
                for oid in [o for o, futs in self._awaited.items() if all(f.done() for f in futs)]:
                    del self._awaited[oid]
                while not self._awaited and not self._ended:
                    self._changed.wait()
                ended = self._ended
                self._canceller.reset()
                ids = list(self._awaited)
            store = self._store()
            if ended or store is None or store.closed:
                self._end_here()
                return
            try:
                ready, _ = store.wait(ids, 1, None, canceller=self._canceller)
            except Cancelled:
                continue  # the set changed, or the Store is closing
            except BaseException as e:  # the store closed, or worse: tell every awaiter
                with self._lock:
                    failed = [f for futs in self._awaited.values() for f in futs]
                    self._awaited.clear()
                for f in failed:
                    _settle(f, e)
                continue
            finally:
                del store  # not held while nothing is awaited
            with self._lock:
                done = [f for oid in ready for f in self._awaited.pop(oid, [])]
            for f in done:
                _settle(f, None)


def _settle(fut: asyncio.Future[None], error: BaseException | None) -> None:
    def settle() -> None:
        if not fut.done():
            if error is None:
                fut.set_result(None)
            else:
                fut.set_exception(error)

    try:
        fut.get_loop().call_soon_threadsafe(settle)
    except RuntimeError:
        pass  # its loop is closed: nobody is awaiting any more


_waiters: dict[tuple[int, int], _Waiter] = {}
_waiters_lock = threading.Lock()


def _waiter(store: Store) -> _Waiter:
    # Keyed by process (a fork child has none of its parent's threads) and
    # by Store (each is a handle of its own, closed on its own).
    key = (os.getpid(), id(store))
    with _waiters_lock:
        w = _waiters.get(key)
        if w is None or w._ended or w._store() is not store:
            w = _waiters[key] = _Waiter(store)
        return w


def close(store: Store) -> None:
    """``Store.close``: ends this process's waiter thread of ``store``."""
    with _waiters_lock:
        w = _waiters.pop((os.getpid(), id(store)), None)
    if w is not None and w._store() is store:
        w.end()


async def get(store: Store, refs: Any, timeout: float | None = None) -> Any:
    """``store.get(refs)`` for asyncio: waits (without blocking the event
    loop) until every object is sealed, then gets them. ``timeout`` in
    seconds: objstore.Timeout when it runs out (None: for ever)."""
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be None or >= 0, not {timeout}")
    many = isinstance(refs, (list, tuple))
    ids: Sequence[Any] = list(refs) if many else [refs]

    async def all_sealed() -> Any:
        while True:
            try:
                return store.get(refs if many else ids[0], 0)
            except ObjectNotFound:
                pass
            # Those not sealed now (a look, no wait); an object sealed but
            # gone again before the get (evicted, deleted) is awaited anew.
            _, missing = store.wait(ids, len(ids), 0)
            await asyncio.gather(*(_waiter(store).sealed(oid) for oid in missing))

    if timeout is None:
        return await all_sealed()
    try:
        return await asyncio.wait_for(all_sealed(), timeout)
    except asyncio.TimeoutError:
        raise Timeout(f"get_async: not every object was sealed within {timeout}s") from None


def await_ref(ref: Any) -> Any:
    """``ObjectRef.__await__``: ``value = await ref`` gets the value in the
    store it was put in, waiting (in the event loop) until it is sealed."""
    return get(ref.store, ref).__await__()
