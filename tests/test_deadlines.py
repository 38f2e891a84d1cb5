"""Deadlines hold for the whole try: a body that trickles in never outlasts `timeout` /
`total_timeout` on the sync lean path (as on the async one)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from respan_router import Router
from respan_router.errors import ProviderTimeoutError, RouterError
from respan_router.resilience import SharedHealthRegistry
from respan_router.testing import FakeProvider
from respan_router.testing import Reply as FakeReply
from tests.helpers import MSG
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, wipe
from tests.upstream import Body, FakeUpstream, Reply, maximal_completion

MODEL = "openai/test-model"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_trickling_body_ends_at_the_attempts_timeout(
    upstream: FakeUpstream, use_async: bool
) -> None:
    router = Router(
        providers={"openai": {"api_key": "sk-deadline", "api_base": upstream.base_url}},
        sleep=lambda s: None,
    )
    params = {"model": MODEL, "messages": MSG, "timeout": 0.5, "total_timeout": 1.0}
    upstream.set_default(Reply("warm"))  # the first call loads the provider's modules
    router.complete(**params)
    body = json.dumps(maximal_completion()).encode().ljust(620)  # 31 pieces: 6.2 s
    upstream.set_default(Body(body, trickle=0.2))
    started = time.monotonic()
    with pytest.raises(RouterError) as info:
        if use_async:
            asyncio.run(router.acomplete(**params))
        else:
            router.complete(**params)
    took = time.monotonic() - started
    assert took < 2.5  # bounded by total_timeout (1 s), not by the body (6.2 s)
    failure = info.value
    causes = [failure, *(a.error for a in getattr(failure, "attempts", []))]
    assert any(isinstance(c, ProviderTimeoutError) for c in causes)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_first_token_timeout_bounds_only_the_first_chunk_over_http(
    upstream: FakeUpstream, use_async: bool
) -> None:
    router = Router(
        providers={"openai": {"api_key": "sk-deadline", "api_base": upstream.base_url}},
        sleep=lambda s: None,
    )
    params = {"model": MODEL, "messages": MSG, "stream": True, "first_token_timeout": 0.2}
    upstream.set_default(Reply("a b c", chunk_delay=0.3))  # later chunks: slower than 0.2 s

    async def read_async() -> str:
        stream = await router.acomplete(**params)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    def read_sync() -> str:
        stream = router.complete(**params)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert (asyncio.run(read_async()) if use_async else read_sync()).split() == ["a", "b", "c"]
    upstream.set_default(Reply("late", first_chunk_delay=0.6))  # the first chunk: too late
    with pytest.raises(RouterError):
        asyncio.run(read_async()) if use_async else read_sync()


def _slow_router(**settings: Any) -> tuple[Router, FakeProvider]:
    fake = FakeProvider(FakeReply("slow answer", latency=2.0))
    return Router(provider=fake, cache_enabled=True, **settings), fake


ASK = {"model": "m", "messages": [{"role": "user", "content": "the same question"}]}


def test_a_sync_follower_keeps_its_own_total_timeout() -> None:
    router, fake = _slow_router()
    leader = threading.Thread(target=lambda: router.complete(**ASK))
    leader.start()
    while not fake.calls:
        time.sleep(0.005)
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        router.complete(**ASK, total_timeout=0.3)
    assert time.monotonic() - started < 1.5  # not the leader's 2 s
    leader.join()
    assert len(fake.calls) == 1  # the follower made no call of its own


def test_an_async_follower_keeps_its_own_timeout() -> None:
    router, fake = _slow_router()

    async def main() -> float:
        leader = asyncio.ensure_future(router.acomplete(**ASK))
        while not fake.calls:
            await asyncio.sleep(0.005)
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError):
            await router.acomplete(**ASK, timeout=0.3)
        took = time.monotonic() - started
        await leader
        return took

    assert asyncio.run(main()) < 1.5
    assert len(fake.calls) == 1


@pytest.mark.skipif(not redis_available(), reason="needs Redis on 127.0.0.1:6379")
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_follower_of_another_process_keeps_its_own_total_timeout(use_async: bool) -> None:
    prefix = new_prefix()
    shared = {"redis": REDIS_URL, "redis_prefix": prefix}
    first, fake = _slow_router(**shared)
    second, other = _slow_router(**shared)  # another process's view: its own lease token
    try:
        leader = threading.Thread(target=lambda: first.complete(**ASK))
        leader.start()
        while not fake.calls:
            time.sleep(0.005)
        time.sleep(0.05)  # the lease is taken
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError):
            if use_async:
                asyncio.run(second.acomplete(**ASK, total_timeout=0.3))
            else:
                second.complete(**ASK, total_timeout=0.3)
        assert time.monotonic() - started < 1.5
        leader.join()
        assert other.calls == []  # it waited on the lease, then gave up
    finally:
        for router in (first, second):
            if isinstance(router.health, SharedHealthRegistry):
                router.health.close()
        wipe(prefix)
