"""Parity of the router's own reading of Bedrock's ConverseStream events with litellm's.

The lean path reads a ConverseStream's frames and events into chunks with its own code
(``_converse_events``) and hands what it does not know to litellm's decoder, replaying the
body from its first byte. Each case here runs through litellm and through the lean path,
sync and async, bearer key and SigV4, and must give the same upstream request, the same
chunks (``model_dump()``, ids and times aside) and the same router error; each case also
says which way the lean path went (its own reading, or litellm's decoder).
"""

from __future__ import annotations

import struct
from binascii import crc32
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router.providers import LeanProvider, LiteLLMProvider
from respan_router.providers._lean._converse_request import plain_text_messages
from tests import lean_parity_helpers as parity
from tests.test_lean_parity_bedrock import SYSTEM, make_call
from tests.test_lean_parity_bedrock_rules import CONVERTED, LITELLM_CONVERTS
from tests.test_lean_parity_bedrock_sigv4 import SIGNATURE_HEADERS, signed_call
from tests.upstream import Behaviour, Body, Raw, Reply
from tests.upstream_bedrock import BedrockUpstream, event_frame, frames

EVENT_STREAM = "application/vnd.amazon.eventstream"
START = {"messageStart": {"role": "assistant"}}
USAGE = {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13}
METADATA = {"metadata": {"usage": USAGE, "metrics": {"latencyMs": 12}}}


def text(piece: str, index: int = 0) -> dict[str, Any]:
    return {"contentBlockDelta": {"delta": {"text": piece}, "contentBlockIndex": index}}


def block_stop(index: int = 0) -> dict[str, Any]:
    return {"contentBlockStop": {"contentBlockIndex": index}}


def end(reason: str = "end_turn") -> list[dict[str, Any]]:
    return [{"messageStop": {"stopReason": reason}}, METADATA]


def tool(index: int, call_id: str, name: str, *pieces: str) -> list[dict[str, Any]]:
    start = {"toolUse": {"toolUseId": call_id, "name": name}}
    deltas = [
        {"contentBlockDelta": {"delta": {"toolUse": {"input": p}}, "contentBlockIndex": index}}
        for p in pieces
    ]
    return [{"contentBlockStart": {"start": start, "contentBlockIndex": index}}, *deltas]


def padded(event: dict[str, Any]) -> dict[str, Any]:
    """An event as Bedrock sends it: with its random ``p`` padding field."""
    ((kind, payload),) = event.items()
    return {kind: {**payload, "p": "abcdefghijklmnopqrstu"}}


TEXT = [START, text("Hel"), text("lo."), block_stop(), *end()]
TOOLS = [
    START,
    *tool(0, "tooluse_a", "lookup", '{"q": ', '"x"}'),
    block_stop(0),
    *tool(1, "tooluse_b", "fetch", '{"url": "u"}'),
    block_stop(1),
    *end("tool_use"),
]
REASONING = {"reasoningContent": {"text": "Hmm."}}
THROTTLED = {"throttlingException": {"message": "Too many tokens, please wait."}}
MODEL_ERROR = {
    "modelStreamErrorException": {"message": "The model failed.", "originalStatusCode": 500}
}


def with_int_header(event: dict[str, Any]) -> bytes:
    """``event``'s frame with one more header, an integer (type 4) as botocore reads it."""
    frame = event_frame(event)
    headers_length = struct.unpack("!I", frame[4:8])[0]
    extra = bytes([4]) + b"seq" + bytes([4]) + struct.pack("!i", 7)
    headers = frame[12 : 12 + headers_length] + extra
    payload = frame[12 + headers_length : -4]
    prelude = struct.pack("!II", 16 + len(headers) + len(payload), len(headers))
    message = prelude + struct.pack("!I", crc32(prelude)) + headers + payload
    return message + struct.pack("!I", crc32(message))


def corrupted(body: bytes, at: int) -> bytes:
    return body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]


# Streams the router reads itself.
OWN_STREAMS: dict[str, Behaviour] = {
    "text": Raw(events=TEXT),
    "padded-events": Raw(events=[padded(e) for e in TEXT]),
    "tool-uses": Raw(events=TOOLS),
    "text-and-tool-use": Raw(
        events=[
            START,
            text("Looking."),
            block_stop(),
            *tool(1, "tooluse_a", "lookup", '{"q": "x"}'),
            block_stop(1),
            *end("tool_use"),
        ]
    ),
    "tool-then-end-turn": Raw(events=[START, *tool(0, "t", "f", "{}"), block_stop(), *end()]),
    "max-tokens": Raw(events=[START, text("cut"), block_stop(), *end("max_tokens")]),
    "stop-sequence": Raw(events=[START, text("cut"), block_stop(), *end("stop_sequence")]),
    "no-metadata": Raw(events=TEXT[:-1]),
    "cache-tokens": Reply(
        "cached", usage={"prompt_tokens": 12, "completion_tokens": 4, "cache_read_input_tokens": 5}
    ),
    "repeated-text-under-the-limit": Raw(events=[START, *[text("abc")] * 10, *end()]),
    # The whole body at once: several frames in one read.
    "frames-in-one-read": Body(frames(TEXT), content_type=EVENT_STREAM),
    # 20-byte pieces, each its own read: frames span reads.
    "frames-split-across-reads": Body(frames(TEXT), content_type=EVENT_STREAM, trickle=0.001),
    "non-ascii-split-across-reads": Body(
        frames([START, text("Grüße, "), text("日本語 ✓"), block_stop(), *end()]),
        content_type=EVENT_STREAM,
        trickle=0.001,
    ),
}
# Streams handed to litellm's decoder part way (a replay of the pieces read so far).
LITELLM_STREAMS: dict[str, Behaviour] = {
    "throttling-first": Raw(events=[THROTTLED]),
    "throttling-mid-stream": Raw(events=[START, text("Hi"), THROTTLED]),
    "model-error-mid-stream": Raw(events=[START, text("Hi"), MODEL_ERROR]),
    "unknown-event": Raw(events=[START, text("Hi"), {"surprise": {"x": 1}}, *end()]),
    "reasoning": Raw(
        events=[START, {"contentBlockDelta": {"delta": REASONING, "contentBlockIndex": 0}}, *end()]
    ),
    "conversation-id": Raw(
        events=[{"messageStart": {"role": "assistant", "conversationId": "c1"}}, *TEXT[1:]]
    ),
    "metadata-without-metrics": Raw(
        events=[*TEXT[:-1], {"metadata": {"usage": USAGE}}, text("after")]
    ),
    "metadata-with-trace": Raw(
        events=[*TEXT[:-1], {"metadata": {**METADATA["metadata"], "trace": {"guardrail": {}}}}]
    ),
    "event-after-metadata": Raw(events=[*TEXT, text("late")]),
    "no-message-start": Raw(events=TEXT[1:]),
    "delta-without-index": Raw(events=[START, {"contentBlockDelta": {"delta": {"text": "x"}}}]),
    "text-index-not-a-number": Raw(
        events=[START, {"contentBlockDelta": {"delta": {"text": "x"}, "contentBlockIndex": "a"}}]
    ),
    "stop-without-index": Raw(events=[START, text("Hi"), {"contentBlockStop": {}}, *end()]),
    "usage-without-input-tokens": Raw(
        events=[*TEXT[:-1], {"metadata": {"usage": {"outputTokens": 4}, "metrics": {}}}]
    ),
    "usage-with-cache-details": Raw(
        events=[
            *TEXT[:-1],
            {"metadata": {"usage": {**USAGE, "cacheDetails": [{"ttl": "5m"}]}, "metrics": {}}},
        ]
    ),
    "empty-text": Raw(events=[START, text(""), text("Hi"), *end()]),
    "stop-before-any-chunk": Raw(events=[START, block_stop(), *end()]),
    "tool-without-arguments": Raw(events=[START, *tool(0, "t", "f"), block_stop(), *end()]),
    "guardrail-stop": Raw(events=[START, text("No"), block_stop(), *end("guardrail_intervened")]),
    "response-fields": Raw(
        events=[
            START,
            text("Hi"),
            {"messageStop": {"stopReason": "end_turn", "additionalModelResponseFields": {}}},
            METADATA,
        ]
    ),
    "no-message-stop": Raw(events=[START, text("Hi"), block_stop()]),
    "repeated-text-over-the-limit": Raw(events=[START, *[text("abc")] * 101, *end()]),
    "torn-frame": Body(frames(TEXT)[:-7], content_type=EVENT_STREAM),
    "bad-checksum": Body(
        corrupted(frames(TEXT), len(event_frame(START)) + 30), content_type=EVENT_STREAM
    ),
    "integer-header": Body(
        frames(TEXT[:1]) + with_int_header(TEXT[1]) + frames(TEXT[2:]), content_type=EVENT_STREAM
    ),
    "not-an-event-stream": Body(b'{"message": "not a stream"}'),
    "empty-body": Body(b"", content_type=EVENT_STREAM),
    "cut-before-first-chunk": Reply("one two three", pieces=3, break_after=1),
    "cut-after-first-chunk": Reply("one two three", pieces=3, break_after=2),
}


@pytest.fixture
def upstream() -> Iterator[BedrockUpstream]:
    with BedrockUpstream() as server:
        yield server


@pytest.fixture
def litellm_decoder(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the lean path handed a stream to litellm's decoder and wrapper."""
    counts = {"reader": 0}
    parity.count_wrappers(monkeypatch, counts, "reader")
    return counts


async def both(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    *,
    signed: bool = False,
    **params: Any,
) -> None:
    def build() -> Any:
        if signed:
            return signed_call(upstream, **params)
        return make_call(upstream, SYSTEM, **params)

    ignore = SIGNATURE_HEADERS if signed else ()
    parity.run_both_sync(upstream, reference, lean, behaviour, build, stream=True, ignore=ignore)
    await parity.run_both_async(
        upstream, reference, lean, behaviour, build, stream=True, ignore=ignore
    )


@pytest.mark.parametrize("signed", [False, True], ids=["bearer", "sigv4"])
@pytest.mark.parametrize("events", OWN_STREAMS)
async def test_streams_the_router_reads(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    litellm_decoder: dict[str, int],
    events: str,
    signed: bool,
) -> None:
    await both(upstream, reference, lean, OWN_STREAMS[events], signed=signed)
    assert litellm_decoder["reader"] == 0


@pytest.mark.parametrize("signed", [False, True], ids=["bearer", "sigv4"])
@pytest.mark.parametrize("events", LITELLM_STREAMS)
async def test_streams_handed_to_litellm(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    litellm_decoder: dict[str, int],
    events: str,
    signed: bool,
) -> None:
    await both(upstream, reference, lean, LITELLM_STREAMS[events], signed=signed)
    assert litellm_decoder["reader"] == 2


@pytest.mark.parametrize("events", ["text", "tool-uses", "cache-tokens"])
async def test_the_usage_chunk_is_litellms(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    litellm_decoder: dict[str, int],
    events: str,
) -> None:
    usage = {"stream_options": {"include_usage": True}}
    await both(upstream, reference, lean, OWN_STREAMS[events], **usage)
    assert litellm_decoder["reader"] == 2


@pytest.mark.parametrize(
    "case", ["consecutive-users", "system-text-parts", "with-tools", "tool-results", "image-input"]
)
@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
async def test_stream_bodies_follow_the_request_rules(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    case: str,
    usage: bool,
) -> None:
    """A stream's body is the router's for a plain-text conversation, litellm's
    ``_transform_request`` for the rest; the same body either way as litellm's stream."""
    messages, params = CONVERTED.get(case) or LITELLM_CONVERTS[case]
    assert (plain_text_messages(messages) is not None) == (case in CONVERTED)
    if usage:
        params = {**params, "stream_options": {"include_usage": True}}

    def build() -> Any:
        return make_call(upstream, messages, **params)

    behaviour = OWN_STREAMS["text-and-tool-use"]
    parity.run_both_sync(upstream, reference, lean, behaviour, build, stream=True)
    await parity.run_both_async(upstream, reference, lean, behaviour, build, stream=True)
