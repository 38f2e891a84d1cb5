"""Parity of the router's own Anthropic rules with litellm's, branch by branch.

The lean path turns an Anthropic reply into a completion (``_anthropic_reply``) and a
stream's events into chunks (``_anthropic_events``) with its own code, builds a request
once per call shape (``_anthropic_template``), and leaves what it does not know to
litellm's transforms. Each case here runs through litellm and through the lean path, sync
and async, and must give the same upstream request, the same ``model_dump()`` (ids and
times aside) and the same router error; each case also says which way the lean path went
(its own code, or litellm's transform or stream reader).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from respan_router.providers import LeanProvider, LiteLLMProvider
from respan_router.providers._lean import _response
from tests import lean_parity_helpers as parity
from tests.test_lean_parity_anthropic import MODEL, SYSTEM, THINKING_MODEL, make_call
from tests.upstream import Behaviour, Error, Raw, Reply
from tests.upstream_anthropic import AnthropicUpstream

SERVED = "claude-3-5-sonnet-20241022"
TOOL_A = {"type": "tool_use", "id": "toolu_a", "name": "lookup", "input": {"q": "x"}}
TOOL_B = {"type": "tool_use", "id": "toolu_b", "name": "fetch", "input": {"url": "u", "n": 2}}
THINK = {"type": "thinking", "thinking": "Let me think.", "signature": "sig-1"}
REDACTED = {"type": "redacted_thinking", "data": "opaque"}
CACHE = {
    "input_tokens": 12,
    "output_tokens": 4,
    "cache_read_input_tokens": 5,
    "cache_creation_input_tokens": 3,
}


def message(content: list[dict[str, Any]], stop: str | None = "end_turn", **extra: Any) -> Raw:
    body = {
        "id": "msg_rules",
        "type": "message",
        "role": "assistant",
        "model": SERVED,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 7},
        **extra,
    }
    return Raw(body=body)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


# Replies the router translates itself.
OWN_REPLIES: dict[str, Behaviour] = {
    "text": message([text("Hello.")]),
    "texts": message([text("One. "), text("Two.")]),
    "empty": message([]),
    "tool-uses": message([TOOL_A, TOOL_B], "tool_use"),
    "text-and-tool-uses": message([text("Looking."), TOOL_A, TOOL_B], "tool_use"),
    "thinking": message([THINK, REDACTED, text("Answer.")]),
    "redacted-only": message([REDACTED, text("Answer.")]),
    "cache-tokens": message([text("cached")], usage=CACHE),
    "cache-breakdown": message(
        [text("cached")],
        usage={
            **CACHE,
            "cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 0},
            "service_tier": "standard",
        },
    ),
    "stop-sequence": message([text("cut")], "stop_sequence", stop_sequence="x"),
    "max-tokens": message([text("cut")], "max_tokens"),
    "citations-null": message([{**text("plain"), "citations": None}]),
}
# Replies left to litellm's transform_response.
LITELLM_REPLIES: dict[str, Behaviour] = {
    "refusal": message([text("No.")], "refusal"),
    "pause-turn": message([text("Wait.")], "pause_turn"),
    "citations": message(
        [{**text("cited"), "citations": [{"type": "char_location", "cited_text": "c"}]}]
    ),
    "server-tool": message(
        [{"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}]
    ),
    "container": message([text("ok")], container={"id": "c1", "expires_at": "never"}),
    "iterations": message(
        [text("ok")],
        usage={"input_tokens": 1, "output_tokens": 2, "iterations": [{"input_tokens": 1}]},
    ),
}


def start(usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_rules",
            "type": "message",
            "role": "assistant",
            "model": SERVED,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 9, "output_tokens": 1},
        },
    }


def block(index: int, content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content}


def delta(index: int, kind: str, field: str, value: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, field: value}}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def end(reason: str = "end_turn", usage: dict[str, int] | None = None) -> list[dict[str, Any]]:
    finish = {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": usage or {"output_tokens": 7},
    }
    return [finish, {"type": "message_stop"}]


def text_block(index: int, *pieces: str) -> list[dict[str, Any]]:
    deltas = [delta(index, "text_delta", "text", p) for p in pieces]
    return [block(index, text("")), *deltas, stop(index)]


def tool_block(index: int, tool: dict[str, Any], *pieces: str) -> list[dict[str, Any]]:
    deltas = [delta(index, "input_json_delta", "partial_json", p) for p in pieces]
    return [block(index, {**tool, "input": {}}), *deltas, stop(index)]


PING = {"type": "ping"}
THINKING_EVENTS = [
    block(0, {"type": "thinking", "thinking": "", "signature": ""}),
    delta(0, "thinking_delta", "thinking", "Hmm, "),
    delta(0, "thinking_delta", "thinking", "yes."),
    delta(0, "signature_delta", "signature", "sig-1"),
    stop(0),
    block(1, REDACTED),
    stop(1),
]
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
# Streams the router reads itself (with and without the usage chunk).
OWN_STREAMS: dict[str, list[dict[str, Any]]] = {
    "text-and-pings": [start(), PING, *text_block(0, "Hel", "lo."), PING, *end()],
    "texts": [start(), *text_block(0, "One."), *text_block(1, "Two."), *end()],
    "tool-uses": [
        start(),
        *tool_block(0, TOOL_A, '{"q": ', '"x"}'),
        *tool_block(1, TOOL_B, '{"url": "u", "n": 2}'),
        *end("tool_use"),
    ],
    "text-and-tool-use": [
        start(),
        *text_block(0, "Looking."),
        *tool_block(1, TOOL_A, '{"q": "x"}'),
        *end("tool_use"),
    ],
    "cache-tokens": [start(CACHE), *text_block(0, "cached"), *end(usage={"output_tokens": 4})],
    "delta-usage": [
        start({"input_tokens": 9, "output_tokens": 1}),
        *text_block(0, "ok"),
        *end(usage={"input_tokens": 9, "output_tokens": 3, "cache_read_input_tokens": 2}),
    ],
    "stop-sequence": [start(), *text_block(0, "cut"), *end("stop_sequence")],
    "max-tokens": [start(), *text_block(0, "cut"), *end("max_tokens")],
}
# Streams the router reads itself only without the usage chunk (reasoning tokens are
# litellm's estimate): with it, litellm's reader takes over at the end.
THINKING_STREAMS = {
    "thinking": [start(), *THINKING_EVENTS, *text_block(2, "Answer."), *end()],
}
# Streams handed to litellm's reader part way (a replay of the lines read so far).
LITELLM_STREAMS: dict[str, list[dict[str, Any]]] = {
    "error-first": [OVERLOADED],
    "error-mid-stream": [start(), *text_block(0, "Hi"), OVERLOADED],
    "unknown-event": [start(), *text_block(0, "Hi"), {"type": "surprise"}, *end()],
    "tool-without-arguments": [start(), *tool_block(0, TOOL_A), *end("tool_use")],
    "refusal": [start(), *text_block(0, "No"), *end("refusal")],
    "no-message-stop": [start(), *text_block(0, "Hi"), end()[0]],
    "citation": [
        start(),
        block(0, text("")),
        delta(0, "citations_delta", "citation", "c"),
        *end(),
    ],
}
FAULTS: dict[str, Behaviour] = {
    "529-overloaded": Error(529, "Overloaded", type="overloaded_error"),
    "cut-after-finish": Reply("one two", pieces=2, break_after=7),
}
# Call shapes for the request built once per shape: the same shape twice with other texts,
# texts litellm changes (kept out of slots), a text shared by two messages.
SHAPES: dict[str, list[list[dict[str, Any]]]] = {
    "same-shape-other-texts": [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}],
        [{"role": "system", "content": "Be long."}, {"role": "user", "content": "Bye."}],
    ],
    "whitespace": [
        [
            {"role": "user", "content": " padded "},
            {"role": "assistant", "content": "trailing space "},
        ],
    ],
    "same-text-twice": [
        [
            {"role": "user", "content": "Same."},
            {"role": "assistant", "content": "Same."},
            {"role": "user", "content": [text("Same."), text("Other.")]},
        ],
    ],
    "empty-text": [[{"role": "user", "content": [text(""), text("Hi.")]}]],
}


@pytest.fixture
def upstream() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream() as server:
        yield server


@pytest.fixture
def litellm_steps(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the lean path used litellm's reply transform and stream reader."""
    counts = {"transform": 0, "reader": 0}
    transformed = _response._transformed

    def counted_transform(*args: Any, **kwargs: Any) -> Any:
        counts["transform"] += 1
        return transformed(*args, **kwargs)

    monkeypatch.setattr(_response, "_transformed", counted_transform)
    parity.count_wrappers(monkeypatch, counts, "reader")
    return counts


async def both(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    *,
    stream: bool = False,
    messages: list[dict[str, Any]] = SYSTEM,
    model: str = MODEL,
    **params: Any,
) -> None:
    def build() -> Any:
        return make_call(upstream, messages, model, **params)

    parity.run_both_sync(upstream, reference, lean, behaviour, build, stream=stream)
    await parity.run_both_async(upstream, reference, lean, behaviour, build, stream=stream)


@pytest.mark.parametrize("reply", OWN_REPLIES)
async def test_replies_the_router_translates(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    litellm_steps: dict[str, int],
    reply: str,
) -> None:
    await both(upstream, reference, lean, OWN_REPLIES[reply])
    assert litellm_steps["transform"] == 0


@pytest.mark.parametrize("reply", LITELLM_REPLIES)
async def test_replies_left_to_litellm(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    litellm_steps: dict[str, int],
    reply: str,
) -> None:
    await both(upstream, reference, lean, LITELLM_REPLIES[reply])
    assert litellm_steps["transform"] == 2


async def test_a_thinking_call_and_a_prefix(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider
) -> None:
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048}
    await both(upstream, reference, lean, OWN_REPLIES["thinking"], model=THINKING_MODEL, **thinking)
    prefixed = [*SYSTEM, {"role": "assistant", "content": "Sure", "prefix": True}]
    await both(upstream, reference, lean, OWN_REPLIES["text"], messages=prefixed)


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
@pytest.mark.parametrize("events", OWN_STREAMS)
async def test_streams_the_router_reads(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    litellm_steps: dict[str, int],
    events: str,
    usage: bool,
) -> None:
    params = {"stream_options": {"include_usage": True}} if usage else {}
    await both(upstream, reference, lean, Raw(events=OWN_STREAMS[events]), stream=True, **params)
    assert litellm_steps["reader"] == 0


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
async def test_thinking_streams(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    litellm_steps: dict[str, int],
    usage: bool,
) -> None:
    params: dict[str, Any] = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    if usage:
        params["stream_options"] = {"include_usage": True}
    events = Raw(events=THINKING_STREAMS["thinking"])
    await both(
        upstream,
        reference,
        lean,
        events,
        stream=True,
        model=THINKING_MODEL,
        max_tokens=2048,
        **params,
    )
    assert litellm_steps["reader"] == (2 if usage else 0)


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
@pytest.mark.parametrize("events", LITELLM_STREAMS)
async def test_streams_handed_to_litellm(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    litellm_steps: dict[str, int],
    events: str,
    usage: bool,
) -> None:
    params = {"stream_options": {"include_usage": True}} if usage else {}
    await both(
        upstream, reference, lean, Raw(events=LITELLM_STREAMS[events]), stream=True, **params
    )
    assert litellm_steps["reader"] == 2


@pytest.mark.parametrize("fault", FAULTS)
async def test_faults(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    await both(upstream, reference, lean, FAULTS[fault])
    await both(upstream, reference, lean, FAULTS[fault], stream=True)


@pytest.mark.parametrize("shape", SHAPES)
async def test_requests_built_once_per_shape(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, shape: str
) -> None:
    for messages in SHAPES[shape]:
        for params in ({}, {"temperature": 0.5, "max_tokens": 20}):
            await both(upstream, reference, lean, Reply("ok"), messages=messages, **params)
            await both(upstream, reference, lean, Reply("ok"), stream=True, messages=messages)
