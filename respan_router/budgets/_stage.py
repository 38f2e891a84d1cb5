"""Stage 3: a customer's budget and rate limit, enforced before any provider call.

Per call, :meth:`BudgetStage.admit` finds the customer (``customer_params`` creates or
updates it; a top-level ``customer_identifier`` selects a configured one) and counts the
request against its rate limit. Per try (every try of every candidate) the execution
stage calls :meth:`~BudgetStage.reserve_for` before sending, then
:meth:`~BudgetStage.settle` with the usage, or :meth:`~BudgetStage.release` on failure
(see :mod:`respan_router.budgets._guard`). Async twins are ``a``-prefixed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from respan_router.budgets._billable import billed_input_text, clamped_tokens, output_cap
from respan_router.budgets._cost import BudgetPricing, marked_up, to_micro, to_usd
from respan_router.budgets._customer import CustomerCall, customer_budget, rate_limit_info
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
from respan_router.request import ChatRequest, CustomerSettings
from respan_router.routing import cached_prompt_tokens

if TYPE_CHECKING:
    from respan_router.responses import CompletionUsage

__all__ = ["BudgetStage"]

_PERIOD_GRACE = 7 * 24 * 3600.0  # a period's counters outlive its end by this much
_MAX_TILINGS = 4096  # current periods remembered (one per distinct budget tiling)


class _StageBase:
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
        # The current period of each budget tiling: (start, end, period), timestamps.
        self._periods: dict[tuple[object, ...], tuple[float, float, Period]] = {}
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
        period = None
        if budget.budget_duration or budget.period_end or budget.period_budget is not None:
            period = self._period(budget, self.now())
        return CustomerCall(budget, period)

    def _period(self, budget: CustomerBudget, now: float) -> Period:
        """The budget's current period; the last one computed for the same tiling while
        ``now`` is still inside it (a period is a pure function of the tiling and now)."""
        tiling = (budget.budget_duration, budget.period_start, budget.period_end, budget.anchor)
        known = self._periods.get(tiling)
        if known is not None and known[0] <= now < known[1]:
            return known[2]
        period = current_period(budget, datetime.fromtimestamp(now, UTC))
        if period.end is not None and period.start.timestamp() <= now:
            if len(self._periods) >= _MAX_TILINGS:
                self._periods.clear()
            self._periods[tiling] = (period.start.timestamp(), period.end.timestamp(), period)
        return period

    def _rate_with_reserve(self) -> bool:
        store = self.store
        checked, answer = self._rate_and_reserve_of
        if checked is not store:
            answer = isinstance(store, RateAndReserve)
            self._rate_and_reserve_of = (store, answer)
        return answer

    @staticmethod
    def _rate_checked(call: CustomerCall, decision: RateDecision) -> None:
        call.limit_info = rate_limit_info(decision)
        if not decision.allowed:
            wait = decision.retry_after
            raise CustomerRateLimitError(
                f"customer {call.budget.customer_id!r} exceeded its rate limit of "
                f"{decision.limit} requests per minute"
                + (f"; retry after {wait:.3f} s" if wait is not None else ""),
                retry_after=wait,
            )

    # -- estimates ------------------------------------------------------------------
    def _prompt_tokens(self, backend: str, request: ChatRequest) -> int:
        # The messages and the definitions sent beside them (tools, ...): all billed input.
        extra = billed_input_text(request.params)
        counted = self._provider.count_tokens(backend, request.messages, extra)
        if counted is not None:
            return counted[0] + counted[1]
        # No tokenizer: every character a token, an upper bound for text.
        text = sum(len(json.dumps(m, ensure_ascii=False, default=str)) for m in request.messages)
        return text + len(extra) + 8

    def estimate(self, call: CustomerCall, request: ChatRequest, model: str, backend: str) -> int:
        """The worst-case marked-up micro-dollars of one try (0 without a budget).

        Raises:
            InvalidRequestError: the customer has a budget and the model's price, or a
                bound on its output, is unknown.
        """
        if not call.budget.has_budget:
            return 0
        who = call.budget.customer_id
        price = self.pricing.price(model, backend)
        if price is None:
            raise InvalidRequestError(
                f"the price of {model!r} is unknown, and customer {who!r} has a budget: "
                "set its prices in Router(budget_prices=...)",
                field="budget_prices",
            )
        params = request.params
        cap = output_cap(params)
        if cap is None:
            cap = price.max_output_tokens
        if cap is None:
            raise InvalidRequestError(
                f"the output of {model!r} has no known limit, and customer {who!r} has a "
                "budget: set max_tokens (or max_output_tokens in Router(budget_prices=...))",
                field="max_tokens",
            )
        n = params.get("n") or 1
        usd = price.cost(self._prompt_tokens(backend, request), int(cap) * int(n))
        return to_micro(marked_up(usd, call.budget.markup))

    def _reserve_request(self, call: CustomerCall, amount: int) -> ReserveRequest:
        budget, period, now = call.budget, call.period, self.now()
        end = period.end if period is not None else None
        return ReserveRequest(
            customer_id=budget.customer_id,
            amount=amount,
            period_key=period.key if period is not None else None,
            period_limit=budget.period_budget,
            total_limit=budget.total_budget,
            now=now,
            expires_at=now + self._ttl,
            period_expires_at=None if end is None else end.timestamp() + _PERIOD_GRACE,
        )

    def _checked(
        self, call: CustomerCall, result: Reservation | Refusal, priced: tuple[str, str]
    ) -> Reservation:
        """The reservation (recorded as open); a refusal raised as BudgetExceededError."""
        amount = result.amount
        limits = call.budget_limits(result.period_used, result.total_used, amount)
        if not isinstance(result, Refusal):
            call.record_check(True, limits)
            call.open[result.id] = (result, priced)
            return result
        call.record_check(False, limits)
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

    def _charge(
        self, call: CustomerCall, held: Reservation, usage: CompletionUsage | None
    ) -> int | None:
        """What a finished try costs the customer (micro-dollars), recorded on ``call``;
        None when it was settled or released already. Without a usage or a price the
        reservation is charged in full (the worst case)."""
        entry = call.open.pop(held.id, None)
        if entry is None:
            return None
        price = self.pricing.price(*entry[1])
        tokens = None
        if usage is not None:
            tokens = (
                clamped_tokens(getattr(usage, "prompt_tokens", None), "prompt_tokens"),
                clamped_tokens(getattr(usage, "completion_tokens", None), "completion_tokens"),
            )
        if tokens is None or tokens[0] is None or tokens[1] is None or price is None:
            call.priced = False
            call.customer_cost_micro += held.amount
            return held.amount
        usd = price.cost(tokens[0], tokens[1], cached_prompt_tokens(usage))
        charged = to_micro(marked_up(usd, call.budget.markup))
        call.cost_micro += to_micro(usd)
        call.customer_cost_micro += charged
        return charged


class BudgetStage(_StageBase):
    """Customer budgets and rate limits for one Router (sync and async twins)."""

    def configure(
        self, customer_id: str, settings: CustomerSettings | Mapping[str, Any]
    ) -> CustomerBudget:
        """Create or update a customer (the fields given replace the stored ones)."""
        if not isinstance(settings, CustomerSettings):
            settings = CustomerSettings.model_validate(dict(settings))
        base = self.store.customer(customer_id)
        return self.store.configure(
            customer_budget(customer_id, settings, anchor=self.now(), base=base)
        )

    # -- per call -------------------------------------------------------------------
    def admit(
        self,
        request: ChatRequest,
        admitted: Callable[[CustomerCall], None] | None = None,
    ) -> CustomerCall | None:
        """The call's budget state, after its rate limit; None when there is no customer.

        Args:
            request: the validated request.
            admitted: given the call's budget state before its rate limit is checked, so a
                refused call's span still records its ``limit_info``.

        Raises:
            CustomerRateLimitError: the customer is over its rate limit.
        """
        cid = self.customer_id(request)
        if cid is None:
            return None
        budget = self.store.customer(cid)
        update = self._update(request, budget)
        if update is not None:
            budget = self.store.configure(update)
        if budget is None:
            return None
        call = self.call_for(budget)
        if admitted is not None:
            admitted(call)
        if budget.rate_limit is not None:
            if self._rate_with_reserve():
                call.rate_pending = budget.rate_limit  # checked with the first reservation
            else:
                self._rate_checked(call, self.store.hit(cid, budget.rate_limit))
        return call

    async def aadmit(
        self,
        request: ChatRequest,
        admitted: Callable[[CustomerCall], None] | None = None,
    ) -> CustomerCall | None:
        cid = self.customer_id(request)
        if cid is None:
            return None
        budget = await self.store.acustomer(cid)
        update = self._update(request, budget)
        if update is not None:
            budget = await self.store.aconfigure(update)
        if budget is None:
            return None
        call = self.call_for(budget)
        if admitted is not None:
            admitted(call)
        if budget.rate_limit is not None:
            if self._rate_with_reserve():
                call.rate_pending = budget.rate_limit
            else:
                self._rate_checked(call, await self.store.ahit(cid, budget.rate_limit))
        return call

    def check_rate(self, call: CustomerCall) -> None:
        """The rate limit of a call that reserved nothing (a cache hit), when it is still
        to check (see :class:`RateAndReserve`)."""
        per_minute, call.rate_pending = call.rate_pending, None
        if per_minute is not None:
            self._rate_checked(call, self.store.hit(call.budget.customer_id, per_minute))

    async def acheck_rate(self, call: CustomerCall) -> None:
        per_minute, call.rate_pending = call.rate_pending, None
        if per_minute is not None:
            self._rate_checked(call, await self.store.ahit(call.budget.customer_id, per_minute))

    # -- per try --------------------------------------------------------------------
    def reserve_for(
        self, call: CustomerCall, request: ChatRequest, model: str, backend: str
    ) -> Reservation:
        """Hold the worst case of one try of ``model`` (priced as ``backend``).

        Raises:
            BudgetExceededError: it does not fit; nothing is held.
            InvalidRequestError: see :meth:`estimate`.
        """
        amount = self.estimate(call, request, model, backend)
        ask = self._reserve_request(call, amount)
        per_minute, call.rate_pending = call.rate_pending, None
        if per_minute is None:
            result = self.store.reserve(ask)
        else:  # the rate limit and the reservation in one step
            rate, held = cast(RateAndReserve, self.store).hit_and_reserve(ask, per_minute)
            return self._rate_then_checked(call, rate, held, (model, backend))
        return self._checked(call, result, (model, backend))

    async def areserve_for(
        self, call: CustomerCall, request: ChatRequest, model: str, backend: str
    ) -> Reservation:
        amount = self.estimate(call, request, model, backend)
        ask = self._reserve_request(call, amount)
        per_minute, call.rate_pending = call.rate_pending, None
        if per_minute is None:
            result = await self.store.areserve(ask)
        else:
            rate, held = await cast(RateAndReserve, self.store).ahit_and_reserve(ask, per_minute)
            return self._rate_then_checked(call, rate, held, (model, backend))
        return self._checked(call, result, (model, backend))

    def _rate_then_checked(
        self,
        call: CustomerCall,
        rate: RateDecision | None,
        held: Reservation | Refusal | None,
        priced: tuple[str, str],
    ) -> Reservation:
        if rate is not None:
            self._rate_checked(call, rate)  # raises when refused (then nothing was held)
        assert held is not None
        return self._checked(call, held, priced)

    def settle(self, call: CustomerCall, held: Reservation, usage: CompletionUsage | None) -> int:
        """Charge a finished try's actual cost; returns the micro-dollars charged (0 when
        it was settled or released already)."""
        charged = self._charge(call, held, usage)
        if charged is None:
            return 0
        self.store.settle(held, charged, self.now())
        return charged

    async def asettle(
        self, call: CustomerCall, held: Reservation, usage: CompletionUsage | None
    ) -> int:
        charged = self._charge(call, held, usage)
        if charged is None:
            return 0
        await self.store.asettle(held, charged, self.now())
        return charged

    def release(self, call: CustomerCall, held: Reservation) -> None:
        """Hand back a failed try's hold (nothing is charged)."""
        if call.open.pop(held.id, None) is not None:
            self.store.release(held, self.now())

    async def arelease(self, call: CustomerCall, held: Reservation) -> None:
        if call.open.pop(held.id, None) is not None:
            await self.store.arelease(held, self.now())
