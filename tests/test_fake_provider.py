"""FakeProvider answers as a provider would: ``n`` choices, function and tool calls,
refusals, reasoning and usage details, plain and streamed; streamed spans see each choice."""

from __future__ import annotations

import json

from openai.types.chat import ChatCompletion
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from respan_router import Router
from respan_router.testing import FakeProvider, Reply
from tests.helpers import MSG

TOOLS = Reply(
    "calling",
    tool_calls=(("get_weather", '{"city": "Oslo"}'), ("get_time", "{}")),
    alternatives=("second",),
)


def test_n_choices_each_with_its_text() -> None:
    out = Router(provider=FakeProvider(TOOLS)).complete(model="m", messages=MSG, n=3)
    assert isinstance(out, ChatCompletion)
    assert [c.index for c in out.choices] == [0, 1, 2]
    assert [c.message.content for c in out.choices] == ["calling", "second", "second"]
    calls = out.choices[1].message.tool_calls
    assert calls is not None and [c.function.name for c in calls] == ["get_weather", "get_time"]  # type: ignore[union-attr]
    assert out.choices[0].finish_reason == "tool_calls"


def test_function_call_refusal_reasoning_and_usage_details() -> None:
    reply = Reply(
        None,
        function_call=("lookup", '{"q": 1}'),
        refusal="no",
        reasoning_content="thinking",
        cached_tokens=4,
        reasoning_tokens=12,
        usage_details={"cache_creation_input_tokens": 8},
        usage=(20, 15),
        fields={"service_tier": "flex"},
    )
    out = Router(provider=FakeProvider(reply)).complete(model="m", messages=MSG)
    message = out.choices[0].message
    assert message.function_call is not None and message.function_call.name == "lookup"
    assert message.refusal == "no" and message.content is None
    assert message.model_extra == {"reasoning_content": "thinking"}
    assert out.choices[0].finish_reason == "function_call"
    assert out.usage is not None and out.usage.prompt_tokens_details is not None
    assert out.usage.prompt_tokens_details.cached_tokens == 4
    assert out.usage.completion_tokens_details is not None
    assert out.usage.completion_tokens_details.reasoning_tokens == 12
    assert out.usage.model_extra == {"cache_creation_input_tokens": 8}
    assert out.service_tier == "flex"


def test_the_answer_names_the_backend_model_unless_scripted() -> None:
    router = Router(provider=FakeProvider(), deployments={"fast": {"model": "openai/mini"}})
    assert router.complete(model="fast", messages=MSG).model == "openai/mini"
    scripted = Router(provider=FakeProvider(Reply("x", model="gpt-4o-2024-08-06")))
    assert scripted.complete(model="gpt-4o", messages=MSG).model == "gpt-4o-2024-08-06"


def test_a_stream_of_n_choices_assembles_to_the_plain_answer() -> None:
    router = Router(provider=FakeProvider(TOOLS))
    plain = router.complete(model="m", messages=MSG, n=2)
    stream = router.complete(model="m", messages=MSG, n=2, stream=True)
    chunks = list(stream)
    assert {c.choices[0].index for c in chunks if c.choices} == {0, 1}
    whole = stream.state.as_completion()
    assert whole is not None
    for got, want in zip(whole.choices, plain.choices, strict=True):
        assert got.message.content == want.message.content
        assert got.message.tool_calls == want.message.tool_calls
        assert got.finish_reason == want.finish_reason


def test_a_streamed_refusal_and_function_call_assemble() -> None:
    reply = Reply(None, refusal="I can't help.", function_call=("lookup", '{"q": "abc"}'))
    stream = Router(provider=FakeProvider(reply)).complete(model="m", messages=MSG, stream=True)
    list(stream)
    whole = stream.state.as_completion()
    assert whole is not None
    message = whole.choices[0].message
    assert message.refusal == "I can't help." and message.content is None
    assert message.function_call is not None
    assert (message.function_call.name, message.function_call.arguments) == (
        "lookup",
        '{"q": "abc"}',
    )


def test_streamed_span_records_every_choice_with_tool_calls(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = Router(provider=FakeProvider(TOOLS), tracer_provider=provider)
    list(router.complete(model="m", messages=MSG, n=2, stream=True))
    [call] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL]
    output = json.loads(str((call.attributes or {})["gen_ai.output.messages"]))
    assert [m["parts"][0]["content"] for m in output] == ["calling", "second"]
    for message in output:
        assert [p["name"] for p in message["parts"][1:]] == ["get_weather", "get_time"]
        assert message["finish_reason"] == "tool_call"
