"""Exactness of the shared budget ledger under failure: a failed try's hold is gone before
the call's next try reserves; customers without a budget never write a bad settle; the
outage policy refuses only budgeted customers; the asyncio client recovers after a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from respan_router import Router
from respan_router.errors import BudgetUnavailableError
from respan_router.resilience import SharedHealthRegistry
from respan_router.testing import Failure, FakeProvider, Reply
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, redis_server, wipe

pytestmark = pytest.mark.skipif(not redis_available(), reason="needs Redis on 127.0.0.1:6379")

PRICES = {"m": (1e-6, 4e-6), "small": (1e-7, 4e-7)}
MSG = [{"role": "user", "content": "one two three four five"}]  # 5 tokens (FakeProvider)
CALL = {"model": "m", "messages": MSG, "max_tokens": 10}  # worst case 5 + 40 = 45 micro


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    wipe(p)


def _close(router: Router) -> None:
    if isinstance(router.health, SharedHealthRegistry):
        router.health.close()


def _call(router: Router, use_async: bool, **params: Any) -> Any:
    if use_async:
        return asyncio.run(router.acomplete(**params))
    return router.complete(**params)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("shape", ["retry", "fallback"])
@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_failed_try_frees_its_hold_before_the_calls_next_try(
    prefix: str, use_async: bool, shape: str, store: str
) -> None:
    fake = FakeProvider(prices=PRICES).script("m", Failure(503), Reply("ok", usage=(5, 2)))
    fake.set_default("small", Reply("ok", usage=(5, 2)))
    shared = {"redis": REDIS_URL, "redis_prefix": prefix} if store == "redis" else {}
    router = Router(
        provider=fake,
        customers={"acme": {"total_budget": 0.00006}},  # room for one try (45 micro)
        sleep=lambda s: None,
        circuit_breaker=False,
        **shared,
    )
    extra: dict[str, Any] = (
        {"retry_params": {"num_retries": 2}} if shape == "retry" else {"fallback_models": ["small"]}
    )
    try:
        _call(router, use_async, **CALL, **extra, customer_identifier="acme")
        assert len(fake.calls) == 2
        usage = router.budgets.usage("acme")
        assert (usage.total_reserved, usage.open_reservations) == (0, 0)
        assert usage.total_spent > 0
    finally:
        _close(router)
