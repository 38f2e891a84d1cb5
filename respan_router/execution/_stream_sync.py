# Generated from _stream_async.py by scripts/unasync.py: edit that file, not this one.
"""Reading a stream handed to the caller: chunks until the upstream ends, fails or is closed.

Written once, async (``_stream_async``); the sync form (``_stream_sync``) is generated
from it by ``scripts/unasync.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Self

from respan_router.errors import ProviderError
from respan_router.execution._record import CallRecord
from respan_router.execution._stream_base import OnEnd, StreamBase, close_quietly, interrupted
from respan_router.execution._stream_state import StreamState

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["SyncStream"]


class SyncStream(StreamBase):
    """A stream of :class:`ChatCompletionChunk`; a context manager that closes it."""

    def __init__(
        self,
        first: ChatCompletionChunk | None,
        upstream: Iterator[ChatCompletionChunk],
        record: CallRecord,
        state: StreamState,
        on_end: OnEnd,
        forward_usage: bool = True,
    ) -> None:
        super().__init__(first, record, state, on_end, forward_usage)
        self._upstream = upstream
        self._final_sent = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> ChatCompletionChunk:
        while True:
            if self._pending is not None:
                chunk, self._pending = self._pending, None
            elif self._upstream_done:
                if self._final_sent or (self._ended and self._state.error is not None):
                    raise StopIteration
                self._final_sent = True
                last = self._last()
                if last is None:
                    raise StopIteration
                return last
            else:
                try:
                    chunk = next(self._upstream)
                except StopIteration:
                    self._upstream_done = True
                    continue
                except ProviderError as exc:
                    error = interrupted(exc, self._state)
                    self._upstream_done = self._final_sent = True
                    self._end(error=error)
                    raise error from (exc.__cause__ if error is exc else exc)
                except BaseException as exc:  # cancellation included
                    self._upstream_done = self._final_sent = True
                    close_quietly(self._upstream)
                    self._end(error=exc)
                    raise
            out = self._deliver(chunk)
            if out is not None:
                return out

    def close(self) -> None:
        """Stop reading: the upstream connection is released."""
        close_quietly(self._upstream)
        if not self._ended:
            self._upstream_done = self._final_sent = True
            self._end(early=True)

    def _end(self, *, error: BaseException | None = None, early: bool = False) -> None:
        if self._ending(error=error, early=early):
            # The end settles or releases the call's hold and fills the cache: a
            # cancellation meanwhile must not cut it in half.
            self._tail = self._on_end.end(self._state)

    def _last(self) -> ChatCompletionChunk | None:
        """After the upstream ended: the last chunk ``on_end`` gave, if any."""
        self._upstream_done = True
        self._end()
        return self._tail

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
