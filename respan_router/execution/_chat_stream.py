"""The streams handed to the caller: one answer, never spliced.

A stream is opened (see :mod:`respan_router.execution._streams`) before it is handed
over, its first chunk already received; from then on it is committed to that candidate:
a later failure raises :class:`~respan_router.errors.StreamInterruptedError` and no other
model's text is appended.

:class:`ChatStream` / :class:`AsyncChatStream` are iterators and context managers;
closing one (or dropping it) closes the upstream. Each ends exactly once, however it
ends (completed, failed, closed early), and calls its ``on_end`` hook then.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from respan_router.errors import ProviderError, StreamInterruptedError
from respan_router.execution._record import CallRecord
from respan_router.execution._stream_state import StreamState

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = [
    "AsyncChatStream",
    "ChatStream",
    "OnEnd",
    "StreamState",
    "aclose_quietly",
    "close_quietly",
]


#: Called once when a stream ends (completed, failed or closed early); returns a last
#: chunk to deliver after the upstream's (the request breakdown), or None. That chunk is
#: delivered only by a stream that completed.
OnEnd = Callable[[StreamState], "ChatCompletionChunk | None"]


def _interrupted(error: BaseException, state: StreamState) -> StreamInterruptedError:
    if isinstance(error, StreamInterruptedError):
        return error
    message = getattr(error, "message", str(error))
    wrapped = StreamInterruptedError(
        f"stream interrupted after {len(state.chunks)} chunks: {message}",
        model=state.model,
        provider=state.provider,
    )
    wrapped.__cause__ = error
    return wrapped


def close_quietly(iterator: Any) -> None:
    """Close a sync iterator if it can be closed, ignoring what closing raises."""
    close = getattr(iterator, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


async def aclose_quietly(iterator: Any) -> None:
    """Close an async iterator if it can be closed, ignoring what closing raises."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


# -- the iterators handed to the caller ------------------------------------------------
class _StreamBase:
    def __init__(
        self,
        first: ChatCompletionChunk | None,
        record: CallRecord,
        state: StreamState,
        on_end: OnEnd,
        forward_usage: bool,
    ) -> None:
        self._pending = first
        self._record = record
        self._state = state
        self._on_end = on_end
        self._tail: ChatCompletionChunk | None = None
        self._forward_usage = forward_usage
        self._ended = False
        self._upstream_done = first is None
        # The messages a prompt rendered to, when the request named one with echo.
        self.prompt_message: list[dict[str, Any]] | None = None
        if first is not None:
            record.first_chunk_ns = time.time_ns()

    @property
    def state(self) -> StreamState:
        """What the stream has delivered so far."""
        return self._state

    def _deliver(self, chunk: ChatCompletionChunk) -> ChatCompletionChunk | None:
        """Record a chunk; None when it is not for the caller (an unrequested usage chunk)."""
        self._state.observe(chunk)
        if not self._forward_usage and not chunk.choices and chunk.usage is not None:
            return None
        return chunk

    def _end(self, *, error: BaseException | None = None, early: bool = False) -> None:
        if self._ended:
            return
        self._ended = True
        self._state.error = error
        self._state.closed_early = early
        self._state.completed = error is None and not early
        self._tail = self._on_end(self._state)

    def _last(self) -> ChatCompletionChunk | None:
        """After the upstream ended: the last chunk ``on_end`` gave, if any."""
        self._upstream_done = True
        self._end()
        return self._tail


class ChatStream(_StreamBase):
    """A sync stream of :class:`ChatCompletionChunk`; a context manager that closes it."""

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

    def __iter__(self) -> ChatStream:
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
                    error = _interrupted(exc, self._state)
                    self._upstream_done = self._final_sent = True
                    self._end(error=error)
                    raise error from (exc.__cause__ if error is exc else exc)
                except BaseException as exc:
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

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


class AsyncChatStream(_StreamBase):
    """An async stream of :class:`ChatCompletionChunk`; an async context manager."""

    def __init__(
        self,
        first: ChatCompletionChunk | None,
        upstream: AsyncIterator[ChatCompletionChunk],
        record: CallRecord,
        state: StreamState,
        on_end: OnEnd,
        forward_usage: bool = True,
    ) -> None:
        super().__init__(first, record, state, on_end, forward_usage)
        self._upstream = upstream
        self._final_sent = False

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        while True:
            if self._pending is not None:
                chunk, self._pending = self._pending, None
            elif self._upstream_done:
                if self._final_sent or (self._ended and self._state.error is not None):
                    raise StopAsyncIteration
                self._final_sent = True
                last = self._last()
                if last is None:
                    raise StopAsyncIteration
                return last
            else:
                try:
                    chunk = await anext(self._upstream)
                except StopAsyncIteration:
                    self._upstream_done = True
                    continue
                except ProviderError as exc:
                    error = _interrupted(exc, self._state)
                    self._upstream_done = self._final_sent = True
                    self._end(error=error)
                    raise error from (exc.__cause__ if error is exc else exc)
                except BaseException as exc:  # cancellation included
                    self._upstream_done = self._final_sent = True
                    await aclose_quietly(self._upstream)
                    self._end(error=exc)
                    raise
            out = self._deliver(chunk)
            if out is not None:
                return out

    async def aclose(self) -> None:
        """Stop reading: the upstream connection is released."""
        await aclose_quietly(self._upstream)
        if not self._ended:
            self._upstream_done = self._final_sent = True
            self._end(early=True)

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # The upstream async generator is finalised by its event loop; record the end.
        if not self._ended:
            with contextlib.suppress(Exception):
                self._upstream_done = self._final_sent = True
                self._end(early=True)
