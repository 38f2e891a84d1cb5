"""The Router: wires the stages of a call together. It decides nothing itself.

``complete(**params)`` / ``await acomplete(**params)``::

    merge + validate -> plan -> execute -> record

Every step that does no I/O is shared by the two; only the execution differs.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, overload

from respan_router.config import RouterConfig, build_config, load_config_file
from respan_router.executor import Executor, health_key
from respan_router.health import BreakerConfig, HealthRegistry
from respan_router.params import build_schemas
from respan_router.plan import Attempt, Planner
from respan_router.pricing import Pricing
from respan_router.providers.base import Provider
from respan_router.record import CallRecord
from respan_router.request import ChatRequest, build_request
from respan_router.responses import ChatCompletion, ChatCompletionChunk, Usage
from respan_router.retry import RetryPolicy
from respan_router.retry_budget import RetryBudget
from respan_router.selection import LatencyTracker
from respan_router.streaming import AsyncChatStream, ChatStream, StreamState, open_async, open_sync
from respan_router.telemetry import Telemetry, stream_completion

__all__ = ["Router"]


def _resolve_provider(provider: Any) -> Provider:
    if provider is None or provider == "litellm":
        from respan_router.providers.litellm import LiteLLMProvider

        return LiteLLMProvider()
    if isinstance(provider, str):
        raise ValueError(f"unknown provider backend {provider!r}; use 'litellm' or an object")
    if not isinstance(provider, Provider):
        raise TypeError("provider must implement the Provider protocol")
    return provider


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
        seed: seeds the router's random choices (load balancing, weighted customer
            credentials): the same sequence of calls from one thread plans the same way.
        routing_strategy: how the first of ``models`` is chosen when ``model`` is not
            given: ``ordered``, ``cheapest`` or ``fastest`` (a call's ``routing_strategy``
            overrides it). See docs/routing.md.
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
        provider: Provider | str = "litellm",
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
                "circuit_breaker": dict(circuit_breaker)
                if isinstance(circuit_breaker, Mapping)
                else circuit_breaker,
                "retry_budget": dict(retry_budget)
                if isinstance(retry_budget, Mapping)
                else retry_budget,
            }
        )
        build_schemas()
        self._provider = _resolve_provider(provider)
        clock = clock or time.monotonic
        self.health = self._build_health(clock)
        self.retry_budget = self._build_budget(clock)
        self._pricing = Pricing(self._config, self._provider)
        self._latency = LatencyTracker()
        self._planner = Planner(
            self._config,
            self._provider.provider_of,
            rng=random.Random(self._config.seed),
            price_of=self._pricing.per_token,
            latency=self._latency,
            order=self._health_order if self.health is not None else None,
        )
        self._executor = Executor(
            self._provider,
            default_timeout=self._config.timeout,
            default_total_timeout=self._config.total_timeout,
            default_retry=RetryPolicy.from_params(self._config.retry_params)
            if self._config.retry_params is not None
            else None,
            health=self.health,
            budget=self.retry_budget,
            sleep=sleep,
            async_sleep=async_sleep,
            clock=clock,
            latency=self._latency,
        )
        self._open_stream = open_sync(self._executor, self._provider)
        self._aopen_stream = open_async(self._executor, self._provider)
        self._telemetry = Telemetry(self._config, self._pricing)

    def _build_health(self, clock: Callable[[], float]) -> HealthRegistry | None:
        setting = self._config.circuit_breaker
        if setting is False:
            return None
        config = BreakerConfig(**setting) if isinstance(setting, dict) else BreakerConfig()
        return HealthRegistry(config, clock=clock)

    def _build_budget(self, clock: Callable[[], float]) -> RetryBudget | None:
        setting = self._config.retry_budget
        if setting is False:
            return None
        return RetryBudget(**(setting if isinstance(setting, dict) else {}), clock=clock)

    def _health_order(self, attempts: list[Attempt]) -> list[Attempt]:
        """Deployments whose breaker is open go to the back of the plan (none dropped)."""
        if len(attempts) < 2 or self.health is None:
            return attempts
        health = self.health
        up = [a for a in attempts if health.available(health_key(a))]
        if len(up) == len(attempts):
            return attempts
        return up + [a for a in attempts if not health.available(health_key(a))]

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

    def __repr__(self) -> str:
        return f"Router({self._config!r}, provider={type(self._provider).__name__})"

    # -- shared, I/O-free steps --------------------------------------------------------
    def _prepare(self, params: Mapping[str, Any]) -> tuple[ChatRequest, list[Attempt]]:
        request = build_request(params)
        return request, self._planner.plan(request)

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

    def plan(self, **params: Any) -> list[Attempt]:
        """The ordered attempts a call with these parameters would make; calls nothing.

        Random choices (load balancing, weighted customer credentials) are drawn once, by
        the same logic and from the same generator as a real call. Each attempt shows the
        model, provider, backend model string, credential source and reason; never a
        secret. See docs/routing.md.
        """
        return self._prepare(params)[1]

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
            attempts = self._timed_plan(request, record)
            if request.stream:
                record.stream = True
                first, upstream = self._executor.walk(request, attempts, record, self._open_stream)
                return ChatStream(first, upstream, record, *self._stream_hooks(request, record))
            response = self._executor.run(request, attempts, record)
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
            attempts = self._timed_plan(request, record)
            if request.stream:
                record.stream = True
                first, upstream = await self._executor.awalk(
                    request, attempts, record, self._aopen_stream
                )
                hooks = self._stream_hooks(request, record)
                return AsyncChatStream(first, upstream, record, *hooks)
            response = await self._executor.arun(request, attempts, record)
        except BaseException as exc:
            self._finish(record, request, None, exc)
            raise
        self._finish(record, request, response, None)
        return response

    # -- streams -----------------------------------------------------------------------------
    def _stream_hooks(self, request: ChatRequest, record: CallRecord) -> tuple[Any, ...]:
        """(state, on_end, final_chunk, forward_usage) for a stream that just opened."""
        answered = record.attempts[-1]
        state = StreamState(model=answered.model, provider=answered.provider)
        options = request.params.get("stream_options") or {}
        ended: list[ChatCompletion] = []

        def on_end(state: StreamState) -> None:
            if state.usage is None and state.chunks:
                counted = self._provider.count_tokens(
                    answered.litellm_model, request.messages, state.content
                )
                if counted is not None:
                    state.usage = Usage(counted[0], counted[1], counted[0] + counted[1])
            response = stream_completion(state) if state.error is None else None
            if response is not None:
                ended.append(response)
            self._finish(record, request, response, state.error)

        def final_chunk(state: StreamState) -> ChatCompletionChunk | None:
            breakdown = ended[0].request_breakdown if ended else None
            if breakdown is None:
                return None
            return ChatCompletionChunk(
                id="request_breakdown", model=state.model, choices=[], request_breakdown=breakdown
            )

        breakdown = final_chunk if request.respan.request_breakdown else None
        return state, on_end, breakdown, bool(options.get("include_usage"))
