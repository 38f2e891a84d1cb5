"""Cancellation at every await of a budgeted, cached call (completions and streams, the
in-memory stages and Redis): nothing is left held: no budget hold, no cache lease, no
single flight in flight, no breaker probe."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router import Router
from respan_router.resilience import SharedHealthRegistry
from respan_router.testing import FakeProvider, Reply
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, wipe

PRICES = {"m": (1e-6, 4e-6)}
MSG = [{"role": "user", "content": "one two three four five"}]


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    if redis_available():
        wipe(p)


def _router(store: str, prefix: str) -> Router:
    shared: dict[str, Any] = {}
    if store == "redis":
        if not redis_available():
            pytest.skip("needs Redis on 127.0.0.1:6379")
        shared = {"redis": REDIS_URL, "redis_prefix": prefix, "redis_timeout": 1.0}
    fake = FakeProvider(
        Reply("a b c d", usage=(5, 4), latency=0.002, chunk_latency=0.001), prices=PRICES
    )
    return Router(
        provider=fake,
        cache_enabled=True,
        customers={"acme": {"total_budget": 1, "rate_limit": 100_000}},
        **shared,
    )


def _leases(prefix: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return [k for k in client.scan_iter(match=prefix + "*") if b"lease" in k]
    finally:
        client.close()


async def _one(router: Router, stream: bool, n: int) -> None:
    params: dict[str, Any] = {
        "model": "m",
        "messages": [{"role": "user", "content": f"call {n}"}],  # a miss each time
        "max_tokens": 10,
        "customer_identifier": "acme",
    }
    if not stream:
        await router.acomplete(**params)
        return
    chunks = await router.acomplete(stream=True, **params)
    async for _ in chunks:
        pass


def _left(router: Router, prefix: str, store: str) -> dict[str, Any]:
    usage = router.budgets.usage("acme")
    left: dict[str, Any] = {
        "held": (usage.total_reserved, usage.open_reservations),
        "flights": sum(len(f) for f in router._cache._aflight._loops.values()),
        "probes": [k for k, s in router.health.snapshot().items() if s.probe_in_flight],
    }
    if store == "redis":
        left["leases"] = _leases(prefix)
    return left


@pytest.mark.parametrize("stream", [False, True], ids=["completion", "stream"])
@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_call_cancelled_at_any_await_leaves_nothing_held(
    prefix: str, store: str, stream: bool
) -> None:
    router = _router(store, prefix)
    clean = {"held": (0, 0), "flights": 0, "probes": []}
    if store == "redis":
        clean["leases"] = []

    async def sweep() -> int:
        cancelled = 0
        for n in range(400):
            task = asyncio.ensure_future(_one(router, stream, n))
            # cancel after n loop turns (and, further on, after n/10 ms of real time:
            # Redis round trips and the provider's latency take real time)
            for _ in range(n % 40):
                await asyncio.sleep(0)
            if n >= 40:
                await asyncio.sleep((n - 40) / 40_000)
            if task.done():
                await task
                if n >= 40:
                    break
                continue
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                cancelled += 1
            # The shielded cleanups run on: each takes a Redis round trip, longer on a
            # loaded machine. Nothing may be left once they have finished.
            for _ in range(300):
                if _left(router, prefix, store) == clean:
                    break
                await asyncio.sleep(0.01)
            assert _left(router, prefix, store) == clean, f"cancelled after {n} turns"
        return cancelled

    try:
        cancelled = asyncio.run(sweep())
        assert cancelled > 10  # the sweep did cancel calls at many points
        assert _left(router, prefix, store) == clean
    finally:
        if isinstance(router.health, SharedHealthRegistry):
            router.health.close()
        time.sleep(0)
