"""One price lookup per attempt: the budget's reservation and settle, the call's cost and
its token breakdown (in ``request_breakdown`` and on the span) share it, and the
provider's price tables are read once per model pair for the Router's life."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from respan_router import Router
from respan_router.execution import _outcome
from respan_router.routing import Pricing
from respan_router.testing import FakeProvider, Reply
from tests.helpers import MSG

BETA = {"extra_headers": {"X-Respan-Beta": _outcome.TOKEN_BREAKDOWN}}
KINDS = {"m": {"input_cost_per_token": 2e-6, "output_cost_per_token": 8e-6}}
CUSTOMERS = {"acme": {"total_budget": 100, "markup_percentage": 50}}


class _CountingFake(FakeProvider):
    """Counts every read of its price tables."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(Reply("ok", usage=(10, 5)), prices={"m": (2e-6, 8e-6)}, **kw)
        self.reads: Counter[str] = Counter()

    def price_per_token(self, litellm_model: str) -> tuple[float, float] | None:
        self.reads["per_token"] += 1
        return super().price_per_token(litellm_model)

    def prices_by_kind(self, litellm_model: str) -> dict[str, float] | None:
        self.reads["by_kind"] += 1
        return super().prices_by_kind(litellm_model)

    def price_info(self, litellm_model: str) -> dict[str, Any] | None:
        self.reads["info"] += 1
        return {**KINDS[litellm_model], "max_output_tokens": 100}


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Every look-up of a model pair's prices in the Router's shared table."""
    seen: list[tuple[str, str | None]] = []
    real = Pricing.entry

    def entry(self: Pricing, model: str, backend: str | None = None) -> Any:
        seen.append((model, backend))
        return real(self, model, backend)

    monkeypatch.setattr(Pricing, "entry", entry)
    return seen


def _traced(fake: FakeProvider, exporter: InMemorySpanExporter) -> Router:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Router(provider=fake, tracer_provider=provider, customers=CUSTOMERS)


def test_a_budgeted_call_looks_its_price_up_once(
    lookups: list[tuple[str, str | None]], exporter: InMemorySpanExporter
) -> None:
    fake = _CountingFake(kind_prices=KINDS)
    router = _traced(fake, exporter)
    kwargs = {"customer_identifier": "acme", "request_breakdown": True, "max_tokens": 10}
    for _ in range(3):
        out = router.complete(model="m", messages=MSG, **kwargs, **BETA)
    assert lookups == [("m", "m")] * 3  # reserve, settle, cost, breakdown, span: one each
    assert fake.reads == {"per_token": 1, "by_kind": 1, "info": 1}  # once per pair
    breakdown = out.request_breakdown  # type: ignore[attr-defined]
    assert breakdown["cost"] == pytest.approx(10 * 2e-6 + 5 * 8e-6)
    assert breakdown["customer_cost"] == pytest.approx(1.5 * (10 * 2e-6 + 5 * 8e-6))
    assert breakdown["cost_breakdown"]["total"] == pytest.approx(10 * 2e-6 + 5 * 8e-6)
    calls = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL]
    attrs = dict(calls[-1].attributes or {})
    assert attrs["respan.cost"] == pytest.approx(breakdown["cost"])
    assert attrs["respan.cost.output.text"] == pytest.approx(5 * 8e-6)


def test_a_call_without_a_customer_prices_its_answer_from_one_entry(
    lookups: list[tuple[str, str | None]], exporter: InMemorySpanExporter
) -> None:
    fake = _CountingFake(kind_prices=KINDS)
    router = _traced(fake, exporter)
    for _ in range(2):
        router.complete(model="m", messages=MSG, request_breakdown=True)
    assert lookups == [("m", "m")] * 2
    assert fake.reads == {"per_token": 1}  # no budget: the budget's table is never read


def test_a_try_settles_at_the_price_it_reserved_at() -> None:
    fake = _CountingFake(kind_prices=KINDS)
    router = Router(provider=fake, customers=CUSTOMERS)
    stage = router.budgets._stage  # type: ignore[attr-defined]
    calls: list[Any] = []
    real = stage.pricing.of

    def of(entry: Any) -> Any:
        calls.append(entry)
        return real(entry)

    stage.pricing.of = of
    router.complete(model="m", messages=MSG, customer_identifier="acme", max_tokens=10)
    assert len(calls) == 1  # the reservation's; the settle reuses it
    assert float(router.budgets.usage("acme").total_spent) == pytest.approx(1.5 * 6e-5)
