"""The Router: runs each call through the stages. It decides nothing itself.

``complete(**params)`` / ``await acomplete(**params)``::

    merge + validate -> cache -> plan -> execute -> record

Every step that does no I/O is shared by the two; only the execution differs. The
stages are built by :mod:`respan_router._assembly`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

from respan_router._assembly import assemble
from respan_router.cache import ResponseCache
from respan_router.cache.backend import CacheBackend
from respan_router.config import RouterConfig, build_config, load_config_file
from respan_router.execution._record import CallRecord
from respan_router.request._params import build_schemas
from respan_router.request._request import ChatRequest, build_request
from respan_router.resilience._budget import RetryBudget
from respan_router.resilience._health import HealthRegistry
from respan_router.responses import ChatCompletion
from respan_router.routing._plan import Attempt
from respan_router.telemetry._sink import Telemetry

if TYPE_CHECKING:  # loaded on the first stream
    from respan_router.execution._stream_stage import StreamStage
    from respan_router.execution._streams import AsyncChatStream, ChatStream

__all__ = ["Router"]


class Router:
    """An in-process LLM router.

    Args:
        providers: provider name -> default settings (``api_key``, ``api_base``, ...).
        deployments: model name used in requests -> ``{"model": "<backend model>", ...}``
            with its own settings (credentials, ``api_base``, ``provider``).
        load_balance_groups: group id -> weighted model list.
        provider: the dispatch backend: ``"litellm"`` (default) or a
            :class:`~respan_router.providers.base.Provider` such as
            :class:`~respan_router.testing.FakeProvider`.
        tracer_provider: OpenTelemetry tracer provider (default: the global one).
        meter_provider: OpenTelemetry meter provider for optional metrics.
        seed: seeds the router's random choices (load balancing) for reproducibility.
        routing_strategy: how ``models`` are ordered: ``ordered``, ``cheapest``, ``fastest``.
        timeout: default seconds one attempt may take.
        total_timeout: default seconds a whole call (retries and fallbacks) may take.
        record_content: record messages and outputs in spans (unless ``disable_log``).
        record_customer_email: record the customer's email in spans.
        retry_params: the default retry policy of calls that give none
            (``{retry_enabled, num_retries, retry_after}``); default: no retries.
        circuit_breaker: per-deployment breaker settings (``consecutive_failures``,
            ``failure_rate``, ``window``, ``min_calls``, ``cooldown``), or False to disable.
        retry_budget: router-wide retry cap (``ratio``, ``window``,
            ``min_retries_per_second``), or False to disable.
        cache_enabled: cache calls that do not say (``cache_enabled``); default False.
        cache_ttl: seconds a cache entry lives when a call gives no ``cache_ttl``
            (default 30 days).
        cache_maxsize: entries the default in-memory cache holds (LRU beyond).
        cache_max_bytes: bytes the default in-memory cache holds, or None.
        cache_backend: another :class:`~respan_router.cache.CacheBackend` (e.g. shared).
        sleep: how retries wait in sync calls (default :func:`time.sleep`); for tests.
        async_sleep: how retries wait in async calls (default :func:`asyncio.sleep`).
        clock: a monotonic clock for deadlines, breakers and the retry budget; for tests.
    """

    def __init__(
        self,
        *,
        providers: Mapping[str, Mapping[str, Any]] | None = None,
        deployments: Mapping[str, Mapping[str, Any]] | None = None,
        load_balance_groups: Mapping[str, Any] | None = None,
        provider: Any = "litellm",
        tracer_provider: Any = None,
        meter_provider: Any = None,
        seed: int | None = None,
        routing_strategy: str = "ordered",
        timeout: float | None = None,
        total_timeout: float | None = None,
        record_content: bool = True,
        record_customer_email: bool = False,
        retry_params: Mapping[str, Any] | None = None,
        circuit_breaker: Mapping[str, Any] | bool = True,
        retry_budget: Mapping[str, Any] | bool = True,
        cache_enabled: bool = False,
        cache_ttl: float = 30 * 24 * 3600,
        cache_maxsize: int = 10_000,
        cache_max_bytes: int | None = None,
        cache_backend: CacheBackend | None = None,
        sleep: Callable[[float], None] | None = None,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._config: RouterConfig = build_config(
            {
                "providers": dict(providers or {}),
                "deployments": dict(deployments or {}),
                "load_balance_groups": dict(load_balance_groups or {}),
                "provider": provider,
                "tracer_provider": tracer_provider,
                "meter_provider": meter_provider,
                "seed": seed,
                "routing_strategy": routing_strategy,
                "timeout": timeout,
                "total_timeout": total_timeout,
                "record_content": record_content,
                "record_customer_email": record_customer_email,
                "retry_params": retry_params,
                "circuit_breaker": _plain(circuit_breaker),
                "retry_budget": _plain(retry_budget),
                "cache_enabled": cache_enabled,
                "cache_ttl": cache_ttl,
                "cache_maxsize": cache_maxsize,
                "cache_max_bytes": cache_max_bytes,
            }
        )
        build_schemas()
        stages = assemble(
            self._config,
            sleep=sleep,
            async_sleep=async_sleep,
            clock=clock,
            cache_backend=cache_backend,
        )
        self._provider = stages.provider
        self._planner = stages.planner
        self._executor = stages.executor
        self._cache = stages.cache
        self._pricing = stages.pricing
        self.health: HealthRegistry | None = stages.health
        self.retry_budget: RetryBudget | None = stages.retry_budget
        self._stream_stage: StreamStage | None = None
        self._telemetry = Telemetry(self._config, self._pricing)

    @classmethod
    def from_config(
        cls, source: str | os.PathLike[str] | Mapping[str, Any], **overrides: Any
    ) -> Router:
        """Build a Router from a YAML/JSON/TOML file or a mapping; keywords override it."""
        values = dict(source) if isinstance(source, Mapping) else load_config_file(source)
        values.update(overrides)
        return cls(**values)

    @property
    def config(self) -> RouterConfig:
        return self._config

    @property
    def cache(self) -> ResponseCache:
        """The response cache: ``stats`` (hits, misses, entries, bytes) and ``clear()``."""
        return self._cache.cache

    def __repr__(self) -> str:
        return f"Router({self._config!r}, provider={type(self._provider).__name__})"

    # -- shared, I/O-free steps --------------------------------------------------------
    def plan(self, **params: Any) -> list[Attempt]:
        """The ordered attempts a call with these parameters would make; calls nothing.

        Random choices are drawn exactly as a real call would draw them.
        """
        return self._planner.plan(build_request(params))

    def _timed_plan(self, request: ChatRequest, record: CallRecord) -> list[Attempt]:
        started = time.perf_counter()
        try:
            return self._planner.plan(request)
        finally:
            record.routing_seconds = time.perf_counter() - started

    def _finish(
        self,
        record: CallRecord,
        request: ChatRequest | None,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> None:
        """Stage 8, once per call, success or error (for a stream: when it ends).

        A request rejected by validation (``request`` is None) is not recorded: nothing
        was routed, and the caller gets the error at once.
        """
        record.end_ns = time.time_ns()
        record.error = error
        if request is not None:
            self._telemetry.finish(record, request, response, error)

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
        if stream is not False:
            params["stream"] = stream
        record = CallRecord()
        request: ChatRequest | None = None
        try:
            request = build_request(params)
            key = self._cache.key(request)
            if request.stream:
                return self._streams().open(request, record, key)
            response = self._cache.lookup(key) if key is not None else None
            if response is not None:
                record.cache_hit = True
            elif key is None:
                response = self._route(request, record)
            else:
                response, fetched = self._cache.shared(
                    key, request, lambda: self._route(request, record)
                )
                record.cache_hit = not fetched
        except BaseException as exc:
            self._finish(record, request, None, exc)
            raise
        self._finish(record, request, response, None)
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
        if stream is not False:
            params["stream"] = stream
        record = CallRecord()
        request: ChatRequest | None = None
        try:
            request = build_request(params)
            key = self._cache.key(request)
            if request.stream:
                return await self._streams().aopen(request, record, key)
            response = self._cache.lookup(key) if key is not None else None
            if response is not None:
                record.cache_hit = True
            elif key is None:
                response = await self._aroute(request, record)
            else:
                response, fetched = await self._cache.ashared(
                    key, request, lambda: self._aroute(request, record)
                )
                record.cache_hit = not fetched
        except BaseException as exc:
            self._finish(record, request, None, exc)
            raise
        self._finish(record, request, response, None)
        return response

    def _route(self, request: ChatRequest, record: CallRecord) -> ChatCompletion:
        return self._executor.run(request, self._timed_plan(request, record), record)

    async def _aroute(self, request: ChatRequest, record: CallRecord) -> ChatCompletion:
        return await self._executor.arun(request, self._timed_plan(request, record), record)

    # -- streams -----------------------------------------------------------------------------
    def _streams(self) -> StreamStage:
        """The stream stage, built (and its module imported) on the first stream."""
        stage = self._stream_stage
        if stage is None:
            from respan_router.execution._stream_stage import StreamStage

            stage = StreamStage(
                self._executor, self._provider, self._cache, self._timed_plan, self._finish
            )
            self._stream_stage = stage
        return stage


def _plain(setting: Any) -> Any:
    return dict(setting) if isinstance(setting, Mapping) else setting
