"""Half-open probes belong to the call that took them: another call ending without an
outcome (cancelled, refused) never frees the slot; a cancelled shared probe gives up its
claim in Redis at once; the async path awaits the claim."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router import Router
from respan_router.errors import ProviderError
from respan_router.resilience import (
    PROBE,
    REFUSED,
    BreakerConfig,
    HealthRegistry,
    SharedHealthRegistry,
)
from respan_router.testing import Failure, FakeProvider, Reply
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, wipe

MSG = [{"role": "user", "content": "hi"}]
ONE_TRY = {"retry_params": {"num_retries": 0}}


class Boom(ProviderError):
    default_status = 503


def test_only_the_probes_owner_frees_the_probe() -> None:
    now = [0.0]
    registry = HealthRegistry(BreakerConfig(consecutive_failures=1, cooldown=1), lambda: now[0])
    registry.record_failure("k", Boom("down"))
    now[0] = 2.0  # half-open
    probe, other = object(), object()
    assert registry.admit("k", probe) == PROBE
    # a call that is not the probe (a last resort) is cancelled: the probe stays taken
    registry.record_failure("k", asyncio.CancelledError(), other)
    assert not registry.release("k", other)
    assert registry.admit("k", object()) == REFUSED
    assert registry.snapshot()["k"].probe_in_flight
    registry.record_failure("k", asyncio.CancelledError(), probe)  # the probe's own end
    assert registry.admit("k", object()) == PROBE


def _half_open_router(**settings: Any) -> tuple[Router, FakeProvider]:
    fake = FakeProvider(default=Reply("ok", latency=0.3)).script("m", Failure(503))
    router = Router(
        provider=fake,
        circuit_breaker={"consecutive_failures": 1, "cooldown": 0.05},
        **settings,
    )
    with pytest.raises(ProviderError):
        router.complete(model="m", messages=MSG, **ONE_TRY)
    time.sleep(0.06)  # the cooldown is over: half-open
    return router, fake


def test_a_cancelled_last_resort_call_does_not_free_the_probe() -> None:
    router, fake = _half_open_router()
    (key,) = router.health.snapshot()

    async def main() -> None:
        probe = asyncio.ensure_future(router.acomplete(model="m", messages=MSG, **ONE_TRY))
        await asyncio.sleep(0.05)
        assert router.health.snapshot()[key].probe_in_flight
        other = asyncio.ensure_future(router.acomplete(model="m", messages=MSG, **ONE_TRY))
        await asyncio.sleep(0.05)  # sent as a last resort (the probe is out)
        other.cancel()
        with pytest.raises(asyncio.CancelledError):
            await other
        assert router.health.snapshot()[key].probe_in_flight  # still the first call's
        await probe

    asyncio.run(main())
    assert len(fake.calls) == 3


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    if redis_available():
        wipe(p)


def _claims(prefix: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return [k for k in client.scan_iter(match=prefix + "*") if k.endswith(b":probe")]
    finally:
        client.close()


@pytest.mark.skipif(not redis_available(), reason="needs Redis on 127.0.0.1:6379")
def test_a_cancelled_shared_probe_gives_up_its_claim_and_the_claim_is_awaited(
    prefix: str,
) -> None:
    router, fake = _half_open_router(redis=REDIS_URL, redis_prefix=prefix, redis_timeout=0.5)
    health = router.health
    assert isinstance(health, SharedHealthRegistry)
    store: Any = health.store
    sync_claims: list[str] = []
    claim = store.claim_probe

    def recorded(key: str, ttl: float) -> bool:
        sync_claims.append(key)
        return bool(claim(key, ttl))

    store.claim_probe = recorded
    try:

        async def main() -> None:
            probe = asyncio.ensure_future(router.acomplete(model="m", messages=MSG, **ONE_TRY))
            await asyncio.sleep(0.05)
            assert _claims(prefix)  # this process claimed the probe
            probe.cancel()
            with pytest.raises(asyncio.CancelledError):
                await probe

        asyncio.run(main())
        deadline = time.monotonic() + 2
        while _claims(prefix) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _claims(prefix) == []  # not left for probe_timeout
        assert sync_claims == []  # the async path awaited its claim
        router.complete(model="m", messages=MSG, **ONE_TRY)  # the next probe goes at once
        assert len(fake.calls) == 3
    finally:
        health.close()
