"""The async path of a customer's budget: the in-memory store's steps are called directly
(it does no I/O), any other store's async twins are awaited; either way a failed try
hands its hold back and a finished one is charged once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from respan_router import Router
from respan_router.budgets import InMemoryBudgetStore, Reservation, ReserveRequest
from respan_router.errors import AllAttemptsFailedError, BudgetExceededError
from respan_router.testing import Failure, FakeProvider, Reply

PRICES = {"m": (1e-6, 4e-6), "small": (1e-7, 4e-7)}
MSG = [{"role": "user", "content": "one two three four five"}]  # 5 tokens (FakeProvider)
CALL: dict[str, Any] = {"model": "m", "messages": MSG, "max_tokens": 10}  # worst case 45


class CountingStore(InMemoryBudgetStore):
    """A store of its own: its async twins must be the ones awaited."""

    def __init__(self) -> None:
        super().__init__()
        self.awaited: list[str] = []

    async def areserve(self, request: ReserveRequest) -> Any:
        self.awaited.append("reserve")
        return self.reserve(request)

    async def asettle(self, reservation: Reservation, actual: int, now: float) -> Any:
        self.awaited.append("settle")
        return self.settle(reservation, actual, now)

    async def arelease(self, reservation: Reservation, now: float) -> Any:
        self.awaited.append("release")
        return self.release(reservation, now)


@pytest.mark.parametrize("store", [InMemoryBudgetStore, CountingStore])
async def test_a_failed_try_is_released_and_the_retry_charged_once(store: type) -> None:
    fake = FakeProvider(prices=PRICES).script("m", Failure(503), Reply("ok", usage=(5, 2)))
    ledger = store()
    router = Router(
        provider=fake,
        customers={"acme": {"total_budget": 1}},
        budget_store=ledger,
        sleep=lambda s: None,
    )
    await router.acomplete(**CALL, retry_params={"num_retries": 2}, customer_identifier="acme")
    usage = router.budgets.usage("acme")
    assert usage.total_spent == Decimal("0.000013")  # only the answered try: 5 + 8
    assert (usage.total_reserved, usage.open_reservations) == (0, 0)
    if isinstance(ledger, CountingStore):
        assert ledger.awaited == ["reserve", "release", "reserve", "settle"]


@pytest.mark.parametrize("store", [InMemoryBudgetStore, CountingStore])
async def test_every_failed_try_hands_its_hold_back(store: type) -> None:
    router = Router(
        provider=FakeProvider(Failure(500), prices=PRICES),
        customers={"acme": {"total_budget": 1}},
        budget_store=store(),
    )
    with pytest.raises(AllAttemptsFailedError):
        await router.acomplete(**CALL, fallback_models=["small"], customer_identifier="acme")
    usage = router.budgets.usage("acme")
    assert (usage.total_spent, usage.total_reserved, usage.open_reservations) == (0, 0, 0)


async def test_a_refused_async_call_holds_nothing_and_reaches_no_provider() -> None:
    fake = FakeProvider(Reply("ok", usage=(5, 2)), prices=PRICES)
    router = Router(provider=fake, customers={"acme": {"total_budget": 0.00004}})
    with pytest.raises(BudgetExceededError):
        await router.acomplete(**CALL, customer_identifier="acme")
    usage = router.budgets.usage("acme")
    assert (usage.total_reserved, usage.open_reservations) == (0, 0) and fake.calls == []
