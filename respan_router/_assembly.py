"""Builds a Router's stages from its configuration: one place that knows every constructor.

State that outlives one call (breakers, retry budget, observed latencies, the cache) is
per Router: two Routers in one process never share any of it, unless they are given the
same Redis (``redis=...``): then the cache, breakers, budgets and rate limits are shared
by every process on it (see docs/scaling.md).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self, TypeVar

from respan_router.budgets import BudgetPricing, BudgetStage, BudgetStore, InMemoryBudgetStore
from respan_router.cache import CacheBackend, CacheStage, MemoryCacheBackend, ResponseCache
from respan_router.config import RouterConfig
from respan_router.errors import InvalidRequestError
from respan_router.execution import CallEnd, Executor
from respan_router.prompts import PromptRegistry, PromptStage
from respan_router.providers import Provider
from respan_router.resilience import (
    BreakerConfig,
    HealthRegistry,
    RetryBudget,
    RetryPolicy,
    SharedHealthRegistry,
)
from respan_router.routing import LatencyTracker, Planner, Pricing
from respan_router.telemetry import Telemetry

if TYPE_CHECKING:  # redis-py and the shared-state modules load only with redis=...
    from respan_router.redis import SharedRedis

__all__ = ["Owner", "Stages", "assemble", "resolve_provider"]

S = TypeVar("S")


def resolve_provider(provider: Provider | str, *, lean: bool = True) -> Provider:
    """The dispatch backend: ``"litellm"`` (litellm imported on first use; through the lean
    path where proven, unless ``lean`` is False) or a Provider."""
    if provider == "litellm":
        from respan_router.providers import LeanProvider

        return LeanProvider(enabled=lean)
    if isinstance(provider, str):
        raise ValueError(f"unknown provider backend {provider!r}; use 'litellm' or an object")
    return provider


@dataclass(frozen=True, slots=True)
class Stages:
    """A Router's stages and per-Router state."""

    provider: Provider
    planner: Planner
    executor: Executor
    cache: CacheStage
    end: CallEnd
    health: HealthRegistry | None
    retry_budget: RetryBudget | None
    prompts: PromptStage
    budgets: BudgetStage
    redis: SharedRedis | None = None

    def close(self) -> None:
        """Release what the stages own (see ``Router.close``)."""
        close = getattr(self.provider, "close", None)
        if callable(close):
            close()
        self._close_shared()

    async def aclose(self) -> None:
        """:meth:`close`, awaiting the running loop's sessions and clients."""
        aclose = getattr(self.provider, "aclose", None)
        close = getattr(self.provider, "close", None)
        if callable(aclose):
            await aclose()
        elif callable(close):
            close()
        if self.redis is not None:
            await self.redis.aclose()
        self._close_shared()

    def _close_shared(self) -> None:
        close = getattr(self.health, "close", None)  # a shared registry's threads
        if callable(close):
            close()
        if self.redis is not None:
            self.redis.close()


class Owner:
    """What a Router owns, and its close (see docs/scaling.md: Lifecycle)."""

    _stages: Stages
    _closed: bool = False

    def close(self) -> None:
        """Release what this Router owns now: its provider's HTTP sessions and pools, its
        Redis clients (sync, and one per event loop), its health threads. Idempotent;
        a closed Router refuses calls (``RuntimeError``). Given clients, meter and tracer
        providers stay open (the caller's); a given provider is closed if it can be.
        Without it nothing leaks: each loop's sessions close as that loop shuts down."""
        if not self._closed:
            self._closed = True
            self._stages.close()

    async def aclose(self) -> None:
        """:meth:`close`, awaiting the running loop's sessions and clients."""
        if not self._closed:
            self._closed = True
            await self._stages.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Router is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _settings(name: str, factory: Callable[..., S], setting: object, **extra: object) -> S:
    try:
        return factory(**(setting if isinstance(setting, dict) else {}), **extra)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"invalid router configuration {name}: {exc}", field=name
        ) from None


def _cache_backend(config: RouterConfig, shared: SharedRedis | None) -> CacheBackend:
    backend = config.cache_backend
    if backend is None and shared is not None:
        from respan_router.redis import RedisCacheBackend

        return RedisCacheBackend(shared, lease_ttl=config.cache_lease_ttl)
    if backend is None:  # an empty backend is falsy (it has a length): compare to None
        return MemoryCacheBackend(maxsize=config.cache_maxsize, max_bytes=config.cache_max_bytes)
    if not isinstance(backend, CacheBackend):
        raise InvalidRequestError(
            "invalid router configuration cache_backend: not a CacheBackend",
            field="cache_backend",
        )
    return backend


def _budget_store(config: RouterConfig, shared: SharedRedis | None) -> object:
    if config.budget_store is not None:
        return config.budget_store
    if shared is None:
        return InMemoryBudgetStore()
    from respan_router.redis import RedisBudgetStore

    return RedisBudgetStore(shared, policy=config.redis_budget_policy)


def _shared_redis(config: RouterConfig) -> SharedRedis | None:
    """The Redis of shared state (``redis=...``), or None: all state per process."""
    if config.redis is None:
        return None
    from respan_router.redis import SharedRedis

    shared: SharedRedis = _settings(
        "redis",
        SharedRedis,
        {},
        source=config.redis,
        prefix=config.redis_prefix,
        timeout=config.redis_timeout,
        retry_interval=config.redis_retry_interval,
        meter_provider=config.meter_provider,
    )
    return shared


def _health(
    config: BreakerConfig, clock: Callable[[], float], shared: SharedRedis | None
) -> HealthRegistry:
    if shared is None:
        return HealthRegistry(config, clock=clock)
    from respan_router.redis import RedisHealthStore

    return SharedHealthRegistry(RedisHealthStore(shared), config, clock)


def _budget_stage(
    config: RouterConfig, provider: Provider, shared: SharedRedis | None, pricing: Pricing
) -> BudgetStage:
    store = _budget_store(config, shared)
    if not isinstance(store, BudgetStore):
        raise InvalidRequestError(
            "invalid router configuration budget_store: not a BudgetStore", field="budget_store"
        )
    stage = BudgetStage(
        store,
        BudgetPricing(config, provider, pricing),
        provider,
        reservation_ttl=config.budget_reservation_ttl,
        aware_fallback=config.budget_aware_fallback,
        clock=config.budget_clock,
    )
    for customer_id, settings in config.customers.items():
        stage.configure(customer_id, settings)
    return stage


def assemble(config: RouterConfig) -> Stages:
    """Build every stage of a Router from its validated configuration."""
    provider = resolve_provider(config.provider, lean=config.lean_dispatch)
    clock = config.clock or time.monotonic
    shared = _shared_redis(config)
    health = (
        None
        if config.circuit_breaker is False
        else _health(
            _settings("circuit_breaker", BreakerConfig, config.circuit_breaker), clock, shared
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
    )
    executor = Executor(
        default_timeout=config.timeout,
        default_total_timeout=config.total_timeout,
        default_retry=RetryPolicy.from_params(config.retry_params, backoff=config.retry_backoff),
        health=health,
        budget=budget,
        sleep=config.sleep,
        async_sleep=config.async_sleep,
        clock=clock,
        latency=latency,
    )
    cache = CacheStage(
        ResponseCache(_cache_backend(config, shared), default_ttl=config.cache_ttl),
        enabled=config.cache_enabled,
        ttl=config.cache_ttl,
    )
    budgets = _budget_stage(config, provider, shared, pricing)
    end = CallEnd(pricing, Telemetry(config, pricing), budgets)
    prompts = PromptStage(
        PromptRegistry(directory=config.prompts_dir, prompts=config.prompts),
        default_total_timeout=config.total_timeout,
    )
    return Stages(provider, planner, executor, cache, end, health, budget, prompts, budgets, shared)
