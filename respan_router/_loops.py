"""Resources owned per event loop, and state reset in a forked child.

:class:`PerLoop` keeps one resource (an HTTP session, a Redis client) per running event
loop. Each goes with its loop: when the loop shuts down its async generators
(``asyncio.run`` does, as do pytest-asyncio and uvicorn), the resource is closed by an
``await``, on that loop; a loop closed without that step has its resource dropped (closed
without awaiting) when next noticed, or at :meth:`PerLoop.close`. Nothing keeps a loop
alive, so a thousand ``asyncio.run`` calls hold at most one resource at a time.

:func:`after_fork` registers a reset to run in the child of a ``fork()`` for as long as
its owner lives (``os.register_at_fork`` cannot unregister: the owner is held weakly).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["PerLoop", "after_fork", "shielded"]

T = TypeVar("T")
O = TypeVar("O")  # noqa: E741  the owner of a fork reset


class _Entry(Generic[T]):
    __slots__ = ("done", "guard", "loop", "value")

    def __init__(self, loop: asyncio.AbstractEventLoop, value: T) -> None:
        self.loop = loop
        self.value = value
        self.done = False
        self.guard: AsyncIterator[None] | None = None


class PerLoop(Generic[T]):
    """One ``T`` per running event loop, closed with its loop.

    Args:
        make: makes the running loop's resource (called on that loop's thread).
        aclose: closes a resource on its own loop (awaited while the loop shuts down).
        drop: closes a resource without awaiting (its loop has closed, or it is not
            running here).
    """

    def __init__(
        self,
        make: Callable[[], T],
        aclose: Callable[[T], Awaitable[None]],
        drop: Callable[[T], None],
    ) -> None:
        self._make = make
        self._aclose = aclose
        self._drop = drop
        self._entries: dict[int, _Entry[T]] = {}
        self._lock = threading.Lock()
        after_fork(self, PerLoop.reset)  # a forked child has none of the parent's
        _LIVE.add(self)

    def __del__(self) -> None:
        # Collected with its owner: what a loop still holds is closed without awaiting
        # (a loop that never shut down its async generators, as ``run_until_complete``).
        for entry in list(getattr(self, "_entries", {}).values()):
            entry.done = True
            with contextlib.suppress(Exception):
                self._drop(entry.value)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self) -> T:
        """The running loop's resource, made on first use."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(id(loop))
        if entry is not None and entry.loop is loop and not entry.done:
            return entry.value
        with self._lock:
            self._sweep()
            entry = self._entries.get(id(loop))
            if entry is None or entry.loop is not loop or entry.done:
                entry = _Entry(loop, self._make())
                self._entries[id(loop)] = entry
        entry.guard = self._guard(entry)
        _start(entry.guard)  # registered with the loop: finalised at its shutdown
        return entry.value

    async def _guard(self, entry: _Entry[T]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if not entry.done:  # the loop shuts down: close on it
                entry.done = True
                self._forget(entry)
                with contextlib.suppress(Exception):
                    await self._aclose(entry.value)

    def _forget(self, entry: _Entry[T]) -> None:
        if self._entries.get(id(entry.loop)) is entry:
            del self._entries[id(entry.loop)]

    def _sweep(self) -> None:
        """Drop the resources of loops that have closed (under the lock)."""
        for entry in list(self._entries.values()):
            if entry.loop.is_closed():
                self._end(entry, drop=True)

    def _end(self, entry: _Entry[T], *, drop: bool) -> None:
        entry.done = True
        self._forget(entry)
        if entry.guard is not None:
            _finish(entry.guard)
        if drop:
            with contextlib.suppress(Exception):
                self._drop(entry.value)

    async def aclose(self) -> None:
        """Close the running loop's resource (awaited) and drop those of closed loops."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._entries.get(id(loop))
            mine = entry if entry is not None and entry.loop is loop and not entry.done else None
            if mine is not None:
                self._end(mine, drop=False)
            self._sweep()
        if mine is not None:
            await self._aclose(mine.value)

    def close(self) -> None:
        """Drop every resource now, without awaiting (from any thread)."""
        with self._lock:
            for entry in list(self._entries.values()):
                self._end(entry, drop=True)

    def reset(self) -> None:
        """Forget every resource without closing it (in a forked child: the parent's)."""
        self._lock = threading.Lock()
        for entry in list(self._entries.values()):
            entry.done = True
            if entry.guard is not None:
                _finish(entry.guard)
        self._entries.clear()


_LIVE: weakref.WeakSet[PerLoop[Any]] = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    """At exit, what loops still hold (loops never shut down) is closed without awaiting,
    before the interpreter's teardown would collect it noisily."""
    for per_loop in list(_LIVE):
        with contextlib.suppress(Exception):
            per_loop.close()


def _start(guard: AsyncIterator[None]) -> None:
    """Run ``guard`` to its ``yield`` now: the running loop's first-iteration hook
    registers it, so the loop's ``shutdown_asyncgens()`` will finalise it."""
    step = guard.__anext__()
    with contextlib.suppress(StopIteration):
        step.send(None)  # type: ignore[attr-defined]


def _finish(guard: AsyncIterator[None]) -> None:
    """Close a guard whose entry is done (its ``finally`` then awaits nothing)."""
    closer = guard.aclose()  # type: ignore[attr-defined]
    try:
        closer.send(None)
    except (StopIteration, StopAsyncIteration, RuntimeError):
        pass
    else:  # pragma: no cover  (a done entry never awaits)
        closer.close()


def after_fork(owner: O, reset: Callable[[O], None]) -> None:
    """Call ``reset(owner)`` in the child of every ``fork()`` while ``owner`` lives."""
    ref = weakref.ref(owner)

    def child() -> None:
        target = ref()
        if target is not None:
            reset(target)

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=child)


_CLEANUPS: set[asyncio.Future[Any]] = set()  # shielded work still running (strong references)


async def shielded(work: Awaitable[T]) -> T:
    """Run ``work`` to its end even when the caller is cancelled meanwhile (the caller
    still gets its ``CancelledError``): a release's round trip, or a stream's end, is
    never cut in half."""
    task = asyncio.ensure_future(work)
    _CLEANUPS.add(task)
    task.add_done_callback(_CLEANUPS.discard)
    return await asyncio.shield(task)
