"""A Router owns its sessions, pools, Redis clients and threads, and closes them: on
``close()`` / ``aclose()`` / ``with`` / ``async with``, and without any of these at exit
or when its event loop ends (nothing printed, nothing kept per loop)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from respan_router import Router
from respan_router.testing import FakeProvider
from tests.helpers import MSG
from tests.redis_helpers import REDIS_URL, new_prefix, redis_available, redis_server, wipe
from tests.upstream import FakeUpstream

ROOT = Path(__file__).resolve().parent.parent
needs_redis = pytest.mark.skipif(not redis_available(), reason="no Redis on 127.0.0.1:6379")


def _health_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("respan-health")}


def _upstream_router(upstream: FakeUpstream, lean: bool) -> Router:
    providers = {"openai": {"api_key": "sk-life-test", "api_base": upstream.base_url}}
    return Router(providers=providers, lean_dispatch=lean)


# -- close ---------------------------------------------------------------------------------


def test_close_closes_the_provider_once_and_refuses_calls() -> None:
    fake = FakeProvider()
    router = Router(provider=fake)
    assert router.complete(model="m", messages=MSG).choices[0].message.content == "ok"
    router.close()
    router.close()
    assert fake.closes == 1 and router.closed
    with pytest.raises(RuntimeError, match="closed"):
        router.complete(model="m", messages=MSG)


def test_with_router_closes_it() -> None:
    fake = FakeProvider()
    with Router(provider=fake) as router:
        router.complete(model="m", messages=MSG)
    assert fake.closed and router.closed


async def test_async_with_router_closes_it() -> None:
    fake = FakeProvider()
    async with Router(provider=fake) as router:
        await router.acomplete(model="m", messages=MSG)
    assert fake.closed
    with pytest.raises(RuntimeError, match="closed"):
        await router.acomplete(model="m", messages=MSG)
    await router.aclose()  # idempotent
    assert fake.closes == 1


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "litellm"])
async def test_aclose_closes_this_loops_http_sessions(upstream: FakeUpstream, lean: bool) -> None:
    router = _upstream_router(upstream, lean)
    await router.acomplete(model="openai/m", messages=MSG)
    provider: Any = router._provider
    sessions = provider._async._sessions if lean else provider._fallback._sessions
    assert len(sessions) == 1
    session = sessions.get()
    await router.aclose()
    assert session.closed
    assert len(provider._async._sessions) == 0 and len(provider._fallback._sessions) == 0


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "litellm"])
def test_a_loops_http_session_goes_with_the_loop(upstream: FakeUpstream, lean: bool) -> None:
    router = _upstream_router(upstream, lean)
    sessions = []

    async def call() -> None:
        await router.acomplete(model="openai/m", messages=MSG)
        provider: Any = router._provider
        sessions.append((provider._async if lean else provider._fallback)._sessions.get())

    for _ in range(5):
        asyncio.run(call())
    provider: Any = router._provider
    assert len(provider._async._sessions) == 0 and len(provider._fallback._sessions) == 0
    assert all(s.closed for s in sessions)
    assert len({id(s) for s in sessions}) == 5


_ONE_CALL = """
import asyncio, sys
from tests.upstream import FakeUpstream
from respan_router import Router

upstream = FakeUpstream().__enter__()
redis_args = sys.argv[2:]  # a URL and a prefix: with redis=...
shared = {"redis": redis_args[0], "redis_prefix": redis_args[1]} if redis_args else {}
router = Router(
    providers={"openai": {"api_key": "sk-exit-test", "api_base": upstream.base_url}},
    lean_dispatch=sys.argv[1] == "lean",
    cache_enabled=bool(redis_args),
    **shared,
)

async def main():
    await router.acomplete(model="openai/m", messages=[{"role": "user", "content": "hi"}])
    stream = await router.acomplete(
        model="openai/m", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    async for _ in stream:
        pass

asyncio.run(main())
if len(sys.argv) > 2:  # dropped, not closed: collected quietly too
    del router
    import gc
    gc.collect()
"""


@pytest.mark.parametrize("lean", ["lean", "litellm"])
def test_one_async_call_then_exit_prints_nothing(lean: str) -> None:
    """No close at all: the loop's sessions close as asyncio.run ends; nothing at exit."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_ONE_CALL), lean],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


@needs_redis
def test_one_async_call_with_redis_then_drop_and_exit_prints_nothing() -> None:
    prefix = new_prefix()
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_ONE_CALL), "lean", REDIS_URL, prefix],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        wipe(prefix)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


# -- Redis ---------------------------------------------------------------------------------


@needs_redis
def test_close_stops_health_threads_and_closes_redis_clients() -> None:
    prefix = new_prefix()
    before = _health_threads()
    try:
        router = Router(provider=FakeProvider(), redis=REDIS_URL, redis_prefix=prefix)
        router.complete(model="m", messages=MSG, cache_enabled=True)
        assert _health_threads() - before
        shared: Any = router._redis
        router.close()
        assert not (_health_threads() - before)
        assert shared._sync is None and shared.async_clients == 0
        router.close()
    finally:
        wipe(prefix)


def _clients(observer: Any) -> int:
    return len(observer.client_list()) - 1  # the observer's own connection


def _settled_clients(observer: Any, want: int, timeout: float = 5.0) -> int:
    """The server's count of clients once it reads ``want``, or when ``timeout`` is up: a
    connection closed by the client leaves the server's list a moment later."""
    end = time.monotonic() + timeout
    while (count := _clients(observer)) != want and time.monotonic() < end:
        time.sleep(0.01)
    return count


@needs_redis
def test_many_event_loops_hold_at_most_one_redis_connection_each() -> None:
    import redis

    with redis_server() as server:
        observer = redis.Redis.from_url(server.url)
        router = Router(
            provider=FakeProvider(),
            redis=server.url,
            redis_timeout=1.0,
            cache_enabled=True,
            circuit_breaker=False,
        )
        router.complete(model="m", messages=MSG)  # the sync client's connection
        baseline = _clients(observer)
        alive = []

        async def call(i: int) -> None:
            await router.acomplete(model="m", messages=[{"role": "user", "content": str(i)}])
            await router.acomplete(model="m", messages=[{"role": "user", "content": str(i)}])
            alive.append(_clients(observer) - baseline)

        for i in range(100):
            asyncio.run(call(i))
        after = _settled_clients(observer, baseline) - baseline
        shared: Any = router._redis
        router.close()
        closed = _settled_clients(observer, 0)
        observer.close()
    assert max(alive) == 1, alive
    assert after == 0 and shared.async_clients == 0
    assert closed == 0


@needs_redis
async def test_aclose_closes_the_loops_redis_client() -> None:
    import redis

    with redis_server() as server:
        observer = redis.Redis.from_url(server.url)
        router = Router(provider=FakeProvider(), redis=server.url, circuit_breaker=False)
        await router.acomplete(model="m", messages=MSG, cache_enabled=True)
        assert _clients(observer) >= 1
        await router.aclose()
        assert _clients(observer) == 0
        observer.close()


# -- the wire edge ---------------------------------------------------------------------------


async def _lifespan(app: Any) -> list[str]:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return incoming.pop(0)

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    return sent


async def test_an_app_built_from_a_configuration_closes_its_router_at_shutdown() -> None:
    from respan_router.asgi import create_app

    fake = FakeProvider()
    app = create_app({"provider": fake})
    assert await _lifespan(app) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert fake.closed


async def test_an_app_serving_a_given_router_leaves_it_open() -> None:
    from respan_router.asgi import create_app

    fake = FakeProvider()
    router = Router(provider=fake)
    await _lifespan(create_app(router))
    assert not fake.closed and not router.closed
    await router.acomplete(model="m", messages=MSG)


def test_an_openai_client_closes_what_it_owns_and_leaves_the_router_open() -> None:
    router = Router(provider=FakeProvider())
    with router.as_openai() as client:
        client.chat.completions.create(model="m", messages=MSG)  # type: ignore[arg-type]
    assert client._client.is_closed
    assert router.complete(model="m", messages=MSG).choices[0].message.content == "ok"
    router.close()


_NEVER_SHUT_DOWN = """
import asyncio, gc, sys
from tests.upstream import FakeUpstream
from respan_router import Router

upstream = FakeUpstream().__enter__()
router = Router(
    providers={"openai": {"api_key": "sk-exit-test", "api_base": upstream.base_url}},
    lean_dispatch=sys.argv[1] == "lean",
)

async def main():
    await router.acomplete(model="openai/m", messages=[{"role": "user", "content": "hi"}])

loop = asyncio.new_event_loop()  # run, never shut down: its sessions are not closed by it
loop.run_until_complete(main())
if sys.argv[2] == "drop":
    loop.close()
    del router
    gc.collect()
"""


@pytest.mark.parametrize("end", ["exit", "drop"])
@pytest.mark.parametrize("lean", ["lean", "litellm"])
def test_a_loop_never_shut_down_prints_nothing_when_collected_or_at_exit(
    lean: str, end: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_NEVER_SHUT_DOWN), lean, end],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
