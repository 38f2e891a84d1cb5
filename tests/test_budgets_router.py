"""Budgets through the Router on FakeProvider: refusals before any call, settle and
release per try, streams ending every way, cache hits, fallback, spans, exactness."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from respan_router.budgets import InMemoryBudgetStore
from respan_router.errors import (
    AllAttemptsFailedError,
    BudgetExceededError,
    CustomerRateLimitError,
    InvalidRequestError,
    ProviderError,
    StreamInterruptedError,
)
from respan_router.testing import Failure, FakeProvider, Reply

# 1 and 4 micro-dollars per input and output token.
PRICES = {"m": (1e-6, 4e-6), "big": (1e-5, 4e-5), "small": (1e-7, 4e-7)}
MSG = [{"role": "user", "content": "one two three four five"}]  # 5 tokens (FakeProvider)
CALL = {"model": "m", "messages": MSG, "max_tokens": 10}  # worst case 5 + 40 = 45 micro


def router_with(fake: FakeProvider, **settings: Any) -> Router:
    return Router(provider=fake, **settings)


def spent(router: Router, customer: str = "acme") -> Decimal:
    return router.budgets.usage(customer).total_spent


def test_a_call_is_charged_its_actual_cost_with_markup() -> None:
    fake = FakeProvider(Reply("hi", usage=(6, 7)), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1, "markup_percentage": 50}})
    router.complete(**CALL, customer_identifier="acme")
    assert spent(router) == Decimal("0.000051")  # (6 + 28) x 1.5 micro-dollars
    usage = router.budgets.usage("acme")
    assert (usage.total_reserved, usage.open_reservations) == (0, 0)


def test_refused_calls_make_no_provider_call() -> None:
    fake = FakeProvider(Reply("hi", usage=(5, 10)), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 0.00009}})
    router.complete(**CALL, customer_identifier="acme")
    router.complete(**CALL, customer_identifier="acme")
    before = len(fake.calls)
    with pytest.raises(BudgetExceededError) as info:
        router.complete(**CALL, customer_identifier="acme")
    assert len(fake.calls) == before == 2
    err = info.value
    assert err.status_code == 429 and err.limit == "total_budget"
    assert (err.limit_usd, err.used_usd, err.estimate_usd) == (
        Decimal("0.00009"),
        Decimal("0.00009"),
        Decimal("0.000045"),
    )


async def test_refused_async_calls_make_no_provider_call() -> None:
    fake = FakeProvider(prices=PRICES)
    router = router_with(fake)
    customer = {"customer_identifier": "acme", "total_budget": 0.00001}
    with pytest.raises(BudgetExceededError):
        await router.acomplete(**CALL, customer_params=customer)
    assert fake.calls == []


def test_budget_refusal_is_not_retried_and_does_not_fall_back() -> None:
    fake = FakeProvider(prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 0.00001}})
    with pytest.raises(BudgetExceededError):
        router.complete(
            **CALL,
            fallback_models=["small"],
            retry_params={"num_retries": 3},
            customer_identifier="acme",
        )
    assert fake.calls == []


def test_failed_tries_release_and_retries_reserve_again() -> None:
    fake = FakeProvider(prices=PRICES).script("m", Failure(503), Reply("ok", usage=(5, 2)))
    router = router_with(fake, customers={"acme": {"total_budget": 1}}, sleep=lambda s: None)
    router.complete(**CALL, retry_params={"num_retries": 2}, customer_identifier="acme")
    usage = router.budgets.usage("acme")
    assert usage.total_spent == Decimal("0.000013")  # only the answered try: 5 + 8
    assert (usage.total_reserved, usage.open_reservations) == (0, 0)


def test_a_failed_call_charges_nothing() -> None:
    fake = FakeProvider(Failure(500), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    with pytest.raises(ProviderError):
        router.complete(**CALL, customer_identifier="acme")
    usage = router.budgets.usage("acme")
    assert (usage.total_spent, usage.total_reserved) == (0, 0)


def test_fallback_reserves_per_attempt_and_charges_the_answering_model() -> None:
    fake = FakeProvider(prices=PRICES).script("m", Failure(500))
    fake.set_default("small", Reply("ok", usage=(10, 10)))
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    router.complete(**CALL, fallback_models=["small"], customer_identifier="acme")
    assert spent(router) == Decimal("0.000005")  # 10 x 0.1 + 10 x 0.4 micro


def test_a_fallback_that_does_not_fit_stops_the_call() -> None:
    fake = FakeProvider(prices=PRICES).script("m", Failure(500))
    router = router_with(fake, customers={"acme": {"total_budget": 0.0001}})
    with pytest.raises(BudgetExceededError):
        router.complete(**CALL, fallback_models=["big"], customer_identifier="acme")
    assert [c.model for c in fake.calls] == ["m"]


def test_budget_aware_fallback_skips_to_a_candidate_that_fits() -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    router = router_with(
        fake, budget_aware_fallback=True, customers={"acme": {"total_budget": 0.0001}}
    )
    response = router.complete(
        model="big", fallback_models=["small"], messages=MSG, max_tokens=10,
        customer_identifier="acme",
    )  # fmt: skip
    assert response.model == "small" and fake.calls_for("big") == []
    # without it: refused before any call
    plain = router_with(fake, customers={"acme": {"total_budget": 0.0001}})
    with pytest.raises(BudgetExceededError):
        plain.complete(
            model="big", fallback_models=["small"], messages=MSG, max_tokens=10,
            customer_identifier="acme",
        )  # fmt: skip
    assert fake.calls_for("big") == []


def test_budget_aware_fallback_with_nothing_that_fits_still_refuses() -> None:
    fake = FakeProvider(prices=PRICES)
    router = router_with(
        fake, budget_aware_fallback=True, customers={"acme": {"total_budget": 0.000001}}
    )
    with pytest.raises(BudgetExceededError):
        router.complete(**CALL, fallback_models=["big"], customer_identifier="acme")
    assert fake.calls == []


def test_cache_hits_spend_nothing() -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    router = router_with(fake, cache_enabled=True, customers={"acme": {"total_budget": 1}})
    router.complete(**CALL, customer_identifier="acme")
    router.complete(**CALL, customer_identifier="acme")
    assert len(fake.calls) == 1
    assert spent(router) == Decimal("0.000045")


def test_unknown_price_refuses_a_customer_with_a_budget_before_any_call() -> None:
    fake = FakeProvider()
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    with pytest.raises(InvalidRequestError) as info:
        router.complete(**CALL, customer_identifier="acme")
    assert info.value.field == "budget_prices" and fake.calls == []
    priced = router_with(
        fake,
        customers={"acme": {"total_budget": 1}},
        budget_prices={"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}},
    )
    priced.complete(**CALL, customer_identifier="acme")
    assert len(fake.calls) == 1


def test_rate_limit_refuses_before_any_call_with_retry_after() -> None:
    fake = FakeProvider(prices=PRICES)
    router = router_with(fake)
    customer = {"customer_identifier": "acme", "rate_limit": 2}
    for _ in range(2):
        router.complete(**CALL, customer_params=customer)
    with pytest.raises(CustomerRateLimitError) as info:
        router.complete(**CALL, customer_params=customer)
    assert info.value.status_code == 429
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
    assert len(fake.calls) == 2


def test_customer_params_create_and_update_the_customer() -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    router = router_with(fake)
    router.complete(**CALL, customer_params={"customer_identifier": 7, "total_budget": 0.00005})
    with pytest.raises(BudgetExceededError):
        router.complete(**CALL, customer_identifier=7)
    router.complete(**CALL, customer_params={"customer_identifier": 7, "total_budget": 1})
    assert router.budgets.usage(7).total_budget == Decimal(1)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"customer_identifier": "a", "budget_duration": "hourly"}, "budget_duration"),
        ({"customer_identifier": "a", "period_budget": -1}, "period_budget"),
        ({"customer_identifier": "a", "period_budget": "5"}, "period_budget"),
        ({"customer_identifier": "a", "total_budget": float("nan")}, "total_budget"),
        ({"customer_identifier": "a", "period_start": "01/02/2025"}, "period_start"),
        ({"customer_identifier": "a", "period_end": "2025-13-01"}, "period_end"),
        ({"customer_identifier": "a", "markup_percentage": -5}, "markup_percentage"),
        ({"customer_identifier": "a", "rate_limit": 0}, "rate_limit"),
        ({"customer_identifier": "a", "rate_limit": 1.5}, "rate_limit"),
        ({"customer_identifier": "a", "email": 3}, "email"),
        ({"customer_identifier": "a", "budget": 5}, "budget"),
        ({"name": "no id"}, "customer_identifier"),
        ({"customer_identifier": "a", "period_budget": 5}, "customer_params"),
        (
            {"customer_identifier": "a", "period_start": "2025-02-01", "period_end": "2025-01-01"},
            "customer_params",
        ),
    ],
)
def test_each_field_is_validated_before_any_call(params: dict[str, Any], field: str) -> None:
    fake = FakeProvider(prices=PRICES)
    router = router_with(fake)
    with pytest.raises(InvalidRequestError) as info:
        router.complete(**CALL, customer_params=params)
    assert (info.value.field or "").startswith("customer_params")
    assert field in (info.value.field or "") or field in info.value.message
    assert fake.calls == []


def test_mismatched_identifiers_are_rejected() -> None:
    router = router_with(FakeProvider(prices=PRICES))
    with pytest.raises(InvalidRequestError, match="different customers"):
        router.complete(
            **CALL, customer_identifier="a", customer_params={"customer_identifier": "b"}
        )


def test_customers_from_a_config_file(tmp_path: Any) -> None:
    path = tmp_path / "router.json"
    path.write_text(json.dumps({"customers": {"acme": {"total_budget": 0.00001}}}))
    fake = FakeProvider(prices=PRICES)
    router = Router.from_config(path, provider=fake)
    with pytest.raises(BudgetExceededError):
        router.complete(**CALL, customer_identifier="acme")


def test_two_routers_share_no_budget() -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    a = router_with(fake, customers={"acme": {"total_budget": 0.000045}})
    b = router_with(fake, customers={"acme": {"total_budget": 0.000045}})
    a.complete(**CALL, customer_identifier="acme")
    b.complete(**CALL, customer_identifier="acme")
    assert spent(a) == spent(b) == Decimal("0.000045")


def test_a_shared_store_is_shared() -> None:
    store = InMemoryBudgetStore()
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    a = router_with(fake, budget_store=store, customers={"acme": {"total_budget": 0.000045}})
    b = router_with(fake, budget_store=store)
    a.complete(**CALL, customer_identifier="acme")
    with pytest.raises(BudgetExceededError):
        b.complete(**CALL, customer_identifier="acme")


def test_periods_roll_over_with_the_injected_clock() -> None:
    now = [datetime(2025, 3, 1, 23, 59, tzinfo=UTC).timestamp()]
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    router = router_with(
        fake,
        budget_clock=lambda: now[0],
        customers={
            "acme": {
                "period_budget": 0.000045,
                "budget_duration": "daily",
                "period_start": "2025-01-01",
            }
        },
    )
    router.complete(**CALL, customer_identifier="acme")
    with pytest.raises(BudgetExceededError) as info:
        router.complete(**CALL, customer_identifier="acme")
    assert info.value.resets_at == datetime(2025, 3, 2, tzinfo=UTC)
    now[0] += 60
    router.complete(**CALL, customer_identifier="acme")
    usage = router.budgets.usage("acme")
    assert (usage.period_spent, usage.total_spent) == (Decimal("0.000045"), Decimal("0.00009"))


def test_budgets_api_set_usage_reset() -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    router = router_with(fake)
    usage = router.budgets.set("acme", period_budget=1, budget_duration="weekly",
                               markup_percentage=20)  # fmt: skip
    assert usage.period_budget == 1 and usage.markup_percentage == Decimal("20.0")
    router.complete(**CALL, customer_identifier="acme")
    assert router.budgets.usage("acme").period_spent == Decimal("0.000054")
    assert router.budgets.reset("acme").period_spent == 0
    assert router.budgets.usage("acme").total_spent == Decimal("0.000054")
    assert router.budgets.reset("acme", total=True).total_spent == 0
    with pytest.raises(InvalidRequestError):
        router.budgets.usage("nobody")
    with pytest.raises(InvalidRequestError):
        router.budgets.set("acme", budget_duration="hourly")


# -- streams: settled when they end, however they end --------------------------------------
STREAM = {**CALL, "stream": True}


def test_a_completed_stream_is_charged_its_reported_usage() -> None:
    fake = FakeProvider(Reply("a b c", usage=(5, 3)), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    stream = router.complete(
        **STREAM, stream_options={"include_usage": True}, customer_identifier="acme"
    )
    assert router.budgets.usage("acme").open_reservations == 1  # held while it runs
    list(stream)
    usage = router.budgets.usage("acme")
    assert (usage.total_spent, usage.open_reservations) == (Decimal("0.000017"), 0)


def test_a_stream_closed_early_is_charged_what_was_delivered() -> None:
    fake = FakeProvider(Reply("a b c d e f"), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    stream = router.complete(**STREAM, customer_identifier="acme")
    next(iter(stream))
    stream.close()
    usage = router.budgets.usage("acme")
    assert usage.open_reservations == 0
    # 5 prompt + 1 delivered word
    assert usage.total_spent == Decimal("0.000009")


def test_an_interrupted_stream_is_charged_what_was_delivered() -> None:
    fake = FakeProvider(Failure(500, after_chunks=2), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    stream = router.complete(**STREAM, customer_identifier="acme")
    with pytest.raises(StreamInterruptedError):
        list(stream)
    usage = router.budgets.usage("acme")
    assert usage.open_reservations == 0
    assert usage.total_spent == Decimal("0.000013")  # 5 prompt + "part0 part1" = 2 words


async def test_an_async_stream_is_settled_when_it_ends() -> None:
    fake = FakeProvider(Reply("a b c"), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    stream = await router.acomplete(**STREAM, customer_identifier="acme")
    async for _ in stream:
        pass
    usage = router.budgets.usage("acme")
    assert (usage.total_spent, usage.open_reservations) == (Decimal("0.000017"), 0)


async def test_an_async_stream_closed_early_is_settled() -> None:
    fake = FakeProvider(Reply("a b c d"), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    stream = await router.acomplete(**STREAM, customer_identifier="acme")
    await stream.__anext__()
    await stream.aclose()
    assert router.budgets.usage("acme").open_reservations == 0
    assert spent(router) == Decimal("0.000009")


def test_a_stream_that_fails_before_its_first_chunk_is_released() -> None:
    fake = FakeProvider(Failure(500), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    with pytest.raises(ProviderError):
        router.complete(**STREAM, customer_identifier="acme")
    usage = router.budgets.usage("acme")
    assert (usage.total_spent, usage.total_reserved) == (0, 0)


def test_a_forgotten_stream_expires() -> None:
    now = [1_800_000_000.0]
    fake = FakeProvider(Reply("a b c"), prices=PRICES)
    router = router_with(
        fake,
        budget_clock=lambda: now[0],
        budget_reservation_ttl=60,
        customers={"acme": {"total_budget": 0.000045}},
    )
    stream = router.complete(**STREAM, customer_identifier="acme")  # never read nor closed
    with pytest.raises(BudgetExceededError):
        router.complete(**CALL, customer_identifier="acme")
    now[0] += 61
    router.complete(**CALL, customer_identifier="acme")
    del stream


# -- telemetry -------------------------------------------------------------------------------
def _spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.parent is None]


def test_the_span_carries_limit_info_and_costs(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    router = router_with(
        fake,
        tracer_provider=provider,
        customers={
            "acme": {
                "total_budget": 1,
                "markup_percentage": 10,
                "rate_limit": 100,
                "name": "Acme",
                "group_identifier": "g1",
                "email": "ops@acme.test",
            }
        },
    )
    response = router.complete(**CALL, customer_identifier="acme", request_breakdown=True)
    (span,) = _spans(exporter)
    attrs = dict(span.attributes or {})
    assert attrs["respan.cost"] == pytest.approx(0.000045)
    assert attrs["respan.customer_cost"] == 0.00005  # 45 x 1.1 = 49.5 micro, half up
    assert attrs["respan.customer_params.name"] == "Acme"
    assert attrs["respan.customer_params.group_identifier"] == "g1"
    assert "respan.customer_params.email" not in attrs  # not allowed by default
    info = json.loads(str(attrs["respan.limit_info"]))
    assert info["is_allowed"] is True
    by_name = {x["name"]: x for x in info["limits"]}
    assert by_name["rate_limit"] == {
        "name": "rate_limit",
        "current_value": 0,
        "new_value": 1,
        "limit_value": 100,
        "is_within_limit": True,
    }
    assert by_name["total_budget"]["limit_value"] == 1.0
    assert by_name["total_budget"]["new_value"] == 0.00005
    assert response.request_breakdown is not None
    assert response.request_breakdown["customer_cost"] == 0.00005


def test_a_refused_call_records_a_span_with_the_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    fake = FakeProvider(prices=PRICES)
    router = router_with(
        fake, tracer_provider=provider, customers={"acme": {"total_budget": 0.00001}}
    )
    with pytest.raises(BudgetExceededError):
        router.complete(**CALL, customer_identifier="acme")
    (span,) = _spans(exporter)
    attrs = dict(span.attributes or {})
    assert attrs["error.type"] == "BudgetExceededError"
    info = json.loads(str(attrs["respan.limit_info"]))
    assert info["is_allowed"] is False
    assert info["limits"][0]["is_within_limit"] is False


def test_the_span_says_why_budget_aware_fallback_skipped(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    router = router_with(
        fake,
        tracer_provider=provider,
        budget_aware_fallback=True,
        customers={"acme": {"total_budget": 0.0001}},
    )
    router.complete(
        model="big", fallback_models=["small"], messages=MSG, max_tokens=10,
        customer_identifier="acme",
    )  # fmt: skip
    (span,) = _spans(exporter)
    skipped = list((span.attributes or {})["respan.budget.skipped"])
    assert len(skipped) == 1 and skipped[0].startswith("big: ")


# -- exactness under concurrency -------------------------------------------------------------
K = 25


class WatchedStore(InMemoryBudgetStore):
    """Checks after every operation that spend plus holds never pass the budget."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.peak = 0

    def _check(self) -> None:
        use = self.usage("acme", None, 0.0)
        self.peak = max(self.peak, use.total_spent + use.total_reserved)

    def reserve(self, request: Any) -> Any:
        out = super().reserve(request)
        self._check()
        return out

    def settle(self, reservation: Any, actual: int, now: float) -> Any:
        out = super().settle(reservation, actual, now)
        self._check()
        return out


def test_exactly_k_calls_of_16_threads_succeed() -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10)), prices=PRICES)
    store = WatchedStore(K * 45)
    router = router_with(fake, budget_store=store, customers={"acme": {"total_budget": K * 45e-6}})
    ok: list[int] = []
    refused: list[int] = []

    def worker() -> None:
        for _ in range(5):
            try:
                router.complete(**CALL, customer_identifier="acme")
                ok.append(1)
            except BudgetExceededError:
                refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ok) == K and len(refused) == 80 - K
    assert len(fake.calls) == K
    assert store.peak <= K * 45
    assert router.budgets.usage("acme").total_spent == Decimal(K * 45) / Decimal(10**6)


async def test_exactly_k_of_1000_async_calls_succeed() -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 10), latency=0.001), prices=PRICES)
    store = WatchedStore(K * 45)
    router = router_with(fake, budget_store=store, customers={"acme": {"total_budget": K * 45e-6}})

    async def one() -> bool:
        try:
            await router.acomplete(**CALL, customer_identifier="acme")
        except BudgetExceededError:
            return False
        return True

    results = await asyncio.gather(*(one() for _ in range(1000)))
    assert sum(results) == K and len(fake.calls) == K
    assert store.peak <= K * 45
    assert router.budgets.usage("acme").total_spent == Decimal(K * 45) / Decimal(10**6)


def test_all_attempts_failed_still_releases_every_hold() -> None:
    fake = FakeProvider(Failure(500), prices=PRICES)
    router = router_with(fake, customers={"acme": {"total_budget": 1}})
    with pytest.raises(AllAttemptsFailedError):
        router.complete(**CALL, fallback_models=["small"], customer_identifier="acme")
    usage = router.budgets.usage("acme")
    assert (usage.total_spent, usage.total_reserved, usage.open_reservations) == (0, 0, 0)
