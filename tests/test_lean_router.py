"""The lean path through the Router: chosen by default, switched off by a setting, and
the path each attempt took recorded on its span."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from tests.helpers import MSG
from tests.upstream import FakeUpstream, Reply

MODEL = "openai/test-model"


def _paths(exporter: InMemorySpanExporter) -> list[object]:
    return [
        (s.attributes or {}).get("respan.attempt.dispatch_path")
        for s in exporter.get_finished_spans()
        if s.parent is not None
    ]


@pytest.mark.parametrize(("lean", "path"), [(True, "lean"), (False, "litellm")])
async def test_the_span_says_which_path_an_attempt_took(
    upstream: FakeUpstream,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    lean: bool,
    path: str,
) -> None:
    upstream.set_default(Reply("hi"))
    router = Router(
        providers={"openai": {"api_key": "sk-lean-router", "api_base": upstream.base_url}},
        tracer_provider=provider,
        lean_dispatch=lean,
    )
    out = router.complete(model=MODEL, messages=MSG)
    aout = await router.acomplete(model=MODEL, messages=MSG)
    assert out.choices[0].message.content == aout.choices[0].message.content == "hi"
    assert _paths(exporter) == [path, path]
    assert len(upstream.requests) == 2


def test_an_unproven_call_takes_the_litellm_path(
    upstream: FakeUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(Reply("hi"))
    router = Router(
        providers={"openai": {"api_key": "sk-lean-router", "api_base": upstream.base_url}},
        tracer_provider=provider,
    )
    router.complete(model=MODEL, messages=MSG, mock_response="mocked")
    assert _paths(exporter) == ["litellm"]
