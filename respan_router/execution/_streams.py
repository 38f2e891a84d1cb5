"""Streams: retries and fallbacks until the first chunk, then one answer, never spliced.

``complete(stream=True)`` opens the stream before it returns: it walks the plan like a
plain call, where one try of a candidate means "open the provider's stream and receive
its first chunk" (bounded by ``first_token_timeout``). Once a first chunk exists, the
call is committed to that candidate: a later failure raises
:class:`~respan_router.errors.StreamInterruptedError` to the caller and no other model's
text is appended.

:class:`ChatStream` / :class:`AsyncChatStream` are the iterators handed to the caller;
both are context managers, and closing one (or dropping it) closes the upstream.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from respan_router.errors import (
    ProviderError,
    ProviderTimeoutError,
    StreamInterruptedError,
)
from respan_router.execution._record import AttemptRecord, CallRecord
from respan_router.providers.base import Provider
from respan_router.request._request import ChatRequest
from respan_router.responses import ChatCompletionChunk, Usage
from respan_router.routing._plan import Attempt

__all__ = ["AsyncChatStream", "ChatStream", "StreamState", "open_async", "open_sync"]


@dataclass(slots=True)
class StreamState:
    """What a stream delivered so far: its text, usage and how it ended."""

    model: str = ""
    provider: str = ""
    chunks: list[ChatCompletionChunk] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    usage: Usage | None = None
    completed: bool = False
    closed_early: bool = False
    error: BaseException | None = None

    def observe(self, chunk: ChatCompletionChunk) -> None:
        self.chunks.append(chunk)
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                self.text.append(choice.delta.content)
            if choice.finish_reason:
                self.finish_reasons.append(choice.finish_reason)

    @property
    def content(self) -> str:
        return "".join(self.text)


# Called once when a stream ends (completed, failed or closed early).
OnEnd = Callable[[StreamState], None]
# Builds the extra last chunk (the request breakdown), or None.
FinalChunk = Callable[[StreamState], ChatCompletionChunk | None]


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


def _first_token_timeout(request: ChatRequest) -> float | None:
    return request.respan.first_token_timeout


# -- opening a stream: one try of one candidate ------------------------------------------
def open_sync(executor: Any, provider: Provider) -> Callable[..., Any]:
    """The sync 'once' function for :meth:`Executor.walk`: (first chunk, iterator)."""

    def once(
        attempt: Attempt,
        request: ChatRequest,
        deadline: float | None,
        key: str,
        arec: AttemptRecord,
    ) -> tuple[ChatCompletionChunk | None, Iterator[ChatCompletionChunk]]:
        started = executor._begin_try(arec)
        call = executor._call_for(attempt, request, deadline)
        ftt = _first_token_timeout(request)
        if ftt is not None:
            # A blocking iterator cannot be interrupted from outside: the provider bounds
            # its wait for the first chunk by the attempt's timeout.
            call = _with_timeout(call, ftt)
        iterator = provider.stream(call)
        try:
            first = next(iterator, None)
        except BaseException as exc:
            _close(iterator)
            executor._end_try(key, exc, arec, started)
            raise
        executor._end_try(key, None, arec, started)
        return first, iterator

    return once


def open_async(executor: Any, provider: Provider) -> Callable[..., Any]:
    """The async 'once' function for :meth:`Executor.awalk`."""

    async def once(
        attempt: Attempt,
        request: ChatRequest,
        deadline: float | None,
        key: str,
        arec: AttemptRecord,
    ) -> tuple[ChatCompletionChunk | None, AsyncIterator[ChatCompletionChunk]]:
        started = executor._begin_try(arec)
        iterator = provider.astream(executor._call_for(attempt, request, deadline))
        ftt = _first_token_timeout(request)
        try:
            if ftt is None:
                first = await anext(iterator, None)
            else:
                import asyncio  # on first use: a sync-only process never loads asyncio

                try:
                    first = await asyncio.wait_for(anext(iterator, None), ftt)
                except TimeoutError:
                    raise ProviderTimeoutError(
                        f"no first chunk within first_token_timeout={ftt}s",
                        model=attempt.model,
                        provider=attempt.provider,
                    ) from None
        except BaseException as exc:
            await _aclose(iterator)
            executor._end_try(key, exc, arec, started)
            raise
        executor._end_try(key, None, arec, started)
        return first, iterator

    return once


def _with_timeout(call: Any, seconds: float) -> Any:
    from dataclasses import replace

    timeout = seconds if call.timeout is None else min(call.timeout, seconds)
    return replace(call, timeout=timeout)


def _close(iterator: Any) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


async def _aclose(iterator: Any) -> None:
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
        final_chunk: FinalChunk | None,
        forward_usage: bool,
    ) -> None:
        self._pending = first
        self._record = record
        self._state = state
        self._on_end = on_end
        self._final_chunk = final_chunk
        self._forward_usage = forward_usage
        self._ended = False
        self._upstream_done = first is None
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
        self._on_end(self._state)

    def _last(self) -> ChatCompletionChunk | None:
        """After the upstream ended: the breakdown chunk, if one is asked for."""
        self._upstream_done = True
        self._end()
        return self._final_chunk(self._state) if self._final_chunk is not None else None


class ChatStream(_StreamBase):
    """A sync stream of :class:`ChatCompletionChunk`; a context manager that closes it."""

    def __init__(
        self,
        first: ChatCompletionChunk | None,
        upstream: Iterator[ChatCompletionChunk],
        record: CallRecord,
        state: StreamState,
        on_end: OnEnd,
        final_chunk: FinalChunk | None = None,
        forward_usage: bool = True,
    ) -> None:
        super().__init__(first, record, state, on_end, final_chunk, forward_usage)
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
                    _close(self._upstream)
                    self._end(error=exc)
                    raise
            out = self._deliver(chunk)
            if out is not None:
                return out

    def close(self) -> None:
        """Stop reading: the upstream connection is released."""
        _close(self._upstream)
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
        final_chunk: FinalChunk | None = None,
        forward_usage: bool = True,
    ) -> None:
        super().__init__(first, record, state, on_end, final_chunk, forward_usage)
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
                    await _aclose(self._upstream)
                    self._end(error=exc)
                    raise
            out = self._deliver(chunk)
            if out is not None:
                return out

    async def aclose(self) -> None:
        """Stop reading: the upstream connection is released."""
        await _aclose(self._upstream)
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
