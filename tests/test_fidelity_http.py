"""Over real HTTP, the router's answer is the OpenAI SDK's answer: same type, same
``model_dump()`` (apart from ``request_breakdown``), chunk by chunk for a stream; and every
field the upstream sent reaches the caller, the span and the cache."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from respan_router import Router
from tests.helpers import MSG
from tests.upstream import FakeUpstream, Raw, maximal_chunks, maximal_completion

KEY = "sk-fidelity-0123456789"


@pytest.fixture
def maximal(upstream: FakeUpstream) -> FakeUpstream:
    upstream.set_default(Raw(body=maximal_completion(), events=maximal_chunks()))
    return upstream


def _router(upstream: FakeUpstream, **kw: Any) -> Router:
    return Router(providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}}, **kw)


def _sdk(upstream: FakeUpstream) -> openai.OpenAI:
    return openai.OpenAI(base_url=upstream.base_url, api_key=KEY)


def _without_breakdown(dump: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dump.items() if k != "request_breakdown"}


# -- the same object as the SDK's -------------------------------------------------------
def test_completion_is_the_sdk_answer(maximal: FakeUpstream) -> None:
    expected = _sdk(maximal).chat.completions.create(model="gpt-4o", messages=MSG)  # type: ignore[arg-type]
    out = _router(maximal).complete(model="openai/gpt-4o", messages=MSG)
    assert type(out) is ChatCompletion
    assert out.model_dump() == expected.model_dump()


def test_completion_with_breakdown_differs_only_by_it(maximal: FakeUpstream) -> None:
    expected = _sdk(maximal).chat.completions.create(model="gpt-4o", messages=MSG)  # type: ignore[arg-type]
    out = _router(maximal).complete(model="openai/gpt-4o", messages=MSG, request_breakdown=True)
    dump = out.model_dump()
    assert dump["request_breakdown"]["model"] == "openai/gpt-4o"  # the requested name
    assert _without_breakdown(dump) == expected.model_dump()


async def test_async_completion_is_the_sdk_answer(maximal: FakeUpstream) -> None:
    client = openai.AsyncOpenAI(base_url=maximal.base_url, api_key=KEY)
    expected = await client.chat.completions.create(model="gpt-4o", messages=MSG)  # type: ignore[arg-type]
    out = await _router(maximal).acomplete(model="openai/gpt-4o", messages=MSG)
    assert out.model_dump() == expected.model_dump()
    await client.close()


def _sdk_chunks(upstream: FakeUpstream) -> list[dict[str, Any]]:
    stream = _sdk(upstream).chat.completions.create(
        model="gpt-4o",
        messages=MSG,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    return [c.model_dump() for c in stream]


def test_stream_is_the_sdk_stream_chunk_by_chunk(maximal: FakeUpstream) -> None:
    expected = _sdk_chunks(maximal)
    stream = _router(maximal).complete(
        model="openai/gpt-4o", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(type(c) is ChatCompletionChunk for c in chunks)
    assert [c.model_dump() for c in chunks] == expected
    assert len(expected) == len(maximal_chunks())


async def test_async_stream_is_the_sdk_stream_with_breakdown_last(maximal: FakeUpstream) -> None:
    expected = _sdk_chunks(maximal)
    stream = await _router(maximal).acomplete(
        model="openai/gpt-4o",
        messages=MSG,
        stream=True,
        stream_options={"include_usage": True},
        request_breakdown=True,
    )
    chunks = [c.model_dump() async for c in stream]
    assert chunks[:-1] == expected
    assert chunks[-1]["id"] == "request_breakdown"
    assert chunks[-1]["request_breakdown"]["prompt_tokens"] == 40


def test_streamed_answer_assembles_to_the_plain_answer(maximal: FakeUpstream) -> None:
    stream = _router(maximal).complete(
        model="openai/gpt-4o", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    list(stream)
    whole = stream.state.as_completion()
    assert whole is not None
    plain = maximal_completion()
    got = whole.model_dump(exclude_unset=True)
    assert [c["message"].get("tool_calls") for c in got["choices"]] == [
        c["message"].get("tool_calls") for c in plain["choices"]
    ]
    assert got["choices"][0]["message"]["content"] == plain["choices"][0]["message"]["content"]
    assert got["choices"][0]["message"]["function_call"] == {
        "name": "legacy_lookup",
        "arguments": '{"q": "hi"}',
    }
    assert got["choices"][0]["message"]["audio"] == {"id": "audio_1", "transcript": "Hi"}
    assert got["choices"][0]["message"]["x_delta_extra"] == 1
    assert got["choices"][1]["message"]["refusal"] == "I can't help."
    assert [c["finish_reason"] for c in got["choices"]] == ["tool_calls", "content_filter"]
    assert got["usage"] == plain["usage"]
    assert got["model"] == "gpt-4o-2024-08-06" and got["service_tier"] == "default"
    assert got["x_chunk_extra"] == "kept"


# -- each field the router used to lose (issue: "Answers lost") -----------------------
def _answer(upstream: FakeUpstream) -> ChatCompletion:
    return _router(upstream).complete(model="openai/gpt-4o", messages=MSG)


def test_legacy_function_call_reaches_the_caller(maximal: FakeUpstream) -> None:
    call = _answer(maximal).choices[0].message.function_call
    assert call is not None and (call.name, call.arguments) == ("legacy_lookup", '{"q": "hi"}')


def test_annotations_and_audio_reach_the_caller(maximal: FakeUpstream) -> None:
    message = _answer(maximal).choices[0].message
    assert message.annotations is not None
    assert message.annotations[0].url_citation.url == "https://example.com"
    assert message.audio is not None and message.audio.transcript == "Hi"


def test_service_tier_and_unknown_fields_reach_the_caller(maximal: FakeUpstream) -> None:
    out = _answer(maximal)
    assert out.service_tier == "default"
    assert out.model_extra == {"x_unknown": {"kept": [1, 2.5, "three"]}}
    assert out.choices[0].message.model_extra == {"x_message_extra": "kept"}
    assert out.usage is not None and out.usage.model_extra == {"x_usage_extra": 7}


def test_usage_details_reach_the_caller(maximal: FakeUpstream) -> None:
    usage = _answer(maximal).usage
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 16
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 12


def test_model_is_what_the_upstream_answered(maximal: FakeUpstream) -> None:
    assert _answer(maximal).model == "gpt-4o-2024-08-06"


def test_refusal_deltas_and_second_choice_reach_a_stream(maximal: FakeUpstream) -> None:
    chunks = list(_router(maximal).complete(model="openai/gpt-4o", messages=MSG, stream=True))
    refusals = [c.choices[0].delta.refusal for c in chunks if c.choices and c.choices[0].index == 1]
    assert "".join(r for r in refusals if r) == "I can't help."


def test_reasoning_content_reaches_the_caller(upstream: FakeUpstream) -> None:
    body = maximal_completion()
    body["choices"][0]["message"]["reasoning_content"] = "Let me think."
    upstream.set_default(Raw(body=body))
    out = _answer(upstream)
    assert out.choices[0].message.model_extra["reasoning_content"] == "Let me think."  # type: ignore[index]


def test_a_cache_hit_is_the_same_answer(maximal: FakeUpstream) -> None:
    router = _router(maximal)
    first = router.complete(model="openai/gpt-4o", messages=MSG, cache_enabled=True)
    hit = router.complete(model="openai/gpt-4o", messages=MSG, cache_enabled=True)
    assert len(maximal.requests) == 1
    assert hit.model_dump() == first.model_dump()


def test_a_replayed_stream_is_the_same_stream(maximal: FakeUpstream) -> None:
    router = _router(maximal)
    kw: dict[str, Any] = {"model": "openai/gpt-4o", "messages": MSG, "stream": True}
    first = [c.model_dump() for c in router.complete(cache_enabled=True, **kw)]
    again = [c.model_dump() for c in router.complete(cache_enabled=True, **kw)]
    assert len(maximal.requests) == 1
    assert again == first


# -- spans -----------------------------------------------------------------------------
def test_streamed_span_records_each_choice_and_its_tool_calls(
    maximal: FakeUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    router = _router(maximal, tracer_provider=provider)
    list(router.complete(model="openai/gpt-4o", messages=MSG, stream=True))
    [call] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.INTERNAL]
    attrs = dict(call.attributes or {})
    output = json.loads(str(attrs["gen_ai.output.messages"]))
    assert len(output) == 2
    first, second = output
    assert first["parts"][0] == {"type": "text", "content": "Hi, see https://example.com."}
    calls = [(p["id"], p["name"], p["arguments"]) for p in first["parts"][1:]]
    assert calls == [
        ("call_1", "get_weather", '{"city": "Paris"}'),
        ("call_2", "get_time", "{}"),
        ("", "legacy_lookup", '{"q": "hi"}'),
    ]
    assert first["finish_reason"] == "tool_call"
    assert second["parts"] == [{"type": "refusal", "content": "I can't help."}]
    assert attrs["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert attrs["gen_ai.request.model"] == "openai/gpt-4o"
    assert attrs["gen_ai.response.finish_reasons"] == ("tool_calls", "content_filter")


def test_import_does_not_load_openai() -> None:
    # Nor does building a Router with the default (lean, then litellm) provider.
    code = "import sys, respan_router; respan_router.Router(); print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the OpenAI-shaped entry point -------------------------------------------------------
def test_as_openai_is_a_drop_in_client(maximal: FakeUpstream) -> None:
    import httpx

    expected = _sdk(maximal).chat.completions.create(model="gpt-4o", messages=MSG)  # type: ignore[arg-type]
    client = _router(maximal).as_openai()
    out = client.chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        temperature=0.3,
        user=openai.NOT_GIVEN,
        extra_body={"fallback_models": ["openai/gpt-4o-mini"], "metadata": {"k": "v"}},
        extra_headers={"X-Trace": "abc"},
        extra_query=None,
        timeout=httpx.Timeout(7.0),
    )
    assert out.model_dump() == expected.model_dump()
    sent = maximal.requests[-1]
    assert sent.body["temperature"] == 0.3 and "user" not in sent.body
    assert "fallback_models" not in sent.body  # a Respan parameter, applied not forwarded
    assert sent.headers.get("x-trace") == "abc"


async def test_as_async_openai_streams_like_the_sdk(maximal: FakeUpstream) -> None:
    expected = _sdk_chunks(maximal)
    client = _router(maximal).as_async_openai()
    stream = await client.chat.completions.create(
        model="openai/gpt-4o",
        messages=MSG,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert [c.model_dump() async for c in stream] == expected  # type: ignore[union-attr]


def test_as_openai_takes_every_parameter_of_the_sdk(maximal: FakeUpstream) -> None:
    import inspect

    names = inspect.signature(_sdk(maximal).chat.completions.create).parameters
    given = {  # the SDK's own request options (extra_*) take None, not NOT_GIVEN
        name: openai.NOT_GIVEN
        for name in names
        if name not in ("model", "messages") and not name.startswith("extra_")
    }
    out = (
        _router(maximal)
        .as_openai()
        .chat.completions.create(model="openai/gpt-4o", messages=MSG, **given)
    )
    assert out.choices[0].message.content == "Hi, see https://example.com."
    assert set(maximal.requests[-1].body) <= {"model", "messages", "stream"}


def test_as_openai_rejects_extra_query_before_any_call(maximal: FakeUpstream) -> None:
    from respan_router import FeatureNotAvailableError
    from respan_router.wire import router_error

    client = _router(maximal).as_openai()
    with pytest.raises(openai.BadRequestError, match="query") as info:
        client.chat.completions.create(model="openai/gpt-4o", messages=MSG, extra_query={"a": 1})
    error = router_error(info.value)
    assert isinstance(error, FeatureNotAvailableError) and error.field == "extra_query"
    assert maximal.requests == []
