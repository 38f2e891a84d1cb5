"""The streams handed to the caller: one answer, never spliced.

A stream is opened (see :mod:`respan_router.execution._streams`) before it is handed
over, its first chunk already received; from then on it is committed to that candidate:
a later failure raises :class:`~respan_router.errors.StreamInterruptedError` and no other
model's text is appended.

:class:`ChatStream` / :class:`AsyncChatStream` are iterators and context managers;
closing one (or dropping it) closes the upstream. Each ends exactly once, however it
ends (completed, failed, closed early), and calls its ``on_end`` hook then. Their reading
is written once (``_stream_async``, the sync form generated: ``_stream_sync``); only
what a dropped stream does differs.
"""

from __future__ import annotations

import contextlib
import sys

from respan_router.execution._stream_async import AsyncStream
from respan_router.execution._stream_base import OnEnd, aclose_quietly, close_quietly
from respan_router.execution._stream_state import StreamState
from respan_router.execution._stream_sync import SyncStream

__all__ = [
    "AsyncChatStream",
    "ChatStream",
    "OnEnd",
    "StreamState",
    "aclose_quietly",
    "close_quietly",
]


class ChatStream(SyncStream):
    """A sync stream of :class:`ChatCompletionChunk`; a context manager that closes it."""

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class AsyncChatStream(AsyncStream):
    """An async stream of :class:`ChatCompletionChunk`; an async context manager."""

    def __del__(self) -> None:
        # The upstream async generator is finalised by its event loop; record the end:
        # awaited on the running loop when there is one (its writes never block it).
        if not self._ended:
            with contextlib.suppress(Exception):
                self._upstream_done = self._final_sent = True
                asyncio = sys.modules.get("asyncio")  # none loaded: no loop runs
                loop = asyncio._get_running_loop() if asyncio is not None else None
                if loop is not None and self._on_end.awaits(self._state):
                    loop.create_task(self._aend(early=True))
                elif self._ending(early=True):  # no I/O to wait for: ended now
                    self._tail = self._on_end.end(self._state)
