"""A customer as stored, and one call's budget state (``CustomerCall``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from respan_router.budgets._cost import ModelPrice, to_micro, to_usd
from respan_router.budgets._periods import Period
from respan_router.budgets._store import CustomerBudget, RateDecision, Reservation
from respan_router.errors import InvalidRequestError
from respan_router.request import CustomerSettings
from respan_router.routing import ModelPricing

__all__ = ["CustomerCall", "customer_budget", "rate_limit_info", "span_attributes"]

_FIELDS = (
    "period_budget",
    "total_budget",
    "budget_duration",
    "period_start",
    "period_end",
    "markup_percentage",
    "rate_limit",
    "name",
    "email",
    "group_identifier",
)


def customer_budget(
    customer_id: str, settings: CustomerSettings, *, anchor: float, base: CustomerBudget | None
) -> CustomerBudget:
    """A stored configuration from validated settings: the fields given replace ``base``'s
    (all of them when there is no ``base``); USD becomes micro-dollars."""
    given = settings.model_fields_set
    values: dict[str, Any] = {}
    for name in _FIELDS:
        if name not in given and base is not None:
            values[name] = getattr(base, name)
            continue
        value = getattr(settings, name)
        if name in ("period_budget", "total_budget") and value is not None:
            value = to_micro(Decimal(repr(float(value))))
        elif name == "markup_percentage":
            value = "0" if value is None else repr(float(value))
        elif name == "group_identifier" and value is not None:
            value = str(value)
        values[name] = value
    if (
        values["period_budget"] is not None
        and values["budget_duration"] is None
        and values["period_end"] is None
    ):
        raise InvalidRequestError(
            f"customer {customer_id!r}: period_budget needs budget_duration (or a "
            "period_end), given now or stored before",
            field="customer_params.budget_duration",
        )
    return CustomerBudget(customer_id, anchor=anchor, **values)


@dataclass(slots=True)
class CustomerCall:
    """One call's budget state: the customer, its period, and what the call spent.

    Attributes:
        budget: the customer's configuration when the call started.
        period: the period the call falls in, or None (no periodic budget).
        grace: when the period's counters may be dropped (its end plus a grace for late
            settles, epoch seconds), or None.
        cost_micro: provider cost of the call's settled tries (micro-dollars).
        customer_cost_micro: what the customer was charged (marked up).
        priced: whether every settled try had a known price and usage.
        skipped: why budget-aware fallback skipped candidates.
        open: reservations of tries not settled yet (a stream's, until it ends), with
            the price they settle at.
        rate_pending: the rate limit (per minute) still to check: with the first
            reservation, when the store does both in one step (:class:`RateAndReserve`).
        pricing: the prices of the last try reserved (its model pair's shared entry), so
            the call's end prices its answer without looking them up again.
        rate_decision: the last rate-limit check, and ``budget_check`` the last budget
            check after it (allowed, period used, total used, amount): what
            :attr:`limit_info` reports, built only when it is read.
    """

    budget: CustomerBudget
    period: Period | None
    grace: float | None = None
    cost_micro: int = 0
    customer_cost_micro: int = 0
    priced: bool = True
    skipped: list[str] = field(default_factory=list)
    open: dict[str, tuple[Reservation, ModelPrice | None]] = field(default_factory=dict)
    rate_pending: int | None = None
    pricing: ModelPricing | None = None
    rate_decision: RateDecision | None = None
    budget_check: tuple[bool, int, int, int] | None = None

    @property
    def cost_usd(self) -> Decimal:
        return to_usd(self.cost_micro)

    @property
    def customer_cost_usd(self) -> Decimal:
        return to_usd(self.customer_cost_micro)

    @property
    def limit_info(self) -> dict[str, Any] | None:
        """The gateway's ``limit_info`` of the last check (for the span): the rate
        limit's entry of admission and the budget limits' of the last reservation."""
        rate, check = self.rate_decision, self.budget_check
        if check is None:
            return None if rate is None else rate_limit_info(rate)
        allowed, period_used, total_used, amount = check
        limits = [] if rate is None else rate_limit_info(rate)["limits"]
        return {
            "is_allowed": allowed,
            "limits": limits + self.budget_limits(period_used, total_used, amount),
        }

    def budget_limits(self, period_used: int, total_used: int, amount: int) -> list[dict[str, Any]]:
        """``limit_info`` entries of the budget limits for a check of ``amount``."""
        out = []
        for name, limit, used in (
            ("period_budget", self.budget.period_budget, period_used),
            ("total_budget", self.budget.total_budget, total_used),
        ):
            if limit is None:
                continue
            out.append(
                {
                    "name": name,
                    "current_value": float(to_usd(used)),
                    "new_value": float(to_usd(used + amount)),
                    "limit_value": float(to_usd(limit)),
                    "is_within_limit": used + amount <= limit,
                }
            )
        return out

    def record_rate(self, decision: RateDecision) -> None:
        """A rate-limit check: it replaces every entry of ``limit_info``."""
        self.rate_decision, self.budget_check = decision, None

    def record_check(self, allowed: bool, period_used: int, total_used: int, amount: int) -> None:
        """A budget check: keep the rate-limit entry of admission, replace the budget ones."""
        self.budget_check = (allowed, period_used, total_used, amount)


def rate_limit_info(decision: RateDecision) -> dict[str, Any]:
    """``limit_info`` of a rate-limit check."""
    used = decision.limit - decision.remaining - (1 if decision.allowed else 0)
    return {
        "is_allowed": decision.allowed,
        "limits": [
            {
                "name": "rate_limit",
                "current_value": used,
                "new_value": used + 1,
                "limit_value": decision.limit,
                "is_within_limit": decision.allowed,
            }
        ],
    }


def span_attributes(call: CustomerCall, *, record_email: bool) -> dict[str, Any]:
    """The call span's budget attributes: the customer's cost, ``limit_info``, why
    budget-aware fallback skipped candidates, and the stored customer's descriptive
    fields (for calls that named the customer by its identifier only)."""
    budget = call.budget
    out: dict[str, Any] = {"respan.customer_params.customer_identifier": budget.customer_id}
    if budget.name is not None:
        out["respan.customer_params.name"] = budget.name
    if budget.group_identifier is not None:
        out["respan.customer_params.group_identifier"] = budget.group_identifier
    if record_email and budget.email is not None:
        out["respan.customer_params.email"] = budget.email
    if call.priced:
        out["respan.customer_cost"] = float(call.customer_cost_usd)
    if call.limit_info is not None:
        out["respan.limit_info"] = json.dumps(call.limit_info, separators=(",", ":"))
    if call.skipped:
        out["respan.budget.skipped"] = list(call.skipped)
    return out
