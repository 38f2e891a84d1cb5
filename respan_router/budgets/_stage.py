"""Stage 3: a customer's budget and rate limit, enforced before any provider call.

Per call, :meth:`BudgetStage.admit` finds the customer (``customer_params`` creates or
updates it; a top-level ``customer_identifier`` selects a configured one) and counts the
request against its rate limit. Per try (every try of every candidate) the execution
stage calls :meth:`~BudgetStage.reserve_for` before sending, then
:meth:`~BudgetStage.settle` with the usage, or :meth:`~BudgetStage.release` on failure
(see :mod:`respan_router.budgets._guard`). Async twins are ``a``-prefixed. The steps
without store I/O are :class:`~respan_router.budgets._steps.StageSteps`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from respan_router.budgets._customer import CustomerCall, customer_budget
from respan_router.budgets._estimate import charge
from respan_router.budgets._memory import InMemoryBudgetStore
from respan_router.budgets._steps import StageSteps
from respan_router.budgets._store import (
    CustomerBudget,
    RateAndReserve,
    RateDecision,
    Refusal,
    Reservation,
)
from respan_router.request import ChatRequest, CustomerSettings

if TYPE_CHECKING:
    from respan_router.responses import CompletionUsage

__all__ = ["BudgetStage"]

# The in-memory store does no I/O and its async methods only call its sync ones: the
# async twins below call those directly (a coroutine less per step). Exactly this class:
# a subclass may do I/O in its own async methods.
_LOCAL = InMemoryBudgetStore


class BudgetStage(StageSteps):
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
        if request.respan.customer_params is not None:
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
        store = self.store
        budget = store.customer(cid) if type(store) is _LOCAL else await store.acustomer(cid)
        if request.respan.customer_params is not None:
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
                limit = budget.rate_limit
                hit = (
                    store.hit(cid, limit) if type(store) is _LOCAL else await store.ahit(cid, limit)
                )
                self._rate_checked(call, hit)
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
        ask = self._ask(call, request, model, backend)
        per_minute = call.rate_pending
        if per_minute is None:
            return self._checked(call, self.store.reserve(ask))
        call.rate_pending = None  # the rate limit and the reservation in one step
        rate, held = cast(RateAndReserve, self.store).hit_and_reserve(ask, per_minute)
        return self._rate_then_checked(call, rate, held)

    async def areserve_for(
        self, call: CustomerCall, request: ChatRequest, model: str, backend: str
    ) -> Reservation:
        ask = self._ask(call, request, model, backend)
        per_minute = call.rate_pending
        if per_minute is None:
            store = self.store
            if type(store) is _LOCAL:  # no I/O: its async twin only calls the sync one
                return self._checked(call, store.reserve(ask))
            return self._checked(call, await store.areserve(ask))
        call.rate_pending = None
        rate, held = await cast(RateAndReserve, self.store).ahit_and_reserve(ask, per_minute)
        return self._rate_then_checked(call, rate, held)

    def _rate_then_checked(
        self,
        call: CustomerCall,
        rate: RateDecision | None,
        held: Reservation | Refusal | None,
    ) -> Reservation:
        if rate is not None:
            self._rate_checked(call, rate)  # raises when refused (then nothing was held)
        assert held is not None
        return self._checked(call, held)

    def settle(self, call: CustomerCall, held: Reservation, usage: CompletionUsage | None) -> int:
        """Charge a finished try's actual cost; returns the micro-dollars charged (0 when
        it was settled or released already)."""
        entry = call.open.pop(held.id, None)  # the price it was reserved at
        if entry is None:
            return 0
        charged = charge(call, held.amount, entry[1], usage)
        self.store.settle(held, charged, self._clock())
        return charged

    async def asettle(
        self, call: CustomerCall, held: Reservation, usage: CompletionUsage | None
    ) -> int:
        entry = call.open.pop(held.id, None)
        if entry is None:
            return 0
        charged = charge(call, held.amount, entry[1], usage)
        store = self.store
        if type(store) is _LOCAL:
            store.settle(held, charged, self._clock())
        else:
            await store.asettle(held, charged, self._clock())
        return charged

    def release(self, call: CustomerCall, held: Reservation) -> None:
        """Hand back a failed try's hold (nothing is charged)."""
        if call.open.pop(held.id, None) is not None:
            self.store.release(held, self.now())

    async def arelease(self, call: CustomerCall, held: Reservation) -> None:
        if call.open.pop(held.id, None) is not None:
            store = self.store
            if type(store) is _LOCAL:
                store.release(held, self.now())
            else:
                await store.arelease(held, self.now())
