"""The token-breakdown beta: usage details always reach the caller; with the flag,
``request_breakdown`` and the span add tokens and cost by kind, cached input cheaper."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from respan_router import Router
from respan_router.execution import _outcome
from respan_router.providers import LiteLLMProvider
from respan_router.testing import FakeProvider, Reply
from tests.helpers import MSG

REPLY = Reply(
    "ok",
    usage=(100, 50),
    cached_tokens=40,
    reasoning_tokens=20,
    usage_details={"cache_creation_input_tokens": 10},
)
PRICES = {
    "m": {
        "input_cost_per_token": 2e-6,
        "cache_read_input_token_cost": 5e-7,
        "cache_creation_input_token_cost": 2.5e-6,
        "output_cost_per_token": 8e-6,
    }
}


BETA = {"extra_headers": {"X-Respan-Beta": _outcome.TOKEN_BREAKDOWN}}


def _router(**kw: object) -> Router:
    return Router(provider=FakeProvider(REPLY, kind_prices=PRICES), **kw)  # type: ignore[arg-type]


def test_usage_details_are_always_there() -> None:
    out = _router().complete(model="m", messages=MSG)
    assert out.usage is not None and out.usage.prompt_tokens_details is not None
    assert out.usage.prompt_tokens_details.cached_tokens == 40


def test_without_the_flag_no_token_breakdown() -> None:
    out = _router().complete(model="m", messages=MSG, request_breakdown=True)
    assert "token_breakdown" not in out.request_breakdown  # type: ignore[attr-defined]


def test_breakdown_adds_tokens_and_cost_by_kind() -> None:
    out = _router().complete(model="m", messages=MSG, request_breakdown=True, **BETA)
    breakdown = out.request_breakdown  # type: ignore[attr-defined]
    assert breakdown["token_breakdown"] == {
        "input": {"uncached": 50, "cached": 40, "cache_creation": 10, "audio": 0},
        "output": {"text": 30, "reasoning": 20, "audio": 0},
    }
    cost = breakdown["cost_breakdown"]
    assert cost["input"]["cached"] == pytest.approx(40 * 5e-7)
    assert cost["input"]["uncached"] == pytest.approx(50 * 2e-6)
    assert cost["input"]["cache_creation"] == pytest.approx(10 * 2.5e-6)
    assert cost["output"]["reasoning"] == pytest.approx(20 * 8e-6)  # no own price: output's
    assert cost["total"] == pytest.approx(50 * 2e-6 + 40 * 5e-7 + 10 * 2.5e-6 + 50 * 8e-6)


def test_unknown_prices_give_tokens_without_cost() -> None:
    router = Router(provider=FakeProvider(REPLY))
    breakdown = router.complete(
        model="m", messages=MSG, request_breakdown=True, **BETA
    ).request_breakdown  # type: ignore[attr-defined]
    assert breakdown["token_breakdown"]["input"]["cached"] == 40
    assert breakdown["cost_breakdown"] is None


def test_span_carries_tokens_and_cost_by_kind(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    _router(tracer_provider=provider).complete(model="m", messages=MSG, **BETA)
    [call] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL]
    attrs = dict(call.attributes or {})
    assert attrs["respan.usage.input.cached_tokens"] == 40
    assert attrs["respan.usage.output.reasoning_tokens"] == 20
    assert attrs["respan.cost.input.cached"] == pytest.approx(40 * 5e-7)


def test_litellm_prices_cached_input_cheaper() -> None:
    prices = LiteLLMProvider().prices_by_kind("gpt-4o")
    assert prices is not None
    assert prices["cache_read_input_token_cost"] < prices["input_cost_per_token"]
