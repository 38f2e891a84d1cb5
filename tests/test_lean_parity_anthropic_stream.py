"""Parity of the lean path with litellm for Anthropic's streamed Messages API.

Against the local upstream speaking Anthropic's event stream: the same upstream request,
the same chunks (``model_dump()``, chunk by chunk, ids and timestamps aside) and the same
router error over the fault matrix, in-stream ``error`` events and cut streams included,
sync and async; the lean stream gives its connection back to the pool.
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
from tests.test_lean_parity_anthropic import (
    ANTHROPIC_FAULTS,
    CACHE_USAGE,
    CONVERSATIONS,
    KEY,
    MODEL,
    PARAMS,
    SYSTEM,
    THINKING_MODEL,
    THINKING_PARAMS,
    TOOL,
    make_call,
)
from tests.upstream import Behaviour, Raw, Reply
from tests.upstream_anthropic import AnthropicUpstream, anthropic_events

_START = anthropic_events(Reply("x"), "claude-3-5-sonnet-20241022")[0]
_TEXT = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}


def _delta(text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }


_OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
_THINKING_EVENTS = [
    _START,
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": ""},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "Hmm."},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "s1"},
    },
    {"type": "content_block_stop", "index": 0},
    {**_TEXT, "index": 1},
    {**_delta("Answer."), "index": 1},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
    {"type": "message_stop"},
]
REPLIES: dict[str, Behaviour] = {
    "text": Reply("Hi there, how are you?", pieces=4),
    "tool-use": Reply(None, tool_calls=[TOOL], finish_reason="tool_calls"),
    "text-and-tool-use": Reply("Let me look.", tool_calls=[TOOL], finish_reason="tool_calls"),
    "max-tokens": Reply("cut", finish_reason="length"),
    "cache-usage": Reply("cached", usage=CACHE_USAGE),
    "thinking": Raw(events=_THINKING_EVENTS),
}
STREAM_PARAMS: dict[str, dict[str, Any]] = {
    **PARAMS,
    "usage": {"stream_options": {"include_usage": True}},
}
STREAM_FAULTS: dict[str, Behaviour] = {
    "cut-before-first-event": Reply("one two three", pieces=3, break_after=0),
    "cut-before-first-chunk": Reply("one two three", pieces=3, break_after=3),
    "cut-after-first-chunk": Reply("one two three", pieces=3, break_after=4),
    "cut-before-the-end": Reply("one two three", pieces=3, break_after=8),
    "first-event-too-slow": Reply("one two", first_chunk_delay=TIMEOUT + 0.3),
    "error-event-first": Raw(events=[_OVERLOADED]),
    "error-event-mid-stream": Raw(events=[_START, _TEXT, _delta("Hi"), _OVERLOADED]),
}


@pytest.fixture
def upstream() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream() as server:
        yield server


def run_both_sync(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    model: str = MODEL,
    **params: Any,
) -> None:
    parity.run_both_sync(
        upstream,
        reference,
        lean,
        behaviour,
        lambda: make_call(upstream, messages, model, **params),
        stream=True,
    )


async def run_both_async(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    model: str = MODEL,
    **params: Any,
) -> None:
    await parity.run_both_async(
        upstream,
        reference,
        lean,
        behaviour,
        lambda: make_call(upstream, messages, model, **params),
        stream=True,
    )


@pytest.mark.parametrize("params", STREAM_PARAMS)
def test_stream_parity_sync(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, params: str
) -> None:
    for reply in REPLIES.values():
        run_both_sync(upstream, reference, lean, reply, **STREAM_PARAMS[params])


@pytest.mark.parametrize("params", STREAM_PARAMS)
async def test_stream_parity_async(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, params: str
) -> None:
    for reply in REPLIES.values():
        await run_both_async(upstream, reference, lean, reply, **STREAM_PARAMS[params])


@pytest.mark.parametrize("conversation", CONVERSATIONS)
async def test_conversation_stream_parity(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, conversation: str
) -> None:
    reply = REPLIES["text-and-tool-use"]
    run_both_sync(upstream, reference, lean, reply, CONVERSATIONS[conversation])
    await run_both_async(upstream, reference, lean, reply, CONVERSATIONS[conversation])


@pytest.mark.parametrize("params", THINKING_PARAMS)
async def test_thinking_stream_parity(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, params: str
) -> None:
    for reply in (REPLIES["thinking"], REPLIES["text"]):
        run_both_sync(
            upstream, reference, lean, reply, SYSTEM, THINKING_MODEL, **THINKING_PARAMS[params]
        )
        await run_both_async(
            upstream, reference, lean, reply, SYSTEM, THINKING_MODEL, **THINKING_PARAMS[params]
        )


@pytest.mark.parametrize("fault", {**ANTHROPIC_FAULTS, **STREAM_FAULTS})
async def test_stream_fault_parity(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    behaviour = {**ANTHROPIC_FAULTS, **STREAM_FAULTS}[fault]
    run_both_sync(upstream, reference, lean, behaviour)
    await run_both_async(upstream, reference, lean, behaviour)


async def test_stream_connections_are_reused(
    upstream: AnthropicUpstream, lean: LeanProvider
) -> None:
    upstream.set_default(Reply("one two", pieces=2))
    for _ in range(15):
        assert [c async for c in lean.astream(make_call(upstream))]
        assert list(lean.stream(make_call(upstream)))
        await lean.acomplete(make_call(upstream))
    assert len(upstream.requests) == 45
    assert upstream.connections_accepted == 2  # one pooled connection per transport


async def test_an_early_close_drops_the_connection(
    upstream: AnthropicUpstream, lean: LeanProvider
) -> None:
    await parity.close_two_streams_early(upstream, lean, lambda: make_call(upstream))
    assert upstream.streams_completed == 0
    # The next calls still work, on fresh connections.
    upstream.set_default(Reply("one two", pieces=2))
    assert [c async for c in lean.astream(make_call(upstream))]
    assert list(lean.stream(make_call(upstream)))
    assert upstream.wait_for(lambda: upstream.streams_completed == 2)


async def test_the_span_says_lean_for_anthropic_streams(
    upstream: AnthropicUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(Reply("hi"))
    lean_provider = LeanProvider()
    router = Router(
        providers={"anthropic": {"api_key": KEY, "api_base": upstream.root_url}},
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
