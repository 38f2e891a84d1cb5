"""Spans of real calls through the Router: retries, fallbacks and streams end to end."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from respan_router import AllAttemptsFailedError, Router, StreamInterruptedError
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG

RETRY = {"num_retries": 2, "retry_after": 0.5}


def _split(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, list[ReadableSpan]]:
    spans = exporter.get_finished_spans()
    [call] = [s for s in spans if s.kind is SpanKind.INTERNAL]
    children = sorted((s for s in spans if s is not call), key=lambda s: s.start_time or 0)
    assert all(c.parent and c.parent.span_id == call.context.span_id for c in children)
    return call, children


def test_two_retries_then_a_fallback(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    fake = FakeProvider(provider_name="openai", prices={"b": (1e-6, 1e-6)})
    fake.set_default("a", Failure(429, "slow down")).set_default("b", Reply("from b", usage=(5, 2)))
    sleeps: list[float] = []
    router = Router(provider=fake, tracer_provider=provider, sleep=sleeps.append)
    out = router.complete(
        model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY, request_breakdown=True
    )
    call, (first, second) = _split(exporter)
    attrs = dict(call.attributes or {})
    assert attrs["respan.retries"] == 2
    assert attrs["respan.fallback.attempts"] == 1
    assert attrs["gen_ai.request.model"] == "a"
    assert attrs["gen_ai.response.model"] == "b"
    assert attrs["respan.cost"] == pytest.approx(7e-6)
    assert call.status.status_code is StatusCode.UNSET

    assert first.name == "chat a" and first.status.status_code is StatusCode.ERROR
    assert (first.attributes or {})["respan.attempt.tries"] == 3
    retries = [e for e in first.events if e.name == "respan.retry"]
    assert [e.attributes["respan.retry.try"] for e in retries if e.attributes] == [1, 2]
    assert [e.attributes["respan.retry.wait_seconds"] for e in retries if e.attributes] == sleeps
    assert all((e.attributes or {})["error.type"] == "RateLimitError" for e in retries)
    assert all(first.start_time <= e.timestamp <= first.end_time for e in retries)  # type: ignore[operator]
    assert (
        second.name == "chat b" and (second.attributes or {})["respan.attempt.outcome"] == "success"
    )

    assert out.request_breakdown is not None
    assert [(a["model"], a["outcome"], a["tries"]) for a in out.request_breakdown["attempts"]] == [
        ("a", "error", 3),
        ("b", "success", 1),
    ]


async def test_every_candidate_fails_async(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    fake = FakeProvider(Failure(503, "overloaded"))

    async def no_sleep(seconds: float) -> None:
        return None

    router = Router(provider=fake, tracer_provider=provider, async_sleep=no_sleep)
    with pytest.raises(AllAttemptsFailedError):
        await router.acomplete(model="a", fallback_models=["b"], messages=MSG, retry_params=RETRY)
    call, attempts = _split(exporter)
    assert (call.attributes or {})["error.type"] == "AllAttemptsFailedError"
    assert [(a.name, (a.attributes or {})["respan.attempt.tries"]) for a in attempts] == [
        ("chat a", 3),
        ("chat b", 3),
    ]


def _stream_router(provider: TracerProvider, outcome: Any) -> Router:
    fake = FakeProvider(outcome, provider_name="openai", prices={"m": (1e-6, 1e-6)})
    return Router(provider=fake, tracer_provider=provider)


def test_a_stream_is_recorded_when_it_ends_with_a_breakdown_chunk(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = _stream_router(provider, Reply("one two three", usage=(4, 3)))
    stream = router.complete(
        model="m",
        messages=MSG,
        stream=True,
        stream_options={"include_usage": True},
        request_breakdown=True,
    )
    assert exporter.get_finished_spans() == ()  # not before the stream ends
    chunks = list(stream)
    last = chunks[-1]
    assert last.id == "request_breakdown" and last.choices == []
    assert last.request_breakdown is not None
    assert last.request_breakdown["stream"] is True
    assert (
        last.request_breakdown["prompt_tokens"],
        last.request_breakdown["completion_tokens"],
    ) == (4, 3)
    call, [attempt] = _split(exporter)
    attrs = dict(call.attributes or {})
    assert attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["respan.cost"] == pytest.approx(7e-6)
    assert attrs["gen_ai.response.id"] == chunks[0].id
    assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
    assert '"content":"one two three"' in attrs["gen_ai.output.messages"]
    assert call.end_time is not None and attempt.end_time is not None
    assert call.end_time >= attempt.end_time


async def test_an_async_stream_without_breakdown(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = _stream_router(provider, Reply("a b", usage=(1, 2)))
    stream = await router.acomplete(model="m", messages=MSG, stream=True)
    chunks = [c async for c in stream]
    assert all(c.id != "request_breakdown" for c in chunks)
    call, _ = _split(exporter)
    assert (call.attributes or {})["gen_ai.usage.input_tokens"] == 1


def test_an_interrupted_stream_is_an_error_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = _stream_router(provider, Failure(502, "cut", after_chunks=2))
    stream = router.complete(model="m", messages=MSG, stream=True, request_breakdown=True)
    with pytest.raises(StreamInterruptedError):
        list(stream)
    call, _ = _split(exporter)
    assert call.status.status_code is StatusCode.ERROR
    attrs = dict(call.attributes or {})
    assert attrs["error.type"] == "StreamInterruptedError"
    # The partial output delivered before the failure is recorded.
    assert "part0 part1" in str(attrs["gen_ai.output.messages"])


def test_a_cache_hit_end_to_end(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    fake = FakeProvider(Reply("cached answer", usage=(6, 2)), provider_name="openai")
    router = Router(provider=fake, tracer_provider=provider, cache_enabled=True)
    router.complete(model="m", messages=MSG)
    exporter.clear()
    out = router.complete(model="m", messages=MSG, request_breakdown=True)
    assert len(fake.calls) == 1
    call, attempts = _split(exporter)
    assert attempts == []
    attrs = dict(call.attributes or {})
    assert attrs["respan.cache.hit"] is True
    assert attrs["respan.cost"] == 0.0
    assert attrs["gen_ai.usage.input_tokens"] == 6
    assert "gen_ai.provider.name" not in attrs
    assert out.request_breakdown is not None
    assert out.request_breakdown["cached"] is True and out.request_breakdown["attempts"] == []


def test_a_replayed_stream_is_a_cache_hit(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = _stream_router(provider, Reply("one two", usage=(1, 2)))
    kw: dict[str, Any] = {"model": "m", "messages": MSG, "stream": True, "cache_enabled": True}
    list(router.complete(**kw))
    exporter.clear()
    chunks = list(router.complete(**kw, request_breakdown=True))
    assert chunks[-1].id == "request_breakdown"
    assert chunks[-1].request_breakdown is not None
    assert chunks[-1].request_breakdown["cached"] is True
    call, attempts = _split(exporter)
    assert attempts == []
    assert (call.attributes or {})["respan.cache.hit"] is True


def test_stream_span_records_time_to_first_chunk_and_partial_output() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from respan_router import Router, StreamInterruptedError
    from respan_router.testing import Failure, FakeProvider, Reply

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    fake = FakeProvider(Reply("one two", latency=0.02))
    router = Router(provider=fake, tracer_provider=tp)
    msg = [{"role": "user", "content": "hi"}]
    list(router.complete(model="m", messages=msg, stream=True))
    (call, _attempt) = sorted(exporter.get_finished_spans(), key=lambda s: s.kind.value)
    ttfc = call.attributes["gen_ai.response.time_to_first_chunk"]
    assert 0.02 <= ttfc <= call.attributes["respan.latency"]

    exporter.clear()
    fake.set_default("m", Failure(500, after_chunks=2))
    with pytest.raises(StreamInterruptedError):
        list(router.complete(model="m", messages=msg, stream=True))
    spans = exporter.get_finished_spans()
    call = next(s for s in spans if s.parent is None)
    assert call.attributes["error.type"] == "StreamInterruptedError"
    assert "part0 part1" in call.attributes["gen_ai.output.messages"]


@pytest.mark.parametrize("stream", [False, True])
def test_omit_log_hit_records_no_span_but_the_miss_does(
    provider: TracerProvider, exporter: InMemorySpanExporter, stream: bool
) -> None:
    fake = FakeProvider(Reply("cached answer", usage=(6, 2)))
    router = Router(provider=fake, tracer_provider=provider, cache_enabled=True)
    kw: dict[str, Any] = {
        "model": "m",
        "messages": MSG,
        "stream": stream,
        "cache_options": {"omit_log": True},
        "request_breakdown": True,
    }

    def call() -> Any:
        out = router.complete(**kw)
        if stream:
            chunks = list(out)
            return chunks[-1].request_breakdown
        return out.request_breakdown

    first = call()
    assert first["cached"] is False
    assert len([s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL]) == 1
    exporter.clear()
    second = call()
    assert second["cached"] is True  # the breakdown is still returned on an omitted hit
    assert exporter.get_finished_spans() == ()
    assert len(fake.calls) == 1
    # Without omit_log the same hit is recorded.
    kw["cache_options"] = {"omit_log": False}
    call()
    [span] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL]
    assert (span.attributes or {})["respan.cache.hit"] is True


def test_cost_is_priced_by_the_plans_standard_model(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    # The deployment "prod-4o" has no price; the standard name the plan mapped it from has.
    fake = FakeProvider(Reply("x", usage=(10, 2)), prices={"azure/gpt-4o": (1e-6, 2e-6)})
    router = Router(provider=fake, tracer_provider=provider)
    plan = router.plan(model="azure/gpt-4o", messages=MSG, model_name_map={"gpt-4o": "prod-4o"})
    assert plan[0].litellm_model == "azure/prod-4o" and plan[0].pricing_model == "azure/gpt-4o"
    router.complete(model="azure/gpt-4o", messages=MSG, model_name_map={"gpt-4o": "prod-4o"})
    call, _ = _split(exporter)
    assert (call.attributes or {})["respan.cost"] == pytest.approx(10e-6 + 4e-6)
