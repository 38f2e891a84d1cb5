"""Deadlines hold for the whole try: a body that trickles in never outlasts `timeout` /
`total_timeout` on the sync lean path (as on the async one)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from respan_router import Router
from respan_router.errors import ProviderTimeoutError, RouterError
from tests.helpers import MSG
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
