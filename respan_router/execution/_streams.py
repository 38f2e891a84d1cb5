"""Streams through the pipeline: retries and fallbacks until the first chunk.

``complete(stream=True)`` opens the stream before it returns: the executor walks the
plan like a plain call, where one try of a candidate means "open the provider's stream
and receive its first chunk" (bounded by ``first_token_timeout``). A cached stream is
replayed instead. When the stream ends, however it ends, its answer is assembled, a
completed stream is stored in the cache, and the call is ended once (:class:`CallEnd`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from respan_router.cache import CacheStage
from respan_router.errors import ProviderTimeoutError
from respan_router.execution._chat_stream import (
    AsyncChatStream,
    ChatStream,
    OnEnd,
    StreamState,
    aclose_quietly,
    close_quietly,
)
from respan_router.execution._executor import Executor
from respan_router.execution._hooks import AttemptHooks
from respan_router.execution._outcome import CallEnd
from respan_router.execution._record import CallRecord
from respan_router.providers import Provider, ProviderCall
from respan_router.request import ChatRequest
from respan_router.responses import chunk_from_dict, extra_field, usage_from_tokens
from respan_router.routing import Attempt

if TYPE_CHECKING:
    from respan_router.execution._record import AttemptRecord
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

    Opened = tuple[ChatCompletionChunk | None, Iterator[ChatCompletionChunk]]
    AsyncOpened = tuple[ChatCompletionChunk | None, AsyncIterator[ChatCompletionChunk]]

__all__ = ["StreamStage"]

H = TypeVar("H")


class StreamStage:
    """Opens, replays and ends the streams of one Router.

    Args:
        executor: walks the plan to a first chunk (retries and fallbacks before it).
        provider: opens streams; counts tokens when a stream reports no usage.
        cache: replays stored streams and stores completed ones.
        end: ends the call once the stream has ended.
    """

    def __init__(
        self, executor: Executor, provider: Provider, cache: CacheStage, end: CallEnd
    ) -> None:
        self._executor = executor
        self._provider = provider
        self._cache = cache
        self._end = end

    # -- replay ------------------------------------------------------------------------
    def replay(
        self, request: ChatRequest, record: CallRecord, chunks: list[ChatCompletionChunk]
    ) -> ChatStream:
        """A stored stream, replayed (the call is a cache hit)."""
        record.cache_hit = record.stream = True
        state, on_end, usage = self._hooks(request, record, None)
        return ChatStream(chunks[0], iter(chunks[1:]), record, state, on_end, usage)

    def areplay(
        self, request: ChatRequest, record: CallRecord, chunks: list[ChatCompletionChunk]
    ) -> AsyncChatStream:
        """The async twin of :meth:`replay`."""
        record.cache_hit = record.stream = True
        state, on_end, usage = self._hooks(request, record, None)
        return AsyncChatStream(chunks[0], _aiter(chunks[1:]), record, state, on_end, usage)

    # -- open ----------------------------------------------------------------------------
    def open(
        self,
        request: ChatRequest,
        record: CallRecord,
        attempts: Sequence[Attempt],
        key: str | None,
        hooks: AttemptHooks[H] | None = None,
    ) -> ChatStream:
        """Open a stream up to its first chunk; ``key``: where a completed one is stored;
        ``hooks`` are called around each try (a customer's budget)."""
        record.stream = True
        ftt = request.respan.first_token_timeout
        provider = self._provider

        def send(call: ProviderCall) -> Opened:
            if ftt is not None:
                # A blocking iterator cannot be interrupted from outside: the provider
                # bounds its wait for the first chunk (only) itself.
                call = replace(call, first_chunk_timeout=ftt)
            iterator = provider.stream(call)
            try:
                first = next(iterator, None)
            except BaseException:
                close_quietly(iterator)
                raise
            return first, iterator

        first, upstream = self._executor.run(request, attempts, record, send, hooks)
        return ChatStream(first, upstream, record, *self._hooks(request, record, key))

    async def aopen(
        self,
        request: ChatRequest,
        record: CallRecord,
        attempts: Sequence[Attempt],
        key: str | None,
        hooks: AttemptHooks[H] | None = None,
    ) -> AsyncChatStream:
        """The async twin of :meth:`open`."""
        record.stream = True
        ftt = request.respan.first_token_timeout
        provider = self._provider

        async def send(call: ProviderCall) -> AsyncOpened:
            iterator = provider.astream(call)
            try:
                if ftt is None:
                    first = await anext(iterator, None)
                else:
                    first = await _first_within(iterator, ftt, call)
            except BaseException:
                await aclose_quietly(iterator)
                raise
            return first, iterator

        first, upstream = await self._executor.arun(request, attempts, record, send, hooks)
        return AsyncChatStream(first, upstream, record, *self._hooks(request, record, key))

    # -- the end -------------------------------------------------------------------------
    def _hooks(
        self, request: ChatRequest, record: CallRecord, key: str | None
    ) -> tuple[StreamState, OnEnd, bool]:
        """(state, on_end, forward_usage) for a stream that just opened."""
        answered = record.attempts[-1] if record.attempts else None
        state = StreamState(
            model=answered.model if answered else (request.model or ""),
            provider=answered.provider if answered else "",
        )
        options = request.params.get("stream_options") or {}
        on_end = _StreamEnd(self, request, record, key, answered)
        return state, on_end, bool(options.get("include_usage"))


class _StreamEnd:
    """A stream's end: its usage (counted when the provider sent none), the cache fill
    of a completed stream, the call's end (its budget holds settled); sync for a sync
    stream, awaited (async clients) for an async one."""

    __slots__ = ("_answered", "_key", "_record", "_request", "_stage")

    def __init__(
        self,
        stage: StreamStage,
        request: ChatRequest,
        record: CallRecord,
        key: str | None,
        answered: AttemptRecord | None,
    ) -> None:
        self._stage, self._request, self._record = stage, request, record
        self._key, self._answered = key, answered

    def end(self, state: StreamState) -> ChatCompletionChunk | None:
        self._count(state)
        if self._key is not None and state.completed:
            self._stage._cache.store_chunks(self._key, self._request, state.chunks)
        answer = state.as_completion()
        self._stage._end(self._record, self._request, answer, state.error)
        return _tail(state, answer)

    async def aend(self, state: StreamState) -> ChatCompletionChunk | None:
        self._count(state)
        if self._key is not None and state.completed:
            await self._stage._cache.astore_chunks(self._key, self._request, state.chunks)
        answer = state.as_completion()
        await self._stage._end.aend(self._record, self._request, answer, state.error)
        return _tail(state, answer)

    def awaits(self, state: StreamState) -> bool:
        stage = self._stage
        fills = self._key is not None and state.completed and stage._cache.cache.shared
        return fills or stage._end.settles_shared(self._record)

    def _count(self, state: StreamState) -> None:
        answered = self._answered
        if state.usage is None and state.chunks and answered is not None:
            counted = self._stage._provider.count_tokens(
                answered.litellm_model, self._request.messages, state.all_text
            )
            if counted is not None:
                state.usage = usage_from_tokens(*counted)


def _tail(state: StreamState, answer: ChatCompletion | None) -> ChatCompletionChunk | None:
    """The request breakdown's chunk, for a completed stream that has one. (What was
    delivered is recorded even when the stream failed: the span has the partial output.)"""
    breakdown = extra_field(answer, "request_breakdown") if answer is not None else None
    if answer is None or breakdown is None or not state.completed:
        return None
    return chunk_from_dict(
        {
            "id": "request_breakdown",
            "object": "chat.completion.chunk",
            "created": answer.created,
            "model": answer.model,
            "choices": [],
            "request_breakdown": breakdown,
        }
    )


async def _first_within(
    iterator: AsyncIterator[ChatCompletionChunk], seconds: float, call: ProviderCall
) -> ChatCompletionChunk | None:
    import asyncio  # on first use: a sync-only process never loads asyncio

    try:
        return await asyncio.wait_for(anext(iterator, None), seconds)
    except TimeoutError:
        raise ProviderTimeoutError(
            f"no first chunk within first_token_timeout={seconds}s",
            model=call.model,
            provider=call.provider,
        ) from None


async def _aiter(chunks: list[ChatCompletionChunk]) -> AsyncIterator[ChatCompletionChunk]:
    for chunk in chunks:
        yield chunk
