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


def test_closed_reservations_leave_nothing_behind() -> None:
    """A settled or released reservation costs the store no memory, and its id still
    answers "duplicate" (the store numbers its ids); another store's id is "unknown"."""
    store, other = InMemoryBudgetStore(), InMemoryBudgetStore()
    closed = []
    for i in range(1000):
        held = _reserve(store, "P1", 1)
        closed.append(held)
        if i % 2:
            assert store.settle(held, 1, NOW) == "settled"
        else:
            assert store.release(held, NOW) == "released"
    assert not store._expired and not store._forget
    assert store.usage("acme", "P1", NOW).open_reservations == 0
    for held in (closed[0], closed[1], closed[-1]):
        assert store.settle(held, 1, NOW) == "duplicate"
        assert store.release(held, NOW) == "duplicate"
    foreign = _reserve(other, "P1", 1)
    assert store.settle(foreign, 1, NOW) == "unknown"
    assert store.release(foreign, NOW) == "unknown"
    for ghost in ("", store._prefix, store._prefix + "0", store._prefix + "1001", "x-1"):
        assert store.settle(Reservation(ghost, "acme", "P1", 1, NOW + 600), 1, NOW) == "unknown"
    assert store.usage("acme", "P1", NOW).total_spent == 500


def test_an_expired_reservation_settles_late_once_within_a_day() -> None:
    store = InMemoryBudgetStore()
    late = _reserve(store, "P1", 100, expires_at=NOW + 60)
    gone = _reserve(store, "P1", 100, expires_at=NOW + 60)
    assert store.usage("acme", "P1", NOW + 60).period_reserved == 0
    assert store.release(late, NOW + 61) == "duplicate"  # a release after expiry: nothing
    assert store.settle(late, 7, NOW + 61) == "late"  # still charged: the money was spent
    assert store.settle(late, 7, NOW + 62) == "duplicate"
    assert store.usage("acme", "P1", NOW + 62).period_spent == 7
    day = NOW + 60 + 24 * 3600
    assert store.settle(gone, 9, day - 1) == "late"  # remembered for a day after expiry
    third = _reserve(store, "P1", 100, now=day - 1, expires_at=day)
    store.usage("acme", "P1", day)  # expires it: remembered for a day from now
    assert not store._expired.keys() - {third.id}  # the day-old one is forgotten
    later = day + 24 * 3600
    assert store.settle(third, 5, later) == "duplicate"  # forgotten: nothing charged
    assert store.usage("acme", "P1", later).total_spent == 16
    assert not store._expired and not store._forget


def test_an_expiry_bound_left_by_a_closed_reservation_expires_the_rest_on_time() -> None:
    store = InMemoryBudgetStore()
    soon = _reserve(store, "P1", 10, expires_at=NOW + 30)
    _reserve(store, "P1", 100, expires_at=NOW + 60)
    _reserve(store, "P1", 1000, expires_at=NOW + 90)
    assert store.settle(soon, 10, NOW + 1) == "settled"
    assert store.usage("acme", "P1", NOW + 30).period_reserved == 1100
    assert store.usage("acme", "P1", NOW + 59.999).period_reserved == 1100
    assert store.usage("acme", "P1", NOW + 60).period_reserved == 1000
    assert store.usage("acme", "P1", NOW + 90).period_reserved == 0
    assert store.usage("acme", "P1", NOW + 90).open_reservations == 0
