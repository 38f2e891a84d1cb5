from __future__ import annotations

import pytest

from respan_router.budgets import InMemoryBudgetStore, Reservation, ReserveRequest
from tests.budget_store_contract import NOW, StoreContract


class TestInMemoryBudgetStore(StoreContract):
    @pytest.fixture
    def store(self) -> InMemoryBudgetStore:
        return InMemoryBudgetStore()


def test_two_stores_share_nothing() -> None:
    a, b = InMemoryBudgetStore(), InMemoryBudgetStore()
    assert a.hit("c", 1).allowed and b.hit("c", 1).allowed
    assert not a.hit("c", 1).allowed


def _reserve(store: InMemoryBudgetStore, key: str, amount: int, **times: float) -> Reservation:
    ask = ReserveRequest(
        customer_id="acme",
        amount=amount,
        period_key=key,
        period_limit=None,
        total_limit=None,
        now=times.get("now", NOW),
        expires_at=times.get("expires_at", NOW + 600),
        period_expires_at=times.get("period_expires_at"),
    )
    held = store.reserve(ask)
    assert isinstance(held, Reservation)
    return held


def test_holds_expire_exactly_at_their_time() -> None:
    store = InMemoryBudgetStore()
    _reserve(store, "P1", 100, expires_at=NOW + 60)
    _reserve(store, "P1", 10, expires_at=NOW + 30)
    assert store.usage("acme", "P1", NOW + 29.999).period_reserved == 110
    assert store.usage("acme", "P1", NOW + 30).period_reserved == 100
    assert store.usage("acme", "P1", NOW + 59.999).period_reserved == 100
    assert store.usage("acme", "P1", NOW + 60).period_reserved == 0


def test_period_counters_are_dropped_exactly_when_they_expire() -> None:
    """Each period's counters go at their own expiry, whatever order they were written in
    (a later period first, an earlier expiry written after a later one)."""
    store = InMemoryBudgetStore()
    for key, amount, gone in (("P3", 3, 300.0), ("P1", 1, 100.0), ("P2", 2, 200.0)):
        settled = _reserve(store, key, amount, period_expires_at=NOW + gone)
        assert store.settle(settled, amount, NOW) == "settled"
    spent = lambda key, at: store.usage("acme", key, NOW + at).period_spent  # noqa: E731
    assert (spent("P1", 99.9), spent("P2", 99.9), spent("P3", 99.9)) == (1, 2, 3)
    assert (spent("P1", 100), spent("P2", 100), spent("P3", 100)) == (0, 2, 3)
    assert (spent("P2", 199.9), spent("P3", 199.9)) == (2, 3)
    assert (spent("P2", 200), spent("P3", 200)) == (0, 3)
    assert spent("P3", 300) == 0
    assert store.usage("acme", None, NOW + 300).total_spent == 6  # the total never expires
    # a period written again after its counters went counts afresh, and expires again
    again = _reserve(store, "P1", 5, now=NOW + 400, period_expires_at=NOW + 500)
    store.settle(again, 5, NOW + 400)
    assert spent("P1", 499) == 5 and spent("P1", 500) == 0
