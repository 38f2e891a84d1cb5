"""Prices: USD per token for a model, from the deployment or the provider's price table.

Shared by the ``cheapest`` routing strategy and the cost recorded for each call.
``model_name_map`` is honoured by the caller: it prices the standard name.
"""

from __future__ import annotations

import math
import threading

from respan_router.config import RouterConfig
from respan_router.providers import KindPrices, Provider

__all__ = ["Pricing"]


class Pricing:
    """Looks up and memoises per-token prices; computes a call's cost."""

    def __init__(self, config: RouterConfig, provider: Provider) -> None:
        self._config = config
        self._provider = provider
        # An optional capability of the provider, looked up once.
        self._by_kind = provider.prices_by_kind if isinstance(provider, KindPrices) else None
        self._memo: dict[str, tuple[float, float] | None] = {}
        self._lock = threading.Lock()

    def per_token(self, model: str, litellm_model: str | None = None) -> tuple[float, float] | None:
        """(input, output) USD per token for a model name (deployment first), or None."""
        key = f"{model}\x00{litellm_model or ''}"
        if key in self._memo:
            return self._memo[key]
        price: tuple[float, float] | None = None
        deployment = self._config.deployments.get(model)
        if deployment is not None and deployment.input_cost_per_token is not None:
            price = (deployment.input_cost_per_token, deployment.output_cost_per_token or 0.0)
        else:
            backend = litellm_model or (deployment.model if deployment else model)
            price = self._provider.price_per_token(backend)
        with self._lock:
            self._memo[key] = price
        return price

    def prices_by_kind(self, model: str, litellm_model: str | None = None) -> dict[str, float]:
        """USD per token by litellm's price names (``input_cost_per_token``,
        ``cache_read_input_token_cost``, ...): the deployment's input/output prices, else
        the provider's table (when it has one), else the (input, output) prices."""
        deployment = self._config.deployments.get(model)
        if deployment is None or deployment.input_cost_per_token is None:
            backend = litellm_model or (deployment.model if deployment else model)
            table = self._by_kind(backend) if self._by_kind is not None else None
            if table:
                return dict(table)
        price = self.per_token(model, litellm_model)
        if price is None:
            return {}
        return {"input_cost_per_token": price[0], "output_cost_per_token": price[1]}

    def cost(
        self,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        litellm_model: str | None = None,
    ) -> float | None:
        """USD for one call's usage, or None when the price is unknown."""
        price = self.per_token(model, litellm_model)
        prompt, completion = _count(prompt_tokens), _count(completion_tokens)
        if price is None or prompt is None or completion is None:
            return None  # unknown price, or a usage that is not numbers: cost unknown
        return prompt * price[0] + completion * price[1]


def _count(value: object) -> int | None:
    """A provider's token count as a non-negative int (a fraction rounds up, a negative
    counts 0), or None when it is not a finite number: usage is outside data."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return max(0, math.ceil(value))
