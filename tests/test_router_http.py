"""The Router over real HTTP, through litellm, to the local fake upstream."""

from __future__ import annotations

import pytest

from respan_router import (
    AuthenticationError,
    NotFoundError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    Router,
    RouterError,
    StreamInterruptedError,
)
from tests.helpers import MSG
from tests.upstream import Drop, Error, FakeUpstream, Reply

KEY = "sk-router-http-test-key-0001"
MODEL = "openai/test-model"


def _router(upstream: FakeUpstream, **kw: object) -> Router:
    return Router(
        providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}},
        **kw,  # type: ignore[arg-type]
    )


def test_reply_round_trips_and_upstream_sees_the_configured_key(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("hi over http", usage={"prompt_tokens": 3, "completion_tokens": 4,
                                                      "total_tokens": 7}))  # fmt: skip
    out = _router(upstream).complete(model=MODEL, messages=MSG, temperature=0.5)
    assert out.choices[0].message.content == "hi over http"
    assert out.usage is not None and out.usage.total_tokens == 7
    assert out.model == MODEL.removeprefix("openai/")  # as the upstream answered
    (request,) = upstream.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["temperature"] == 0.5
    assert request.body["messages"] == MSG


STATUSES = [
    (Error(400), ProviderBadRequestError, 400),
    (Error(401), AuthenticationError, 401),
    (Error(404), NotFoundError, 404),
    (Error(408), ProviderTimeoutError, 408),
    (Error(429, headers={"retry-after": "3"}), RateLimitError, 429),
    (Error(500), ProviderError, 500),
    (Error(502), ProviderError, 502),
    (Error(503), ProviderError, 503),
    (Drop(), ProviderConnectionError, None),
    (Reply("late", delay=1.5), ProviderTimeoutError, None),
]


@pytest.mark.parametrize(("behaviour", "cls", "status"), STATUSES)
def test_each_upstream_outcome_maps_after_one_request(
    upstream: FakeUpstream, behaviour: object, cls: type, status: int | None
) -> None:
    upstream.set_default(behaviour)  # type: ignore[arg-type]
    with pytest.raises(cls) as info:
        _router(upstream, timeout=0.5).complete(model=MODEL, messages=MSG)
    assert isinstance(info.value, RouterError)
    if status is not None:
        assert info.value.status_code == status
    if cls is RateLimitError:
        assert info.value.retry_after == 3
    assert len(upstream.requests) == 1
    assert KEY not in str(info.value) and KEY not in repr(info.value)


async def test_async_outcome_maps_after_one_request(upstream: FakeUpstream) -> None:
    upstream.set_default(Error(503))
    with pytest.raises(ProviderError) as info:
        await _router(upstream).acomplete(model=MODEL, messages=MSG)
    assert info.value.status_code == 503
    assert len(upstream.requests) == 1


def test_router_retries_are_the_only_retries(upstream: FakeUpstream) -> None:
    upstream.set_default(Error(500))
    with pytest.raises(ProviderError):
        _router(upstream, sleep=lambda s: None).complete(model=MODEL, messages=MSG, retries=2)
    assert len(upstream.requests) == 3  # 1 + 2 of ours, none of litellm's


def test_stream_over_sse(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("streamed over sse", pieces=3))
    stream = _router(upstream).complete(
        model=MODEL, messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed over sse"
    assert chunks[-1].usage is not None


def test_stream_cut_after_first_chunk_raises_and_does_not_fall_back(
    upstream: FakeUpstream,
) -> None:
    upstream.set_default(Reply("one two three four", pieces=4, break_after=2))
    stream = _router(upstream, sleep=lambda s: None).complete(
        model=MODEL, messages=MSG, stream=True, retries=2
    )
    got = []
    with pytest.raises(StreamInterruptedError):
        for chunk in stream:
            got.append(chunk)
    assert len(upstream.requests) == 1
    assert len([c for c in got if c.choices and c.choices[0].delta.content]) == 2


async def test_async_stream_early_close_reaches_the_upstream(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("x " * 40, pieces=40, chunk_delay=0.02))
    router = _router(upstream)
    async with await router.acomplete(model=MODEL, messages=MSG, stream=True) as stream:
        await anext(stream)
    assert await upstream.async_wait_for(lambda: upstream.disconnects >= 1, timeout=3)
