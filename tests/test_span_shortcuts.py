"""The call span's shortcuts write what the general path writes: the common message and
answer written around their text, and a Router's remembered candidate-span attributes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from respan_router import Router
from respan_router.errors import ProviderBadRequestError
from respan_router.telemetry._messages import input_messages, output_messages
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG, completion

# Escapes, non-ASCII, control characters, a lone surrogate (which orjson refuses).
TEXTS = ["", "hello", 'say "hi"\n\t\\', "é 漢字 🎉", "\x00\x1f\x7f", "\u2028", "lone \ud800"]
ROLES = ["system", "developer", "user", "assistant", "tool", "function"]


def _json(value: Any) -> str:
    """What the general path writes: the standard library's compact JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("text", TEXTS)
def test_a_plain_conversation_is_written_as_its_schema(text: str) -> None:
    messages = [{"role": role, "content": text} for role in ROLES]
    expected = [{"role": role, "parts": [{"type": "text", "content": text}]} for role in ROLES]
    assert input_messages(messages) == _json(expected)


def test_a_conversation_off_the_common_shape_is_written_in_full() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": "again", "name": "ada"},  # not {role, content}
        {"role": "tool", "content": "rainy", "tool_call_id": "c1"},
    ]
    assert json.loads(input_messages(messages)) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
        {"role": "user", "parts": [{"type": "text", "content": "again"}], "name": "ada"},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "result": "rainy"}]},
    ]
    assert input_messages([]) == "[]"


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(
    ("reason", "written"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("tool_calls", "tool_call"),
        ("function_call", "tool_call"),
    ],
)
def test_a_text_answer_is_written_as_its_schema(text: str, reason: str, written: str) -> None:
    response = completion(text, finish_reason=reason)
    expected = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": text}],
            "finish_reason": written,
        }
    ]
    assert output_messages(response) == _json(expected)


def test_an_answer_with_a_refusal_keeps_it() -> None:
    response = completion(
        choices=[
            {
                "index": 0,
                "message": {"role": "assistant", "content": "no", "refusal": "not allowed"},
                "finish_reason": "stop",
            }
        ]
    )
    assert json.loads(output_messages(response)) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "no"},
                {"type": "refusal", "content": "not allowed"},
            ],
            "finish_reason": "stop",
        }
    ]


# -- candidate spans: remembered per Router, each still its own ----------------------------
@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _router(fake: FakeProvider, exporter: InMemorySpanExporter) -> Router:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Router(provider=fake, tracer_provider=provider, sleep=lambda _: None)


def _candidates(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    spans = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    exporter.clear()
    return [dict(s.attributes or {}) for s in spans]


def test_each_call_records_its_own_candidates(exporter: InMemorySpanExporter) -> None:
    fake = FakeProvider(Reply("hi", usage=(3, 2)), prices={"gpt-4o": (1e-6, 2e-6)})
    router = _router(fake, exporter)  # one Router across the calls below
    first = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "fake",
        "gen_ai.request.model": "gpt-4o",
        "respan.attempt.outcome": "success",
        "respan.attempt.tries": 1,
    }
    router.complete(model="gpt-4o", messages=MSG)
    (once,) = _candidates(exporter)
    assert {k: once[k] for k in first} == first
    fake.script("gpt-4o", Failure(503, "busy"), Reply("hi"))
    router.complete(model="gpt-4o", messages=MSG, retry_params={"num_retries": 2})
    (retried,) = _candidates(exporter)
    assert retried["respan.attempt.tries"] == 2
    assert retried["respan.attempt.outcome"] == "success"
    router.complete(model="gpt-4o", messages=MSG)
    (again,) = _candidates(exporter)
    assert again == once  # the remembered attributes, unchanged by the calls between
    fake.set_default("gpt-4o", Failure(400, "bad request"))
    with pytest.raises(ProviderBadRequestError):
        router.complete(model="gpt-4o", messages=MSG)
    (failed,) = _candidates(exporter)
    assert failed["respan.attempt.outcome"] == "error"
    assert failed["error.type"] == "ProviderBadRequestError"
