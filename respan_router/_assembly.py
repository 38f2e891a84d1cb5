"""Builds a Router's stages from its configuration: one place that knows every constructor.

State that outlives one call (breakers, retry budget, observed latencies, the cache) is
per Router: two Routers in one process never share any of it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from respan_router.cache import MemoryCacheBackend, ResponseCache
from respan_router.cache._stage import CacheStage
from respan_router.cache.backend import CacheBackend
from respan_router.config import RouterConfig
from respan_router.errors import InvalidRequestError
from respan_router.execution._executor import Executor
from respan_router.providers.base import Provider
from respan_router.resilience._budget import RetryBudget
from respan_router.resilience._health import BreakerConfig, HealthRegistry
from respan_router.resilience._retry import RetryPolicy
from respan_router.routing._plan import Attempt, Planner
from respan_router.routing._pricing import Pricing
from respan_router.routing._selection import LatencyTracker

__all__ = ["Stages", "assemble", "resolve_provider"]


def resolve_provider(provider: Any) -> Provider:
    """The dispatch backend: ``"litellm"`` (imported lazily) or a Provider object."""
    if provider is None or provider == "litellm":
        from respan_router.providers.litellm import LiteLLMProvider

        return LiteLLMProvider()
    if isinstance(provider, str):
        raise ValueError(f"unknown provider backend {provider!r}; use 'litellm' or an object")
    if not isinstance(provider, Provider):
        raise TypeError("provider must implement the Provider protocol")
    return provider


@dataclass(frozen=True, slots=True)
class Stages:
    """A Router's stages and per-Router state."""

    provider: Provider
    planner: Planner
    executor: Executor
    pricing: Pricing
    health: HealthRegistry | None
    retry_budget: RetryBudget | None
    cache: CacheStage


def _settings(name: str, factory: Callable[..., Any], setting: Any, **extra: Any) -> Any:
    try:
        return factory(**(setting if isinstance(setting, dict) else {}), **extra)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"invalid router configuration {name}: {exc}", field=name
        ) from None


def _health_order(health: HealthRegistry) -> Callable[[list[Attempt]], list[Attempt]]:
    def order(attempts: list[Attempt]) -> list[Attempt]:
        """Deployments whose breaker is open go to the back of the plan (none dropped)."""
        if len(attempts) < 2:
            return attempts
        up = [a for a in attempts if health.available(a.health_key)]
        if len(up) == len(attempts):
            return attempts
        return up + [a for a in attempts if not health.available(a.health_key)]

    return order


def assemble(
    config: RouterConfig,
    *,
    sleep: Callable[[float], None] | None = None,
    async_sleep: Callable[[float], Awaitable[None]] | None = None,
    clock: Callable[[], float] | None = None,
    cache_backend: CacheBackend | None = None,
) -> Stages:
    """Build every stage of a Router from its validated configuration."""
    provider = resolve_provider(config.provider)
    clock = clock or time.monotonic
    health = (
        None
        if config.circuit_breaker is False
        else HealthRegistry(
            _settings("circuit_breaker", BreakerConfig, config.circuit_breaker), clock=clock
        )
    )
    budget = (
        None
        if config.retry_budget is False
        else _settings("retry_budget", RetryBudget, config.retry_budget, clock=clock)
    )
    pricing = Pricing(config, provider)
    latency = LatencyTracker()
    planner = Planner(
        config,
        provider.provider_of,
        rng=random.Random(config.seed),
        price_of=pricing.per_token,
        latency=latency,
        order=_health_order(health) if health is not None else None,
    )
    executor = Executor(
        provider,
        default_timeout=config.timeout,
        default_total_timeout=config.total_timeout,
        default_retry=RetryPolicy.from_params(config.retry_params)
        if config.retry_params is not None
        else None,
        health=health,
        budget=budget,
        sleep=sleep,
        async_sleep=async_sleep,
        clock=clock,
        latency=latency,
    )
    backend = (
        cache_backend
        if cache_backend is not None  # an empty backend is falsy (it has a length)
        else MemoryCacheBackend(maxsize=config.cache_maxsize, max_bytes=config.cache_max_bytes)
    )
    cache = CacheStage(
        ResponseCache(backend, default_ttl=config.cache_ttl),
        enabled=config.cache_enabled,
        ttl=config.cache_ttl,
    )
    return Stages(provider, planner, executor, pricing, health, budget, cache)
