"""Every way a stream can end records exactly one ended call span: early close, leaving the
``with`` block, ``break`` then garbage collection, and cancelling the consuming task."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from respan_router import Router
from respan_router.testing import FakeProvider, Reply
from tests.helpers import MSG, cancel_consumer_after_first_chunk
from tests.upstream import FakeUpstream
from tests.upstream import Reply as UpstreamReply

LONG = Reply("w " * 50)
SLOW = Reply("w " * 50, chunk_latency=0.02)


def _router(tp: TracerProvider, outcome: Any = LONG) -> tuple[Router, FakeProvider]:
    fake = FakeProvider(outcome)
    return Router(provider=fake, tracer_provider=tp), fake


def _call_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL]


def _one_ended_call_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [call] = _call_spans(exporter)
    assert call.end_time is not None and call.start_time is not None
    assert call.end_time >= call.start_time
    attempts = [s for s in exporter.get_finished_spans() if s is not call]
    assert len(attempts) == 1 and attempts[0].end_time is not None
    assert attempts[0].parent is not None
    assert attempts[0].parent.span_id == call.context.span_id
    return call


# -- sync -------------------------------------------------------------------------------
def test_close_after_one_chunk_ends_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, fake = _router(provider)
    stream = router.complete(model="m", messages=MSG, stream=True)
    next(stream)
    assert _call_spans(exporter) == []  # still open
    stream.close()
    call = _one_ended_call_span(exporter)
    attrs = dict(call.attributes or {})
    assert '"content":"w "' in str(attrs["gen_ai.output.messages"])  # what was delivered
    assert attrs["gen_ai.usage.output_tokens"] == 1
    stream.close()  # twice is harmless
    assert list(stream) == []
    assert len(_call_spans(exporter)) == 1
    assert fake.open_streams == 0


def test_leaving_the_with_block_ends_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, _ = _router(provider)
    with router.complete(model="m", messages=MSG, stream=True) as stream:
        next(stream)
    _one_ended_call_span(exporter)


def test_break_then_garbage_collection_ends_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, fake = _router(provider)
    for _ in router.complete(model="m", messages=MSG, stream=True):
        break
    gc.collect()
    _one_ended_call_span(exporter)
    assert fake.open_streams == 0


def test_a_completed_stream_ends_the_span_once(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, _ = _router(provider, Reply("a b c"))
    stream = router.complete(model="m", messages=MSG, stream=True)
    list(stream)
    stream.close()
    del stream
    gc.collect()
    _one_ended_call_span(exporter)


# -- async ------------------------------------------------------------------------------
async def test_aclose_after_one_chunk_ends_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, fake = _router(provider)
    stream = await router.acomplete(model="m", messages=MSG, stream=True)
    await anext(stream)
    assert _call_spans(exporter) == []
    await stream.aclose()
    _one_ended_call_span(exporter)
    await stream.aclose()
    assert [c async for c in stream] == []
    assert len(_call_spans(exporter)) == 1
    assert fake.open_streams == 0


async def test_leaving_the_async_with_block_ends_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, _ = _router(provider)
    async with await router.acomplete(model="m", messages=MSG, stream=True) as stream:
        await anext(stream)
    _one_ended_call_span(exporter)


async def test_async_break_then_garbage_collection_ends_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, fake = _router(provider)
    async for _ in await router.acomplete(model="m", messages=MSG, stream=True):
        break
    gc.collect()
    _one_ended_call_span(exporter)
    for _ in range(5):  # the loop finalises the provider's async generator
        await asyncio.sleep(0)
    assert fake.open_streams == 0


async def test_cancelling_the_consumer_ends_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, fake = _router(provider, SLOW)
    await cancel_consumer_after_first_chunk(router, model="m", messages=MSG)
    call = _one_ended_call_span(exporter)
    assert (call.attributes or {})["error.type"] == "CancelledError"
    assert fake.open_streams == 0
    gc.collect()
    assert len(_call_spans(exporter)) == 1


async def test_cancelling_before_the_first_chunk_ends_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router, fake = _router(provider, Reply("late", latency=5.0))
    task = asyncio.create_task(router.acomplete(model="m", messages=MSG, stream=True))
    while not fake.calls:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _one_ended_call_span(exporter)
    assert fake.open_streams == 0


# -- over real HTTP ------------------------------------------------------------------------
def _http_router(upstream: FakeUpstream, tp: TracerProvider) -> Router:
    return Router(
        providers={"openai": {"api_key": "sk-spans-http", "api_base": upstream.base_url}},
        tracer_provider=tp,
    )


def test_http_break_then_gc_ends_the_span_and_the_connection(
    upstream: FakeUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(UpstreamReply("x " * 40, pieces=40, chunk_delay=0.02))
    router = _http_router(upstream, provider)
    for _ in router.complete(model="openai/m", messages=MSG, stream=True):
        break
    gc.collect()
    _one_ended_call_span(exporter)
    assert upstream.wait_for(lambda: upstream.disconnects >= 1, timeout=3)


async def test_http_async_break_then_gc_ends_the_span_and_the_connection(
    upstream: FakeUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(UpstreamReply("x " * 40, pieces=40, chunk_delay=0.02))
    router = _http_router(upstream, provider)
    async for _ in await router.acomplete(model="openai/m", messages=MSG, stream=True):
        break
    gc.collect()
    _one_ended_call_span(exporter)
    assert await upstream.async_wait_for(lambda: upstream.disconnects >= 1, timeout=3)


async def test_http_cancelled_consumer_ends_the_span_and_the_connection(
    upstream: FakeUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(UpstreamReply("x " * 40, pieces=40, chunk_delay=0.02))
    router = _http_router(upstream, provider)
    await cancel_consumer_after_first_chunk(router, model="openai/m", messages=MSG)
    _one_ended_call_span(exporter)
    assert await upstream.async_wait_for(lambda: upstream.disconnects >= 1, timeout=3)
