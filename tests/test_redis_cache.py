"""The Redis cache backend and the single flight across processes, on the real Redis."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router import Router
from respan_router.cache import Lease
from respan_router.errors import ProviderBadRequestError
from respan_router.redis import RedisCacheBackend, SharedRedis
from respan_router.testing import Failure, FakeProvider, Reply
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, wipe

pytestmark = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")

MESSAGES = [{"role": "user", "content": "shared?"}]


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    wipe(p)


def _backend(prefix: str, **kwargs: Any) -> RedisCacheBackend:
    return RedisCacheBackend(SharedRedis(REDIS_URL, prefix=prefix, timeout=1.0), **kwargs)


def _router(prefix: str, fake: FakeProvider, **kwargs: Any) -> Router:
    return Router(provider=fake, cache_enabled=True, cache_backend=_backend(prefix, **kwargs))


def test_backend_stores_bytes_with_a_ttl_per_entry(prefix: str) -> None:
    backend = _backend(prefix)
    backend.set("a", b"\x00bytes", 30)
    backend.set("b", b"short", 0.05)
    assert backend.get("a") == b"\x00bytes"
    assert backend.stats() == {"entries": 2, "bytes": 11}
    time.sleep(0.1)
    assert backend.get("b") is None
    backend.set("a", b"gone", 0)  # a declined value removes the older one
    assert backend.get("a") is None
    backend.set("c", b"x", 30)
    backend.clear()
    assert backend.stats() == {"entries": 0, "bytes": 0}


def test_every_key_is_under_the_prefix_with_a_hash_tag(prefix: str) -> None:
    import redis

    backend = _backend(prefix)
    backend.set("k1:completion", b"v", 30)
    assert backend.get_or_lease("k2:completion") is Lease.LEADER
    keys = sorted(k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(prefix + "*"))
    assert keys == [
        f"{prefix}cache:{{k1:completion}}",
        f"{prefix}cache:{{k2:completion}}:lease",
    ]


def test_a_lease_is_taken_once_released_by_the_fill_and_followed_by_the_value(
    prefix: str,
) -> None:
    first, second = _backend(prefix), _backend(prefix)
    assert first.get_or_lease("k") is Lease.LEADER
    assert second.get_or_lease("k") is Lease.WAIT
    assert first.get_or_lease("k") is Lease.WAIT  # not re-entrant
    first.fill("k", b"answer", 30)
    assert second.get_or_lease("k") == b"answer"


def test_a_failed_leader_releases_its_lease_without_storing(prefix: str) -> None:
    first, second = _backend(prefix), _backend(prefix)
    assert first.get_or_lease("k") is Lease.LEADER
    first.fill("k", None, 30)
    assert first.get("k") is None
    assert second.get_or_lease("k") is Lease.LEADER


def test_a_dead_leaders_lease_expires(prefix: str) -> None:
    first, second = _backend(prefix, lease_ttl=0.05), _backend(prefix, lease_ttl=0.05)
    assert first.get_or_lease("k") is Lease.LEADER
    time.sleep(0.1)
    assert second.get_or_lease("k") is Lease.LEADER


def test_a_fill_never_releases_another_leaders_lease(prefix: str) -> None:
    first, second = _backend(prefix, lease_ttl=0.05), _backend(prefix)
    assert first.get_or_lease("k") is Lease.LEADER
    time.sleep(0.1)  # first's lease expired; second leads now
    assert second.get_or_lease("k") is Lease.LEADER
    first.fill("k", None, 30)
    assert _backend(prefix).get_or_lease("k") is Lease.WAIT


def test_a_router_fills_and_another_router_hits(prefix: str) -> None:
    fake_a, fake_b = FakeProvider(default=Reply("from a")), FakeProvider(default=Reply("b"))
    a, b = _router(prefix, fake_a), _router(prefix, fake_b)
    first = a.complete(model="m", messages=MESSAGES)
    second = b.complete(model="m", messages=MESSAGES)
    assert second.choices[0].message.content == "from a"
    assert (len(fake_a.calls), len(fake_b.calls)) == (1, 0)
    assert first.choices[0].message.content == "from a"
    assert b.cache.stats.hits == 1 and a.cache.stats.misses == 1


async def test_the_async_api_fills_and_hits_across_routers(prefix: str) -> None:
    fake_a, fake_b = FakeProvider(default=Reply("async a")), FakeProvider(default=Reply("b"))
    a, b = _router(prefix, fake_a), _router(prefix, fake_b)
    await a.acomplete(model="m", messages=MESSAGES)
    second = await b.acomplete(model="m", messages=MESSAGES)
    assert second.choices[0].message.content == "async a"
    assert len(fake_b.calls) == 0


def test_errors_are_not_cached_and_the_next_caller_leads(prefix: str) -> None:
    fake = FakeProvider(default=Reply("fine"))
    fake.script("m", Failure(400))
    router = _router(prefix, fake)
    with pytest.raises(ProviderBadRequestError):
        router.complete(model="m", messages=MESSAGES)
    assert router.complete(model="m", messages=MESSAGES).choices[0].message.content == "fine"


def test_a_follower_waits_for_the_leader_of_another_router(prefix: str) -> None:
    slow = FakeProvider(default=Reply("slow answer", latency=0.3))
    other = FakeProvider(default=Reply("other"))
    a, b = _router(prefix, slow), _router(prefix, other)
    leader = threading.Thread(target=lambda: a.complete(model="m", messages=MESSAGES))
    leader.start()
    time.sleep(0.1)
    got = b.complete(model="m", messages=MESSAGES)
    leader.join()
    assert got.choices[0].message.content == "slow answer"
    assert len(other.calls) == 0


def test_a_follower_stops_waiting_after_the_lease_and_calls_itself(prefix: str) -> None:
    stuck = _backend(prefix, lease_ttl=0.2)
    # A leader that took the lease and never fills it (as if it hung).
    key_probe = FakeProvider(default=Reply("mine"))
    router = _router(prefix, key_probe, lease_ttl=0.2, poll_interval=0.01)
    plan_key = router._cache.key(_request())
    assert plan_key is not None
    assert stuck.get_or_lease(plan_key + ":completion") is Lease.LEADER
    got = router.complete(model="m", messages=MESSAGES)
    assert got.choices[0].message.content == "mine"
    assert len(key_probe.calls) == 1


def _request() -> Any:
    from respan_router.request._request import build_request

    return build_request({"model": "m", "messages": MESSAGES})


# -- many processes -----------------------------------------------------------------


def _worker(prefix: str, start: Any, calls: int, results: Any, use_async: bool) -> None:
    fake = FakeProvider(default=Reply("once", latency=0.5))
    router = _router(prefix, fake)
    start.wait()
    if use_async:

        async def run() -> None:
            await asyncio.gather(
                *(router.acomplete(model="m", messages=MESSAGES) for _ in range(calls))
            )

        asyncio.run(run())
    else:
        threads = [
            threading.Thread(target=lambda: router.complete(model="m", messages=MESSAGES))
            for _ in range(calls)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    results.put(len(fake.calls))


@pytest.mark.parametrize("use_async", [False, True], ids=["threads", "asyncio"])
def test_four_processes_of_fifty_identical_misses_make_one_provider_call(
    prefix: str, use_async: bool
) -> None:
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(prefix, start, 50, results, use_async)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    time.sleep(0.5)
    start.set()
    counts = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(counts) == 1
