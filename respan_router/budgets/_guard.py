"""The budget around each try: reserve before the provider is called, settle or release
after. What the execution stage wraps its ``send`` with; one wrapper per call.

A completion settles as soon as it returns (to its reported usage). A stream's try
returns when its first chunk arrives: its reservation stays open and is settled when the
stream ends (:func:`settle_open`, called once per call at its end), to the usage the
provider reported, else to what was delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from respan_router.budgets._customer import CustomerCall
from respan_router.budgets._stage import BudgetStage
from respan_router.errors import RouterError
from respan_router.providers.base import ProviderCall
from respan_router.request._request import ChatRequest

if TYPE_CHECKING:
    from respan_router.responses import CompletionUsage
from respan_router.routing._plan import Attempt

__all__ = [
    "aadmit",
    "acheck_rate",
    "admit",
    "aguarded",
    "asettle_open",
    "awith_budget",
    "check_rate",
    "fitting",
    "guarded",
    "plan_within_budget",
    "settle_open",
    "with_budget",
]

T = TypeVar("T")


def _backend(request: ChatRequest, record: Any, call: ProviderCall) -> str:
    """The standard model string of the try in progress (what prices are looked up by)."""
    attempts = getattr(record, "attempts", None)
    if attempts:
        arec = attempts[-1]
        if arec.model == call.model and arec.pricing_model:
            return str(arec.pricing_model)
    return call.litellm_model


def _usage(result: Any) -> CompletionUsage | None:
    usage: CompletionUsage | None = getattr(result, "usage", None)  # a stream opens to a tuple
    return usage


def _refused(record: Any, error: RouterError) -> None:
    """The try in progress never reached the provider: its record says why."""
    attempts = getattr(record, "attempts", None)
    if attempts:
        attempts[-1].finish(error)


def guarded(
    stage: BudgetStage,
    customer: CustomerCall,
    request: ChatRequest,
    record: Any,
    send: Callable[[ProviderCall], T],
    *,
    stream: bool = False,
) -> Callable[[ProviderCall], T]:
    """``send`` with a reservation around each try (see the module docstring)."""

    def send_within_budget(call: ProviderCall) -> T:
        try:
            held = stage.reserve_for(customer, request, call.model, _backend(request, record, call))
        except RouterError as exc:
            _refused(record, exc)
            raise
        try:
            result = send(call)
        except BaseException:
            stage.release(customer, held)
            raise
        if not stream:
            stage.settle(customer, held, _usage(result))
        return result

    return send_within_budget


def aguarded(
    stage: BudgetStage,
    customer: CustomerCall,
    request: ChatRequest,
    record: Any,
    send: Callable[[ProviderCall], Awaitable[T]],
    *,
    stream: bool = False,
) -> Callable[[ProviderCall], Awaitable[T]]:
    """The async twin of :func:`guarded`."""

    async def send_within_budget(call: ProviderCall) -> T:
        backend = _backend(request, record, call)
        try:
            held = await stage.areserve_for(customer, request, call.model, backend)
        except RouterError as exc:
            _refused(record, exc)
            raise
        try:
            result = await send(call)
        except BaseException:
            await stage.arelease(customer, held)
            raise
        if not stream:
            await stage.asettle(customer, held, _usage(result))
        return result

    return send_within_budget


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
    stage: BudgetStage, customer: CustomerCall, request: ChatRequest, attempts: Sequence[Attempt]
) -> list[Attempt]:
    """Budget-aware fallback: the plan without the candidates whose worst case does not
    fit what remains of the budget, when at least one does (else the plan unchanged, and
    its first try fails with :class:`~respan_router.errors.BudgetExceededError`).

    Why each one was skipped goes to ``customer.skipped`` (the span's
    ``respan.budget.skipped``).
    """
    if not stage.aware_fallback or not customer.budget.has_budget or len(attempts) < 2:
        return list(attempts)
    kept: list[Attempt] = []
    skipped: list[str] = []
    for attempt in attempts:
        reason = stage.misfit(customer, request, attempt.model, attempt.pricing_model)
        if reason is None:
            kept.append(attempt)
        else:
            skipped.append(f"{attempt.model}: {reason}")
    if not kept or not skipped:
        return list(attempts)
    customer.skipped.extend(skipped)
    return kept


def with_budget(
    stage: BudgetStage,
    record: Any,
    request: ChatRequest,
    send: Callable[[ProviderCall], T],
    *,
    stream: bool = False,
) -> Callable[[ProviderCall], T]:
    """``send`` guarded by the call's customer budget, or ``send`` itself when the call
    has no customer (``record.customer``, set by :func:`admit`)."""
    customer = record.customer
    if customer is None:
        return send
    return guarded(stage, customer, request, record, send, stream=stream)


def awith_budget(
    stage: BudgetStage,
    record: Any,
    request: ChatRequest,
    send: Callable[[ProviderCall], Awaitable[T]],
    *,
    stream: bool = False,
) -> Callable[[ProviderCall], Awaitable[T]]:
    """The async twin of :func:`with_budget`."""
    customer = record.customer
    if customer is None:
        return send
    return aguarded(stage, customer, request, record, send, stream=stream)


def admit(stage: BudgetStage, record: Any, request: ChatRequest) -> None:
    """Admit the call (rate limit; ``customer_params`` applied); its customer, if any,
    goes to ``record.customer`` for the guard, the call's end and the span."""
    customer = stage.admit(request, admitted=lambda call: setattr(record, "customer", call))
    if customer is not None:
        record.customer = customer


async def aadmit(stage: BudgetStage, record: Any, request: ChatRequest) -> None:
    customer = await stage.aadmit(request, admitted=lambda call: setattr(record, "customer", call))
    if customer is not None:
        record.customer = customer


def check_rate(stage: BudgetStage, record: Any) -> None:
    """The rate limit of a call that reserved nothing (a cache hit), when its store checks
    rate limits with the first reservation (:class:`~respan_router.budgets.RateAndReserve`).
    Raises :class:`~respan_router.errors.CustomerRateLimitError` when it is over."""
    customer = record.customer
    if customer is not None and customer.rate_pending is not None:
        stage.check_rate(customer)


async def acheck_rate(stage: BudgetStage, record: Any) -> None:
    customer = record.customer
    if customer is not None and customer.rate_pending is not None:
        await stage.acheck_rate(customer)


def plan_within_budget(
    stage: BudgetStage, record: Any, request: ChatRequest, attempts: list[Attempt]
) -> list[Attempt]:
    """The plan, with budget-aware fallback applied when the Router asks for it."""
    customer = record.customer
    if customer is None or not stage.aware_fallback:
        return attempts
    return fitting(stage, customer, request, attempts)
