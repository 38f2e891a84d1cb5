"""Spans of a call, checked with an in-memory exporter: exact attribute sets per case.

Retries and the cache are recorded by other stages; their cases feed hand-built
CallRecords to the span builder, exactly as the executor would fill them.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from respan_router import (
    AllAttemptsFailedError,
    AttemptFailure,
    InvalidRequestError,
    NoCandidateError,
    ProviderError,
    RateLimitError,
    Router,
)
from respan_router.config import build_config
from respan_router.execution import CallEnd, build_breakdown
from respan_router.execution._record import AttemptRecord, CallRecord, RetryWait
from respan_router.request._request import build_request
from respan_router.routing._plan import Planner
from respan_router.routing._pricing import Pricing
from respan_router.telemetry import _attributes as attributes_module
from respan_router.telemetry import _sink as sink_module
from respan_router.telemetry._sink import Telemetry
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG, completion

PRICES = {"gpt-4o": (1e-6, 2e-6), "openai/gpt-4o": (1e-6, 2e-6)}
MS = 1_000_000  # nanoseconds


def _fake(**kw: Any) -> FakeProvider:
    return FakeProvider(
        Reply("hello there", usage=(10, 4)), provider_name="openai", prices=PRICES, **kw
    )


def _split(exporter: InMemorySpanExporter) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The call span and its attempt spans (in start order)."""
    spans = exporter.get_finished_spans()
    calls = [s for s in spans if s.kind is SpanKind.INTERNAL]
    assert len(calls) == 1, [s.name for s in spans]
    call = calls[0]
    children = sorted((s for s in spans if s is not call), key=lambda s: s.start_time or 0)
    for child in children:
        assert child.kind is SpanKind.CLIENT
        assert child.parent is not None and child.parent.span_id == call.context.span_id
    return call, children


def _stable(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes with the run-dependent values checked and removed."""
    attrs = dict(span.attributes or {})
    assert isinstance(attrs.pop("respan.latency"), float)
    assert isinstance(attrs.pop("respan.routing_time"), float)
    if "gen_ai.response.id" in attrs:
        assert attrs.pop("gen_ai.response.id").startswith("chatcmpl-")
    return attrs


def _telemetry(tracer_provider: Any, **config: Any) -> Telemetry:
    cfg = build_config({"tracer_provider": tracer_provider, **config})
    return Telemetry(cfg, Pricing(cfg, _fake()))


def _completion(model: str = "gpt-4o", usage: tuple[int, int] = (10, 4)) -> Any:
    return completion("hello there", model=model, usage=usage)


# -- end to end ---------------------------------------------------------------------------
def test_plain_call_exact_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake(), tracer_provider=provider)
    router.complete(
        model="gpt-4o",
        messages=MSG,
        temperature=0.2,
        max_tokens=50,
        customer_identifier="cust-1",
        thread_identifier="thread-1",
        metadata={"env": "test", "attempt": 1},
    )
    call, attempts = _split(exporter)
    assert call.name == "chat gpt-4o"
    assert call.status.status_code is StatusCode.UNSET
    attrs = _stable(call)
    assert attrs.pop("respan.cost") == pytest.approx(10 * 1e-6 + 4 * 2e-6)
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 4,
        "gen_ai.conversation.id": "thread-1",
        "respan.customer_params.customer_identifier": "cust-1",
        "respan.threads.thread_identifier": "thread-1",
        "respan.metadata.env": "test",
        "respan.metadata.attempt": "1",
        "respan.cache.hit": False,
        "respan.fallback.attempts": 0,
        "respan.retries": 0,
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hello"}]}]',
        "gen_ai.output.messages": (
            '[{"role":"assistant","parts":[{"type":"text","content":"hello there"}],'
            '"finish_reason":"stop"}]'
        ),
    }
    assert len(attempts) == 1
    assert attempts[0].name == "chat gpt-4o"
    assert dict(attempts[0].attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "respan.attempt.outcome": "success",
        "respan.attempt.tries": 1,
    }
    assert attempts[0].events == ()


async def test_async_call_is_recorded_the_same_way(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake(), tracer_provider=provider)
    await router.acomplete(model="gpt-4o", messages=MSG, span_name="checkout")
    call, attempts = _split(exporter)
    assert call.name == "checkout"
    assert [a.name for a in attempts] == ["chat gpt-4o"]
    assert call.attributes is not None and call.attributes["gen_ai.usage.input_tokens"] == 10


def test_failed_call_sets_error_status_type_and_exception_event(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    fake = _fake()
    fake.set_default("gpt-4o", Failure(503, "upstream overloaded"))
    router = Router(provider=fake, tracer_provider=provider)
    with pytest.raises(ProviderError):
        router.complete(model="gpt-4o", messages=MSG)
    call, attempts = _split(exporter)
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "upstream overloaded"
    assert _stable(call) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "error.type": "ProviderError",
        "respan.cache.hit": False,
        "respan.fallback.attempts": 0,
        "respan.retries": 0,
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hello"}]}]',
    }
    [event] = call.events
    assert event.name == "exception"
    assert event.timestamp == call.end_time
    assert dict(event.attributes or {}).keys() == {
        "exception.type",
        "exception.message",
        "exception.stacktrace",
    }
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "respan_router.errors.ProviderError"
    assert event.attributes["exception.message"] == "upstream overloaded"
    [attempt] = attempts
    assert attempt.status.status_code is StatusCode.ERROR
    assert dict(attempt.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "respan.attempt.outcome": "error",
        "respan.attempt.tries": 1,
        "error.type": "ProviderError",
    }
    assert [e.name for e in attempt.events] == ["exception"]


def test_disable_log_drops_content_and_keeps_metrics(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake(), tracer_provider=provider)
    router.complete(model="gpt-4o", messages=MSG, disable_log=True, metadata={"k": "v"})
    call, _ = _split(exporter)
    attrs = _stable(call)
    assert "gen_ai.input.messages" not in attrs
    assert "gen_ai.output.messages" not in attrs
    assert attrs.pop("respan.cost") == pytest.approx(1.8e-5)
    assert attrs == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 4,
        "respan.metadata.k": "v",
        "respan.cache.hit": False,
        "respan.fallback.attempts": 0,
        "respan.retries": 0,
    }
    assert call.attributes is not None and call.attributes["respan.latency"] > 0


def test_router_configured_not_to_record_content(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake(), tracer_provider=provider, record_content=False)
    router.complete(model="gpt-4o", messages=MSG)
    call, _ = _split(exporter)
    assert call.attributes is not None
    assert not any(k.startswith(("gen_ai.input", "gen_ai.output")) for k in call.attributes)
    assert call.attributes["gen_ai.usage.output_tokens"] == 4


def test_typed_properties_reach_the_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake(), tracer_provider=provider)
    router.complete(
        model="gpt-4o",
        messages=MSG,
        properties={
            "premium": True,
            "seats": 3,
            "score": 0.75,
            "tier": "gold",
            "tags": ["a", "b"],
            "ids": [1, 2, 3],
            "org": {"id": 9, "region": {"name": "eu"}},
        },
    )
    call, _ = _split(exporter)
    props = {k: v for k, v in (call.attributes or {}).items() if k.startswith("respan.properties.")}
    assert props == {
        "respan.properties.premium": True,
        "respan.properties.seats": 3,
        "respan.properties.score": 0.75,
        "respan.properties.tier": "gold",
        "respan.properties.tags": ("a", "b"),
        "respan.properties.ids": (1, 2, 3),
        "respan.properties.org.id": 9,
        "respan.properties.org.region.name": "eu",
    }
    assert type(props["respan.properties.premium"]) is bool
    assert type(props["respan.properties.seats"]) is int


def test_unknown_price_sets_no_cost(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=FakeProvider("hi"), tracer_provider=provider)
    out = router.complete(model="unpriced", messages=MSG, request_breakdown=True)
    call, _ = _split(exporter)
    assert "respan.cost" not in (call.attributes or {})
    assert out.request_breakdown is not None and out.request_breakdown["cost"] is None


def test_call_span_is_a_child_of_the_callers_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake(), tracer_provider=provider)
    with provider.get_tracer("app").start_as_current_span("handle request") as outer:
        router.complete(model="gpt-4o", messages=MSG)
    call = next(
        s
        for s in exporter.get_finished_spans()
        if s.name == "chat gpt-4o" and s.kind is SpanKind.INTERNAL
    )
    assert call.parent is not None and call.parent.span_id == outer.get_span_context().span_id


def test_threads_group_by_thread_identifier(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake(), tracer_provider=provider)
    for thread in ("t-1", "t-2", "t-1"):
        router.complete(model="gpt-4o", messages=MSG, thread_identifier=thread)
    calls = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL]
    groups: dict[str, int] = {}
    for span in calls:
        key = str((span.attributes or {})["respan.threads.thread_identifier"])
        groups[key] = groups.get(key, 0) + 1
    assert groups == {"t-1": 2, "t-2": 1}


def test_invalid_request_is_not_recorded(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake(), tracer_provider=provider)
    with pytest.raises(InvalidRequestError):
        router.complete(model="gpt-4o", messages=MSG, temperature="hot")
    with pytest.raises(InvalidRequestError):
        router.complete(model="gpt-4o", messages=[])
    assert exporter.get_finished_spans() == ()


def test_a_routing_error_gives_an_error_span_without_candidates(
    provider: TracerProvider, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_candidate(self: Planner, request: Any) -> Any:
        raise NoCandidateError("every candidate was excluded")

    monkeypatch.setattr(Planner, "attempts", no_candidate)  # plan() asks it too
    router = Router(provider=_fake(), tracer_provider=provider)
    with pytest.raises(NoCandidateError):
        router.complete(model="gpt-4o", messages=MSG, disable_log=True)
    [call] = exporter.get_finished_spans()
    assert call.status.status_code is StatusCode.ERROR
    assert _stable(call) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "error.type": "NoCandidateError",
        "respan.cache.hit": False,
        "respan.fallback.attempts": 0,
        "respan.retries": 0,
    }


def test_a_telemetry_bug_never_fails_the_call(
    provider: TracerProvider, exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("bug in an attribute builder")

    monkeypatch.setattr(attributes_module, "call_attributes", broken)
    router = Router(provider=_fake(), tracer_provider=provider)
    out = router.complete(model="gpt-4o", messages=MSG)
    assert out.choices[0].message.content == "hello there"
    fake = _fake()
    fake.set_default("gpt-4o", Failure(429, "slow down"))
    with pytest.raises(RateLimitError):  # the call's own error, not the telemetry bug
        Router(provider=fake, tracer_provider=provider).complete(model="gpt-4o", messages=MSG)


# -- hand-built records: retries, fallback, cache ------------------------------------------
def _retry_fallback_record(t0: int) -> CallRecord:
    first = AttemptRecord(
        "gpt-4o",
        "openai",
        "openai/gpt-4o",
        "provider",
        start_ns=t0 + 1 * MS,
        end_ns=t0 + 40 * MS,
        tries=3,
        waits=[
            RetryWait(at_ns=t0 + 10 * MS, seconds=0.2, try_number=1, error_type="RateLimitError"),
            RetryWait(at_ns=t0 + 25 * MS, seconds=0.4, try_number=2, error_type="RateLimitError"),
        ],
        error=RateLimitError("slow down", model="gpt-4o", provider="openai"),
        outcome="error",
    )
    second = AttemptRecord(
        "claude-3-5-sonnet",
        "anthropic",
        "anthropic/claude-3-5-sonnet",
        "provider",
        start_ns=t0 + 41 * MS,
        end_ns=t0 + 90 * MS,
        tries=1,
        outcome="success",
    )
    return CallRecord(
        start_ns=t0,
        routing_seconds=0.0005,
        end_ns=t0 + 91 * MS,
        attempts=[first, second],
    )


def test_two_retries_and_one_fallback(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    t0 = 1_700_000_000_000_000_000
    record = _retry_fallback_record(t0)
    request = build_request({"model": "gpt-4o", "messages": MSG})
    response = _completion("claude-3-5-sonnet", (20, 5))
    _telemetry(provider).finish(record, request, response, None)

    call, (first, second) = _split(exporter)
    assert (call.start_time, call.end_time) == (t0, t0 + 91 * MS)
    assert call.name == "chat gpt-4o"
    assert dict(call.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "claude-3-5-sonnet",
        "gen_ai.response.id": "chatcmpl-fixed",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.prompt_tokens": 20,
        "gen_ai.usage.completion_tokens": 5,
        "respan.cache.hit": False,
        "respan.fallback.attempts": 1,
        "respan.retries": 2,
        "respan.latency": 0.091,
        "respan.routing_time": 0.0005,
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hello"}]}]',
        "gen_ai.output.messages": (
            '[{"role":"assistant","parts":[{"type":"text","content":"hello there"}],'
            '"finish_reason":"stop"}]'
        ),
    }
    assert call.status.status_code is StatusCode.UNSET

    assert first.name == "chat gpt-4o"
    assert (first.start_time, first.end_time) == (t0 + 1 * MS, t0 + 40 * MS)
    assert first.status.status_code is StatusCode.ERROR
    assert dict(first.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "respan.attempt.outcome": "error",
        "respan.attempt.tries": 3,
        "error.type": "RateLimitError",
    }
    assert [(e.name, e.timestamp, dict(e.attributes or {})) for e in first.events] == [
        (
            "respan.retry",
            t0 + 10 * MS,
            {
                "respan.retry.try": 1,
                "respan.retry.wait_seconds": 0.2,
                "error.type": "RateLimitError",
            },
        ),
        (
            "respan.retry",
            t0 + 25 * MS,
            {
                "respan.retry.try": 2,
                "respan.retry.wait_seconds": 0.4,
                "error.type": "RateLimitError",
            },
        ),
        (
            "exception",
            t0 + 40 * MS,
            {
                "exception.type": "respan_router.errors.RateLimitError",
                "exception.message": "slow down",
            },
        ),
    ]

    assert second.name == "chat claude-3-5-sonnet"
    assert (second.start_time, second.end_time) == (t0 + 41 * MS, t0 + 90 * MS)
    assert second.status.status_code is StatusCode.UNSET
    assert dict(second.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-5-sonnet",
        "respan.attempt.outcome": "success",
        "respan.attempt.tries": 1,
    }
    assert second.events == ()


def test_every_candidate_failed(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    t0 = 1_700_000_000_000_000_000
    record = _retry_fallback_record(t0)
    last = ProviderError("overloaded", status_code=503, model="claude-3-5-sonnet")
    record.attempts[1].error, record.attempts[1].outcome = last, "error"
    error = AllAttemptsFailedError(
        [
            AttemptFailure("gpt-4o", "openai", record.attempts[0].error),  # type: ignore[arg-type]
            AttemptFailure("claude-3-5-sonnet", "anthropic", last),
        ]
    )
    request = build_request({"model": "gpt-4o", "messages": MSG})
    _telemetry(provider).finish(record, request, None, error)
    call, attempts = _split(exporter)
    attrs = dict(call.attributes or {})
    assert attrs["error.type"] == "AllAttemptsFailedError"
    assert attrs["respan.fallback.attempts"] == 1
    assert attrs["respan.retries"] == 2
    assert not any(k.startswith(("gen_ai.response", "gen_ai.usage", "respan.cost")) for k in attrs)
    assert call.status.status_code is StatusCode.ERROR
    assert [a.attributes["error.type"] for a in attempts if a.attributes] == [
        "RateLimitError",
        "ProviderError",
    ]


def test_cache_hit(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    t0 = 1_700_000_000_000_000_000
    record = CallRecord(start_ns=t0, end_ns=t0 + 2 * MS, cache_hit=True)
    request = build_request({"model": "gpt-4o", "messages": MSG, "customer_identifier": "c"})
    _telemetry(provider).finish(record, request, _completion(), None)
    call, attempts = _split(exporter)
    assert attempts == []
    assert call.name == "chat gpt-4o"
    assert dict(call.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.response.model": "gpt-4o",
        "gen_ai.response.id": "chatcmpl-fixed",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.prompt_tokens": 10,
        "gen_ai.usage.completion_tokens": 4,
        "respan.customer_params.customer_identifier": "c",
        "respan.cost": 0.0,
        "respan.cache.hit": True,
        "respan.fallback.attempts": 0,
        "respan.retries": 0,
        "respan.latency": 0.002,
        "respan.routing_time": 0.0,
        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hello"}]}]',
        "gen_ai.output.messages": (
            '[{"role":"assistant","parts":[{"type":"text","content":"hello there"}],'
            '"finish_reason":"stop"}]'
        ),
    }


def test_interrupted_attempt_ends_with_the_call(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    t0 = 1_700_000_000_000_000_000
    attempt = AttemptRecord("gpt-4o", "openai", "openai/gpt-4o", "provider", start_ns=t0, tries=1)
    record = CallRecord(start_ns=t0, end_ns=t0 + 5 * MS, attempts=[attempt])
    request = build_request({"model": "gpt-4o", "messages": MSG})
    _telemetry(provider).finish(record, request, None, asyncio.CancelledError())
    call, [child] = _split(exporter)
    assert child.end_time == t0 + 5 * MS
    assert (child.attributes or {})["respan.attempt.outcome"] == "interrupted"
    assert (call.attributes or {})["error.type"] == "CancelledError"


def test_cost_honours_model_name_map() -> None:
    # Priced by the standard name the map stands for, not the deployment's own name.
    fake = FakeProvider(prices={"azure/gpt-4o": (1e-6, 1e-6)})
    router = Router(provider=fake)
    params = {"model": "azure/gpt-4o", "messages": MSG, "request_breakdown": True}
    unmapped = router.complete(**params)
    assert unmapped.request_breakdown is not None
    mapped = router.complete(**params, model_name_map={"gpt-4o": "my-gpt4o"})
    assert mapped.request_breakdown is not None
    assert fake.calls[-1].litellm_model == "azure/my-gpt4o"
    usage = mapped.usage
    assert usage is not None
    expected = (usage.prompt_tokens + usage.completion_tokens) * 1e-6
    assert mapped.request_breakdown["cost"] == pytest.approx(expected)


# -- the no-op path ----------------------------------------------------------------------
# The work a recorded span costs: what the no-op path must never do.
_SPAN_WORK = frozenset({"call_attributes", "attempt_attributes", "cost"})


@pytest.fixture
def attribute_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every call into the attribute builders and the pricing."""
    calls: list[str] = []
    for name in ("call_attributes", "attempt_attributes"):
        real = getattr(attributes_module, name)

        def spy(*args: Any, _name: str = name, _real: Any = real, **kwargs: Any) -> Any:
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(attributes_module, name, spy)
    real_cost = sink_module.call_cost

    def cost_spy(*args: Any) -> Any:
        calls.append("cost")
        return real_cost(*args)

    monkeypatch.setattr(sink_module, "call_cost", cost_spy)
    return calls


def test_the_spy_sees_attribute_work_when_tracing(
    provider: TracerProvider, attribute_spy: list[str]
) -> None:
    Router(provider=_fake(), tracer_provider=provider).complete(model="gpt-4o", messages=MSG)
    assert set(attribute_spy) >= _SPAN_WORK


@pytest.mark.parametrize(
    "tracer_provider",
    [None, trace.NoOpTracerProvider(), TracerProvider(sampler=ALWAYS_OFF)],
    ids=["no-provider-configured", "noop-provider", "sampled-out"],
)
def test_noop_tracing_does_no_attribute_work(
    tracer_provider: Any, attribute_spy: list[str], exporter: InMemorySpanExporter
) -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # no global one
    router = Router(provider=_fake(), tracer_provider=tracer_provider)
    router.complete(model="gpt-4o", messages=MSG, metadata={"a": 1}, properties={"b": [1]})
    fake = _fake()
    fake.set_default("gpt-4o", Failure(500))
    with pytest.raises(ProviderError):
        Router(provider=fake, tracer_provider=tracer_provider).complete(
            model="gpt-4o", messages=MSG
        )
    # (Sampled out, the span's name is still worked out: the sampler may read it.)
    assert not _SPAN_WORK & set(attribute_spy)
    assert exporter.get_finished_spans() == ()


def test_without_opentelemetry_imported_nothing_is_imported(
    monkeypatch: pytest.MonkeyPatch, attribute_spy: list[str]
) -> None:
    for name in [m for m in sys.modules if m == "opentelemetry.trace"]:
        monkeypatch.delitem(sys.modules, name)
    router = Router(provider=_fake())
    router.complete(model="gpt-4o", messages=MSG)
    assert "opentelemetry.trace" not in sys.modules
    assert not _SPAN_WORK & set(attribute_spy)


def test_importing_the_library_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, respan_router\n"
        "from respan_router.testing import FakeProvider\n"
        "respan_router.Router(provider=FakeProvider()).complete("
        "model='m', messages=[{'role': 'user', 'content': 'x'}], request_breakdown=True)\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_global_provider_set_after_the_router_is_used(
    monkeypatch: pytest.MonkeyPatch, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=_fake())
    router.complete(model="gpt-4o", messages=MSG)
    assert exporter.get_finished_spans() == ()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    router.complete(model="gpt-4o", messages=MSG)
    assert [s.name for s in exporter.get_finished_spans()] == ["chat gpt-4o", "chat gpt-4o"]


# -- request_breakdown ----------------------------------------------------------------------
def test_request_breakdown_without_tracing() -> None:
    fake = _fake()
    router = Router(provider=fake)
    out = router.complete(
        model="gpt-4o", messages=MSG, request_breakdown=True, metadata={"team": "search", "n": 2}
    )
    bd = out.request_breakdown
    assert bd is not None
    assert bd.keys() == {
        "prompt_tokens",
        "completion_tokens",
        "cost",
        "model",
        "cached",
        "latency",
        "routing_time",
        "status_code",
        "stream",
        "timestamp",
        "attempts",
        "metadata",
    }
    assert (bd["prompt_tokens"], bd["completion_tokens"]) == (10, 4)
    assert bd["cost"] == pytest.approx(1.8e-5)
    assert (bd["model"], bd["cached"], bd["status_code"], bd["stream"]) == (
        "gpt-4o",
        False,
        200,
        False,
    )
    assert bd["latency"] > 0 and bd["routing_time"] >= 0
    assert bd["timestamp"].endswith("+00:00")
    assert bd["attempts"] == [
        {"model": "gpt-4o", "provider": "openai", "outcome": "success", "tries": 1}
    ]
    assert bd["metadata"] == {"team": "search", "n": "2"}
    assert out.to_dict()["request_breakdown"] == bd
    json.dumps(bd)  # plain JSON
    assert "request_breakdown" not in router.complete(model="gpt-4o", messages=MSG).model_dump()


def test_request_breakdown_lists_failed_attempts(provider: TracerProvider) -> None:
    t0 = 1_700_000_000_000_000_000
    record = _retry_fallback_record(t0)
    request = build_request({"model": "gpt-4o", "messages": MSG, "request_breakdown": True})
    response = _completion("claude-3-5-sonnet", (20, 5))
    end_ns = record.end_ns
    cfg = build_config({})
    CallEnd(Pricing(cfg, FakeProvider()), _telemetry(provider))(record, request, response, None)
    assert response.request_breakdown is not None  # built by the call's end, not telemetry
    record.end_ns = end_ns  # the test's clock, not the moment CallEnd stamped
    response.request_breakdown = build_breakdown(record, request, response, None)
    assert response.request_breakdown["attempts"] == [
        {
            "model": "gpt-4o",
            "provider": "openai",
            "outcome": "error",
            "tries": 3,
            "error": "RateLimitError",
        },
        {"model": "claude-3-5-sonnet", "provider": "anthropic", "outcome": "success", "tries": 1},
    ]
    assert response.request_breakdown["latency"] == 0.091
    assert response.request_breakdown["timestamp"] == "2023-11-14T22:13:20+00:00"
