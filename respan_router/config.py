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
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from respan_router.errors import InvalidRequestError
from respan_router.request._params import LoadBalanceModel, RetryParams

__all__ = ["Deployment", "RouterConfig", "load_config_file"]


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


class RouterConfig(BaseModel):
    """Everything a Router is built from. See the Router's docstring for each field."""

    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, frozen=True, defer_build=True
    )

    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    deployments: dict[str, Deployment] = Field(default_factory=dict)
    load_balance_groups: dict[str, list[LoadBalanceModel]] = Field(default_factory=dict)
    provider: Any = "litellm"
    tracer_provider: Any = None
    meter_provider: Any = None
    seed: int | None = None
    routing_strategy: Literal["ordered", "cheapest", "fastest"] = "ordered"
    timeout: float | None = Field(default=None, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    record_content: bool = True
    record_customer_email: bool = False
    retry_params: RetryParams | None = None
    circuit_breaker: dict[str, Any] | bool = True
    retry_budget: dict[str, Any] | bool = True
    cache_enabled: bool = False
    cache_ttl: float = Field(default=30 * 24 * 3600, gt=0)
    cache_maxsize: int = Field(default=10_000, ge=1)
    cache_max_bytes: int | None = Field(default=None, ge=1)

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
    field = ".".join(str(p) for p in first["loc"])
    raise InvalidRequestError(f"invalid router configuration {field}: {first['msg']}", field=field)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml), JSON (.json) or TOML (.toml) configuration file."""
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
    return data
