"""Concurrent identical calls share one execution ("single flight").

The first caller of a key is the *leader*: it runs the function. Callers that arrive with
the same key while it runs are *followers*: they wait and get the leader's result, or the
leader's exception raised again (a thread's follower gets its own copy, with the
leader's traceback as it was caught: one object raised in many threads would collect
all their frames; an asyncio future's awaiters get the same object, as asyncio does).
Nothing is remembered afterwards: once the leader finishes, the key is free and the
next call runs the function again. An error is therefore never cached.

If the leader ends without a result or an error of its own making (its task was
cancelled; a ``KeyboardInterrupt`` or ``SystemExit`` in its thread), the followers are not
cancelled with it: a cancellation belongs to the caller it was aimed at. They wake up and
call again: the first becomes the new leader and runs *its own* function, the others
follow it. That is why every caller passes a function, not only the first.

Calling ``do`` again with the key of a flight the caller itself leads (from inside the
function) would wait forever; it raises :class:`RuntimeError` instead.
"""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import asyncio
    from types import TracebackType

__all__ = ["AsyncSingleFlight", "FollowerTimeout", "SingleFlight"]


class FollowerTimeout(TimeoutError):
    """A follower waited its own ``wait`` seconds and the leader had not finished."""


T = TypeVar("T")


class _Call(Generic[T]):
    """One flight of :class:`SingleFlight`: set ``done`` after ``result``/``error``."""

    __slots__ = ("done", "error", "leader_gone", "owner", "result", "trace")

    def __init__(self, owner: int) -> None:
        self.owner = owner
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.trace: TracebackType | None = None  # the leader's, where it was caught
        self.leader_gone = False


class SingleFlight:
    """Single flight for threads: ``do(key, fn)`` runs ``fn`` once per concurrent key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call[Any]] = {}

    def do(self, key: Hashable, fn: Callable[[], T], wait: float | None = None) -> tuple[T, bool]:
        """Run ``fn()``, or wait for the call of ``key`` already running (a follower waits
        at most ``wait`` seconds, then raises :class:`FollowerTimeout`).

        Returns:
            ``(result, leader)``: ``leader`` is True for the one caller that ran ``fn``.

        Raises:
            The exception ``fn`` raised, in the leader and in every follower.
        """
        import time

        me = threading.get_ident()
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            with self._lock:
                call = self._calls.get(key)
                if call is None:
                    call = self._calls[key] = _Call(me)
                    leader = True
                elif call.owner == me:
                    raise RuntimeError(f"single flight {key!r} re-entered by its own leader")
                else:
                    leader = False
            if leader:
                return self._lead(key, call, fn), True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not call.done.wait(left):
                raise FollowerTimeout(f"waited {wait} s for an identical call in flight")
            if call.leader_gone:
                continue  # the leader was interrupted: call again, maybe as the leader
            if call.error is not None:
                raise _own_copy(call.error, call.trace)
            return call.result, False  # type: ignore[return-value]

    def _lead(self, key: Hashable, call: _Call[T], fn: Callable[[], T]) -> T:
        try:
            result = fn()
        except Exception as exc:
            call.error, call.trace = exc, exc.__traceback__
            raise
        except BaseException:
            call.leader_gone = True
            raise
        else:
            call.result = result
            return result
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()

    def __len__(self) -> int:
        """How many flights are running now."""
        with self._lock:
            return len(self._calls)


class _LeaderGone(Exception):
    """Set on a flight's future when its leader ends without an outcome to share."""


class _Flight(Generic[T]):
    __slots__ = ("future", "owner")

    def __init__(self, future: asyncio.Future[T], owner: asyncio.Task[Any] | None) -> None:
        self.future = future
        self.owner = owner


class AsyncSingleFlight:
    """Single flight for asyncio tasks: ``await do(key, coro_fn)`` runs it once per key.

    Flights are kept per event loop: tasks of different loops (in different threads)
    never wait on each other's futures. One instance can serve several loops.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards _loops only; a loop's own map is loop-local
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[Hashable, _Flight[Any]]
        ] = weakref.WeakKeyDictionary()

    def _flights(self) -> dict[Hashable, _Flight[Any]]:
        import asyncio  # imported on first use: a sync-only process never loads asyncio

        loop = asyncio.get_running_loop()
        with self._lock:
            flights = self._loops.get(loop)
            if flights is None:
                flights = self._loops[loop] = {}
            return flights

    async def do(
        self, key: Hashable, coro_fn: Callable[[], Awaitable[T]], wait: float | None = None
    ) -> tuple[T, bool]:
        """Await ``coro_fn()``, or wait for the call of ``key`` already running (a follower
        waits at most ``wait`` seconds, then raises :class:`FollowerTimeout`).

        A follower that is cancelled stops waiting; the leader and the other followers
        go on. A leader that is cancelled raises ``CancelledError``; its followers call
        again (see the module docstring).

        Returns:
            ``(result, leader)``: ``leader`` is True for the one caller that ran it.

        Raises:
            The exception ``coro_fn()`` raised, in the leader and in every follower.
        """
        import asyncio

        flights = self._flights()
        me = asyncio.current_task()
        loop = asyncio.get_running_loop()
        deadline = None if wait is None else loop.time() + wait
        while True:
            flight = flights.get(key)
            if flight is None:
                return await self._lead(flights, key, coro_fn, me), True
            if flight.owner is not None and flight.owner is me:
                raise RuntimeError(f"single flight {key!r} re-entered by its own leader")
            left = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                # shield: a follower's cancellation (or timeout) must not cancel the
                # shared future.
                return await asyncio.wait_for(asyncio.shield(flight.future), left), False
            except _LeaderGone:
                continue
            except TimeoutError:
                raise FollowerTimeout(f"waited {wait} s for an identical call in flight") from None

    async def _lead(
        self,
        flights: dict[Hashable, _Flight[Any]],
        key: Hashable,
        coro_fn: Callable[[], Awaitable[T]],
        me: asyncio.Task[Any] | None,
    ) -> T:
        import asyncio

        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        flights[key] = _Flight(future, me)
        try:
            result = await coro_fn()
        except Exception as exc:
            del flights[key]
            future.set_exception(exc)
            raise
        except BaseException:  # CancelledError, KeyboardInterrupt, SystemExit
            del flights[key]
            future.set_exception(_LeaderGone())
            raise
        else:
            del flights[key]
            future.set_result(result)
            return result
        finally:
            # Followers read the outcome through shield(); with none, asyncio would log
            # "exception was never retrieved" for an error the leader already raised.
            if future.done() and not future.cancelled():
                future.exception()


def _own_copy(error: BaseException, trace: TracebackType | None) -> BaseException:
    """A copy of the leader's ``error`` for one follower (the same type, attributes,
    cause and context), with the leader's traceback; the original when it cannot be
    copied."""
    try:
        clone = copy.copy(error)
    except Exception:
        return error
    if type(clone) is not type(error):
        return error
    clone.__cause__, clone.__context__ = error.__cause__, error.__context__
    clone.__suppress_context__ = error.__suppress_context__
    return clone.with_traceback(trace)
