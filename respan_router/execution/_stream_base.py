"""What a stream handed to the caller does without I/O: deliver, end once, hand the tail.

The iteration itself (reading the upstream) is ``_stream_async`` and its generated sync
form ``_stream_sync``; the public classes are in ``_chat_stream``.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, Protocol

from respan_router.errors import StreamInterruptedError
from respan_router.execution._record import CallRecord
from respan_router.execution._stream_state import StreamState

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["OnEnd", "StreamBase", "aclose_quietly", "close_quietly", "interrupted"]


class OnEnd(Protocol):
    """Called once when a stream ends (completed, failed or closed early): ``end`` by a
    sync stream, ``aend`` (awaited: its writes use the async clients) by an async one.
    Returns a last chunk to deliver after the upstream's (the request breakdown), or
    None. That chunk is delivered only by a stream that completed."""

    def end(self, state: StreamState) -> ChatCompletionChunk | None: ...

    def awaits(self, state: StreamState) -> bool:
        """Whether :meth:`aend` would do I/O now (a shared cache or budget store)."""
        ...

    async def aend(self, state: StreamState) -> ChatCompletionChunk | None: ...


def interrupted(error: BaseException, state: StreamState) -> StreamInterruptedError:
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
class StreamBase:
    """The state of a stream handed to the caller, and its one end."""

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

    def _ending(self, *, error: BaseException | None = None, early: bool = False) -> bool:
        """Mark the stream ended; False when it had ended already (it ends once)."""
        if self._ended:
            return False
        self._ended = True
        self._state.error = error
        self._state.closed_early = early
        self._state.completed = error is None and not early
        return True
