"""Streams through the pipeline: replay from the cache, or plan and walk to a first chunk.

The Router hands a ``stream=True`` call here after validation and the cache key. Loaded
on the first stream, so a process that never streams never imports the stream machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from respan_router.cache._stage import CacheStage
from respan_router.execution._executor import Executor
from respan_router.execution._record import CallRecord
from respan_router.execution._streams import (
    AsyncChatStream,
    ChatStream,
    StreamState,
    open_async,
    open_sync,
)
from respan_router.providers.base import Provider
from respan_router.request._request import ChatRequest
from respan_router.responses import ChatCompletion, ChatCompletionChunk, Choice, Message, Usage
from respan_router.routing._plan import Attempt

__all__ = ["StreamStage"]

Plan = Callable[[ChatRequest, CallRecord], list[Attempt]]
Finish = Callable[[CallRecord, ChatRequest, ChatCompletion | None, BaseException | None], None]


class StreamStage:
    """Opens the streams of one Router.

    Args:
        executor: walks the plan to the first chunk (retries and fallbacks before it).
        provider: the backend (opens streams, counts tokens when usage is missing).
        cache: stores completed streams and replays them.
        plan: the Router's timed planning step.
        finish: the Router's recording step, called once when a stream ends.
    """

    def __init__(
        self, executor: Executor, provider: Provider, cache: CacheStage, plan: Plan, finish: Finish
    ) -> None:
        self._executor = executor
        self._provider = provider
        self._cache = cache
        self._plan = plan
        self._finish = finish
        self._open = open_sync(executor, provider)
        self._aopen = open_async(executor, provider)

    def open(self, request: ChatRequest, record: CallRecord, key: str | None) -> ChatStream:
        replay = self._replay(record, key)
        if replay:
            return ChatStream(
                replay[0], iter(replay[1:]), record, *self._hooks(request, record, None)
            )
        attempts = self._plan(request, record)
        first, upstream = self._executor.walk(request, attempts, record, self._open)
        return ChatStream(first, upstream, record, *self._hooks(request, record, key))

    async def aopen(
        self, request: ChatRequest, record: CallRecord, key: str | None
    ) -> AsyncChatStream:
        replay = self._replay(record, key)
        if replay:
            return AsyncChatStream(
                replay[0], _aiter(replay[1:]), record, *self._hooks(request, record, None)
            )
        attempts = self._plan(request, record)
        first, upstream = await self._executor.awalk(request, attempts, record, self._aopen)
        return AsyncChatStream(first, upstream, record, *self._hooks(request, record, key))

    def _replay(self, record: CallRecord, key: str | None) -> list[ChatCompletionChunk] | None:
        """The stored chunks of this stream, if the cache holds it (the call is a hit)."""
        record.stream = True
        replay = self._cache.cache.get_chunks(key) if key is not None else None
        if replay:
            record.cache_hit = True
        return replay

    def _hooks(self, request: ChatRequest, record: CallRecord, key: str | None) -> tuple[Any, ...]:
        """(state, on_end, final_chunk, forward_usage) for a stream that just opened.

        ``key`` is where a completed stream is stored (None: not stored, e.g. a replay).
        """
        answered = record.attempts[-1] if record.attempts else None
        state = StreamState(
            model=answered.model if answered else (request.model or ""),
            provider=answered.provider if answered else "",
        )
        options = request.params.get("stream_options") or {}
        ended: list[ChatCompletion] = []  # the stream's answer, once it ended without error

        def on_end(state: StreamState) -> None:
            if state.usage is None and state.chunks and answered is not None:
                counted = self._provider.count_tokens(
                    answered.litellm_model, request.messages, state.content
                )
                if counted is not None:
                    state.usage = Usage(counted[0], counted[1], counted[0] + counted[1])
            if key is not None and state.completed:
                self._cache.cache.set_chunks(key, state.chunks, self._cache.ttl(request))
            # What was delivered, even when the stream failed: the span records the partial
            # output; only a stream that ended without error gets a breakdown chunk.
            response = _as_completion(state)
            if response is not None and state.error is None:
                ended.append(response)
            self._finish(record, request, response, state.error)

        final = self._final_chunk(request, ended)
        return state, on_end, final, bool(options.get("include_usage"))

    @staticmethod
    def _final_chunk(
        request: ChatRequest, ended: list[ChatCompletion]
    ) -> Callable[[StreamState], ChatCompletionChunk | None] | None:
        """The last chunk carrying ``request_breakdown``, when the request asks for it.

        ``on_end`` runs first: the recording has set the breakdown on the stream's answer.
        """
        if not request.respan.request_breakdown:
            return None

        def final_chunk(state: StreamState) -> ChatCompletionChunk | None:
            breakdown = ended[0].request_breakdown if ended else None
            if breakdown is None:
                return None
            return ChatCompletionChunk(
                id="request_breakdown", model=state.model, choices=[], request_breakdown=breakdown
            )

        return final_chunk


async def _aiter(chunks: list[ChatCompletionChunk]) -> Any:
    for chunk in chunks:
        yield chunk


def _as_completion(state: StreamState) -> ChatCompletion | None:
    """A streamed answer as one completion, for the call's record."""
    if not state.chunks:
        return None
    finish = state.finish_reasons[-1] if state.finish_reasons else None
    return ChatCompletion(
        id=state.chunks[0].id,
        model=state.model,
        choices=[Choice(Message(content=state.content), 0, finish)],
        usage=state.usage,
    )
