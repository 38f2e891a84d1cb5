"""Budgets against what they could not see: billed definitions beside the messages, the
larger output cap, hostile usage from a provider, partial updates, rate-limit spans."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from respan_router.errors import BudgetExceededError, CustomerRateLimitError, InvalidRequestError
from respan_router.testing import FakeProvider, Reply

PRICES = {"m": (1e-6, 4e-6)}  # 1 and 4 micro-dollars per input and output token
MSG = [{"role": "user", "content": "one two three four five"}]  # 5 tokens (FakeProvider)
CALL = {"model": "m", "messages": MSG, "max_tokens": 10}  # worst case 5 + 40 = 45 micro
BIG_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": " ".join(["word"] * 2_000),
        "parameters": {"type": "object", "properties": {}},
    },
}


def _router(fake: FakeProvider, **customers: Any) -> Router:
    return Router(provider=fake, customers=customers)


@pytest.mark.parametrize(
    "extra",
    [
        {"tools": [BIG_TOOL]},
        {"functions": [BIG_TOOL["function"]]},
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": {"description": BIG_TOOL["function"]}},
            }
        },
    ],
    ids=["tools", "functions", "response_format"],
)
def test_the_estimate_counts_definitions_billed_as_input(extra: dict[str, Any]) -> None:
    fake = FakeProvider(Reply("hi", usage=(5, 1)), prices=PRICES)
    # Room for the messages and the output (45 micro), not for 2,000 more input tokens.
    router = _router(fake, acme={"total_budget": 0.0005})
    router.complete(**CALL, customer_identifier="acme")
    with pytest.raises(BudgetExceededError) as info:
        router.complete(**CALL, **extra, customer_identifier="acme")
    assert info.value.estimate_usd > Decimal("0.002")
    assert len(fake.calls) == 1


def test_the_larger_output_cap_is_reserved() -> None:
    fake = FakeProvider(Reply("hi", usage=(5, 1)), prices=PRICES)
    router = _router(fake, acme={"total_budget": 0.001})
    with pytest.raises(BudgetExceededError):
        router.complete(
            model="m",
            messages=MSG,
            max_tokens=1_000_000,
            max_completion_tokens=1,
            customer_identifier="acme",
        )
    assert fake.calls == []


@pytest.mark.parametrize(
    ("usage", "charged"),
    [
        ({"prompt_tokens": -5, "completion_tokens": 3}, Decimal("0.000012")),  # 0 + 12
        ({"prompt_tokens": 2.5, "completion_tokens": 1}, Decimal("0.000007")),  # 3 + 4
        ({"prompt_tokens": "many", "completion_tokens": 1}, Decimal("0.000045")),  # the hold
        ({"prompt_tokens": 5, "completion_tokens": float("nan")}, Decimal("0.000045")),
        ({"prompt_tokens": None, "completion_tokens": None}, Decimal("0.000045")),
    ],
)
def test_any_usage_settles_without_losing_the_answer(
    usage: dict[str, Any], charged: Decimal
) -> None:
    fake = FakeProvider(Reply("paid answer", usage_details=usage), prices=PRICES)
    router = _router(fake, acme={"total_budget": 1})
    answer = router.complete(**CALL, customer_identifier="acme")
    assert answer.choices[0].message.content == "paid answer"
    spend = router.budgets.usage("acme")
    assert spend.total_spent == charged
    assert (spend.total_reserved, spend.open_reservations) == (0, 0)


async def test_any_usage_settles_async() -> None:
    usage = {"prompt_tokens": -1, "completion_tokens": 0.5}
    fake = FakeProvider(Reply("paid answer", usage_details=usage), prices=PRICES)
    router = _router(fake, acme={"total_budget": 1})
    answer = await router.acomplete(**CALL, customer_identifier="acme")
    assert answer.choices[0].message.content == "paid answer"
    spend = router.budgets.usage("acme")
    assert spend.total_spent == Decimal("0.000004")
    assert spend.open_reservations == 0


def test_budgets_set_merges_a_partial_update() -> None:
    router = _router(FakeProvider(prices=PRICES))
    router.budgets.set("acme", period_budget=50, budget_duration="monthly")
    usage = router.budgets.set("acme", period_budget=60)
    assert usage.period_budget == Decimal("60")
    assert usage.budget_duration == "monthly"


def test_customer_params_merge_a_partial_update() -> None:
    fake = FakeProvider(Reply("hi", usage=(5, 1)), prices=PRICES)
    router = _router(fake)
    router.budgets.set("acme", period_budget=50, budget_duration="monthly")
    router.complete(**CALL, customer_params={"customer_identifier": "acme", "period_budget": 60})
    usage = router.budgets.usage("acme")
    assert (usage.period_budget, usage.budget_duration) == (Decimal("60"), "monthly")


def test_a_period_budget_without_any_period_is_still_refused() -> None:
    fake = FakeProvider(prices=PRICES)
    router = _router(fake)
    with pytest.raises(InvalidRequestError) as info:
        router.budgets.set("new", period_budget=60)
    assert info.value.field is not None and "budget_duration" in info.value.field
    with pytest.raises(InvalidRequestError):
        router.complete(**CALL, customer_params={"customer_identifier": "b", "period_budget": 1})
    assert fake.calls == []


def test_a_rate_limit_refusal_records_limit_info(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    fake = FakeProvider(prices=PRICES)
    router = Router(provider=fake, tracer_provider=provider)
    customer = {"customer_identifier": "acme", "rate_limit": 1}
    router.complete(**CALL, customer_params=customer)
    with pytest.raises(CustomerRateLimitError):
        router.complete(**CALL, customer_params=customer)
    spans = [s for s in exporter.get_finished_spans() if s.parent is None]
    attrs = dict(spans[-1].attributes or {})
    assert attrs["error.type"] == "CustomerRateLimitError"
    info = json.loads(str(attrs["respan.limit_info"]))
    assert info["is_allowed"] is False
    assert info["limits"][0]["name"] == "rate_limit"
    assert info["limits"][0]["is_within_limit"] is False


def test_litellms_counter_counts_the_tools() -> None:
    """On the default provider, tools are counted by litellm's tokenizer for the model."""
    from respan_router.budgets import BudgetStage, InMemoryBudgetStore
    from respan_router.budgets._cost import BudgetPricing
    from respan_router.config import build_config
    from respan_router.providers import LiteLLMProvider
    from respan_router.request._request import build_request

    provider = LiteLLMProvider()
    config = build_config(
        {
            "budget_prices": {
                "openai/gpt-4o": {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6}
            }
        }
    )
    stage = BudgetStage(InMemoryBudgetStore(), BudgetPricing(config, provider), provider)
    customer = {"customer_identifier": "acme", "total_budget": 100}

    def held(**extra: Any) -> int:
        request = build_request(
            {"model": "openai/gpt-4o", "messages": MSG, "max_tokens": 1, **extra,
             "customer_params": customer}
        )  # fmt: skip
        call = stage.admit(request)
        assert call is not None
        return stage.estimate(call, request, "openai/gpt-4o", "openai/gpt-4o")

    tools_tokens = provider.count_tokens("openai/gpt-4o", [], json.dumps([BIG_TOOL]))
    assert tools_tokens is not None and tools_tokens[1] > 2_000
    assert held(tools=[BIG_TOOL]) - held() >= tools_tokens[1]  # 1 micro-dollar a token


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": -5, "completion_tokens": 2.5},
        {"prompt_tokens": "many", "completion_tokens": None},
        {"prompt_tokens": float("inf"), "completion_tokens": 1},
    ],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_hostile_usage_never_loses_the_answer_anywhere(
    usage: dict[str, Any],
    stream: bool,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    fake = FakeProvider(Reply("paid answer", usage_details=usage), prices=PRICES)
    router = Router(
        provider=fake, tracer_provider=provider, customers={"acme": {"total_budget": 1}}
    )
    kwargs: dict[str, Any] = {**CALL, "customer_identifier": "acme", "request_breakdown": True}
    if stream:
        chunks = list(
            router.complete(**kwargs, stream=True, stream_options={"include_usage": True})
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = router.complete(**kwargs).choices[0].message.content or ""
    assert text == "paid answer"
    spend = router.budgets.usage("acme")
    assert (spend.total_reserved, spend.open_reservations) == (0, 0)
    assert [s for s in exporter.get_finished_spans() if s.parent is None]


def test_hostile_usage_is_recorded_without_failing_the_telemetry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    usage = {"prompt_tokens": "many", "completion_tokens": 3}
    fake = FakeProvider(Reply("ok", usage_details=usage), prices=PRICES)
    router = Router(provider=fake, meter_provider=MeterProvider(metric_readers=[reader]))
    with caplog.at_level("WARNING", logger="respan_router"):
        router.complete(**CALL)
    assert not [r for r in caplog.records if "recording a call failed" in r.getMessage()]
    data = reader.get_metrics_data()
    assert data is not None
    kinds = {
        point.attributes.get("gen_ai.token.type")
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "gen_ai.client.token.usage"
        for point in metric.data.data_points
    }
    assert kinds == {"output"}  # the unreadable input count is left out
