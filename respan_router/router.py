"""The Router: wires the stages of a call together. It decides nothing itself.

``complete(**params)`` / ``await acomplete(**params)``::

    merge + validate -> plan -> execute -> record

Every step that does no I/O is shared by the two; only the execution differs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from respan_router.config import RouterConfig, build_config, load_config_file
from respan_router.executor import Executor
from respan_router.plan import Attempt, Planner
from respan_router.pricing import Pricing
from respan_router.providers.base import Provider
from respan_router.record import CallRecord
from respan_router.request import ChatRequest, build_request
from respan_router.responses import ChatCompletion
from respan_router.telemetry import Telemetry

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
        seed: seeds the router's random choices (load balancing) for reproducibility.
        routing_strategy: how ``models`` are ordered: ``ordered``, ``cheapest``, ``fastest``.
        timeout: default seconds one attempt may take.
        total_timeout: default seconds a whole call (retries and fallbacks) may take.
        record_content: record messages and outputs in spans (unless ``disable_log``).
        record_customer_email: record the customer's email in spans.
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
            }
        )
        self._provider = _resolve_provider(provider)
        self._planner = Planner(self._config, self._provider.provider_of)
        self._executor = Executor(self._provider, default_timeout=self._config.timeout)
        self._telemetry = Telemetry(self._config, Pricing(self._config, self._provider))

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

    def plan(self, **params: Any) -> list[Attempt]:
        """The ordered attempts a call with these parameters would make; calls nothing."""
        return self._prepare(params)[1]

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
        """Stage 8, once per call, success or error.

        A request rejected by validation (``request`` is None) is not recorded: nothing
        was routed, and the caller gets the error at once.
        """
        record.end_ns = time.time_ns()
        record.error = error
        if request is not None:
            self._telemetry.finish(record, request, response, error)

    # -- calls ---------------------------------------------------------------------------
    def complete(self, **params: Any) -> ChatCompletion:
        """Route one chat completion (blocking)."""
        record = CallRecord()
        request: ChatRequest | None = None
        try:
            request = build_request(params)
            attempts = self._timed_plan(request, record)
            response = self._executor.run(request, attempts, record)
        except BaseException as exc:
            self._finish(record, request, None, exc)
            raise
        self._finish(record, request, response, None)
        return response

    async def acomplete(self, **params: Any) -> ChatCompletion:
        """Route one chat completion (async)."""
        record = CallRecord()
        request: ChatRequest | None = None
        try:
            request = build_request(params)
            attempts = self._timed_plan(request, record)
            response = await self._executor.arun(request, attempts, record)
        except BaseException as exc:
            self._finish(record, request, None, exc)
            raise
        self._finish(record, request, response, None)
        return response
