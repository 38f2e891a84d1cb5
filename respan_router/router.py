"""The Router: runs each call through the stages. It decides nothing itself.

``complete(**params)`` / ``await acomplete(**params)``::

    request (merge + validate) -> prompt (render, validate again) -> cache -> routing (plan)
    -> execution -> end (record)

Everything up to dispatch is one shared step (:meth:`Router._prepare`); the two differ
only in how they wait. The stages are built (and closed) by ``_assembly``.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, overload

from respan_router import budgets
from respan_router._assembly import Owner, assemble
from respan_router.cache import ResponseCache
from respan_router.config import RouterConfig, build_config, load_config_file
from respan_router.execution import AsyncChatStream, CallRecord, ChatStream, Fetch, StreamStage
from respan_router.prompts import PromptRegistry, echo_prompt
from respan_router.request import ChatRequest, build_request
from respan_router.resilience import HealthRegistry, RetryBudget
from respan_router.routing import Attempt

if TYPE_CHECKING:
    import openai

    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["Router"]


@dataclass(slots=True)
class _Prepared:
    """A validated call, before dispatch."""

    request: ChatRequest
    key: str | None  # its cache key, None when not cached
    replay: list[ChatCompletionChunk] | None = None  # a cached stream's chunks
    hit: ChatCompletion | None = None  # a cached completion


class Router(Owner):
    """An in-process LLM router.

    Args:
        config: a :class:`RouterConfig` (or a mapping of its fields); keyword settings
            are applied over it.
        **settings: any field of :class:`RouterConfig` (``providers``, ``deployments``,
            ``load_balance_groups``, ``provider``, ``tracer_provider``, ``cache_enabled``,
            ...); each is documented there.
    """

    def __init__(
        self, config: RouterConfig | Mapping[str, Any] | None = None, **settings: Any
    ) -> None:
        if isinstance(config, RouterConfig) and not settings:
            self._config: RouterConfig = config
        else:
            self._config = build_config({**dict(config or {}), **settings})
        stages = assemble(self._config)
        self._provider = stages.provider
        self._planner = stages.planner
        self._executor = stages.executor
        self._cache, self._end, self._prompts = stages.cache, stages.end, stages.prompts
        self._streams = StreamStage(stages.executor, stages.provider, stages.cache, stages.end)
        self.health: HealthRegistry | None = stages.health
        self.retry_budget: RetryBudget | None = stages.retry_budget
        self._budgets = stages.budgets
        self._fetch = Fetch(stages.planner, stages.executor, stages.provider, stages.budgets)
        self.budgets = budgets.Budgets(stages.budgets)
        self._redis, self._stages = stages.redis, stages

    @classmethod
    def from_config(
        cls, source: str | os.PathLike[str] | Mapping[str, Any], **overrides: Any
    ) -> Router:
        """Build a Router from a YAML/JSON/TOML file or a mapping; keywords override it."""
        values = dict(source) if isinstance(source, Mapping) else load_config_file(source)
        return cls(values, **overrides)

    @property
    def config(self) -> RouterConfig:
        return self._config

    @property
    def prompts(self) -> PromptRegistry:
        """The prompt templates ``prompt=`` renders: ``add``, ``reload``, ``get``, ``ids``."""
        return self._prompts.registry

    @property
    def cache(self) -> ResponseCache:
        """The response cache: ``stats`` (hits, misses, entries, bytes) and ``clear()``."""
        return self._cache.cache

    def __repr__(self) -> str:
        return f"Router({self._config!r}, provider={type(self._provider).__name__})"

    def as_openai(self, **client_options: Any) -> openai.OpenAI:
        """A genuine ``openai.OpenAI(**client_options)`` served in-process (docs/migrating.md):
        ``max_retries=0`` (the Router retries), a base URL reaching no network, unless given."""
        from respan_router.wire import openai_client

        return openai_client(self, **client_options)

    def as_async_openai(self, **client_options: Any) -> openai.AsyncOpenAI:
        """The async twin of :meth:`as_openai`: a genuine ``openai.AsyncOpenAI``."""
        from respan_router.wire import async_openai_client

        return async_openai_client(self, **client_options)

    def transport(self, http: Any = None) -> Any:
        """An HTTP transport serving this Router, for ``Client(transport=...)`` of the
        HTTP package the installed OpenAI SDK uses (``httpx``, or ``httpx2`` for
        openai 3.x), or of package ``http``."""
        from respan_router.wire import transport

        return transport(self, http)

    def async_transport(self, http: Any = None) -> Any:
        """The async twin of :meth:`transport`, for ``AsyncClient(transport=...)``."""
        from respan_router.wire import async_transport

        return async_transport(self, http)

    def plan(self, **params: Any) -> list[Attempt]:
        """The ordered attempts a call with these parameters would make (random choices
        drawn exactly as a real call draws them); calls nothing."""
        return self._planner.plan(self._prompts.apply(build_request(params)))

    # -- the shared, I/O-free steps ----------------------------------------------------
    def _prepare(self, stream: Any, params: dict[str, Any]) -> _Prepared:
        """The call validated, rendered from its prompt, looked up in the cache (a stream's
        stored chunks are looked up by the caller: sync or async)."""
        if stream is not False:
            params["stream"] = stream
        request = build_request(params)
        request = request if request.bare else self._prompts.apply(request)  # prompt= is Respan's
        key = self._cache.key(request)
        prepared = _Prepared(request, key)
        if key is not None and not request.stream:
            prepared.hit = self._cache.lookup(key)
        return prepared

    # -- calls ---------------------------------------------------------------------------
    @overload
    def complete(self, *, stream: Literal[False] = False, **params: Any) -> ChatCompletion: ...
    @overload
    def complete(self, *, stream: Literal[True], **params: Any) -> ChatStream: ...
    @overload
    def complete(self, *, stream: bool, **params: Any) -> ChatCompletion | ChatStream: ...

    def complete(self, *, stream: Any = False, **params: Any) -> ChatCompletion | ChatStream:
        """Route one chat completion (blocking).

        Returns a :class:`ChatCompletion`, or with ``stream=True`` a :class:`ChatStream`
        whose first chunk has already arrived (retries and fallbacks happen before it).
        """
        if self._closed:  # the attribute read alone on the way of every call
            self._check_open()
        record = CallRecord()
        request: ChatRequest | None = None
        try:
            call = self._prepare(stream, params)
            request = call.request
            if call.key is not None and request.stream:
                call.replay = self._cache.chunks(call.key)
            if not request.bare:  # only a Respan parameter names a customer
                record.customer = self._budgets.admit(request, admitted=record.admit)
            if self._redis is None:
                result = self._run(call, record)
                if record.customer is not None:
                    budgets.check_rate(self._budgets, record.customer)
            else:  # the call's Redis writes (cache fill, settle) go in one round trip
                with self._redis.batch():
                    result = self._run(call, record)
                    budgets.check_rate(self._budgets, record.customer)  # a cache hit's rate limit
                record.redis_degraded = self._redis.degraded
            if request.prompt is not None:  # only a prompt= call echoes one
                echo_prompt(result, request)
        except BaseException as exc:
            record.redis_degraded = self._redis is not None and self._redis.degraded
            self._end(record, request, None, exc)
            raise
        if not isinstance(result, ChatStream):
            self._end(record, request, result, None)
        return result  # a stream ends its call when it ends

    def _run(self, call: _Prepared, record: CallRecord) -> ChatCompletion | ChatStream:
        request, key = call.request, call.key
        if request.stream:
            if call.replay:
                return self._streams.replay(request, record, call.replay)
            attempts = self._fetch.planned(request, record)
            attempts = budgets.plan_within_budget(self._budgets, record.customer, request, attempts)
            hooks = budgets.attempt_hooks(self._budgets, record.customer, request)
            return self._streams.open(request, record, attempts, key, hooks)
        if call.hit is not None:
            record.cache_hit = True
            return call.hit
        if key is None:
            return self._fetch(request, record)
        wait = self._executor.patience(request)  # a follower's own deadline
        fetch = partial(self._fetch, request, record)
        response, fetched = self._cache.shared(key, request, fetch, wait)
        record.cache_hit = not fetched
        return response

    @overload
    async def acomplete(
        self, *, stream: Literal[False] = False, **params: Any
    ) -> ChatCompletion: ...
    @overload
    async def acomplete(self, *, stream: Literal[True], **params: Any) -> AsyncChatStream: ...
    @overload
    async def acomplete(
        self, *, stream: bool, **params: Any
    ) -> ChatCompletion | AsyncChatStream: ...

    async def acomplete(
        self, *, stream: Any = False, **params: Any
    ) -> ChatCompletion | AsyncChatStream:
        """Route one chat completion (async).

        Returns a :class:`ChatCompletion`, or with ``stream=True`` an
        :class:`AsyncChatStream` whose first chunk has already arrived.
        """
        if self._closed:  # the attribute read alone on the way of every call
            self._check_open()
        record = CallRecord()
        request: ChatRequest | None = None
        result: ChatCompletion | AsyncChatStream
        try:
            call = self._prepare(stream, params)
            request = call.request
            if call.key is not None and request.stream:
                call.replay = await self._cache.achunks(call.key)
            if not request.bare:
                record.customer = await self._budgets.aadmit(request, admitted=record.admit)
            if self._redis is None:
                if call.hit is not None:  # a stored completion: nothing to await
                    record.cache_hit = True
                    result = call.hit
                else:
                    dispatch = self._arun(call, record)
                    del call, params  # neither is held while the call is in flight
                    result = await dispatch
                if record.customer is not None:
                    await budgets.acheck_rate(self._budgets, record.customer)
            else:
                async with self._redis.abatch():
                    result = await self._arun(call, record)
                    await budgets.acheck_rate(self._budgets, record.customer)
                record.redis_degraded = self._redis.degraded
            if request.prompt is not None:  # only a prompt= call echoes one
                echo_prompt(result, request)
        except BaseException as exc:
            record.redis_degraded = self._redis is not None and self._redis.degraded
            self._end(record, request, None, exc)
            raise
        if not isinstance(result, AsyncChatStream):
            self._end(record, request, result, None)
        return result  # a stream ends its call when it ends

    def _arun(
        self, call: _Prepared, record: CallRecord
    ) -> Awaitable[ChatCompletion | AsyncChatStream]:
        """The call's dispatch, to await: a plain call's fetch as is (no stage wraps it)."""
        if call.key is None and not call.request.stream:
            return self._fetch.afetch(call.request, record)
        return self._astaged(call, record)

    async def _astaged(
        self, call: _Prepared, record: CallRecord
    ) -> ChatCompletion | AsyncChatStream:
        request, key = call.request, call.key
        if request.stream:
            if call.replay:
                return self._streams.areplay(request, record, call.replay)
            attempts = self._fetch.planned(request, record)
            customer = record.customer
            attempts = await budgets.aplan_within_budget(self._budgets, customer, request, attempts)
            hooks = budgets.attempt_hooks(self._budgets, record.customer, request)
            return await self._streams.aopen(request, record, attempts, key, hooks)
        if call.hit is not None:
            record.cache_hit = True
            return call.hit
        if key is None:
            return await self._fetch.afetch(request, record)
        wait = self._executor.patience(request)
        fetch = partial(self._fetch.afetch, request, record)
        response, fetched = await self._cache.ashared(key, request, fetch, wait)
        record.cache_hit = not fetched
        return response
