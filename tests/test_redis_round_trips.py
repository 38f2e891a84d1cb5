"""Redis round trips of one call: at most 2 before dispatch and 1 after, counted on the
client (every command and every pipeline is one round trip)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from respan_router import Router
from respan_router.providers import ProviderCall
from respan_router.redis import SharedRedis
from respan_router.responses import ChatCompletion
from respan_router.testing import FakeProvider, Reply
from tests.redis_helpers import REDIS_URL, counted, new_prefix, redis_available, wipe

pytestmark = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")

MESSAGES = [{"role": "user", "content": "count my round trips"}]


class Watching(FakeProvider):
    """A fake provider that notes the client's round trips when a call is dispatched."""

    def __init__(self, client: Any) -> None:
        super().__init__(default=Reply("counted", usage=(3, 4)), prices=PRICES)
        self.client = client
        self.at_dispatch: list[int] = []

    def complete(self, call: ProviderCall) -> ChatCompletion:
        self.at_dispatch.append(self.client.round_trips)
        return super().complete(call)

    async def acomplete(self, call: ProviderCall) -> ChatCompletion:
        self.at_dispatch.append(self.client.round_trips)
        return await super().acomplete(call)


@pytest.fixture
def prefix() -> Iterator[str]:
    p = new_prefix()
    yield p
    wipe(p)


PRICES = {"m": (1e-6, 4e-6)}
CUSTOMERS = {"acme": {"total_budget": 100, "period_budget": 50, "budget_duration": "monthly",
                      "rate_limit": 1000}}  # fmt: skip


def _router(source: Any, prefix: str, fake: Watching) -> Router:
    return Router(provider=fake, cache_enabled=True, customers=CUSTOMERS, redis=source,
                  redis_prefix=prefix, redis_timeout=1.0, circuit_breaker=False)  # fmt: skip


def _ask(content: str) -> dict[str, Any]:
    messages = [{"role": "user", "content": content}]
    return {"model": "m", "messages": messages, "max_tokens": 10, "customer_identifier": "acme"}


def test_a_cache_miss_with_a_budget_and_a_rate_limit(prefix: str) -> None:
    client = counted(redis.Redis.from_url(REDIS_URL, socket_timeout=1))
    fake = Watching(client)
    router = _router(client, prefix, fake)
    router.complete(**_ask("warm up"))  # loads the scripts; reads the customer once
    client.round_trips = 0
    router.complete(**_ask("a miss"))
    assert fake.at_dispatch[-1] == 2  # rate limit + reservation; cache lookup + lease
    assert client.round_trips == 3  # then the cache fill and the settle, together
    usage = router.budgets.usage("acme")
    assert usage.total_spent > 0 and usage.total_reserved == 0


def test_a_cache_hit_with_a_rate_limit_is_two_round_trips_and_no_call(prefix: str) -> None:
    client = counted(redis.Redis.from_url(REDIS_URL, socket_timeout=1))
    fake = Watching(client)
    router = _router(client, prefix, fake)
    router.complete(**_ask("asked twice"))
    client.round_trips = 0
    router.complete(**_ask("asked twice"))
    assert client.round_trips == 2  # the cached value; the rate limit
    assert len(fake.at_dispatch) == 1


def test_a_call_without_cache_or_customer_makes_no_round_trip(prefix: str) -> None:
    client = counted(redis.Redis.from_url(REDIS_URL, socket_timeout=1))
    fake = Watching(client)
    router = _router(client, prefix, fake)
    client.round_trips = 0  # configuring the customers was the Router's construction
    router.complete(model="m", messages=[{"role": "user", "content": "x"}], cache_enabled=False)
    assert client.round_trips == 0  # health is read from the process's own view


async def test_the_async_api_makes_the_same_round_trips(prefix: str) -> None:
    shared = SharedRedis(REDIS_URL, prefix=prefix, timeout=1.0)
    aclient = counted_async(shared)
    fake = Watching(aclient)
    router = _router((redis.Redis.from_url(REDIS_URL), aclient), prefix, fake)
    await router.acomplete(**_ask("warm up"))
    aclient.round_trips = 0
    await router.acomplete(**_ask("an async miss"))
    assert fake.at_dispatch[-1] == 2
    assert aclient.round_trips == 3


def counted_async(shared: SharedRedis) -> Any:
    """The running loop's asyncio client, counted like the sync one."""
    client = shared.aclient()
    client.round_trips = 0
    execute = client.execute_command

    async def execute_command(*args: Any, **kwargs: Any) -> Any:
        client.round_trips += 1
        return await execute(*args, **kwargs)

    client.execute_command = execute_command
    make_pipeline = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        run = pipe.execute

        async def execute_pipe(*a: Any, **k: Any) -> Any:
            client.round_trips += 1
            return await run(*a, **k)

        pipe.execute = execute_pipe
        return pipe

    client.pipeline = pipeline
    return client
