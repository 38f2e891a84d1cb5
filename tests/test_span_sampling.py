"""The call span's attributes: given at the span's start when the sampler's decision is
known first, never built for a span the sampler drops."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from respan_router import Router
from respan_router.telemetry import _attributes as attributes_module
from respan_router.telemetry._sampling import ALWAYS, PARENT, UNKNOWN, rule_of
from respan_router.testing import FakeProvider, Reply
from tests.helpers import MSG


class _Seeing(Sampler):
    """Records every span, and what attributes it was shown at the start."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def should_sample(self, context: Any, trace_id: int, name: str, *a: Any, **k: Any) -> Any:
        attributes = a[1] if len(a) > 1 else k.get("attributes")
        self.seen.append(dict(attributes or {}))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "Seeing"


def _router(sampler: Any, exporter: InMemorySpanExporter) -> Router:
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    fake = FakeProvider(Reply("hi", usage=(3, 2)), prices={"gpt-4o": (1e-6, 2e-6)})
    return Router(provider=fake, tracer_provider=provider)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the call span's attribute builds."""
    calls: list[int] = []
    real = attributes_module.call_attributes

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(attributes_module, "call_attributes", spy)
    return calls


@pytest.mark.parametrize(
    ("sampler", "rule"),
    [
        (ALWAYS_ON, ALWAYS),
        (DEFAULT_ON, PARENT),
        (ParentBased(ALWAYS_ON), PARENT),
        (ALWAYS_OFF, UNKNOWN),
        (TraceIdRatioBased(0.5), UNKNOWN),
        (ParentBased(TraceIdRatioBased(0.5)), UNKNOWN),
        (_Seeing(), UNKNOWN),
    ],
    ids=["always-on", "default", "parent-based", "always-off", "ratio", "parent-ratio", "own"],
)
def test_the_rule_is_known_only_for_the_stock_recording_samplers(sampler: Any, rule: str) -> None:
    tracer = TracerProvider(sampler=sampler).get_tracer("t")
    assert rule_of(tracer) == rule
    assert rule_of(trace.NoOpTracer()) == UNKNOWN


@pytest.mark.parametrize("sampler", [ALWAYS_ON, DEFAULT_ON], ids=["always-on", "default"])
def test_a_known_recording_span_gets_its_attributes_at_the_start(
    sampler: Any, exporter: InMemorySpanExporter, built: list[int]
) -> None:
    _router(sampler, exporter).complete(model="gpt-4o", messages=MSG, metadata={"a": 1})
    (call,) = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.INTERNAL]
    attrs = dict(call.attributes or {})
    assert attrs["respan.metadata.a"] == "1"
    assert attrs["gen_ai.usage.input_tokens"] == 3
    assert attrs["respan.cost"] == pytest.approx(3e-6 + 4e-6)
    assert built == [1]


def test_an_unsampled_parent_builds_nothing(
    exporter: InMemorySpanExporter, built: list[int]
) -> None:
    parent = SpanContext(1, 2, is_remote=True, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    with trace.use_span(NonRecordingSpan(parent)):
        _router(DEFAULT_ON, exporter).complete(model="gpt-4o", messages=MSG)
    assert exporter.get_finished_spans() == ()
    assert built == []


def test_a_sampled_parent_records_with_its_attributes(
    exporter: InMemorySpanExporter, built: list[int]
) -> None:
    parent = SpanContext(1, 2, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    with trace.use_span(NonRecordingSpan(parent)):
        _router(DEFAULT_ON, exporter).complete(model="gpt-4o", messages=MSG)
    spans = exporter.get_finished_spans()
    assert len(spans) == 2 and all(s.context.trace_id == 1 for s in spans)
    assert built == [1]


def test_an_unknown_sampler_is_asked_before_anything_is_built(
    exporter: InMemorySpanExporter, built: list[int]
) -> None:
    seeing = _Seeing()
    _router(seeing, exporter).complete(model="gpt-4o", messages=MSG)
    assert seeing.seen[0] == {}  # the call span: started bare, its attributes set after
    assert built == [1]
    (call,) = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.INTERNAL]
    assert (call.attributes or {})["gen_ai.request.model"] == "gpt-4o"
