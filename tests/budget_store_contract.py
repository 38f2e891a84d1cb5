"""The rules every BudgetStore keeps, as tests. A store's test module subclasses
:class:`StoreContract` and provides a ``store`` fixture (a fresh, empty store)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from respan_router.budgets import (
    BudgetStore,
    CustomerBudget,
    Refusal,
    Reservation,
    ReserveRequest,
)

NOW = 1_700_000_000.0


def req(
    amount: int,
    *,
    customer: str = "acme",
    key: str | None = "P1",
    period_limit: int | None = None,
    total_limit: int | None = None,
    now: float = NOW,
    ttl: float = 600.0,
) -> ReserveRequest:
    return ReserveRequest(
        customer_id=customer,
        amount=amount,
        period_key=key,
        period_limit=period_limit,
        total_limit=total_limit,
        now=now,
        expires_at=now + ttl,
    )


def held(result: Reservation | Refusal) -> Reservation:
    assert isinstance(result, Reservation), result
    return result


class StoreContract:
    @pytest.fixture
    def store(self) -> Any:  # pragma: no cover - each subclass provides one
        raise NotImplementedError

    def test_it_is_a_budget_store(self, store: BudgetStore) -> None:
        assert isinstance(store, BudgetStore)

    def test_configure_keeps_the_first_anchor(self, store: BudgetStore) -> None:
        first = store.configure(CustomerBudget("acme", period_budget=5, anchor=100.0))
        assert first.anchor == 100.0
        second = store.configure(CustomerBudget("acme", period_budget=9, anchor=200.0))
        assert second.anchor == 100.0 and second.period_budget == 9
        assert store.customer("acme") == second
        assert store.customer("nobody") is None

    def test_configuration_round_trips_through_json(self) -> None:
        budget = CustomerBudget(
            "acme", 1, 2, "monthly", "2025-01-31", None, "12.5", 7, "A", "a@x", "g", 3.0
        )
        assert CustomerBudget.from_json(budget.to_json()) == budget

    def test_reserve_holds_against_both_limits(self, store: BudgetStore) -> None:
        r = held(store.reserve(req(300, period_limit=1000, total_limit=2000)))
        assert (r.period_used, r.total_used, r.amount, r.period_key) == (0, 0, 300, "P1")
        use = store.usage("acme", "P1", NOW)
        assert (use.period_spent, use.period_reserved, use.total_reserved) == (0, 300, 300)
        assert use.open_reservations == 1

    def test_reserve_is_all_or_nothing(self, store: BudgetStore) -> None:
        held(store.reserve(req(900, period_limit=1000, total_limit=5000)))
        refused = store.reserve(req(101, period_limit=1000, total_limit=5000))
        assert refused == Refusal("period_budget", 1000, 900, 101, 900, 900)
        # the total would have fit: nothing was held there either
        assert store.usage("acme", "P1", NOW).total_reserved == 900
        exact = held(store.reserve(req(100, period_limit=1000, total_limit=5000)))
        assert exact.period_used == 900

    def test_total_limit_refuses_across_periods(self, store: BudgetStore) -> None:
        r = held(store.reserve(req(700, key="P1", period_limit=1000, total_limit=1000)))
        store.settle(r, 700, NOW)
        refused = store.reserve(req(400, key="P2", period_limit=1000, total_limit=1000))
        assert isinstance(refused, Refusal)
        assert (refused.limit, refused.used, refused.limit_value) == ("total_budget", 700, 1000)

    def test_settle_charges_the_actual_amount(self, store: BudgetStore) -> None:
        r = held(store.reserve(req(500, period_limit=1000)))
        assert store.settle(r, 123, NOW) == "settled"
        use = store.usage("acme", "P1", NOW)
        assert (use.period_spent, use.period_reserved, use.total_spent, use.total_reserved) == (
            123,
            0,
            123,
            0,
        )
        assert use.open_reservations == 0

    def test_settle_is_idempotent(self, store: BudgetStore) -> None:
        r = held(store.reserve(req(500)))
        assert store.settle(r, 200, NOW) == "settled"
        assert store.settle(r, 200, NOW) == "duplicate"
        assert store.release(r, NOW) == "duplicate"
        assert store.usage("acme", "P1", NOW).total_spent == 200

    def test_release_is_idempotent_and_charges_nothing(self, store: BudgetStore) -> None:
        r = held(store.reserve(req(500, period_limit=500)))
        assert store.release(r, NOW) == "released"
        assert store.release(r, NOW) == "duplicate"
        assert store.settle(r, 500, NOW) == "duplicate"
        use = store.usage("acme", "P1", NOW)
        assert (use.period_spent, use.period_reserved, use.total_spent) == (0, 0, 0)
        held(store.reserve(req(500, period_limit=500)))  # the whole budget is free again

    def test_settle_after_a_period_boundary_charges_the_reserved_period(
        self, store: BudgetStore
    ) -> None:
        r = held(store.reserve(req(400, key="P1", period_limit=1000)))
        store.settle(r, 350, NOW + 10)
        assert store.usage("acme", "P1", NOW + 10).period_spent == 350
        assert store.usage("acme", "P2", NOW + 10).period_spent == 0

    def test_abandoned_reservations_expire(self, store: BudgetStore) -> None:
        r = held(store.reserve(req(1000, period_limit=1000, ttl=60)))
        assert isinstance(store.reserve(req(1, period_limit=1000, now=NOW + 59)), Refusal)
        after = NOW + 61
        use = store.usage("acme", "P1", after)
        assert (use.period_reserved, use.total_reserved, use.open_reservations) == (0, 0, 0)
        held(store.reserve(req(1000, period_limit=1000, now=after)))
        # a settle arriving after expiry still charges what was spent, once
        assert store.settle(r, 10, after) == "late"
        assert store.settle(r, 10, after) == "duplicate"
        assert store.usage("acme", "P1", after).period_spent == 10

    def test_release_after_expiry_changes_nothing(self, store: BudgetStore) -> None:
        r = held(store.reserve(req(100, ttl=1)))
        store.usage("acme", "P1", NOW + 5)
        assert store.release(r, NOW + 5) == "duplicate"
        assert store.usage("acme", "P1", NOW + 5).total_reserved == 0

    def test_unknown_reservations_change_nothing(self, store: BudgetStore) -> None:
        ghost = Reservation("no-such-id", "acme", "P1", 100, NOW + 600)
        assert store.settle(ghost, 100, NOW) == "unknown"
        assert store.release(ghost, NOW) == "unknown"
        assert store.usage("acme", "P1", NOW).total_spent == 0

    def test_reset_zeroes_spend_and_keeps_holds(self, store: BudgetStore) -> None:
        r = held(store.reserve(req(100)))
        store.settle(r, 100, NOW)
        held(store.reserve(req(50)))
        store.reset("acme", "P1", total=False)
        use = store.usage("acme", "P1", NOW)
        assert (use.period_spent, use.period_reserved, use.total_spent) == (0, 50, 100)
        store.reset("acme", None, total=True)
        assert store.usage("acme", "P1", NOW).total_spent == 0

    def test_customers_are_separate(self, store: BudgetStore) -> None:
        held(store.reserve(req(1000, customer="a", period_limit=1000)))
        held(store.reserve(req(1000, customer="b", period_limit=1000)))
        assert store.usage("a", "P1", NOW).period_reserved == 1000

    def test_negative_amounts_are_rejected(self, store: BudgetStore) -> None:
        with pytest.raises(ValueError):
            store.reserve(req(-1))

    def test_concurrent_threads_never_overspend(self, store: BudgetStore) -> None:
        cost, k = 7, 50
        limit = cost * k
        wins: list[Reservation] = []
        peak: list[int] = []
        lock = threading.Lock()

        def worker() -> None:
            for _ in range(10):
                result = store.reserve(req(cost, period_limit=limit, total_limit=limit))
                if isinstance(result, Reservation):
                    with lock:
                        wins.append(result)
                    use = store.usage("acme", "P1", NOW)
                    peak.append(use.period_spent + use.period_reserved)
                    store.settle(result, cost, NOW)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == k
        assert max(peak) <= limit
        assert store.usage("acme", "P1", NOW).total_spent == limit

    async def test_async_twins(self, store: BudgetStore) -> None:
        await store.aconfigure(CustomerBudget("acme", total_budget=10, anchor=1.0))
        assert (await store.acustomer("acme")) is not None
        results = await asyncio.gather(
            *(store.areserve(req(1, total_limit=10)) for _ in range(1000))
        )
        wins = [r for r in results if isinstance(r, Reservation)]
        assert len(wins) == 10
        outcomes = await asyncio.gather(*(store.asettle(r, 1, NOW) for r in wins))
        assert set(outcomes) == {"settled"}
        assert await store.arelease(wins[0], NOW) == "duplicate"
        use = await store.ausage("acme", "P1", NOW)
        assert (use.total_spent, use.total_reserved) == (10, 0)
        await store.areset("acme", None, total=True)
        assert (await store.ausage("acme", None, NOW)).total_spent == 0

    def test_rate_limit_counts_a_sliding_minute(self, store: BudgetStore) -> None:
        decisions = [store.hit("rl-cust", 3) for _ in range(5)]
        assert [d.allowed for d in decisions] == [True, True, True, False, False]
        refused = decisions[3]
        assert refused.retry_after is not None and 0 < refused.retry_after <= 60
        assert refused.limit == 3 and refused.remaining == 0
        assert store.hit("other-cust", 3).allowed  # per customer

    async def test_async_rate_limit(self, store: BudgetStore) -> None:
        decisions = [await store.ahit("rl-async", 2) for _ in range(3)]
        assert [d.allowed for d in decisions] == [True, True, False]
