"""The end of a call, on the main path: its cost and ``request_breakdown``.

:class:`CallEnd` runs once per call, success or error (for a stream: when it ends). It
stamps the record, builds ``request_breakdown`` when the request asks for it (the caller
sees it, so it is built here and a failure surfaces), then hands the call to the
recorder (telemetry), which is best effort and never fails the call.

``request_breakdown`` holds no content and no credential: numbers, model names,
outcomes and the request's metadata.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from respan_router._json import stringify
from respan_router.budgets import BudgetStage, InMemoryBudgetStore, asettle_open, settle_open
from respan_router.errors import error_type
from respan_router.execution._record import AttemptRecord, CallRecord
from respan_router.request import ChatRequest
from respan_router.responses import set_extra_field
from respan_router.routing import ModelPricing, Pricing, cost_by_kind, tokens_by_kind

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion

__all__ = [
    "TOKEN_BREAKDOWN",
    "CallEnd",
    "CallRecorder",
    "answered_pricing",
    "build_breakdown",
    "call_cost",
    "token_breakdown",
    "wants_token_breakdown",
]

#: The ``X-Respan-Beta`` flag that adds tokens and cost by kind to the breakdown and span.
TOKEN_BREAKDOWN = "token-breakdown-2026-03-26"


def wants_token_breakdown(request: ChatRequest) -> bool:
    """Whether the call turned on the token-breakdown beta (``request.beta``: the
    ``X-Respan-Beta`` flags the request stage accepted)."""
    return TOKEN_BREAKDOWN in request.beta


def _answered(record: CallRecord) -> AttemptRecord | None:
    """The attempt that answered (the last successful one), or None."""
    for attempt in reversed(record.attempts):
        if attempt.outcome == "success":
            return attempt
    return None


def answered_pricing(record: CallRecord, pricing: Pricing) -> ModelPricing | None:
    """The prices of the attempt that answered, or None when none did: the ones its
    budget reserved at when the customer has a budget (one lookup per attempt), else
    looked up here."""
    answered = _answered(record)
    if answered is None:
        return None
    model, backend = answered.model, answered.pricing_model or answered.litellm_model
    customer = record.customer
    entry = customer.pricing if customer is not None else None
    if entry is None or entry.model != model or entry.backend != backend:
        entry = pricing.entry(model, backend)
    return entry


def token_breakdown(
    record: CallRecord, response: ChatCompletion, pricing: Pricing
) -> dict[str, Any] | None:
    """``{"tokens": {...}, "cost": {...}}`` by kind; None when the answer has no usage.

    ``cost`` is None when the model's price is unknown; all zero for a cache hit.
    """
    usage = response.usage
    if usage is None:
        return None
    tokens = tokens_by_kind(usage)
    cost: dict[str, Any] | None = None
    if record.cache_hit:
        cost = cost_by_kind(tokens, {})
    else:
        entry = answered_pricing(record, pricing)
        if entry is not None:
            prices = entry.by_kind
            cost = cost_by_kind(tokens, prices) if prices else None
    return {"tokens": tokens, "cost": cost}


class CallRecorder(Protocol):
    """Records a finished call (telemetry). Must not raise."""

    def finish(
        self,
        record: CallRecord,
        request: ChatRequest,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> None: ...


def call_cost(
    record: CallRecord, response: ChatCompletion | None, pricing: Pricing
) -> float | None:
    """USD for the call: 0 for a cache hit, None when the price is unknown.

    Computed once per call and kept on the record (the breakdown and the span share it).
    """
    if record.cost_known:
        return record.cost
    cost: float | None = None
    if record.cache_hit:
        cost = 0.0
    elif response is not None and response.usage is not None:
        entry = answered_pricing(record, pricing)
        if entry is not None:
            usage = response.usage
            cost = entry.cost(usage.prompt_tokens, usage.completion_tokens)
    record.cost, record.cost_known = cost, True
    return cost


def build_breakdown(
    record: CallRecord,
    request: ChatRequest,
    response: ChatCompletion,
    cost: float | None,
    kinds: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``request_breakdown`` object of a successful call.

    Args:
        record: what happened during the call (timestamps, attempts, cache hit).
        request: the validated request (for ``stream`` and ``metadata``).
        response: the completion returned to the caller.
        cost: USD for the call, or None when the price is unknown.
        kinds: tokens and cost by kind (:func:`token_breakdown`), with the beta flag.
    """
    usage = response.usage
    attempts = []
    for a in record.attempts:
        entry: dict[str, Any] = {
            "model": a.model,
            "provider": a.provider,
            "outcome": a.outcome,
            "tries": a.tries,
        }
        if a.error is not None:
            entry["error"] = error_type(a.error)
        attempts.append(entry)
    metadata = request.respan.metadata or {}
    out = {
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "cost": cost,
        "model": _routed_model(record, request, response),
        "cached": record.cache_hit,
        "latency": record.latency_seconds,
        "routing_time": record.routing_seconds,
        "status_code": 200,
        "stream": request.stream,
        "timestamp": datetime.fromtimestamp(record.start_ns / 1e9, UTC).isoformat(),
        "attempts": attempts,
        "metadata": {k: stringify(v) for k, v in metadata.items() if v is not None},
    }
    customer = record.customer
    if customer is not None:  # what the customer was charged (marked up), in USD
        out["customer_cost"] = float(customer.customer_cost_usd) if customer.priced else None
    if kinds is not None:
        out["token_breakdown"] = kinds["tokens"]
        out["cost_breakdown"] = kinds["cost"]
    return out


def _routed_model(record: CallRecord, request: ChatRequest, response: ChatCompletion) -> str:
    """The model as requested and routed (the answer's ``model`` is the upstream's)."""
    answered = _answered(record)
    if answered is not None:
        return answered.model
    return request.model or response.model


class CallEnd:
    """Ends calls: stamps the record, adds ``request_breakdown``, hands it to telemetry.

    Args:
        pricing: prices the call's usage for the breakdown.
        recorder: records the finished call (best effort).
        budgets: settles a customer's holds still open (a stream's) when its call ends.
    """

    __slots__ = ("_budgets", "_pricing", "_recorder")

    def __init__(
        self, pricing: Pricing, recorder: CallRecorder, budgets: BudgetStage | None = None
    ) -> None:
        self._pricing = pricing
        self._recorder = recorder
        self._budgets = budgets

    def __call__(
        self,
        record: CallRecord,
        request: ChatRequest | None,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> None:
        """End one call. A request rejected by validation (``request`` is None) is not
        recorded: nothing was routed, and the caller gets the error at once."""
        record.end_ns = time.time_ns()
        record.error = error
        customer = record.customer
        if customer is not None and customer.open and self._budgets is not None:
            settle_open(self._budgets, customer, response.usage if response else None)
        if request is not None and not request.respan.request_breakdown:
            self._recorder.finish(record, request, response, error)  # _finish: nothing to add
        else:
            self._finish(record, request, response, error)

    def settles_shared(self, record: CallRecord) -> bool:
        """Whether ending ``record`` settles holds in a store shared by processes (I/O)."""
        customer = record.customer
        return (
            customer is not None
            and bool(customer.open)
            and self._budgets is not None
            and not isinstance(self._budgets.store, InMemoryBudgetStore)
        )

    async def aend(
        self,
        record: CallRecord,
        request: ChatRequest | None,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> None:
        """:meth:`__call__`, settling the call's open holds with the async client."""
        record.end_ns = time.time_ns()
        record.error = error
        customer = record.customer
        if customer is not None and customer.open and self._budgets is not None:
            await asettle_open(self._budgets, customer, response.usage if response else None)
        self._finish(record, request, response, error)

    def _finish(
        self,
        record: CallRecord,
        request: ChatRequest | None,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> None:
        if request is None:
            return
        if response is not None and error is None and request.respan.request_breakdown:
            cost = call_cost(record, response, self._pricing)
            kinds = None
            if wants_token_breakdown(request):
                kinds = token_breakdown(record, response, self._pricing)
            breakdown = build_breakdown(record, request, response, cost, kinds)
            set_extra_field(response, "request_breakdown", breakdown)
        self._recorder.finish(record, request, response, error)
