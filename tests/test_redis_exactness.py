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


def _fresh_router(url: str, fake: FakeProvider, **settings: Any) -> Router:
    return Router(
        provider=fake,
        redis=url,
        redis_retry_interval=0.05,
        circuit_breaker=False,
        **settings,
    )


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_customers_without_a_budget_leave_no_hold_and_never_block_the_ledger(
    use_async: bool,
) -> None:
    customers = {"free": {"rate_limit": 1000}, "paid": {"total_budget": 1}}
    fake = FakeProvider(Reply("ok", usage=(5, 2)), prices=PRICES)
    with redis_server() as server:  # a fresh server: no script loaded yet
        router = _fresh_router(server.url, fake, customers=customers)
        try:
            for _ in range(3):
                _call(router, use_async, **CALL, customer_identifier="free")
            for who in ("anonymous-but-named", "paid"):
                _call(router, use_async, **CALL, customer_identifier=who)
            assert router.budgets.usage("free").open_reservations == 0
            assert router.budgets.usage("paid").total_spent == Decimal("0.000013")
            assert router._budgets.store.pending == 0  # type: ignore[attr-defined]
            assert not router._redis.degraded  # type: ignore[union-attr]
        finally:
            _close(router)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_fail_closed_without_redis_refuses_only_budgeted_customers(use_async: bool) -> None:
    customers = {"free": {"rate_limit": 1000}, "paid": {"total_budget": 1}}
    fake = FakeProvider(Reply("ok", usage=(5, 2)), prices=PRICES)
    with redis_server() as server:
        router = _fresh_router(server.url, fake, customers=customers)
        try:
            server.kill()
            _call(router, use_async, **CALL, customer_identifier="free")
            with pytest.raises(BudgetUnavailableError):
                _call(router, use_async, **CALL, customer_identifier="paid")
            assert len(fake.calls) == 1
        finally:
            _close(router)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_the_first_call_after_a_redis_restart_is_served(use_async: bool) -> None:
    customers = {"paid": {"total_budget": 1}}
    fake = FakeProvider(Reply("ok", usage=(5, 2)), prices=PRICES)
    with redis_server() as server:
        router = _fresh_router(server.url, fake, customers=customers)

        def run(call: Any) -> None:
            call(**CALL, customer_identifier="paid")  # pools a connection
            server.kill()
            server.start()  # same port; nothing called Redis while it was away
            call(**CALL, customer_identifier="paid")  # must not be refused
            assert not router._redis.degraded  # type: ignore[union-attr]

        try:
            if use_async:

                async def main() -> None:
                    async def call(**params: Any) -> None:
                        await router.acomplete(**params)

                    await router.acomplete(**CALL, customer_identifier="paid")
                    server.kill()  # the loop is busy (blocked here) while Redis restarts:
                    server.start()  # its pooled connection has not seen the EOF yet
                    await call(**CALL, customer_identifier="paid")
                    assert not router._redis.degraded  # type: ignore[union-attr]

                asyncio.run(main())
            else:
                run(router.complete)
            assert len(fake.calls) == 2
        finally:
            _close(router)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_close_redis_rejects_is_not_an_outage_and_is_not_sent_forever(
    prefix: str, use_async: bool
) -> None:
    import redis as redis_py

    from respan_router.budgets import ReserveRequest
    from respan_router.redis import RedisBudgetStore, SharedRedis

    shared = SharedRedis(REDIS_URL, prefix=prefix, timeout=1.0)
    store = RedisBudgetStore(shared)
    now = time.time()
    ask = ReserveRequest("acme", 10, None, None, 1000, now, now + 60)
    held = store.reserve(ask)
    record = shared.key("budget", "acme", "res", held.id)  # type: ignore[union-attr]
    raw = redis_py.Redis.from_url(REDIS_URL)
    raw.delete(record)
    raw.set(record, "not a hash")  # the settle script now fails inside Redis (WRONGTYPE)
    raw.close()

    async def settle_async() -> str:
        return await store.asettle(held, 5, now)  # type: ignore[arg-type]

    found = asyncio.run(settle_async()) if use_async else store.settle(held, 5, now)  # type: ignore[arg-type]
    assert found == "unknown"
    assert not shared.degraded and store.pending == 0
    assert store.reserve(ask).amount == 10  # Redis still serves the ledger


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_router_built_after_a_breaker_opened_elsewhere_avoids_it_on_its_first_call(
    prefix: str, use_async: bool
) -> None:
    settings: dict[str, Any] = {
        "deployments": {"a": {"model": "fake/a"}, "b": {"model": "fake/b"}},
        "circuit_breaker": {"consecutive_failures": 3, "cooldown": 30},
        "redis": REDIS_URL,
        "redis_prefix": prefix,
        "redis_timeout": 0.5,
    }
    from respan_router.errors import AllAttemptsFailedError, ProviderError

    failing = Router(provider=FakeProvider(default=Failure(503)), **settings)
    try:
        for _ in range(3):
            with pytest.raises((ProviderError, AllAttemptsFailedError)):
                failing.complete(model="a", messages=MSG)
        key = failing.plan(model="a", messages=MSG)[0].health_key
        raw_key = failing._redis.key("health", "open")  # type: ignore[union-attr]
        import redis as redis_py

        raw = redis_py.Redis.from_url(REDIS_URL)
        deadline = time.monotonic() + 5
        while not raw.hexists(raw_key, key) and time.monotonic() < deadline:
            time.sleep(0.005)  # the open breaker reached Redis
        raw.close()
        fake = FakeProvider(default=Reply("fine"))
        late = Router(provider=fake, **settings)
        try:  # no wait for its listener: the open breakers were read by Router()
            _call(late, use_async, models=["a", "b"], messages=MSG)
            assert [c.model for c in fake.calls] == ["b"]
        finally:
            _close(late)
    finally:
        _close(failing)


def test_the_budget_errors_are_public_and_in_the_documented_tree() -> None:
    from pathlib import Path

    import respan_router
    from respan_router import errors

    assert respan_router.BudgetUnavailableError is errors.BudgetUnavailableError
    assert "BudgetUnavailableError" in respan_router.__all__
    tree = (Path(__file__).parent.parent / "docs" / "errors.md").read_text()
    for name in ("BudgetExceededError", "BudgetUnavailableError", "CustomerRateLimitError"):
        assert f"── {name} " in tree


def test_a_reserve_arriving_after_its_cancelled_calls_cleanup_holds_nothing(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from respan_router.budgets import ReserveRequest
    from respan_router.redis import RedisBudgetStore, SharedRedis, _budget_ledger

    store = RedisBudgetStore(SharedRedis(REDIS_URL, prefix=prefix, timeout=1.0))
    fixed, original = uuid.uuid4(), uuid.uuid4
    monkeypatch.setattr(_budget_ledger.uuid, "uuid4", lambda: fixed)
    now = time.time()
    # the cleanup of a cancelled call ran first: the reserve it raced must hold nothing
    assert store._close_now(*store._forgotten("acme", fixed.hex, now)) == "released"
    store.reserve(ReserveRequest("acme", 10, None, None, 1000, now, now + 60))
    usage = store.usage("acme", None, now)
    assert (usage.total_reserved, usage.open_reservations) == (0, 0)
    # and once the reserve ran, the cleanup releases its hold
    monkeypatch.setattr(_budget_ledger.uuid, "uuid4", original)
    held = store.reserve(ReserveRequest("acme", 10, None, None, 1000, now, now + 60))
    assert store.usage("acme", None, now).total_reserved == 10
    assert store._close_now(*store._forgotten("acme", held.id, now)) == "released"  # type: ignore[union-attr]
    assert store.usage("acme", None, now).total_reserved == 0
