"""Shared state on a Redis Cluster of three nodes started by the test: every script's
keys share one hash tag, Cluster clients are given as a (sync, asyncio) pair."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router import Router
from respan_router.errors import AllAttemptsFailedError, BudgetExceededError, ProviderError
from respan_router.testing import Failure, FakeProvider, Reply
from tests.redis_helpers import RedisCluster

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-cli") is None,
    reason="needs redis-server and redis-cli",
)

PRICES = {"m": (1e-6, 4e-6)}
FIVE_WORDS = [{"role": "user", "content": "one two three four five"}]  # 45 micro-dollars


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    nodes = RedisCluster()
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.close()


def _router(cluster: RedisCluster, fake: FakeProvider) -> Router:
    import redis
    import redis.asyncio as aredis

    clients = (
        redis.RedisCluster(host="127.0.0.1", port=cluster.port),
        aredis.RedisCluster(host="127.0.0.1", port=cluster.port),
    )
    return Router(
        provider=fake,
        redis=clients,
        redis_prefix="cluster:",
        redis_timeout=2.0,
        cache_enabled=True,
        customers={"acme": {"total_budget": 3 * 45 / 1e6, "rate_limit": 100}},
        deployments={"d1": {"model": "fake/d1"}, "d2": {"model": "fake/d2"}},
        circuit_breaker={"consecutive_failures": 2, "cooldown": 30},
    )


def _fake(answer: str) -> FakeProvider:
    return FakeProvider(Reply(answer, usage=(5, 10)), prices=PRICES)


def test_cache_budgets_rate_limits_and_health_on_a_cluster(cluster: RedisCluster) -> None:
    fake_a, fake_b = _fake("from a"), _fake("from b")
    a, b = _router(cluster, fake_a), _router(cluster, fake_b)
    try:
        ask: dict[str, Any] = {"model": "m", "max_tokens": 10, "customer_identifier": "acme"}
        a.complete(messages=FIVE_WORDS, **ask)
        hit = b.complete(messages=FIVE_WORDS, **ask)
        assert hit.choices[0].message.content == "from a" and fake_b.calls == []
        outcomes = []
        for i in range(4):  # 2 more fit the budget of 3 calls
            try:
                b.complete(messages=[{"role": "user", "content": f"one two three four {i}"}], **ask)
                outcomes.append(True)
            except BudgetExceededError:
                outcomes.append(False)
        assert outcomes == [True, True, False, False]
        assert b.budgets.usage("acme").total_spent * 10**6 == 3 * 45

        async def both() -> tuple[Any, Any]:
            question = [{"role": "user", "content": "asked asynchronously"}]
            return await a.acomplete(model="m", messages=question), await b.acomplete(
                model="m", messages=question
            )

        first, second = asyncio.run(both())
        assert second.choices[0].message.content == first.choices[0].message.content

        assert a.health is not None and b.health is not None
        assert a.health.store.connected.wait(10) and b.health.store.connected.wait(10)  # type: ignore[attr-defined]
        fake_a.set_default("d1", Failure(503))
        for _ in range(2):
            with pytest.raises((ProviderError, AllAttemptsFailedError)):
                a.complete(model="d1", messages=FIVE_WORDS, cache_enabled=False)
        key = a.plan(model="d1", messages=FIVE_WORDS)[0].health_key
        deadline = time.monotonic() + 5
        while b.health.available(key) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not b.health.available(key)
        assert a._redis is not None and a._redis.outage.errors == 0
    finally:
        for router in (a, b):
            router.health.close()  # type: ignore[union-attr]
