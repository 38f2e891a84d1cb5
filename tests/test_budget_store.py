from __future__ import annotations

import pytest

from respan_router.budgets import InMemoryBudgetStore
from tests.budget_store_contract import StoreContract


class TestInMemoryBudgetStore(StoreContract):
    @pytest.fixture
    def store(self) -> InMemoryBudgetStore:
        return InMemoryBudgetStore()


def test_two_stores_share_nothing() -> None:
    a, b = InMemoryBudgetStore(), InMemoryBudgetStore()
    assert a.hit("c", 1).allowed and b.hit("c", 1).allowed
    assert not a.hit("c", 1).allowed
