"""What a call costs a customer, in integer micro-dollars.

Prices are USD per token by kind: input, cached input (cheaper; charged as input when the
table has no cached price) and output. They come, first to last, from the Router's
``budget_prices`` (by requested model name, then by backend model string), a
deployment's ``input_cost_per_token`` / ``output_cost_per_token``, then the provider's
price table (litellm's, for the standard model behind ``model_name_map``). Sums are
exact (Decimal); a customer's cost is the provider cost times ``1 + markup/100``, rounded
half up to the micro-dollar once, at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from respan_router.budgets._micro import Rate, Units, markup_fraction, units_of
from respan_router.budgets._store import MICRO
from respan_router.config import RouterConfig
from respan_router.providers import Provider
from respan_router.routing import ModelPricing, Pricing

__all__ = ["BudgetPricing", "ModelPrice", "to_micro", "to_usd"]

_MICRO = Decimal(MICRO)
_HUNDRED = Decimal(100)
_ONE = Decimal(1)
_MAX_RATES = 64  # markups remembered per price
_NO_RATE: Any = object()


def _dec(value: float | int | str) -> Decimal:
    """A float price as the decimal it was written as (``1.5e-07`` -> ``1.5E-7``)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def to_micro(usd: Decimal) -> int:
    """USD -> integer micro-dollars, rounded half up."""
    return int((usd * _MICRO).to_integral_value(rounding=ROUND_HALF_UP))


def to_usd(micro: int) -> Decimal:
    return Decimal(micro) / _MICRO


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per token by kind, and the model's output cap when known."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    max_output_tokens: int | None = None
    #: The prices as integers (:mod:`respan_router.budgets._micro`), or None when only
    #: the Decimal rule prices them; derived from the fields above.
    units: Units | None = field(default=None, init=False, repr=False, compare=False)
    #: The integer rule of each markup seen (its percentage string -> Rate, or None).
    rates: dict[str, Rate | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", units_of(self.input, self.output, self.cached_input))

    def rate(self, markup_percentage: str) -> Rate | None:
        """The integer rule of these prices with a markup (built once per markup), or None
        when only the Decimal rule prices them."""
        rates = self.rates
        rate: Rate | None = rates.get(markup_percentage, _NO_RATE)
        if rate is _NO_RATE:
            fraction = markup_fraction(markup_percentage)
            units = self.units
            rate = None if units is None or fraction is None else Rate(units, fraction)
            if len(rates) >= _MAX_RATES:
                rates.clear()
            rates[markup_percentage] = rate
        return rate

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal:
        """USD for a usage, exactly."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        return (
            (prompt_tokens - cached) * self.input
            + cached * cached_price
            + completion_tokens * self.output
        )

    @classmethod
    def from_table(cls, info: Mapping[str, Any]) -> ModelPrice | None:
        """From litellm-style keys; None without both an input and an output price."""
        inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
        if inp is None or out is None:
            return None
        cached = info.get("cache_read_input_token_cost")
        cap = info.get("max_output_tokens")
        return cls(
            _dec(inp),
            _dec(out),
            None if cached is None else _dec(cached),
            int(cap) if isinstance(cap, int | float) and cap > 0 else None,
        )


def marked_up(usd: Decimal, markup_percentage: Decimal) -> Decimal:
    """The customer's cost: ``usd * (1 + markup/100)``, exactly."""
    if not markup_percentage:
        return usd
    return usd * (_ONE + markup_percentage / _HUNDRED)


class BudgetPricing:
    """The budgets' :class:`ModelPrice` of each (requested model, backend model) pair,
    kept on the Router's shared :class:`~respan_router.routing.ModelPricing` entry (one
    lookup per attempt serves the budget, the call's cost and its token breakdown).

    Args:
        config: the Router's configuration (``budget_prices``, deployments).
        provider: the provider whose tables price what nothing else does.
        pricing: the Router's shared prices (by default, prices of its own).
    """

    def __init__(
        self, config: RouterConfig, provider: Provider, pricing: Pricing | None = None
    ) -> None:
        self._overrides = {
            name: price
            for name, settings in config.budget_prices.items()
            if (price := ModelPrice.from_table(settings.model_dump())) is not None
        }
        self.shared = pricing if pricing is not None else Pricing(config, provider)

    def price(self, model: str, backend: str) -> ModelPrice | None:
        """The price of an attempt (``model`` as requested, ``backend`` the standard model
        string), or None when no source knows it."""
        return self.of(self.shared.entry(model, backend))

    def of(self, entry: ModelPricing) -> ModelPrice | None:
        """The budget's price of a looked-up pair (computed once per pair)."""
        known: tuple[ModelPrice | None] | None = entry.budget
        if known is None:
            known = entry.budget = (self._lookup(entry),)
        return known[0]

    def _lookup(self, entry: ModelPricing) -> ModelPrice | None:
        override = self._overrides.get(entry.model) or self._overrides.get(entry.backend)
        if override is not None:
            return override
        info = entry.info
        cap = info.get("max_output_tokens") if info else None
        if entry.deployment_priced:
            pair = entry.per_token  # the deployment's own prices
        else:
            price = ModelPrice.from_table(info) if info else None
            if price is not None:
                return price
            pair = entry.per_token  # the provider's (input, output) prices
        if pair is None:
            return None
        return ModelPrice.from_table(
            {
                "input_cost_per_token": pair[0],
                "output_cost_per_token": pair[1],
                "max_output_tokens": cap,
            }
        )
