"""The Router's configuration: typed, validated, loadable from YAML, JSON or TOML.

Example (YAML)::

    providers:
      openai: {api_key: sk-...}
    deployments:
      fast: {model: openai/gpt-4o-mini}
      smart: {model: azure/gpt-4o, api_base: https://x.openai.azure.com, api_version: "2024-06-01"}
    load_balance_groups:
      chat:
        - {model: fast, weight: 3}
        - {model: smart, weight: 1}
    seed: 7
    prompts_dir: prompts        # one JSON/YAML file per prompt (relative to this file)
    prompts:                    # or prompts inline: id -> definition
      greet: {model: fast, messages: [{role: user, content: "Hello {{ name }}"}]}
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from respan_router.errors import InvalidRequestError
from respan_router.providers import Provider
from respan_router.request import (
    MAX_CACHE_TTL,
    CustomerSettings,
    LoadBalanceModel,
    RetryBackoff,
    RetryParams,
)

__all__ = [
    "DEFAULT_CACHE_TTL",
    "BudgetPrice",
    "Deployment",
    "MeterProviderLike",
    "RouterConfig",
    "TracerProviderLike",
    "build_config",
    "load_config_file",
]

#: The gateway's default ``cache_ttl``: 30 days, in seconds. Declared here, below every
#: stage, so the cache (``respan_router.cache.DEFAULT_TTL``) and the settings share it.
DEFAULT_CACHE_TTL: float = 30 * 24 * 3600


class Deployment(BaseModel):
    """A model name used in requests, bound to a backend model string and its settings.

    Every field other than ``model`` and ``provider`` is a setting for the backend call
    (``api_key``, ``api_base``, ``api_version``, ...), treated as the deployment's
    credentials.
    """

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    model: str = Field(min_length=1)
    provider: str | None = None
    input_cost_per_token: float | None = Field(default=None, ge=0)
    output_cost_per_token: float | None = Field(default=None, ge=0)

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def __repr__(self) -> str:
        keys = ", ".join(sorted(self.settings))
        return f"Deployment(model={self.model!r}, provider={self.provider!r}, settings=[{keys}])"


@runtime_checkable
class TracerProviderLike(Protocol):
    """An OpenTelemetry tracer provider (``opentelemetry.trace.TracerProvider``)."""

    def get_tracer(self, instrumenting_module_name: str, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class MeterProviderLike(Protocol):
    """An OpenTelemetry meter provider (``opentelemetry.metrics.MeterProvider``)."""

    def get_meter(self, name: str, *args: Any, **kwargs: Any) -> Any: ...


class BudgetPrice(BaseModel):
    """A model's prices for budgets, USD per token, when the price table lacks them
    (or to override it); ``max_output_tokens`` bounds a call that sets no ``max_tokens``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    input_cost_per_token: float = Field(ge=0, allow_inf_nan=False)
    output_cost_per_token: float = Field(ge=0, allow_inf_nan=False)
    cache_read_input_token_cost: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_output_tokens: int | None = Field(default=None, ge=1)


class RouterConfig(BaseModel):
    """Every setting of a Router, declared once: ``Router(**settings)``,
    ``Router(RouterConfig(...))`` and ``Router.from_config(file)`` all read this model.

    Attributes:
        providers: provider name -> default settings (``api_key``, ``api_base``, ...).
        deployments: model name used in requests -> ``{"model": "<backend model>", ...}``
            with its own settings (credentials, ``api_base``, ``provider``).
        load_balance_groups: group id -> weighted model list.
        provider: the dispatch backend: ``"litellm"`` (default) or a
            :class:`~respan_router.providers.Provider` such as
            :class:`~respan_router.testing.FakeProvider`.
        lean_dispatch: with ``provider="litellm"``, send the calls the parity tests
            prove equivalent over the router's own HTTP, with litellm's provider
            translations (see ``docs/lean-dispatch.md``); False: every call via litellm.
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
        retry_backoff: ``"constant"`` (default: ``retry_after`` seconds between tries, as
            Respan documents) or ``"exponential"`` (``retry_after`` doubling, with jitter).
        circuit_breaker: per-deployment breaker settings (``consecutive_failures``,
            ``failure_rate``, ``window``, ``min_calls``, ``cooldown``), or False.
        retry_budget: router-wide retry cap (``ratio``, ``window``,
            ``min_retries_per_second``), or False.
        cache_enabled: cache calls that do not say (``cache_enabled``); default False.
        cache_ttl: seconds a cache entry lives when a call gives no ``cache_ttl``.
        cache_maxsize: entries the default in-memory cache holds (LRU beyond).
        cache_max_bytes: bytes the default in-memory cache holds, or None.
        prompts: prompt templates by id, each as in a prompt file (docs/prompts.md).
        prompts_dir: a directory of prompt files, one JSON or YAML file per prompt
            (in a configuration file: relative to the file).
        cache_backend: another :class:`~respan_router.cache.CacheBackend` (e.g. shared).
        sleep: how retries wait in sync calls (default :func:`time.sleep`); for tests.
        async_sleep: how retries wait in async calls (default :func:`asyncio.sleep`).
        clock: a monotonic clock for deadlines, breakers and the retry budget; for tests.
        redis: share state between processes on Redis (cache and its single flight,
            breakers, budgets, rate limits): a URL (``redis://127.0.0.1:6379/0``), a
            redis-py client (sync, asyncio, Cluster, a Sentinel's ``master_for``) or a
            ``(sync, async)`` pair. See docs/scaling.md.
        redis_prefix: the start of every Redis key (default ``respan:``).
        redis_timeout: seconds a Redis command (or connect) may take before the call goes
            on per its failure policy (default 0.05).
        redis_retry_interval: seconds Redis is left alone after a failure (default 1).
        redis_budget_policy: without Redis, calls of customers with a budget are refused
            (``fail_closed``, the default) or go on unrecorded (``fail_open``).
        cache_lease_ttl: seconds a cross-process single-flight lease lives (default 10).
        customers: customer id -> ``customer_params`` settings (budgets, markup, rate
            limit), see docs/budgets.md.
        budget_prices: model -> USD per token (``input_cost_per_token``,
            ``output_cost_per_token``, ``cache_read_input_token_cost``) and
            ``max_output_tokens``, for budgets, over litellm's price table.
        budget_aware_fallback: skip candidates whose worst case does not fit a customer's
            remaining budget when another one fits, instead of failing.
        budget_reservation_ttl: seconds after which an unsettled reservation expires.
        budget_store: a shared :class:`~respan_router.budgets.BudgetStore` (default: in
            memory, this Router's own).
        budget_clock: epoch seconds for budget periods and reservations; for tests.

    ``cache_backend``, ``sleep``, ``async_sleep``, ``clock``, ``budget_store`` and
    ``budget_clock`` are objects, not settings a file can hold.
    """

    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, frozen=True, defer_build=True
    )

    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    deployments: dict[str, Deployment] = Field(default_factory=dict)
    load_balance_groups: dict[str, list[LoadBalanceModel]] = Field(default_factory=dict)
    provider: Provider | Literal["litellm"] = "litellm"
    lean_dispatch: bool = True
    tracer_provider: TracerProviderLike | None = None
    meter_provider: MeterProviderLike | None = None
    seed: int | None = None
    routing_strategy: Literal["ordered", "cheapest", "fastest"] = "ordered"
    timeout: float | None = Field(default=None, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    record_content: bool = True
    record_customer_email: bool = False
    retry_params: RetryParams | None = None
    # "constant": retry_params.retry_after seconds between tries (Respan's meaning);
    # "exponential": retry_after doubling on each retry, with jitter.
    retry_backoff: RetryBackoff = "constant"
    circuit_breaker: dict[str, Any] | bool = True
    retry_budget: dict[str, Any] | bool = True
    cache_enabled: bool = False
    cache_ttl: float = Field(default=DEFAULT_CACHE_TTL, gt=0, le=MAX_CACHE_TTL)
    cache_maxsize: int = Field(default=10_000, ge=1)
    cache_max_bytes: int | None = Field(default=None, ge=1)
    prompts: dict[str, Any] = Field(default_factory=dict)
    prompts_dir: Path | None = None
    cache_backend: object | None = None
    sleep: Callable[[float], None] | None = None
    async_sleep: Callable[[float], Awaitable[None]] | None = None
    clock: Callable[[], float] | None = None
    redis: Any = None
    redis_prefix: str = Field(default="respan:", pattern=r"^[^{}]*$")
    redis_timeout: float = Field(default=0.05, gt=0, le=60)
    redis_retry_interval: float = Field(default=1.0, ge=0)
    redis_budget_policy: Literal["fail_closed", "fail_open"] = "fail_closed"
    cache_lease_ttl: float = Field(default=10.0, gt=0)
    customers: dict[str, CustomerSettings] = Field(default_factory=dict)
    budget_prices: dict[str, BudgetPrice] = Field(default_factory=dict)
    budget_aware_fallback: bool = False
    budget_reservation_ttl: float = Field(default=600.0, gt=0)
    budget_store: object | None = None
    budget_clock: Callable[[], float] | None = None

    @model_validator(mode="after")
    def _groups_not_empty(self) -> RouterConfig:
        for gid, models in self.load_balance_groups.items():
            if not models:
                raise ValueError(f"load_balance_groups.{gid} must list at least one model")
        return self

    def __repr__(self) -> str:
        return (
            f"RouterConfig(providers={sorted(self.providers)}, "
            f"deployments={sorted(self.deployments)}, "
            f"load_balance_groups={sorted(self.load_balance_groups)})"
        )

    __str__ = __repr__


def build_config(values: Mapping[str, Any]) -> RouterConfig:
    """Validate configuration values; errors name the field but never echo a value."""
    try:
        return RouterConfig.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
    # Raised outside the except: the ValidationError, which quotes the rejected input
    # (possibly a provider's api_key), must not become the error's __context__.
    # Union members add tags such as "is-instance[Provider]" to the location: not a field.
    field = ".".join(str(p) for p in first["loc"] if not str(p).endswith("]"))
    raise InvalidRequestError(f"invalid router configuration {field}: {first['msg']}", field=field)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml), JSON (.json) or TOML (.toml) configuration file
    (``prompts_dir`` relative to the file)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    suffix = p.suffix.lower()
    if suffix == ".json":
        data = json.loads(text)
    elif suffix == ".toml":
        import tomllib

        data = tomllib.loads(text)
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise InvalidRequestError(
                "reading YAML needs PyYAML: pip install 'respan-router[yaml]'"
            ) from exc
        data = yaml.safe_load(text)
    else:
        raise InvalidRequestError(
            f"unknown configuration format {suffix!r}; use .yaml, .json or .toml"
        )
    if not isinstance(data, dict):
        raise InvalidRequestError("a configuration file must hold a mapping at the top")
    folder = data.get("prompts_dir")
    if isinstance(folder, str):  # relative to the configuration file
        data["prompts_dir"] = p.parent / folder
    return data
