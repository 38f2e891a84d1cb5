"""``request_breakdown``: what a call cost and how it went, attached to the response.

Built from the call's :class:`~respan_router.record.CallRecord` when the request sets
``request_breakdown=True``, whether or not tracing is on. It holds no content and no
credential: numbers, model names, outcomes and the request's metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from respan_router.execution._record import CallRecord
from respan_router.request._request import ChatRequest
from respan_router.responses import ChatCompletion
from respan_router.telemetry._attributes import error_type, stringify

__all__ = ["build_breakdown"]


def build_breakdown(
    record: CallRecord, request: ChatRequest, response: ChatCompletion, cost: float | None
) -> dict[str, Any]:
    """The ``request_breakdown`` object of a successful call.

    Args:
        record: what happened during the call (timestamps, attempts, cache hit).
        request: the validated request (for ``stream`` and ``metadata``).
        response: the completion returned to the caller.
        cost: USD for the call, or None when the price is unknown.
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
    return {
        "prompt_tokens": usage.prompt_tokens if usage else 0,
        "completion_tokens": usage.completion_tokens if usage else 0,
        "cost": cost,
        "model": response.model,
        "cached": record.cache_hit,
        "latency": record.latency_seconds,
        "routing_time": record.routing_seconds,
        "status_code": 200,
        "stream": request.stream,
        "timestamp": datetime.fromtimestamp(record.start_ns / 1e9, UTC).isoformat(),
        "attempts": attempts,
        "metadata": {k: stringify(v) for k, v in metadata.items() if v is not None},
    }
