"""The budget around each try: reserve before the provider is called, settle or release
after. :class:`BudgetHooks` is what the execution stage calls around each try of a
customer's call (its ``AttemptHooks``); one per call.

A completion settles as soon as it returns (to its reported usage). A stream's try
returns when its first chunk arrives: its reservation stays open and is settled when the
stream ends (:func:`settle_open`, called once per call at its end), to the usage the
provider reported, else to what was delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from respan_router.budgets._customer import CustomerCall
from respan_router.budgets._stage import BudgetStage
from respan_router.budgets._store import BudgetUsage, Reservation
from respan_router.providers import ProviderCall
from respan_router.request import ChatRequest
from respan_router.routing import Attempt

if TYPE_CHECKING:
    from respan_router.responses import CompletionUsage

__all__ = [
    "BudgetHooks",
    "acheck_rate",
    "aplan_within_budget",
    "asettle_open",
    "attempt_hooks",
    "check_rate",
    "fitting",
    "plan_within_budget",
    "settle_open",
]


class BudgetHooks:
    """A customer's budget around each try of one call: hold the try's worst case before
    it is sent, settle it to the reported usage after, release it when the try fails."""

    __slots__ = ("_customer", "_request", "_stage")

    def __init__(self, stage: BudgetStage, customer: CustomerCall, request: ChatRequest) -> None:
        self._stage = stage
        self._customer = customer
        self._request = request

    def before(self, call: ProviderCall, pricing_model: str) -> Reservation:
        return self._stage.reserve_for(self._customer, self._request, call.model, pricing_model)

    def abefore(self, call: ProviderCall, pricing_model: str) -> Awaitable[Reservation]:
        # The stage's coroutine itself, awaited by the caller (no coroutine of its own).
        stage = self._stage
        return stage.areserve_for(self._customer, self._request, call.model, pricing_model)

    def after(self, hold: Reservation, usage: CompletionUsage | None) -> None:
        self._stage.settle(self._customer, hold, usage)

    def aafter(self, hold: Reservation, usage: CompletionUsage | None) -> Awaitable[int]:
        return self._stage.asettle(self._customer, hold, usage)

    def release(self, hold: Reservation) -> None:
        self._stage.release(self._customer, hold)

    def arelease(self, hold: Reservation) -> Awaitable[None]:
        return self._stage.arelease(self._customer, hold)


def attempt_hooks(
    stage: BudgetStage, customer: CustomerCall | None, request: ChatRequest
) -> BudgetHooks | None:
    """The hooks of a call's tries: its customer's budget, or None (no customer)."""
    return None if customer is None else BudgetHooks(stage, customer, request)


def settle_open(stage: BudgetStage, customer: CustomerCall, usage: CompletionUsage | None) -> None:
    """Settle the call's reservations still open (a stream's, when it ends)."""
    for held, _ in list(customer.open.values()):
        stage.settle(customer, held, usage)


async def asettle_open(
    stage: BudgetStage, customer: CustomerCall, usage: CompletionUsage | None
) -> None:
    for held, _ in list(customer.open.values()):
        await stage.asettle(customer, held, usage)


def fitting(
    stage: BudgetStage,
    customer: CustomerCall,
    request: ChatRequest,
    attempts: Sequence[Attempt],
    use: BudgetUsage | None = None,
) -> list[Attempt]:
    """Budget-aware fallback: the plan without the candidates whose worst case does not
    fit what remains of the budget, when at least one does (else the plan unchanged, and
    its first try fails with :class:`~respan_router.errors.BudgetExceededError`).
    ``use``: the customer's usage now (read once, sync, when not given).

    Why each one was skipped goes to ``customer.skipped`` (the span's
    ``respan.budget.skipped``).
    """
    if not _fits_check(stage, customer, attempts):
        return list(attempts)
    if use is None:
        use = stage.usage_now(customer)
    kept: list[Attempt] = []
    skipped: list[str] = []
    for attempt in attempts:
        reason = stage.misfit(customer, request, attempt.model, attempt.pricing_model, use)
        if reason is None:
            kept.append(attempt)
        else:
            skipped.append(f"{attempt.model}: {reason}")
    if not kept or not skipped:
        return list(attempts)
    customer.skipped.extend(skipped)
    return kept


def _fits_check(stage: BudgetStage, customer: CustomerCall, attempts: Sequence[Attempt]) -> bool:
    return stage.aware_fallback and customer.budget.has_budget and len(attempts) >= 2


def check_rate(stage: BudgetStage, customer: CustomerCall | None) -> None:
    """The rate limit of a call that reserved nothing (a cache hit), when its store checks
    rate limits with the first reservation (:class:`~respan_router.budgets.RateAndReserve`).
    Raises :class:`~respan_router.errors.CustomerRateLimitError` when it is over."""
    if customer is not None and customer.rate_pending is not None:
        stage.check_rate(customer)


async def acheck_rate(stage: BudgetStage, customer: CustomerCall | None) -> None:
    if customer is not None and customer.rate_pending is not None:
        await stage.acheck_rate(customer)


def plan_within_budget(
    stage: BudgetStage,
    customer: CustomerCall | None,
    request: ChatRequest,
    attempts: Sequence[Attempt],
) -> Sequence[Attempt]:
    """The plan, with budget-aware fallback applied when the Router asks for it."""
    if customer is None or not stage.aware_fallback:
        return attempts
    return fitting(stage, customer, request, attempts)


async def aplan_within_budget(
    stage: BudgetStage,
    customer: CustomerCall | None,
    request: ChatRequest,
    attempts: Sequence[Attempt],
) -> Sequence[Attempt]:
    """:func:`plan_within_budget`, reading the customer's usage with the async client."""
    if customer is None or not _fits_check(stage, customer, attempts):
        return attempts
    use = await stage.ausage_now(customer)
    return fitting(stage, customer, request, attempts, use)
