"""The budget stage's steps that do no store I/O, shared by its sync and async twins:
the customer of a call, its period, the rate limit's verdict, the reservation asked for
and the store's answer checked, the charge of a finished try."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from respan_router.budgets._cost import BudgetPricing, ModelPrice, to_usd
from respan_router.budgets._customer import CustomerCall, customer_budget
from respan_router.budgets._estimate import worst_case
from respan_router.budgets._periods import Period, current_period
from respan_router.budgets._store import (
    BudgetStore,
    BudgetUsage,
    CustomerBudget,
    RateAndReserve,
    RateDecision,
    Refusal,
    Reservation,
    ReserveRequest,
)
from respan_router.errors import BudgetExceededError, CustomerRateLimitError, InvalidRequestError
from respan_router.providers import Provider
from respan_router.request import ChatRequest

__all__ = ["StageSteps"]

_new = tuple.__new__
_PERIOD_GRACE = 7 * 24 * 3600.0  # a period's counters outlive its end by this much
_MAX_TILINGS = 4096  # current periods remembered (one per distinct budget tiling)


class StageSteps:
    """Every step that does no store I/O, shared by the sync and async twins."""

    def __init__(
        self,
        store: BudgetStore,
        pricing: BudgetPricing,
        provider: Provider,
        *,
        reservation_ttl: float = 600.0,
        aware_fallback: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        # Whether the store rate-limits with its first reservation, asked once per store:
        # an isinstance of a runtime-checkable protocol that fails walks its members.
        self._rate_and_reserve_of: tuple[object, bool] = (None, False)
        # The current period of each budget tiling: (start, end, period, grace), timestamps.
        self._periods: dict[tuple[object, ...], tuple[float, float, Period, float | None]] = {}
        # The last configuration that asked, and its period's entry: its next call's.
        self._last_period: tuple[object, float, float, Period | None, float | None] = (
            None, 0.0, 0.0, None, None,
        )  # fmt: skip
        self.pricing = pricing
        self.aware_fallback = aware_fallback
        self._provider = provider
        self._ttl = reservation_ttl
        self._clock = clock or time.time

    def now(self) -> float:
        """Epoch seconds on the stage's (injectable) clock."""
        return self._clock()

    @staticmethod
    def customer_id(request: ChatRequest) -> str | None:
        respan = request.respan
        if respan.customer_params is not None:
            return str(respan.customer_params.customer_identifier)
        cid = respan.customer_identifier
        return None if cid is None else str(cid)

    def _update(self, request: ChatRequest, base: CustomerBudget | None) -> CustomerBudget | None:
        """The configuration ``customer_params`` asks for, or None when it changes nothing."""
        params = request.respan.customer_params
        if params is None:
            return None
        update = customer_budget(
            str(params.customer_identifier), params, anchor=self.now(), base=base
        )
        if base is not None and update.with_anchor(base.anchor) == base:
            return None
        return update

    def call_for(self, budget: CustomerBudget) -> CustomerCall:
        if budget.budget_duration or budget.period_end or budget.period_budget is not None:
            now = self._clock()
            last = self._last_period  # the usual call: the same customer's, same period
            if last[0] is budget and last[1] <= now < last[2]:
                return CustomerCall(budget, last[3], last[4])
            return CustomerCall(budget, *self._period(budget, now))
        return CustomerCall(budget, None)

    def _period(self, budget: CustomerBudget, now: float) -> tuple[Period, float | None]:
        """The budget's current period and when its counters may go; the last ones
        computed for the same tiling while ``now`` is still inside it (a period is a pure
        function of the tiling and now)."""
        tiling = (budget.budget_duration, budget.period_start, budget.period_end, budget.anchor)
        known = self._periods.get(tiling)
        if known is not None and known[0] <= now < known[1]:
            self._last_period = (budget, *known)
            return known[2], known[3]
        period = current_period(budget, datetime.fromtimestamp(now, UTC))
        end = period.end
        grace = None if end is None else end.timestamp() + _PERIOD_GRACE
        if end is not None and period.start.timestamp() <= now:
            if len(self._periods) >= _MAX_TILINGS:
                self._periods.clear()
            start = period.start.timestamp()
            self._periods[tiling] = (start, end.timestamp(), period, grace)
            self._last_period = (budget, start, end.timestamp(), period, grace)
        return period, grace

    def _rate_with_reserve(self) -> bool:
        store = self.store
        checked, answer = self._rate_and_reserve_of
        if checked is not store:
            answer = isinstance(store, RateAndReserve)
            self._rate_and_reserve_of = (store, answer)
        return answer

    @staticmethod
    def _rate_checked(call: CustomerCall, decision: RateDecision) -> None:
        call.record_rate(decision)
        if not decision.allowed:
            wait = decision.retry_after
            raise CustomerRateLimitError(
                f"customer {call.budget.customer_id!r} exceeded its rate limit of "
                f"{decision.limit} requests per minute"
                + (f"; retry after {wait:.3f} s" if wait is not None else ""),
                retry_after=wait,
            )

    # -- estimates ------------------------------------------------------------------
    def priced(self, call: CustomerCall, model: str, backend: str) -> ModelPrice | None:
        """The budget's price of one try: its model pair's shared prices, looked up once
        per try and kept on ``call`` (the call's end prices its answer from them)."""
        entry = call.pricing
        if entry is None or entry.model != model or entry.backend != backend:
            entry = call.pricing = self.pricing.shared.entry(model, backend)
        known: tuple[ModelPrice | None] | None = entry.budget
        return known[0] if known is not None else self.pricing.of(entry)

    def estimate(self, call: CustomerCall, request: ChatRequest, model: str, backend: str) -> int:
        """The worst-case marked-up micro-dollars of one try (0 without a budget); see
        :func:`~respan_router.budgets._estimate.worst_case`."""
        price = self.priced(call, model, backend) if call.budget.has_budget else None
        return worst_case(call, request, model, price, self._provider, backend)

    def _ask(
        self, call: CustomerCall, request: ChatRequest, model: str, backend: str
    ) -> ReserveRequest:
        """What one try asks the store to hold: its worst case at its price (the try's one
        price lookup: :meth:`priced`, kept on ``call`` for :meth:`_checked` and the call's
        end)."""
        entry = call.pricing  # priced(), inline: the usual try is its call's first
        if entry is None or entry.model != model or entry.backend != backend:
            entry = call.pricing = self.pricing.shared.entry(model, backend)
        known: tuple[ModelPrice | None] | None = entry.budget
        price = known[0] if known is not None else self.pricing.of(entry)
        amount = worst_case(call, request, model, price, self._provider, backend)
        budget, period, now = call.budget, call.period, self._clock()
        return _new(  # ReserveRequest(...) without its generated __new__ (one frame less)
            ReserveRequest,
            (
                budget.customer_id,
                amount,
                None if period is None else period.key,
                budget.period_budget,
                budget.total_budget,
                now,
                now + self._ttl,
                call.grace,
            ),
        )

    def _checked(self, call: CustomerCall, result: Reservation | Refusal) -> Reservation:
        """The reservation (recorded as open, with the price it settles at: the one
        :meth:`_ask` looked up); a refusal raised as BudgetExceededError."""
        if not isinstance(result, Refusal):
            call.budget_check = (True, result.period_used, result.total_used, result.amount)
            entry = call.pricing
            call.open[result.id] = (result, None if entry is None else entry.budget[0])
            return result
        amount = result.amount
        call.record_check(False, result.period_used, result.total_used, amount)
        resets = call.period.end if result.limit == "period_budget" and call.period else None
        what = "period budget" if result.limit == "period_budget" else "total budget"
        who = call.budget.customer_id
        raise BudgetExceededError(
            f"customer {who!r} would exceed its {what}: limit ${to_usd(result.limit_value)}, "
            f"used ${to_usd(result.used)}, this call up to ${to_usd(amount)}"
            + (f"; the period resets at {resets.isoformat()}" if resets else ""),
            customer_identifier=who,
            limit=result.limit,
            limit_usd=to_usd(result.limit_value),
            used_usd=to_usd(result.used),
            estimate_usd=to_usd(amount),
            resets_at=resets,
        )

    def misfit(
        self,
        call: CustomerCall,
        request: ChatRequest,
        model: str,
        backend: str,
        use: BudgetUsage | None = None,
    ) -> str | None:
        """Why one try of a candidate would not fit now, or None when it would;
        ``use``: the customer's usage now (read here when not given)."""
        try:
            amount = self.estimate(call, request, model, backend)
        except InvalidRequestError as exc:
            return exc.message
        budget = call.budget
        if use is None:
            use = self.usage_now(call)
        used = use.period_spent + use.period_reserved
        if budget.period_budget is not None and used + amount > budget.period_budget:
            return f"estimate ${to_usd(amount)} exceeds the period budget's remaining room"
        used = use.total_spent + use.total_reserved
        if budget.total_budget is not None and used + amount > budget.total_budget:
            return f"estimate ${to_usd(amount)} exceeds the total budget's remaining room"
        return None

    def usage_now(self, call: CustomerCall) -> BudgetUsage:
        """The customer's spend and holds now (one store read)."""
        period = call.period
        return self.store.usage(call.budget.customer_id, period.key if period else None, self.now())

    async def ausage_now(self, call: CustomerCall) -> BudgetUsage:
        """:meth:`usage_now`, read with the store's async client."""
        period = call.period
        key = period.key if period else None
        return await self.store.ausage(call.budget.customer_id, key, self.now())
