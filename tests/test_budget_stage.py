"""The budget stage on its own: estimates, reserve/settle/release, limits, rate limits."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from respan_router.budgets import (
    BudgetPricing,
    BudgetStage,
    CustomerCall,
    InMemoryBudgetStore,
    Reservation,
)
from respan_router.config import build_config
from respan_router.errors import (
    BudgetExceededError,
    CustomerRateLimitError,
    InvalidRequestError,
    RateLimitError,
)
from respan_router.request._params import build_schemas
from respan_router.request._request import ChatRequest, build_request
from respan_router.responses import usage_from_dict
from respan_router.testing import FakeProvider

# 1 USD per million input tokens, 4 per million output tokens: 1 and 4 micro-dollars a token.
PRICES = {"fake/m": (1e-6, 4e-6), "fake/big": (10e-6, 40e-6)}
MSG = [{"role": "user", "content": "one two three four five"}]  # 5 "tokens" (words)


class Clock:
    def __init__(self, start: str = "2025-03-01T00:00:00") -> None:
        self.now = datetime.fromisoformat(start).replace(tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def Usage(prompt: int, completion: int, total: int, cached: int = 0) -> Any:
    """An OpenAI usage, its cached tokens in ``prompt_tokens_details``."""
    data: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
    }
    if cached:
        data["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage_from_dict(data)


def attempt(model: str = "fake/m") -> tuple[str, str]:
    """(model as requested, backend model string it is priced as)."""
    return model, model


def make_stage(
    clock: Clock | None = None, store: InMemoryBudgetStore | None = None, **config: Any
) -> BudgetStage:
    build_schemas()
    provider = FakeProvider(prices=PRICES)
    cfg = build_config(config)
    return BudgetStage(
        store or InMemoryBudgetStore(),
        BudgetPricing(cfg, provider),
        provider,
        clock=clock or Clock(),
        reservation_ttl=cfg.budget_reservation_ttl,
    )


def request(**kw: Any) -> ChatRequest:
    kw.setdefault("model", "fake/m")
    kw.setdefault("messages", MSG)
    kw.setdefault("max_tokens", 10)
    return build_request(kw)


def customer(**settings: Any) -> dict[str, Any]:
    return {"customer_identifier": "acme", **settings}


def admitted(stage: BudgetStage, **settings: Any) -> CustomerCall:
    call = stage.admit(request(customer_params=customer(**settings)))
    assert call is not None
    return call


def test_no_customer_means_nothing_to_do() -> None:
    stage = make_stage()
    assert stage.admit(request()) is None
    assert stage.admit(request(customer_identifier="unknown")) is None


def test_the_estimate_is_prompt_as_input_plus_max_tokens_times_n_as_output() -> None:
    stage = make_stage()
    call = admitted(stage, total_budget=1.0)
    held = stage.reserve_for(call, request(max_tokens=10, n=3), *attempt())
    assert held.amount == 5 * 1 + 10 * 3 * 4  # micro-dollars
    held2 = stage.reserve_for(call, request(max_tokens=None, max_completion_tokens=7), *attempt())
    assert held2.amount == 5 + 7 * 4
    # Both caps given: the larger one is reserved (the provider may honour either).
    both = request(max_tokens=1_000, max_completion_tokens=1)
    assert stage.reserve_for(call, both, *attempt()).amount == 5 + 1_000 * 4


def test_markup_applies_to_estimates_and_charges_exactly() -> None:
    stage = make_stage()
    call = admitted(stage, total_budget=1.0, markup_percentage=12.5)
    held = stage.reserve_for(call, request(max_tokens=100), *attempt())
    assert held.amount == 456  # (5 + 400) * 1.125 = 455.625, rounded half up
    stage.settle(call, held, Usage(5, 60, 65))
    # (5 + 240) * 1.125 = 275.625 -> 276 micro-dollars charged
    assert call.customer_cost_micro == 276 and call.cost_micro == 245
    usage = stage.store.usage("acme", None, stage.now())
    assert (usage.total_spent, usage.total_reserved) == (276, 0)


def test_cached_input_tokens_are_priced_lower() -> None:
    stage = make_stage(
        budget_prices={
            "fake/m": {
                "input_cost_per_token": 2e-6,
                "output_cost_per_token": 8e-6,
                "cache_read_input_token_cost": 0.5e-6,
            }
        }
    )
    call = admitted(stage, total_budget=1.0)
    held = stage.reserve_for(call, request(max_tokens=10), *attempt())
    stage.settle(call, held, Usage(1000, 10, 1010, cached=800))
    # 200 * 2 + 800 * 0.5 + 10 * 8
    assert call.cost_micro == 880


def test_refusal_names_the_limit_usage_estimate_and_reset() -> None:
    clock = Clock("2025-03-10T12:00:00")
    stage = make_stage(clock)
    call = admitted(
        stage, period_budget=0.0001, budget_duration="monthly", period_start="2025-01-01"
    )
    held = stage.reserve_for(call, request(max_tokens=10), *attempt())  # 45 micro
    stage.settle(call, held, Usage(5, 10, 15))
    with pytest.raises(BudgetExceededError) as info:
        stage.reserve_for(call, request(max_tokens=20), *attempt())  # 85 more: 130 > 100
    err = info.value
    assert isinstance(err, InvalidRequestError) and err.status_code == 429
    assert err.limit == "period_budget"
    assert err.limit_usd == Decimal("0.0001")
    assert err.used_usd == Decimal("0.000045")
    assert err.estimate_usd == Decimal("0.000085")
    assert err.resets_at == datetime(2025, 4, 1, tzinfo=UTC)
    assert "period budget" in err.message and "2025-04-01" in err.message
    assert call.limit_info is not None and call.limit_info["is_allowed"] is False
    period = call.limit_info["limits"][0]
    assert period == {
        "name": "period_budget",
        "current_value": 0.000045,
        "new_value": 0.00013,
        "limit_value": 0.0001,
        "is_within_limit": False,
    }
    # nothing was held by the refused call
    assert stage.store.usage("acme", call.period.key, clock()).period_reserved == 0  # type: ignore[union-attr]


def test_total_budget_refusal_has_no_reset_time() -> None:
    stage = make_stage()
    call = admitted(stage, total_budget=0.00001)
    with pytest.raises(BudgetExceededError) as info:
        stage.reserve_for(call, request(max_tokens=10), *attempt())
    assert info.value.limit == "total_budget" and info.value.resets_at is None


def test_unknown_price_is_refused_for_a_customer_with_a_budget() -> None:
    stage = make_stage()
    call = admitted(stage, total_budget=1.0)
    with pytest.raises(InvalidRequestError) as info:
        stage.reserve_for(call, request(model="fake/unpriced"), *attempt("fake/unpriced"))
    assert info.value.field == "budget_prices" and "unknown" in info.value.message
    assert stage.store.usage("acme", None, stage.now()).open_reservations == 0


def test_a_price_override_makes_an_unknown_model_usable() -> None:
    stage = make_stage(
        budget_prices={
            "fake/unpriced": {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}
        }
    )
    call = admitted(stage, total_budget=1.0)
    held = stage.reserve_for(call, request(model="fake/unpriced"), *attempt("fake/unpriced"))
    assert held.amount == 15


def test_unknown_price_without_a_budget_records_no_cost_and_refuses_nothing() -> None:
    stage = make_stage()
    call = admitted(stage, markup_percentage=10)
    held = stage.reserve_for(call, request(model="fake/unpriced"), *attempt("fake/unpriced"))
    assert held.amount == 0
    stage.settle(call, held, Usage(5, 5, 10))
    assert call.priced is False


def test_an_unbounded_output_is_refused_unless_the_model_cap_is_known() -> None:
    stage = make_stage()
    call = admitted(stage, total_budget=1.0)
    with pytest.raises(InvalidRequestError) as info:
        stage.reserve_for(call, request(max_tokens=None), *attempt())
    assert info.value.field == "max_tokens"
    capped = make_stage(
        budget_prices={
            "fake/m": {
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 4e-6,
                "max_output_tokens": 50,
            }
        }
    )
    call = admitted(capped, total_budget=1.0)
    assert capped.reserve_for(call, request(max_tokens=None), *attempt()).amount == 5 + 200


def test_settle_and_release_are_idempotent() -> None:
    stage = make_stage()
    call = admitted(stage, total_budget=1.0)
    held = stage.reserve_for(call, request(), *attempt())
    assert stage.settle(call, held, Usage(5, 10, 15)) == 45
    assert stage.settle(call, held, Usage(5, 10, 15)) == 0
    stage.release(call, held)
    assert stage.store.usage("acme", None, stage.now()).total_spent == 45
    other = stage.reserve_for(call, request(), *attempt())
    stage.release(call, other)
    stage.release(call, other)
    usage = stage.store.usage("acme", None, stage.now())
    assert (usage.total_spent, usage.total_reserved, usage.open_reservations) == (45, 0, 0)


def test_settle_without_usage_charges_the_reservation() -> None:
    stage = make_stage()
    call = admitted(stage, total_budget=1.0)
    held = stage.reserve_for(call, request(), *attempt())
    assert stage.settle(call, held, None) == held.amount


def test_period_usage_resets_at_the_boundary_and_total_does_not() -> None:
    clock = Clock("2025-03-01T23:59:00")
    stage = make_stage(clock)
    settings = {
        "period_budget": 0.0001,
        "budget_duration": "daily",
        "period_start": "2025-01-01",
        "total_budget": 1.0,
    }
    call = admitted(stage, **settings)
    stage.settle(call, stage.reserve_for(call, request(), *attempt()), Usage(5, 10, 15))
    stage.settle(call, stage.reserve_for(call, request(), *attempt()), Usage(5, 10, 15))
    with pytest.raises(BudgetExceededError):
        stage.reserve_for(call, request(), *attempt())
    clock.now += 60  # midnight
    call = admitted(stage, **settings)
    held = stage.reserve_for(call, request(), *attempt())
    assert (held.period_used, held.total_used) == (0, 90)


def test_a_settle_after_the_boundary_charges_the_reserved_period() -> None:
    clock = Clock("2025-03-01T23:59:59")
    stage = make_stage(clock)
    call = admitted(stage, period_budget=1.0, budget_duration="daily", period_start="2025-01-01")
    held = stage.reserve_for(call, request(), *attempt())
    clock.now += 10
    stage.settle(call, held, Usage(5, 10, 15))
    old, new = "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z"
    assert stage.store.usage("acme", old, clock()).period_spent == 45
    assert stage.store.usage("acme", new, clock()).period_spent == 0


def test_abandoned_reservations_expire_after_the_ttl() -> None:
    clock = Clock()
    stage = make_stage(clock, budget_reservation_ttl=30)
    call = admitted(stage, total_budget=0.000045)
    stage.reserve_for(call, request(), *attempt())  # never settled: a crash
    with pytest.raises(BudgetExceededError):
        stage.reserve_for(call, request(), *attempt())
    clock.now += 31
    assert stage.reserve_for(call, request(), *attempt()).amount == 45


def test_customer_params_create_then_update_only_the_fields_given() -> None:
    clock = Clock()
    stage = make_stage(clock)
    first = admitted(stage, total_budget=5, markup_percentage=20, name="Acme", rate_limit=100)
    clock.now += 3600
    second = admitted(stage, total_budget=7)
    b = second.budget
    assert (b.total_budget, b.markup, b.name, b.rate_limit) == (
        7_000_000,
        Decimal("20.0"),
        "Acme",
        100,
    )
    assert b.anchor == first.budget.anchor  # when the budget was first set


def test_a_top_level_identifier_selects_a_configured_customer() -> None:
    stage = make_stage()
    stage.configure("acme", {"total_budget": 2, "email": "a@x"})
    call = stage.admit(request(customer_identifier="acme"))
    assert call is not None and call.budget.total_budget == 2_000_000


def test_rate_limit_refuses_with_retry_after() -> None:
    stage = make_stage()
    for _ in range(2):
        assert admitted(stage, rate_limit=2).limit_info["limits"][0]["is_within_limit"]  # type: ignore[index]
    with pytest.raises(CustomerRateLimitError) as info:
        admitted(stage, rate_limit=2)
    err = info.value
    assert isinstance(err, RateLimitError) and err.status_code == 429
    assert err.retry_after is not None and 0 < err.retry_after <= 60
    assert not err.retryable


async def test_async_twins_reserve_settle_release() -> None:
    stage = make_stage()
    call = await stage.aadmit(request(customer_params=customer(total_budget=0.0001, rate_limit=5)))
    assert call is not None
    held = await stage.areserve_for(call, request(), *attempt())
    await stage.asettle(call, held, Usage(5, 10, 15))
    other = await stage.areserve_for(call, request(), *attempt())
    await stage.arelease(call, other)
    with pytest.raises(BudgetExceededError):
        await stage.areserve_for(call, request(max_tokens=100), *attempt())
    usage = stage.store.usage("acme", None, stage.now())
    assert (usage.total_spent, usage.total_reserved) == (45, 0)


def test_fits_tells_budget_aware_fallback_which_candidate_fits() -> None:
    stage = make_stage()
    call = admitted(stage, total_budget=0.0001)
    assert stage.misfit(call, request(), *attempt("fake/m")) is None
    assert "total budget" in (stage.misfit(call, request(), *attempt("fake/big")) or "")
    assert "unknown" in (stage.misfit(call, request(), *attempt("fake/unpriced")) or "")


K = 40
COST = 45  # micro-dollars per call: 5 prompt + 10 output tokens


def _watch(store: InMemoryBudgetStore, limit: int, stop: threading.Event, seen: list[int]) -> None:
    while not stop.is_set():
        u = store.usage("acme", None, 0.0)
        seen.append(u.total_spent + u.total_reserved)


def test_exactly_k_of_16_threads_calls_succeed_and_spend_never_exceeds() -> None:
    store = InMemoryBudgetStore()
    stage = make_stage(store=store)
    stage.configure("acme", {"total_budget": K * COST / 1e6})
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=_watch, args=(store, K * COST, stop, seen))
    watcher.start()
    won: list[Reservation] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            call = stage.admit(request(customer_identifier="acme"))
            assert call is not None
            try:
                held = stage.reserve_for(call, request(), *attempt())
            except BudgetExceededError:
                continue
            stage.settle(call, held, Usage(5, 10, 15))
            with lock:
                won.append(held)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watcher.join()
    assert len(won) == K
    assert max(seen) <= K * COST
    assert store.usage("acme", None, 0.0).total_spent == K * COST


async def test_exactly_k_of_1000_tasks_succeed() -> None:
    store = InMemoryBudgetStore()
    stage = make_stage(store=store)
    stage.configure("acme", {"total_budget": K * COST / 1e6})
    peak = [0]

    async def one() -> bool:
        call = await stage.aadmit(request(customer_identifier="acme"))
        assert call is not None
        try:
            held = await stage.areserve_for(call, request(), *attempt())
        except BudgetExceededError:
            return False
        u = store.usage("acme", None, 0.0)
        peak[0] = max(peak[0], u.total_spent + u.total_reserved)
        await asyncio.sleep(0)
        await stage.asettle(call, held, Usage(5, 10, 15))
        return True

    results = await asyncio.gather(*(one() for _ in range(1000)))
    assert sum(results) == K
    assert peak[0] <= K * COST
    assert store.usage("acme", None, 0.0).total_spent == K * COST


def test_the_current_period_is_reused_only_inside_it_and_for_the_same_tiling() -> None:
    clock = Clock("2025-04-29T23:59:59")
    stage = make_stage(clock)
    monthly = {"period_budget": 1.0, "budget_duration": "monthly", "period_start": "2025-01-31"}
    first = admitted(stage, **monthly).period
    assert first is not None and first.key == "2025-03-31T00:00:00Z"
    assert admitted(stage, **monthly).period == first  # still inside it
    clock.now += 1  # exactly the period's end: the next period starts
    after = admitted(stage, **monthly).period
    assert after is not None and after.key == "2025-04-30T00:00:00Z"
    assert after.end is not None and after.end.month == 5
    clock.now -= 1  # a clock that went back gets its own period again, not the remembered one
    assert admitted(stage, **monthly).period == first
    daily = admitted(stage, **{**monthly, "budget_duration": "daily"}).period
    assert daily is not None and daily.key == "2025-04-29T00:00:00Z"
