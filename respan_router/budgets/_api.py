"""``router.budgets``: read and manage customers' budgets.

::

    router.budgets.set("acme", period_budget=50, budget_duration="monthly", markup_percentage=20)
    router.budgets.usage("acme").period_spent     # Decimal USD
    router.budgets.reset("acme")                  # the current period's spend back to 0
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from respan_router.budgets._stage import BudgetStage
from respan_router.budgets._store import CustomerBudget
from respan_router.errors import InvalidRequestError
from respan_router.request import CustomerSettings

__all__ = ["Budgets", "CustomerUsage"]


@dataclass(frozen=True, slots=True)
class CustomerUsage:
    """A customer's spend, limits and holds. Money in USD (Decimal, exact).

    ``period_spent`` / ``total_spent`` are marked-up charges of settled calls;
    ``*_reserved`` are holds of calls in flight (``open_reservations`` of them).
    """

    customer_identifier: str
    period_spent: Decimal
    period_reserved: Decimal
    total_spent: Decimal
    total_reserved: Decimal
    period_start: datetime | None
    period_end: datetime | None
    period_budget: Decimal | None
    total_budget: Decimal | None
    budget_duration: str | None
    markup_percentage: Decimal
    rate_limit: int | None
    open_reservations: int


def _usd(micro: int | None) -> Decimal | None:
    return None if micro is None else Decimal(micro) / Decimal(1_000_000)


class Budgets:
    """The budgets of one Router's customers (in its budget store)."""

    def __init__(self, stage: BudgetStage) -> None:
        self._stage = stage

    def __repr__(self) -> str:
        return f"Budgets(store={type(self._stage.store).__name__})"

    def _known(self, customer_identifier: str | int) -> CustomerBudget:
        budget = self._stage.store.customer(str(customer_identifier))
        if budget is None:
            raise InvalidRequestError(
                f"unknown customer {str(customer_identifier)!r}", field="customer_identifier"
            )
        return budget

    def set(self, customer_identifier: str | int, **settings: Any) -> CustomerUsage:
        """Create or update a customer: the ``customer_params`` fields given (USD,
        ``budget_duration``, ``period_start``, ``markup_percentage``, ``rate_limit``, ...)
        replace the stored ones; the others are kept."""
        try:
            validated = CustomerSettings.model_validate(settings)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
        else:
            self._stage.configure(str(customer_identifier), validated)
            return self.usage(customer_identifier)
        field = ".".join(str(p) for p in first["loc"]) or "customer_params"
        raise InvalidRequestError(f"invalid customer setting {field}: {first['msg']}", field=field)

    def usage(self, customer_identifier: str | int) -> CustomerUsage:
        """The customer's spend in the current period and in total, limits and holds."""
        budget = self._known(customer_identifier)
        stage = self._stage
        call = stage.call_for(budget)
        period = call.period
        used = stage.store.usage(budget.customer_id, period.key if period else None, stage.now())
        return CustomerUsage(
            customer_identifier=budget.customer_id,
            period_spent=_usd(used.period_spent) or Decimal(0),
            period_reserved=_usd(used.period_reserved) or Decimal(0),
            total_spent=_usd(used.total_spent) or Decimal(0),
            total_reserved=_usd(used.total_reserved) or Decimal(0),
            period_start=period.start if period else None,
            period_end=period.end if period else None,
            period_budget=_usd(budget.period_budget),
            total_budget=_usd(budget.total_budget),
            budget_duration=budget.budget_duration,
            markup_percentage=budget.markup,
            rate_limit=budget.rate_limit,
            open_reservations=used.open_reservations,
        )

    def reset(self, customer_identifier: str | int, *, total: bool = False) -> CustomerUsage:
        """Zero the current period's spend (and, with ``total``, the lifetime spend)."""
        budget = self._known(customer_identifier)
        period = self._stage.call_for(budget).period
        self._stage.store.reset(budget.customer_id, period.key if period else None, total=total)
        return self.usage(customer_identifier)
