"""Prices: USD per token for a model, from the deployment or the provider's price table.

One :class:`ModelPricing` per (requested model, backend model string) and Router, looked
up once per attempt and shared by everything that prices it: the ``cheapest`` routing
strategy, the cost recorded for each call, the token breakdown and the customer budgets
(which keep their own view of it on the entry). The provider's tables are read once per
entry, each when first needed. ``model_name_map`` is honoured by the caller: it prices
the standard name.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from respan_router.config import RouterConfig
from respan_router.providers import KindPrices, PriceInfo, Provider

__all__ = ["ModelPricing", "Pricing"]

_MEMO_LIMIT = 4096  # entries remembered (distinct model pairs); past it, looked up anew
_UNSET: Any = object()


class ModelPricing:
    """Every price of one (model, backend) pair, each read from its source once.

    Attributes:
        model: the model as requested (a deployment's name, or a model string).
        backend: the standard model string the provider's tables are read by.
        budget: the customer budgets' view of this price, kept here by the budget stage
            (None until it first prices this pair).
    """

    __slots__ = ("_by_kind", "_info", "_per_token", "_pricing", "backend", "budget", "model")

    def __init__(self, pricing: Pricing, model: str, backend: str) -> None:
        self._pricing = pricing
        self.model = model
        self.backend = backend
        self._per_token: tuple[float, float] | None = _UNSET
        self._by_kind: dict[str, float] | None = _UNSET
        self._info: dict[str, Any] | None = _UNSET
        self.budget: Any = None

    @property
    def per_token(self) -> tuple[float, float] | None:
        """(input, output) USD per token: the deployment's, else the provider's; None when
        unknown."""
        price = self._per_token
        if price is _UNSET:
            price = self._per_token = self._pricing.read_per_token(self.model, self.backend)
        return price

    @property
    def deployment_priced(self) -> bool:
        """Whether the deployment sets its own (input) price, which beats any table."""
        deployment = self._pricing.config.deployments.get(self.model)
        return deployment is not None and deployment.input_cost_per_token is not None

    @property
    def info(self) -> dict[str, Any] | None:
        """The provider's price table for the backend (litellm's keys, with
        ``max_output_tokens``), or None when the provider has none for it."""
        info = self._info
        if info is _UNSET:
            info = self._info = self._pricing.read_info(self.backend)
        return info

    @property
    def by_kind(self) -> dict[str, float]:
        """USD per token by litellm's price names (``input_cost_per_token``,
        ``cache_read_input_token_cost``, ...): the deployment's input/output prices, else
        the provider's per-kind table (when it has one), else the (input, output) prices.
        Read-only: shared by every call of this pair."""
        table = self._by_kind
        if table is _UNSET:
            table = None
            if not self.deployment_priced:
                table = self._pricing.read_by_kind(self.backend) or None
            if table is None:
                price = self.per_token
                table = {}
                if price is not None:
                    table = {"input_cost_per_token": price[0], "output_cost_per_token": price[1]}
            self._by_kind = table
        assert table is not None
        return table

    def cost(self, prompt_tokens: object, completion_tokens: object) -> float | None:
        """USD for one call's usage, or None when the price is unknown."""
        price = self.per_token
        if price is None:
            return None  # unknown price: cost unknown
        prompt, completion = _count(prompt_tokens), _count(completion_tokens)
        if prompt is None or completion is None:
            return None  # a usage that is not numbers: cost unknown
        return prompt * price[0] + completion * price[1]


class Pricing:
    """Looks up and memoises each model pair's :class:`ModelPricing`."""

    def __init__(self, config: RouterConfig, provider: Provider) -> None:
        self.config = config
        self._provider = provider
        # Optional capabilities of the provider, looked up once.
        self._by_kind = provider.prices_by_kind if isinstance(provider, KindPrices) else None
        self._info = provider.price_info if isinstance(provider, PriceInfo) else None
        self._memo: dict[tuple[str, str], ModelPricing] = {}
        self._lock = threading.Lock()

    def entry(self, model: str, backend: str | None = None) -> ModelPricing:
        """The prices of ``model`` (as requested) priced as ``backend`` (by default the
        deployment's model string, else the model itself): one dict lookup once known."""
        key = (model, backend or "")
        entry = self._memo.get(key)
        if entry is not None:
            return entry
        if backend is None:
            deployment = self.config.deployments.get(model)
            backend = deployment.model if deployment is not None else model
        entry = ModelPricing(self, model, backend)
        with self._lock:
            if len(self._memo) < _MEMO_LIMIT:
                entry = self._memo.setdefault(key, entry)
        return entry

    def per_token(self, model: str, litellm_model: str | None = None) -> tuple[float, float] | None:
        """(input, output) USD per token for a model name (deployment first), or None."""
        return self.entry(model, litellm_model).per_token

    def prices_by_kind(self, model: str, litellm_model: str | None = None) -> dict[str, float]:
        """See :attr:`ModelPricing.by_kind` (a copy the caller may keep)."""
        return dict(self.entry(model, litellm_model).by_kind)

    def cost(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        litellm_model: str | None = None,
    ) -> float | None:
        """USD for one call's usage, or None when the price is unknown."""
        return self.entry(model, litellm_model).cost(prompt_tokens, completion_tokens)

    # -- the sources, read once per entry --------------------------------------------
    def read_per_token(self, model: str, backend: str) -> tuple[float, float] | None:
        deployment = self.config.deployments.get(model)
        if deployment is not None and deployment.input_cost_per_token is not None:
            return (deployment.input_cost_per_token, deployment.output_cost_per_token or 0.0)
        return self._provider.price_per_token(backend)

    def read_by_kind(self, backend: str) -> dict[str, float] | None:
        return self._by_kind(backend) if self._by_kind is not None else None

    def read_info(self, backend: str) -> dict[str, Any] | None:
        return self._info(backend) if self._info is not None else None


def _count(value: object) -> int | None:
    """A provider's token count as a non-negative int (a fraction rounds up, a negative
    counts 0), or None when it is not a finite number: usage is outside data."""
    if type(value) is int:  # the common case
        return value if value > 0 else 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return max(0, math.ceil(value))
