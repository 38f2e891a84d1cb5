"""Optional GenAI client metrics, on the ``meter_provider`` given to the Router.

Two histograms from the GenAI semantic conventions, with their advised buckets:

* ``gen_ai.client.operation.duration`` (s): one value per call that reached a provider.
* ``gen_ai.client.token.usage`` ({token}): input and output tokens of a successful call,
  told apart by ``gen_ai.token.type``.

Cache hits are not recorded: no provider operation took place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from respan_router.config import MeterProviderLike
from respan_router.errors import error_type
from respan_router.execution import CallRecord
from respan_router.request import ChatRequest
from respan_router.telemetry._attributes import OPERATION, requested_model

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion

__all__ = ["Metrics"]

_DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864


class Metrics:
    """The router's two histograms on one meter."""

    def __init__(self, meter_provider: MeterProviderLike, version: str) -> None:
        meter = meter_provider.get_meter("respan_router", version)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )

    def record(
        self,
        record: CallRecord,
        request: ChatRequest,
        response: ChatCompletion | None,
        error: BaseException | None,
    ) -> None:
        if record.cache_hit or not record.attempts:
            return
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": OPERATION,
            "gen_ai.provider.name": record.attempts[-1].provider,
        }
        model = requested_model(request, record)
        if model is not None:
            attrs["gen_ai.request.model"] = model
        if response is not None:
            attrs["gen_ai.response.model"] = response.model
        if error is not None:
            attrs["error.type"] = error_type(error)
        self._duration.record(record.latency_seconds, attrs)
        usage = response.usage if response is not None else None
        if usage is not None:  # a provider's counts: only non-negative numbers are recorded
            for count, kind in (
                (usage.prompt_tokens, "input"),
                (usage.completion_tokens, "output"),
            ):
                if _recordable(count):
                    self._tokens.record(count, {**attrs, "gen_ai.token.type": kind})


def _recordable(count: Any) -> bool:
    return (
        isinstance(count, int | float) and not isinstance(count, bool) and 0 <= count < float("inf")
    )
