"""A Router given redis=...: settings, clients per event loop, and Redis going away."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aredis
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from respan_router.errors import InvalidRequestError
from respan_router.redis import RedisCacheBackend, SharedRedis, hash_tag
from respan_router.resilience import SharedHealthRegistry
from respan_router.testing import FakeProvider, Reply
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, redis_server, wipe

pytestmark = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")

MESSAGES = [{"role": "user", "content": "is redis there?"}]


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    wipe(p)


def _router(redis_source: Any, prefix: str, fake: FakeProvider, **kwargs: Any) -> Router:
    return Router(
        provider=fake, cache_enabled=True, redis=redis_source, redis_prefix=prefix, **kwargs
    )


def _close(*routers: Router) -> None:
    for router in routers:
        if isinstance(router.health, SharedHealthRegistry):
            router.health.close()


def test_one_setting_shares_the_cache_and_the_breakers(prefix: str) -> None:
    a = _router(REDIS_URL, prefix, FakeProvider(default=Reply("first")))
    b = _router(REDIS_URL, prefix, FakeProvider(default=Reply("second")))
    try:
        assert isinstance(a.cache.backend, RedisCacheBackend)
        assert isinstance(a.health, SharedHealthRegistry)
        a.complete(model="m", messages=MESSAGES)
        assert b.complete(model="m", messages=MESSAGES).choices[0].message.content == "first"
    finally:
        _close(a, b)


def test_the_configuration_file_takes_the_same_settings(tmp_path: Any, prefix: str) -> None:
    path = tmp_path / "router.json"
    settings = {
        "redis": REDIS_URL,
        "redis_prefix": prefix,
        "redis_timeout": 0.2,
        "redis_budget_policy": "fail_open",
        "cache_enabled": True,
    }
    path.write_text(json.dumps(settings))
    router = Router.from_config(path, provider=FakeProvider())
    try:
        assert router.config.redis_budget_policy == "fail_open"
        backend = router.cache.backend
        assert isinstance(backend, RedisCacheBackend) and backend.redis.timeout == 0.2
    finally:
        _close(router)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("redis_prefix", "bad{tag}"),
        ("redis_timeout", 0),
        ("redis_budget_policy", "sometimes"),
        ("redis", 42),
    ],
)
def test_bad_redis_settings_are_rejected(field: str, value: Any) -> None:
    settings: dict[str, Any] = {"redis": REDIS_URL, field: value}
    with pytest.raises(InvalidRequestError) as info:
        Router(provider=FakeProvider(), **settings)
    assert info.value.field == field


def test_hash_tags_keep_keys_of_one_customer_together() -> None:
    assert hash_tag("acme") == "{acme}"
    odd = hash_tag("we{ird}")
    assert odd.startswith("{#") and odd.count("{") == 1 and odd.count("}") == 1
    assert hash_tag("x" * 100) == hash_tag("x" * 100) != hash_tag("y" * 100)
    shared = SharedRedis(REDIS_URL, prefix="p:")
    assert shared.key("budget", "acme", "total") == "p:budget:{acme}:total"


def test_a_given_sync_client_serves_the_sync_api_and_is_cloned_for_asyncio(
    prefix: str,
) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    fake_a, fake_b = FakeProvider(default=Reply("sync")), FakeProvider()
    a = _router(client, prefix, fake_a)
    b = _router(REDIS_URL, prefix, fake_b)
    try:
        a.complete(model="m", messages=MESSAGES)

        async def run() -> str:
            got = await a.acomplete(model="m", messages=MESSAGES)
            return str(got.choices[0].message.content)

        assert asyncio.run(run()) == "sync"
        assert len(fake_a.calls) == 1 and len(fake_b.calls) == 0
    finally:
        _close(a, b)


def test_each_event_loop_gets_its_own_asyncio_client(prefix: str) -> None:
    shared = SharedRedis(aredis.Redis.from_url(REDIS_URL), prefix=prefix)
    seen: list[Any] = []

    async def use() -> None:
        client = shared.aclient()
        seen.append(client)
        assert shared.aclient() is client
        await client.set(prefix + "k", b"v")

    asyncio.run(use())
    asyncio.run(use())  # another loop: another client, no "attached to a different loop"
    thread = threading.Thread(target=lambda: asyncio.run(use()))
    thread.start()
    thread.join()
    assert len({id(c) for c in seen}) == 3


def test_a_cluster_client_of_one_kind_needs_its_twin_for_the_other_api() -> None:
    class FakeCluster:
        def execute_command(self, *args: Any) -> Any: ...

        def get_nodes(self) -> list[Any]:
            return []

    shared = SharedRedis(FakeCluster(), prefix="p:")

    async def use() -> None:
        shared.aclient()

    with pytest.raises(TypeError, match="sync_client, async_client"):
        asyncio.run(use())


def test_a_router_without_redis_never_imports_redis_py() -> None:
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from respan_router import Router\n"
        "from respan_router.testing import FakeProvider\n"
        "Router(provider=FakeProvider(), cache_enabled=True).complete(\n"
        "    model='m', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "loaded = [m for m in sys.modules\n"
        "          if m == 'redis' or m.startswith(('redis.', 'respan_router.redis'))]\n"
        "assert not loaded, loaded\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


# -- Redis goes away and comes back -----------------------------------------------------------


def _timed(fn: Any) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def test_a_killed_redis_degrades_every_call_and_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = InMemorySpanExporter()
    tracing = TracerProvider()
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    with redis_server() as server:
        fake_a, fake_b = FakeProvider(default=Reply("a")), FakeProvider(default=Reply("b"))
        options = {"redis_timeout": 0.1, "redis_retry_interval": 0.05}
        a = _router(server.url, "r:", fake_a, tracer_provider=tracing, **options)
        b = _router(server.url, "r:", fake_b, **options)
        try:
            a.complete(model="before", messages=MESSAGES)
            assert b.complete(model="before", messages=MESSAGES).choices[0].message.content == "a"
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="respan_router.redis"):
                server.kill()
                durations = [
                    _timed(lambda: a.complete(model="during", messages=MESSAGES)) for _ in range(20)
                ]
            # Every call answered (a miss each time), none waited on the dead server.
            assert len(fake_a.calls) == 1 + 20
            assert max(durations) < 2.0
            warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
            assert warnings  # logged; and once per outage: 20 failed calls, one outage
            assert a._redis is not None and a._redis.outage.outages == 1
            spans = [s for s in exporter.get_finished_spans() if s.attributes]
            assert spans[-1].attributes.get("respan.redis.degraded") is True

            async def during_async() -> None:
                await asyncio.wait_for(a.acomplete(model="during", messages=MESSAGES), 2.0)

            asyncio.run(during_async())

            server.start()
            time.sleep(0.06)
            a.complete(model="after", messages=MESSAGES)  # shared again: filled for b
            deadline = time.monotonic() + 5
            while a._redis is not None and a._redis.degraded and time.monotonic() < deadline:
                a.complete(model="after", messages=MESSAGES)
                time.sleep(0.06)
            b_calls = len(fake_b.calls)
            assert b.complete(model="after", messages=MESSAGES).choices[0].message.content == "a"
            assert len(fake_b.calls) == b_calls
            assert exporter.get_finished_spans()[-1].attributes.get("respan.redis.degraded") is None
        finally:
            _close(a, b)


def test_a_slow_redis_costs_a_call_at_most_its_timeout(prefix: str) -> None:
    fake = FakeProvider(default=Reply("fine"))
    router = _router(REDIS_URL, prefix, fake, redis_timeout=0.05, redis_retry_interval=10)
    busy = threading.Thread(
        target=lambda: redis.Redis.from_url(REDIS_URL).eval(
            "local x = 0 for i = 1, 60000000 do x = x + i end return 1", 0
        )
    )
    try:
        busy.start()
        time.sleep(0.05)
        took = _timed(lambda: router.complete(model="slow", messages=MESSAGES))
        assert len(fake.calls) == 1
        assert took < 1.0  # the busy server holds every command for much longer
        assert router._redis is not None and router._redis.degraded
    finally:
        busy.join()
        _close(router)


def test_redis_failures_are_counted_in_a_metric() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    with redis_server() as server:
        router = Router(
            provider=FakeProvider(),
            cache_enabled=True,
            circuit_breaker=False,
            redis=server.url,
            redis_retry_interval=0,
            meter_provider=MeterProvider(metric_readers=[reader]),
        )
        server.kill()
        for _ in range(3):
            router.complete(model="m", messages=MESSAGES)
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        point.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "respan_router.redis.errors"
        for point in metric.data.data_points
    ]
    assert points == [3]


def test_budgets_follow_their_policy_without_redis_and_resume_after() -> None:
    from respan_router.errors import BudgetUnavailableError

    prices = {"m": (1e-6, 4e-6)}
    ask = {
        "model": "m",
        "messages": [{"role": "user", "content": "one two"}],
        "max_tokens": 5,
        "customer_identifier": "acme",
    }
    customers = {"acme": {"total_budget": 1, "rate_limit": 1000}}
    with redis_server() as server:
        options: dict[str, Any] = {
            "redis": server.url,
            "redis_retry_interval": 0.05,
            "circuit_breaker": False,
            "customers": customers,
        }
        closed_fake = FakeProvider(Reply("x", usage=(2, 5)), prices=prices)
        open_fake = FakeProvider(Reply("x", usage=(2, 5)), prices=prices)
        closed = Router(provider=closed_fake, **options)
        opened = Router(provider=open_fake, redis_budget_policy="fail_open", **options)
        closed.complete(**ask)
        server.kill()
        with pytest.raises(BudgetUnavailableError):
            closed.complete(**ask)
        assert len(closed_fake.calls) == 1  # refused before any provider call
        opened.complete(**ask)  # goes on, unrecorded; its rate limit allows
        assert len(open_fake.calls) == 1
        server.start()
        time.sleep(0.06)
        closed.complete(**ask)
        assert closed.budgets.usage("acme").total_spent * 10**6 == 2 * (2 + 5 * 4)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_customers_rate_limit_holds_across_routers_on_misses_and_hits(
    prefix: str, use_async: bool
) -> None:
    from respan_router.errors import CustomerRateLimitError

    customers = {"acme": {"rate_limit": 3}}
    fakes = [FakeProvider(default=Reply("ok")) for _ in range(2)]
    routers = [
        Router(provider=f, cache_enabled=True, customers=customers, redis=REDIS_URL,
               redis_prefix=prefix, redis_timeout=1.0, circuit_breaker=False)
        for f in fakes
    ]  # fmt: skip

    def call(router: Router, content: str) -> Any:
        params = {"model": "m", "messages": [{"role": "user", "content": content}],
                  "customer_identifier": "acme"}  # fmt: skip
        if use_async:
            return asyncio.run(router.acomplete(**params))
        return router.complete(**params)

    call(routers[0], "one")  # a miss: counted with its reservation
    call(routers[1], "two")
    call(routers[1], "one")  # a hit: counted on its own
    with pytest.raises(CustomerRateLimitError):
        call(routers[0], "three")  # a miss over the limit: refused before any call
    with pytest.raises(CustomerRateLimitError):
        call(routers[0], "one")  # a hit over the limit: refused too
    assert [len(f.calls) for f in fakes] == [1, 1]


def test_a_router_built_during_an_outage_enforces_its_customers_and_writes_them_later() -> None:
    from respan_router.errors import BudgetUnavailableError
    from respan_router.redis import RedisBudgetStore

    prices = {"m": (1e-6, 4e-6)}
    ask = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
           "customer_identifier": "acme"}  # fmt: skip
    with redis_server() as server:
        server.kill()
        fake = FakeProvider(Reply("x", usage=(1, 5)), prices=prices)
        router = Router(provider=fake, redis=server.url, redis_retry_interval=0.05,
                        circuit_breaker=False, customers={"acme": {"total_budget": 1}})  # fmt: skip
        with pytest.raises(BudgetUnavailableError):
            router.complete(**ask)  # its budget is known, the ledger is not: fail closed
        assert fake.calls == []
        server.start()
        time.sleep(0.06)
        router.complete(**ask)
        other = RedisBudgetStore(SharedRedis(server.url, prefix="respan:"))
        written = other.customer("acme")
        assert written is not None and written.total_budget == 10**6
        assert router.budgets.usage("acme").total_spent * 10**6 == 1 + 5 * 4


def test_calls_in_flight_when_redis_dies_and_returns_all_complete() -> None:
    prices = {"m": (1e-6, 4e-6)}
    customers = {"acme": {"total_budget": 100, "rate_limit": 10**6}}
    with redis_server() as server:
        settings: dict[str, Any] = {
            "redis": server.url,
            "redis_timeout": 0.1,
            "redis_retry_interval": 0.05,
            "redis_budget_policy": "fail_open",
            "cache_enabled": True,
            "customers": customers,
        }
        fake = FakeProvider(Reply("x", usage=(1, 2)), prices=prices)
        router = Router(provider=fake, **settings)
        errors: list[BaseException] = []
        slowest = [0.0]
        stop = threading.Event()

        def worker(n: int) -> None:
            i = 0
            while not stop.is_set():
                ask = {"model": "m", "messages": [{"role": "user", "content": f"{n}-{i % 7}"}],
                       "max_tokens": 2, "customer_identifier": "acme"}  # fmt: skip
                try:
                    slowest[0] = max(slowest[0], _timed(lambda a=ask: router.complete(**a)))
                except BaseException as exc:
                    errors.append(exc)
                i += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.4)
        server.kill()
        time.sleep(0.4)
        server.start()
        time.sleep(0.4)
        stop.set()
        for t in threads:
            t.join(10)
        try:
            assert errors == []  # cache -> miss, budget -> fail_open, rate limit -> allow
            assert slowest[0] < 2.0  # no call waited on the dead server
            other = Router(provider=FakeProvider(default=Reply("other")), **settings)
            question = [{"role": "user", "content": "after the restart"}]
            router.complete(model="m", messages=question)
            got = other.complete(model="m", messages=question)
            assert got.choices[0].message.content == "x"  # shared again
            _close(other)
        finally:
            _close(router)


def test_the_async_api_replays_a_stored_stream_with_the_async_client(
    prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeProvider(default=Reply("streamed once"))
    router = _router(REDIS_URL, prefix, fake)
    try:
        with router.complete(model="m", messages=MESSAGES, stream=True) as first:
            assert "".join(c.choices[0].delta.content or "" for c in first if c.choices)
        backend = router.cache.backend
        assert isinstance(backend, RedisCacheBackend)

        def blocked(key: str) -> bytes | None:
            raise AssertionError("the async API read Redis with the sync client")

        monkeypatch.setattr(backend, "get", blocked)

        async def replay() -> str:
            stream = await router.acomplete(model="m", messages=MESSAGES, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        assert asyncio.run(replay()) == "streamed once"
        assert len(fake.calls) == 1  # the second call was the stored stream
        assert router.cache.stats.hits == 1
    finally:
        _close(router)
