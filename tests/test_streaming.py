"""Streams on FakeProvider: order, retries before the first chunk, first_token_timeout,
no splicing after it, usage, early close."""

from __future__ import annotations

import gc

import pytest

from respan_router import ProviderError, Router, StreamInterruptedError
from respan_router.execution import AsyncChatStream, ChatStream
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG, cancel_consumer_after_first_chunk


def _text(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_sync_stream_delivers_chunks_in_order() -> None:
    fake = FakeProvider(Reply("one two three four"))
    stream = Router(provider=fake).complete(model="m", messages=MSG, stream=True)
    assert isinstance(stream, ChatStream)
    chunks = list(stream)
    assert [c.choices[0].delta.content for c in chunks[:4]] == ["one ", "two ", "three ", "four"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.model == "m" for c in chunks)
    assert fake.open_streams == 0
    assert stream.state.completed and stream.state.content == "one two three four"


async def test_async_stream_delivers_chunks_in_order() -> None:
    fake = FakeProvider(Reply("alpha beta gamma"))
    stream = await Router(provider=fake).acomplete(model="m", messages=MSG, stream=True)
    assert isinstance(stream, AsyncChatStream)
    chunks = [c async for c in stream]
    assert _text(chunks) == "alpha beta gamma"
    assert fake.open_streams == 0


def test_retry_before_first_chunk_then_stream() -> None:
    fake = FakeProvider().script("m", Failure(503), Reply("second try"))
    stream = Router(provider=fake, sleep=lambda s: None).complete(
        model="m", messages=MSG, stream=True, retries=1
    )
    assert _text(list(stream)) == "second try"
    assert len(fake.calls) == 2


async def test_first_token_timeout_abandons_a_silent_attempt_async() -> None:
    async def no_wait(seconds: float) -> None:
        return None

    fake = FakeProvider().script("m", Reply("too slow", latency=2.0), Reply("quick"))
    router = Router(provider=fake, async_sleep=no_wait)
    stream = await router.acomplete(
        model="m", messages=MSG, stream=True, retries=1, first_token_timeout=0.05
    )
    assert _text([c async for c in stream]) == "quick"
    assert len(fake.calls) == 2
    assert fake.open_streams == 0  # the abandoned attempt was closed


def test_first_token_timeout_sync_bounds_the_attempt() -> None:
    fake = FakeProvider().script("m", Reply("too slow", latency=2.0), Reply("quick"))
    router = Router(provider=fake, sleep=lambda s: None)
    stream = router.complete(
        model="m", messages=MSG, stream=True, retries=1, first_token_timeout=0.05
    )
    assert _text(list(stream)) == "quick"  # the silent attempt was abandoned at 0.05 s
    assert fake.calls[0].timeout is None  # the attempt's own timeout is not shortened
    assert fake.calls[0].first_chunk_timeout == pytest.approx(0.05)


def test_first_token_timeout_sync_bounds_only_the_first_chunk() -> None:
    fake = FakeProvider().script("m", Reply("a b c", latency=0.01, chunk_latency=0.1))
    router = Router(provider=fake, sleep=lambda s: None)
    stream = router.complete(
        model="m", messages=MSG, stream=True, first_token_timeout=0.05, timeout=5
    )
    assert _text(list(stream)) == "a b c"  # later chunks may take longer than 0.05 s
    assert fake.calls[0].timeout == pytest.approx(5, abs=0.1)


def test_failure_after_first_chunk_is_raised_not_spliced() -> None:
    fake = FakeProvider().script("m", Failure(500, after_chunks=2), Reply("OTHER ANSWER"))
    stream = Router(provider=fake, sleep=lambda s: None).complete(
        model="m", messages=MSG, stream=True, retries=3
    )
    got = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in stream:
            got.append(chunk)
    assert _text(got) == "part0 part1 "
    assert "OTHER" not in _text(got)
    assert len(fake.calls) == 1  # no retry once a chunk was delivered
    assert isinstance(info.value, ProviderError)
    assert stream.state.error is info.value
    assert list(stream) == []  # the stream stays ended


async def test_failure_after_first_chunk_async() -> None:
    fake = FakeProvider(Failure(503, after_chunks=1))
    stream = await Router(provider=fake).acomplete(model="m", messages=MSG, stream=True)
    got = []
    with pytest.raises(StreamInterruptedError):
        async for chunk in stream:
            got.append(chunk)
    assert _text(got) == "part0 "
    assert fake.open_streams == 0


def test_failure_before_first_chunk_raises_from_complete() -> None:
    fake = FakeProvider(Failure(401))
    with pytest.raises(ProviderError) as info:
        Router(provider=fake).complete(model="m", messages=MSG, stream=True)
    assert info.value.status_code == 401
    assert fake.open_streams == 0


def test_usage_chunk_forwarded_only_when_asked() -> None:
    fake = FakeProvider(Reply("a b c", usage=(4, 3)))
    router = Router(provider=fake)
    asked = list(
        router.complete(
            model="m", messages=MSG, stream=True, stream_options={"include_usage": True}
        )
    )
    assert asked[-1].usage is not None and asked[-1].usage.total_tokens == 7
    assert asked[-1].choices == []
    plain = router.complete(model="m", messages=MSG, stream=True)
    chunks = list(plain)
    assert all(c.usage is None for c in chunks)


def test_usage_counted_when_the_provider_sends_none() -> None:
    fake = FakeProvider(Reply("three little words"))
    stream = Router(provider=fake).complete(model="m", messages=MSG, stream=True)
    list(stream)
    assert stream.state.usage is not None
    assert stream.state.usage.completion_tokens == 3


def test_early_close_releases_the_upstream_sync() -> None:
    fake = FakeProvider(Reply("w " * 50))
    router = Router(provider=fake)
    with router.complete(model="m", messages=MSG, stream=True) as stream:
        next(stream)
        assert fake.open_streams == 1
    assert fake.open_streams == 0
    assert stream.state.closed_early and not stream.state.completed
    # break + garbage collection releases it too
    for _ in router.complete(model="m", messages=MSG, stream=True):
        break
    gc.collect()
    assert fake.open_streams == 0


async def test_early_close_releases_the_upstream_async() -> None:
    fake = FakeProvider(Reply("w " * 50))
    router = Router(provider=fake)
    async with await router.acomplete(model="m", messages=MSG, stream=True) as stream:
        await anext(stream)
        assert fake.open_streams == 1
    assert fake.open_streams == 0


async def test_task_cancellation_while_streaming_releases_the_upstream() -> None:
    fake = FakeProvider(Reply("w " * 20, chunk_latency=0.05))
    router = Router(provider=fake)
    await cancel_consumer_after_first_chunk(router, model="m", messages=MSG)
    assert fake.open_streams == 0


# -- fallback to another model: only before the first chunk -----------------------------
async def _no_wait(seconds: float) -> None:
    return None


@pytest.mark.parametrize("failure", [Failure(503), Failure(401), Failure(dropped=True)])
def test_failure_before_first_chunk_falls_back_to_another_model(failure: Failure) -> None:
    fake = FakeProvider().set_default("a", failure).set_default("b", Reply("from b only"))
    stream = Router(provider=fake, sleep=lambda s: None).complete(
        model="a", fallback_models=["b"], messages=MSG, stream=True
    )
    chunks = list(stream)
    assert _text(chunks) == "from b only"
    assert all(c.model == "b" for c in chunks)
    assert stream.state.model == "b" and stream.state.completed
    assert (len(fake.calls_for("a")), len(fake.calls_for("b"))) == (1, 1)
    assert fake.open_streams == 0


@pytest.mark.parametrize("failure", [Failure(503), Failure(401), Failure(dropped=True)])
async def test_failure_before_first_chunk_falls_back_to_another_model_async(
    failure: Failure,
) -> None:
    fake = FakeProvider().set_default("a", failure).set_default("b", Reply("from b only"))
    stream = await Router(provider=fake, async_sleep=_no_wait).acomplete(
        model="a", fallback_models=["b"], messages=MSG, stream=True
    )
    chunks = [c async for c in stream]
    assert _text(chunks) == "from b only"
    assert all(c.model == "b" for c in chunks)
    assert (len(fake.calls_for("a")), len(fake.calls_for("b"))) == (1, 1)
    assert fake.open_streams == 0


def test_retries_then_fallback_before_first_chunk() -> None:
    fake = FakeProvider().set_default("a", Failure(500)).set_default("b", Reply("b answers"))
    sleeps: list[float] = []
    stream = Router(provider=fake, sleep=sleeps.append).complete(
        model="a", fallback_models=["b"], messages=MSG, stream=True, retries=2
    )
    assert _text(list(stream)) == "b answers"
    assert (len(fake.calls_for("a")), len(fake.calls_for("b"))) == (3, 1)
    assert len(sleeps) == 2


def test_first_token_timeout_falls_back_to_another_model_sync() -> None:
    fake = FakeProvider().set_default("a", Reply("too slow", latency=2.0))
    fake.set_default("b", Reply("quick b"))
    stream = Router(provider=fake, sleep=lambda s: None).complete(
        model="a", fallback_models=["b"], messages=MSG, stream=True, first_token_timeout=0.05
    )
    chunks = list(stream)
    assert _text(chunks) == "quick b"
    assert "slow" not in _text(chunks)
    assert fake.calls_for("a")[0].first_chunk_timeout == pytest.approx(0.05)
    assert len(fake.calls_for("b")) == 1
    assert fake.open_streams == 0


async def test_first_token_timeout_falls_back_to_another_model_async() -> None:
    fake = FakeProvider().set_default("a", Reply("too slow", latency=5.0))
    fake.set_default("b", Reply("quick b"))
    stream = await Router(provider=fake, async_sleep=_no_wait).acomplete(
        model="a", fallback_models=["b"], messages=MSG, stream=True, first_token_timeout=0.05
    )
    chunks = [c async for c in stream]
    assert _text(chunks) == "quick b"
    assert all(c.model == "b" for c in chunks)
    assert (len(fake.calls_for("a")), len(fake.calls_for("b"))) == (1, 1)
    assert fake.open_streams == 0  # a's abandoned stream was closed


def test_failure_after_first_chunk_never_falls_back_to_another_model() -> None:
    fake = FakeProvider().set_default("a", Failure(503, after_chunks=2))
    fake.set_default("b", Reply("B TEXT"))
    stream = Router(provider=fake, sleep=lambda s: None).complete(
        model="a", fallback_models=["b"], messages=MSG, stream=True, retries=2
    )
    got = []
    with pytest.raises(StreamInterruptedError) as info:
        for chunk in stream:
            got.append(chunk)
    assert _text(got) == "part0 part1 "
    assert "B TEXT" not in _text(got) and all(c.model == "a" for c in got)
    assert fake.calls_for("b") == []
    assert len(fake.calls_for("a")) == 1
    assert stream.state.error is info.value
    assert list(stream) == []
    assert fake.calls_for("b") == []


async def test_failure_after_first_chunk_never_falls_back_to_another_model_async() -> None:
    fake = FakeProvider().set_default("a", Failure(503, after_chunks=2))
    fake.set_default("b", Reply("B TEXT"))
    stream = await Router(provider=fake, async_sleep=_no_wait).acomplete(
        model="a", fallback_models=["b"], messages=MSG, stream=True, retries=2
    )
    got = []
    with pytest.raises(StreamInterruptedError):
        async for chunk in stream:
            got.append(chunk)
    assert _text(got) == "part0 part1 "
    assert "B TEXT" not in _text(got) and all(c.model == "a" for c in got)
    assert fake.calls_for("b") == []
    assert len(fake.calls_for("a")) == 1
    assert [c async for c in stream] == []
    assert fake.open_streams == 0
