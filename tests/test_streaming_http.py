"""Streams over real HTTP (SSE from the local upstream) with two upstream models: fallback
before the first chunk, first_token_timeout, no splicing after it, usage and the
breakdown chunk."""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import pytest

from respan_router import ProviderError, Router, StreamInterruptedError
from respan_router.providers import LiteLLMProvider
from tests.helpers import MSG
from tests.upstream import Drop, Error, FakeUpstream, Reply, split_text

KEY = "sk-streaming-http-test-key"
A_TEXT = "alpha from model a"
B_TEXT = "bravo from model b"
CUT_TEXT = "first second third fourth"
USAGE_B = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}


def _router(upstream: FakeUpstream) -> Router:
    async def no_wait(seconds: float) -> None:
        return None

    return Router(
        providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}},
        sleep=lambda s: None,
        async_sleep=no_wait,
    )


def _call(**kw: Any) -> dict[str, Any]:
    return {"model": "openai/a", "fallback_models": ["openai/b"], "messages": MSG, **kw}


def _text(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _models(upstream: FakeUpstream) -> list[str]:
    return [r.body["model"] for r in upstream.requests]


BEFORE_FIRST_CHUNK = [
    pytest.param(Error(503), id="503"),
    pytest.param(Error(401), id="401"),
    pytest.param(Drop(), id="dropped"),
]


@pytest.mark.parametrize("failure", BEFORE_FIRST_CHUNK)
def test_failure_before_first_chunk_streams_from_b(upstream: FakeUpstream, failure: Any) -> None:
    upstream.set_default(failure, model="a")
    upstream.set_default(Reply(B_TEXT, pieces=3, usage=USAGE_B), model="b")
    stream = _router(upstream).complete(
        **_call(stream=True, stream_options={"include_usage": True}, request_breakdown=True)
    )
    chunks = list(stream)
    assert _models(upstream) == ["a", "b"]
    assert all(r.body["stream"] is True for r in upstream.requests)
    assert _text(chunks) == B_TEXT
    assert stream.state.model == "openai/b"
    # The provider's usage chunk, then the breakdown chunk, last.
    usage_chunk, last = chunks[-2], chunks[-1]
    assert usage_chunk.usage is not None and usage_chunk.usage.total_tokens == 15
    assert last.id == "request_breakdown" and last.choices == []
    breakdown = last.request_breakdown
    assert breakdown is not None and breakdown["stream"] is True
    assert (breakdown["prompt_tokens"], breakdown["completion_tokens"]) == (11, 4)
    assert [(a["model"], a["outcome"], a["tries"]) for a in breakdown["attempts"]] == [
        ("openai/a", "error", 1),
        ("openai/b", "success", 1),
    ]


@pytest.mark.parametrize("failure", BEFORE_FIRST_CHUNK)
async def test_failure_before_first_chunk_streams_from_b_async(
    upstream: FakeUpstream, failure: Any
) -> None:
    upstream.set_default(failure, model="a")
    upstream.set_default(Reply(B_TEXT, pieces=3), model="b")
    stream = await _router(upstream).acomplete(**_call(stream=True, request_breakdown=True))
    chunks = [c async for c in stream]
    assert _models(upstream) == ["a", "b"]
    assert _text(chunks) == B_TEXT
    assert chunks[-1].id == "request_breakdown"
    assert chunks[-1].request_breakdown is not None
    assert [a["model"] for a in chunks[-1].request_breakdown["attempts"]] == [
        "openai/a",
        "openai/b",
    ]


def test_retries_on_a_then_stream_from_b(upstream: FakeUpstream) -> None:
    upstream.set_default(Error(500), model="a")
    upstream.set_default(Reply(B_TEXT), model="b")
    stream = _router(upstream).complete(**_call(stream=True, retries=2))
    assert _text(list(stream)) == B_TEXT
    assert _models(upstream) == ["a", "a", "a", "b"]


# -- first_token_timeout ----------------------------------------------------------------
SILENT_A = [
    pytest.param(Reply(A_TEXT, first_chunk_delay=3.0), id="headers-then-silence"),
    pytest.param(Reply(A_TEXT, delay=3.0), id="no-headers"),
]


@pytest.mark.parametrize("slow", SILENT_A)
def test_first_token_timeout_falls_back_to_b(upstream: FakeUpstream, slow: Reply) -> None:
    upstream.set_default(slow, model="a")
    upstream.set_default(Reply(B_TEXT), model="b")
    stream = _router(upstream).complete(**_call(stream=True, first_token_timeout=0.3))
    chunks = list(stream)
    assert _text(chunks) == B_TEXT
    assert "alpha" not in _text(chunks)
    assert _models(upstream) == ["a", "b"]
    if slow.first_chunk_delay:  # the abandoned attempt's connection was closed
        assert upstream.wait_for(lambda: upstream.disconnects >= 1, timeout=3)


@pytest.mark.parametrize("slow", SILENT_A)
async def test_first_token_timeout_falls_back_to_b_async(
    upstream: FakeUpstream, slow: Reply
) -> None:
    upstream.set_default(slow, model="a")
    upstream.set_default(Reply(B_TEXT), model="b")
    stream = await _router(upstream).acomplete(**_call(stream=True, first_token_timeout=0.3))
    chunks = [c async for c in stream]
    assert _text(chunks) == B_TEXT
    assert _models(upstream) == ["a", "b"]
    if slow.first_chunk_delay:  # the abandoned attempt's connection was closed
        assert await upstream.async_wait_for(lambda: upstream.disconnects >= 1, timeout=3)


# -- after the first chunk: committed to a ----------------------------------------------
def test_cut_after_chunks_raises_and_never_calls_b(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply(CUT_TEXT, pieces=4, break_after=2), model="a")
    upstream.set_default(Reply(B_TEXT), model="b")
    stream = _router(upstream).complete(**_call(stream=True, retries=2, request_breakdown=True))
    got = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in stream:
            got.append(chunk)
    assert isinstance(info.value, ProviderError)
    assert _text(got) == "".join(split_text(CUT_TEXT, 4)[:2])
    assert "bravo" not in _text(got)
    assert all(c.id != "request_breakdown" for c in got)
    assert list(stream) == []
    assert _models(upstream) == ["a"]
    assert stream.state.error is info.value


async def test_cut_after_chunks_raises_and_never_calls_b_async(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply(CUT_TEXT, pieces=4, break_after=2), model="a")
    upstream.set_default(Reply(B_TEXT), model="b")
    stream = await _router(upstream).acomplete(**_call(stream=True, retries=2))
    got = []
    with pytest.raises(StreamInterruptedError):
        async for chunk in stream:
            got.append(chunk)
    assert _text(got) == "".join(split_text(CUT_TEXT, 4)[:2])
    assert "bravo" not in _text(got)
    assert [c async for c in stream] == []
    assert _models(upstream) == ["a"]


# -- usage ----------------------------------------------------------------------------
def test_usage_is_counted_when_the_upstream_sends_none(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("four words right here", usage=None))
    stream = _router(upstream).complete(
        model="openai/gpt-4o", messages=MSG, stream=True, request_breakdown=True
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    usage = stream.state.usage
    assert usage is not None and usage.completion_tokens > 0 and usage.prompt_tokens > 0
    breakdown = chunks[-1].request_breakdown
    assert breakdown is not None
    assert breakdown["completion_tokens"] == usage.completion_tokens


def test_an_unrequested_usage_chunk_is_kept_from_the_caller_but_used(
    upstream: FakeUpstream,
) -> None:
    upstream.set_default(Reply(A_TEXT, usage=USAGE_B))
    stream = _router(upstream).complete(model="openai/a", messages=MSG, stream=True)
    chunks = list(stream)
    assert _text(chunks) == A_TEXT
    assert all(c.choices for c in chunks)  # no bare usage chunk delivered


class _ColdImport(LiteLLMProvider):
    """The litellm adapter as in a fresh process: its first use pays for importing litellm
    (seconds, blocking); simulated by a blocking wait longer than the first-token timeout."""

    def __init__(self, import_seconds: float) -> None:
        super().__init__()
        self._import_seconds = import_seconds
        self._imported = False

    @property
    def litellm(self) -> ModuleType:
        if not self._imported:
            time.sleep(self._import_seconds)
            self._imported = True
        return super().litellm


def test_first_token_timeout_does_not_count_importing_litellm_sync(
    upstream: FakeUpstream,
) -> None:
    upstream.set_default(Reply(A_TEXT), model="a")
    upstream.set_default(Reply(B_TEXT), model="b")
    router = Router(
        provider=_ColdImport(import_seconds=0.6),
        providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}},
    )
    stream = router.complete(**_call(stream=True, first_token_timeout=0.2))
    assert _text(list(stream)) == A_TEXT
    assert _models(upstream) == ["a"]


async def test_first_token_timeout_does_not_count_importing_litellm(
    upstream: FakeUpstream,
) -> None:
    # litellm's own first call does lazy work of its own: done here, outside the test.
    warm = await _router(upstream).acomplete(model="openai/warm", messages=MSG, stream=True)
    [c async for c in warm]
    upstream.reset()
    upstream.set_default(Reply(A_TEXT), model="a")
    upstream.set_default(Reply(B_TEXT), model="b")
    router = Router(
        provider=_ColdImport(import_seconds=0.6),
        providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}},
    )
    stream = await router.acomplete(**_call(stream=True, first_token_timeout=0.2))
    assert _text([c async for c in stream]) == A_TEXT
    assert _models(upstream) == ["a"]
