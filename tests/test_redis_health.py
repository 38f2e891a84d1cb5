"""Deployment health shared through Redis: failures, opens, closes and one probe."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from respan_router.errors import ProviderError
from respan_router.redis import RedisHealthStore, SharedRedis
from respan_router.resilience import BreakerConfig, BreakerState, SharedHealthRegistry
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, redis_server, wipe

pytestmark = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")

CONFIG = BreakerConfig(consecutive_failures=3, cooldown=0.3, probe_timeout=5)


class Boom(ProviderError):
    default_status = 503


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    wipe(p)


def _registry(prefix: str, url: str = REDIS_URL, **kwargs: Any) -> SharedHealthRegistry:
    shared = SharedRedis(url, prefix=prefix, timeout=0.5, **kwargs)
    registry = SharedHealthRegistry(RedisHealthStore(shared), CONFIG)
    assert registry.store.connected.wait(5)
    return registry


def _eventually(check: Callable[[], bool], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_a_breaker_opened_in_one_registry_opens_in_the_other(prefix: str) -> None:
    a, b = _registry(prefix), _registry(prefix)
    try:
        for _ in range(3):
            a.record_failure("dep", Boom("down"))
        assert a.breaker("dep").state is BreakerState.OPEN
        assert _eventually(lambda: not b.available("dep"))
    finally:
        a.close()
        b.close()


def test_failures_seen_by_several_processes_add_up(prefix: str) -> None:
    a, b = _registry(prefix), _registry(prefix)
    try:
        a.record_failure("dep", Boom("x"))
        b.record_failure("dep", Boom("x"))
        assert _eventually(lambda: a.breaker("dep").snapshot().consecutive_failures == 2)
        a.record_failure("dep", Boom("x"))  # the third, counting b's
        assert a.breaker("dep").state is BreakerState.OPEN
        assert _eventually(lambda: not b.available("dep"))
    finally:
        a.close()
        b.close()


def test_one_probe_across_processes_and_its_success_closes_everyone(prefix: str) -> None:
    a, b = _registry(prefix), _registry(prefix)
    try:
        for _ in range(3):
            a.record_failure("dep", Boom("x"))
        assert _eventually(lambda: not b.available("dep"))
        time.sleep(0.35)  # the cooldown ends: half-open everywhere
        assert a.breaker("dep").state is BreakerState.HALF_OPEN
        assert a.allow("dep") is True  # a's probe
        assert b.allow("dep") is False  # b waits for it
        assert not b.available("dep")
        a.record_success("dep")
        assert _eventually(lambda: b.available("dep"))
        assert b.breaker("dep").state is BreakerState.CLOSED
    finally:
        a.close()
        b.close()


def test_a_process_that_joins_later_sees_the_open_breakers(prefix: str) -> None:
    a = _registry(prefix)
    try:
        for _ in range(3):
            a.record_failure("dep", Boom("x"))
        time.sleep(0.05)
        late = _registry(prefix)
        try:
            assert not late.available("dep")
        finally:
            late.close()
    finally:
        a.close()


def test_without_redis_each_process_keeps_its_own_view_and_reconnects() -> None:
    with redis_server() as server:
        a = _registry("h:", server.url, retry_interval=0.05)
        b = _registry("h:", server.url, retry_interval=0.05)
        try:
            server.kill()
            assert _eventually(lambda: not a.store.connected.is_set())
            for _ in range(3):
                a.record_failure("dep", Boom("x"))
            assert a.breaker("dep").state is BreakerState.OPEN  # its own view
            assert b.available("dep")
            server.start()
            assert _eventually(lambda: a.store.connected.is_set() and b.store.connected.is_set())
            for _ in range(3):
                a.record_failure("dep2", Boom("x"))
            assert _eventually(lambda: not b.available("dep2"))
        finally:
            a.close()
            b.close()


# -- processes ----------------------------------------------------------------------------


def _router(prefix: str, fake: Any) -> Any:
    from respan_router import Router

    router = Router(
        provider=fake,
        deployments={"a": {"model": "fake/a"}, "b": {"model": "fake/b"}},
        circuit_breaker={"consecutive_failures": 3, "cooldown": 30},
        redis=REDIS_URL,
        redis_prefix=prefix,
        redis_timeout=0.5,
    )
    assert router.health.store.connected.wait(10)
    return router


def _key(router: Any, name: str) -> str:
    attempts = router.plan(model=name, messages=[{"role": "user", "content": "x"}])
    return str(attempts[0].health_key)


def _steered(prefix: str, ready: Any, opened: Any, results: Any) -> None:
    from respan_router.testing import FakeProvider, Reply

    fake = FakeProvider(default=Reply("fine"))
    router = _router(prefix, fake)
    ready.set()
    opened.wait(30)
    assert _eventually(lambda: not router.health.available(_key(router, "a")))
    router.complete(models=["a", "b"], messages=[{"role": "user", "content": "hi"}])
    results.put([c.model for c in fake.calls])
    router.health.close()


def test_a_breaker_opened_in_one_process_steers_the_next_call_of_another(prefix: str) -> None:
    from respan_router.errors import AllAttemptsFailedError, ProviderError
    from respan_router.testing import Failure, FakeProvider

    ctx = multiprocessing.get_context("spawn")
    ready, opened, results = ctx.Event(), ctx.Event(), ctx.Queue()
    other = ctx.Process(target=_steered, args=(prefix, ready, opened, results))
    other.start()
    assert ready.wait(60)
    router = _router(prefix, FakeProvider(default=Failure(503)))
    try:
        for _ in range(3):
            with pytest.raises((ProviderError, AllAttemptsFailedError)):
                router.complete(model="a", messages=[{"role": "user", "content": "hi"}])
        assert not router.health.available(_key(router, "a"))
        opened.set()
        models = results.get(timeout=60)
        other.join(30)
    finally:
        router.health.close()
    assert models == ["b"]


def test_a_dropped_router_stops_its_health_threads(prefix: str) -> None:
    import gc
    import threading

    from respan_router import Router
    from respan_router.testing import FakeProvider

    before = {t for t in threading.enumerate() if t.name.startswith("respan-health")}
    router = Router(provider=FakeProvider(), redis=REDIS_URL, redis_prefix=prefix)
    store = router.health.store  # type: ignore[union-attr]
    assert store.connected.wait(5)
    del router
    gc.collect()
    threads = [t for t in store._threads if t not in before]
    for thread in threads:
        thread.join(5)
    assert not any(t.is_alive() for t in threads)
