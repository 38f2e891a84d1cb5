"""Parity of the lean path with litellm for Bedrock's ConverseStream (bearer key).

Against the local upstream speaking AWS's binary event stream: the same upstream request
(``/model/{id}/converse-stream``), the same chunks (``model_dump()``, chunk by chunk, ids and
timestamps aside) and the same router error over the fault matrix (error statuses, a
dropped connection, a timeout, streams cut before and after the first chunk, in-stream
exception events, a body that is no event stream), sync and async; frames split across
reads are decoded as they arrive; the connection goes back to the pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from respan_router.providers import LeanProvider, LiteLLMProvider
from tests import lean_parity_helpers as parity
from tests.lean_parity_helpers import TIMEOUT
from tests.test_lean_parity_bedrock import (
    BEDROCK_FAULTS,
    CONVERSATIONS,
    KEY,
    MODEL,
    PARAMS,
    SYSTEM,
    TOOL,
    make_call,
)
from tests.upstream import Behaviour, Body, Raw, Reply
from tests.upstream_bedrock import BedrockUpstream, converse_events, frames

_START = {"messageStart": {"role": "assistant"}}


def _delta(text: str) -> dict[str, Any]:
    return {"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}}


_THROTTLED = {"throttlingException": {"message": "Too many tokens, please wait."}}
_MODEL_ERROR = {
    "modelStreamErrorException": {"message": "The model failed.", "originalStatusCode": 500}
}
_VALIDATION = {"validationException": {"message": "Input is too long for requested model."}}
_TEXT = converse_events(Reply("Hi there, how are you?", pieces=4))
REPLIES: dict[str, Behaviour] = {
    "text": Reply("Hi there, how are you?", pieces=4),
    "tool-use": Reply(None, tool_calls=[TOOL], finish_reason="tool_calls"),
    "text-and-tool-use": Reply("Let me look.", tool_calls=[TOOL], finish_reason="tool_calls"),
    "max-tokens": Reply("cut", finish_reason="length"),
    "cache-usage": Reply(
        "cached", usage={"prompt_tokens": 12, "completion_tokens": 4, "cache_read_input_tokens": 5}
    ),
    "usage-without-metrics": Raw(
        events=[*_TEXT[:-1], {"metadata": {"usage": {"inputTokens": 3, "outputTokens": 2}}}]
    ),
    # 20-byte pieces, each its own read: frames span reads and are decoded as they arrive.
    "frames-split-across-reads": Body(
        frames(_TEXT), content_type="application/vnd.amazon.eventstream", trickle=0.001
    ),
}
STREAM_PARAMS: dict[str, dict[str, Any]] = {
    **PARAMS,
    "usage": {"stream_options": {"include_usage": True}},
    "no-usage": {"stream_options": {"include_usage": False}, "max_tokens": 9},
}
STREAM_FAULTS: dict[str, Behaviour] = {
    "cut-before-first-event": Reply("one two three", pieces=3, break_after=0),
    "cut-before-first-chunk": Reply("one two three", pieces=3, break_after=1),
    "cut-after-first-chunk": Reply("one two three", pieces=3, break_after=2),
    "cut-before-the-end": Reply("one two three", pieces=3, break_after=5),
    "first-event-too-slow": Reply("one two", first_chunk_delay=TIMEOUT + 0.3),
    "throttling-event-first": Raw(events=[_THROTTLED]),
    "throttling-event-mid-stream": Raw(events=[_START, _delta("Hi"), _THROTTLED]),
    "model-error-event-mid-stream": Raw(events=[_START, _delta("Hi"), _MODEL_ERROR]),
    "validation-event-first": Raw(events=[_VALIDATION]),
    "not-an-event-stream": Body(b'{"message": "not a stream"}'),
    "empty-body": Body(b"", content_type="application/vnd.amazon.eventstream"),
    "torn-frame": Body(frames(_TEXT)[:-7], content_type="application/vnd.amazon.eventstream"),
}


@pytest.fixture
def upstream() -> Iterator[BedrockUpstream]:
    with BedrockUpstream() as server:
        yield server


async def run_both(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    **params: Any,
) -> None:
    def build() -> Any:
        return make_call(upstream, messages, **params)

    parity.run_both_sync(upstream, reference, lean, behaviour, build, stream=True)
    await parity.run_both_async(upstream, reference, lean, behaviour, build, stream=True)


@pytest.mark.parametrize("reply", REPLIES)
@pytest.mark.parametrize("params", STREAM_PARAMS)
async def test_stream_parity(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    params: str,
    reply: str,
) -> None:
    await run_both(upstream, reference, lean, REPLIES[reply], **STREAM_PARAMS[params])


@pytest.mark.parametrize("conversation", CONVERSATIONS)
async def test_conversation_stream_parity(
    upstream: BedrockUpstream, reference: LiteLLMProvider, lean: LeanProvider, conversation: str
) -> None:
    reply = REPLIES["text-and-tool-use"]
    await run_both(upstream, reference, lean, reply, CONVERSATIONS[conversation])


@pytest.mark.parametrize("fault", {**BEDROCK_FAULTS, **STREAM_FAULTS})
async def test_stream_fault_parity(
    upstream: BedrockUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    await run_both(upstream, reference, lean, {**BEDROCK_FAULTS, **STREAM_FAULTS}[fault])


async def test_stream_connections_are_reused(upstream: BedrockUpstream, lean: LeanProvider) -> None:
    upstream.set_default(Reply("one two", pieces=2))
    for _ in range(10):
        assert [c async for c in lean.astream(make_call(upstream))]
        assert list(lean.stream(make_call(upstream)))
        await lean.acomplete(make_call(upstream))
    assert len(upstream.requests) == 30
    assert upstream.connections_accepted == 2  # one pooled connection per transport


async def test_an_early_close_drops_the_connection(
    upstream: BedrockUpstream, lean: LeanProvider
) -> None:
    await parity.close_two_streams_early(upstream, lean, lambda: make_call(upstream))
    assert upstream.streams_completed == 0
    # The next calls still work, on fresh connections, which are then reused.
    upstream.set_default(Reply("one two", pieces=2))
    accepted = upstream.connections_accepted
    for _ in range(3):
        assert [c async for c in lean.astream(make_call(upstream))]
        assert list(lean.stream(make_call(upstream)))
    assert upstream.wait_for(lambda: upstream.streams_completed == 6)
    assert upstream.connections_accepted == accepted + 2


async def test_the_span_says_lean_for_bedrock_streams(
    upstream: BedrockUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(Reply("hi"))
    lean_provider = LeanProvider()
    router = Router(
        providers={"bedrock": {"api_key": KEY, "api_base": upstream.root_url}},
        tracer_provider=provider,
        provider=lean_provider,
    )
    stream = router.complete(model=MODEL, messages=SYSTEM, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "hi"
    astream = await router.acomplete(model=MODEL, messages=SYSTEM, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in astream if c.choices]) == "hi"
    paths = [
        (s.attributes or {}).get("respan.attempt.dispatch_path")
        for s in exporter.get_finished_spans()
        if s.parent is not None
    ]
    assert paths == ["lean", "lean"]
    await lean_provider.aclose()
    lean_provider.close()
