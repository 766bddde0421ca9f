"""asyncio: ``await ref`` and ``await store.get_async(...)`` without a
polling loop and without a thread per awaited object.

Each open Store has one waiter thread, started on the first await. It
keeps one native wait set (``_objstore.WaitSet``, the core's
``os_wait_set``) of the IDs being awaited, and blocks in its ``next`` with
an objstore.Canceller and the GIL released, so it sleeps until an object is
sealed (the core's futex wake-up, not a timer). When an await brings an ID
the set does not hold, it puts the ID on a pending list and cancels that
wait; the thread then adds the pending IDs to the set and waits again. The
set looks at each ID once, when it is added, and afterwards only at the IDs
the store's seal log names as sealed since, so awaiting N objects costs
O(N) in all, where waiting again on every awaited ID at each change would
cost O(N²) (``asyncio.gather`` over N refs adds them one by one). When the
set hands out an ID, the thread hands the news to each awaiting event loop
(``call_soon_threadsafe``), and the coroutine takes the value there with a
get that does not wait; if the object is gone again by then (evicted,
deleted), the coroutine awaits it anew and the thread adds it again.

An await first looks without waiting: a get of one object that returns a
marker instead of raising ObjectNotFound (``Store._get_if_sealed``), or
for a list a get with timeout 0, so an object already sealed needs
neither the thread nor the timeout. An await of one object then awaits
the thread's future for it (no task, no gathering future); an await of a
list gathers the futures of the objects ``Store.wait`` finds missing.

Ordering: the thread resets its canceller and takes the pending IDs under
the lock, then adds them and waits with the canceller; an await puts its ID
on the list and cancels under the same lock. A cancel that comes after the
thread took the list therefore ends the wait that follows (a canceller
stays cancelled until reset), and one that comes before is undone by the
reset, whose list already holds the new ID. So only the await that finds
the list empty cancels (and notifies the thread, which sleeps for want of
awaits only with the list empty): the IDs that join it are taken with it.

A cancelled await (``asyncio.wait_for``'s timeout, ``task.cancel()``), or
one whose coroutine is closed while it waits (dropped unfinished, or
``close()``d), drops its interest at once (its coroutine tells the waiter
as the CancelledError or GeneratorExit reaches it, ``forget``); its ID
stays in
the set until the IDs nobody awaits any more (cancelled, or handed out
already) are more than half of those the set holds: the thread then makes
a new set of the IDs still awaited, so the set stays within twice the
awaited IDs and the rebuilds cost O(1) per await. When nothing is awaited
at all, the thread frees its set (the store's sealers stop logging for it)
and sleeps until the next await. The thread is a daemon: it holds no pin
and no reference, so a process may exit under it.

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
from typing import TYPE_CHECKING, Any, Coroutine, Optional, Sequence

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
        # ID -> the futures awaiting it (each of its own event loop), none
        # of them cancelled.
        self._awaited: dict[Any, list[asyncio.Future[None]]] = {}
        # The IDs the thread's set holds and has not handed out, with those
        # waiting in _pending to be added: every awaited ID is one.
        self._in_set: set[Any] = set()
        self._pending: list[Any] = []
        # Those of _in_set that nobody awaits any more.
        self._unawaited: set[Any] = set()
        self._thread = threading.Thread(target=self._run, name="objstore-await", daemon=True)
        self._thread.start()

    def sealed(self, oid: Any) -> asyncio.Future[None]:
        """A future of the running loop that is done once ``oid`` is sealed
        (or fails with the error the thread's wait met). An await that stops
        awaiting it first (cancelled) tells ``forget`` at once."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._ended:
                fut.set_exception(StoreClosed(f"store {self._name!r} is closed"))
                return fut
            futs = self._awaited.get(oid)
            if futs is not None:
                futs.append(fut)
                return fut
            self._awaited[oid] = [fut]
            if oid in self._unawaited:
                self._unawaited.discard(oid)  # still in the set
            elif oid not in self._in_set:
                self._in_set.add(oid)
                if not self._pending:
                    # The first ID since the thread took the list (it
                    # resets the canceller as it takes it, and sleeps for
                    # want of an await only with the list empty): the
                    # cancel and notify of the first serve those after it.
                    self._canceller.cancel()
                    self._changed.notify()
                self._pending.append(oid)
        return fut

    def forget(self, oid: Any, fut: asyncio.Future[None]) -> None:
        """An await of ``oid`` that was cancelled no longer awaits ``fut``
        (the thread took off the futures it settled, and failed ones)."""
        with self._lock:
            futs = self._awaited.get(oid)
            if futs is None or fut not in futs:
                return  # settled by the thread meanwhile, or failed
            futs.remove(fut)
            if futs:
                return
            del self._awaited[oid]
            if oid in self._in_set:
                self._unawaited.add(oid)
            if not self._awaited:
                # Nothing awaited: the thread lets its set go.
                self._canceller.cancel()
                self._changed.notify()

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

    def _forget_set(self) -> None:
        """Under the lock: the thread's set is gone, nothing is in it."""
        self._in_set.clear()
        self._pending.clear()
        self._unawaited.clear()

    def _run(self) -> None:
        ws: Optional[_objstore.WaitSet] = None  # the thread's set
        size = 0  # how many IDs it holds, handed out or not
        while True:
            with self._lock:
                if not self._awaited and ws is not None:
                    ws.close()
                    ws, size = None, 0
                while not self._awaited and not self._ended:
                    # No set: no ID is in it (nor pending, if the set was
                    # not made yet), so the next await of any ID notifies.
                    self._forget_set()
                    self._changed.wait()
                ended = self._ended
                self._canceller.reset()
                held = size + len(self._pending)
                dead = held - (len(self._in_set) - len(self._unawaited))
                if ws is None or 2 * dead > held:
                    # A new set of the IDs still awaited (the cancelled
                    # and the handed out ones are more than half).
                    self._in_set -= self._unawaited
                    self._unawaited.clear()
                    self._pending.clear()
                    make: Optional[list[Any]] = list(self._in_set)
                    add: list[Any] = []
                else:
                    make, add, self._pending = None, self._pending, []
            store = self._store()
            if ended or store is None or store.closed:
                if ws is not None:
                    ws.close()
                self._end_here()
                return
            try:
                if make is not None:
                    if ws is not None:
                        ws.close()
                    ws, size = None, 0
                    ws, size = store._wait_set(make), len(make)
                elif add:
                    assert ws is not None
                    ws.add(add)
                    size += len(add)
                assert ws is not None
                ready = ws.next(None, None, canceller=self._canceller)
            except Cancelled:
                continue  # more IDs, nothing awaited, or the Store is closing
            except BaseException as e:  # the store closed, or worse: tell every awaiter
                if ws is not None:
                    ws.close()
                ws, size = None, 0
                with self._lock:
                    failed = [f for futs in self._awaited.values() for f in futs]
                    self._awaited.clear()
                    self._forget_set()
                for f in failed:
                    _settle(f, e)
                continue
            finally:
                del store  # not held while nothing is awaited
            with self._lock:
                done: list[asyncio.Future[None]] = []
                for oid in ready:
                    self._in_set.discard(oid)
                    self._unawaited.discard(oid)
                    done.extend(self._awaited.pop(oid, ()))
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
    w = _waiters.get(key)  # a dict's get is atomic: no lock for the common case
    if w is not None and not w._ended and w._store() is store:
        return w
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


# What Store._get_if_sealed returns for an object that is not there.
_ABSENT: Any = object()


async def get(store: Store, refs: Any, timeout: float | None = None) -> Any:
    """``store.get(refs)`` for asyncio: waits (without blocking the event
    loop) until every object is sealed, then gets them. ``timeout`` in
    seconds: objstore.Timeout when it runs out (None: for ever)."""
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be None or >= 0, not {timeout}")
    # A first look, which needs no waiter when everything is there (and so
    # no timeout either).
    waiting: Coroutine[Any, Any, Any]
    if isinstance(refs, (list, tuple)):
        try:
            return store.get(refs, 0)
        except ObjectNotFound:
            pass
        waiting = _all_sealed(store, refs)
    else:
        # One object: a look that raises nothing when it is not there (most
        # awaits start before their object is sealed).
        value = store._get_if_sealed(refs, _ABSENT)
        if value is not _ABSENT:
            return value
        waiting = _one_sealed(store, refs)
    if timeout is None:
        return await waiting
    try:
        return await asyncio.wait_for(waiting, timeout)
    except asyncio.TimeoutError:
        raise Timeout(f"get_async: not every object was sealed within {timeout}s") from None


async def _one_sealed(store: Store, ref: Any) -> Any:
    """``get`` of one object that was not there at the first look: awaits
    the waiter's future for it, then gets it."""
    while True:
        w = _waiter(store)
        fut = w.sealed(ref)
        try:
            await fut  # the future itself: no task or gathering future
        except BaseException:
            # Cancelled, or its coroutine closed while it waited here
            # (GeneratorExit: dropped unfinished, or .close()d): the
            # interest goes at once, not when the object is sealed. (A
            # future the thread failed is off its list already.)
            w.forget(ref, fut)
            raise
        # An object sealed but gone again before this get (evicted,
        # deleted) is awaited anew.
        value = store._get_if_sealed(ref, _ABSENT)
        if value is not _ABSENT:
            return value


async def _all_sealed(store: Store, refs: Sequence[Any]) -> Any:
    """``get`` of a list of objects, not all there at the first look."""
    ids = list(refs)
    while True:
        # Those not sealed now (a look, no wait); an object sealed but gone
        # again before the get (evicted, deleted) is awaited anew.
        _, missing = store.wait(ids, len(ids), 0)
        if missing:
            w = _waiter(store)
            futs = [w.sealed(oid) for oid in missing]
            try:
                await (futs[0] if len(futs) == 1 else asyncio.gather(*futs))
            except BaseException:
                # Cancelled or closed, as in `_one_sealed`.
                for oid, fut in zip(missing, futs):
                    w.forget(oid, fut)
                raise
        try:
            return store.get(refs, 0)
        except ObjectNotFound:
            pass


def await_ref(ref: Any) -> Any:
    """``ObjectRef.__await__``: ``value = await ref`` gets the value in the
    store it was put in, waiting (in the event loop) until it is sealed."""
    return get(ref.store, ref).__await__()
