"""Parity of the lean path with litellm for Anthropic's Messages API (non-streamed calls).

Against the local upstream speaking Anthropic's wire format: the same upstream request
(path, headers but transport ones, body), the same response (ids and timestamps aside) and
the same router error over the fault matrix (529 overloaded included), sync and async.
Streamed calls: ``tests/test_lean_parity_anthropic_stream.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from respan_router._secrets import Credentials
from respan_router.providers import LeanProvider, LiteLLMProvider, ProviderCall
from tests import lean_parity_helpers as parity
from tests.lean_parity_helpers import TIMEOUT
from tests.test_lean_parity import FAULTS, TOOLS
from tests.upstream import Behaviour, Error, Raw, Reply
from tests.upstream_anthropic import AnthropicUpstream

MODEL = "anthropic/claude-3-5-sonnet-20241022"
KEY = "sk-ant-parity-0123456789"
SYSTEM = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}]
PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "system-prompt": SYSTEM,
    # What litellm's completion() normalises first: the developer role, None keys.
    "normalised": [
        {"role": "developer", "content": "Be brief.", "name": None},
        {"role": "user", "content": "Hi.", "name": None},
        {"role": "assistant", "content": "Hello.", "tool_calls": None, "audio": None},
        {"role": "user", "content": "Again."},
    ],
    "tool-history": [
        {"role": "user", "content": "Look it up."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "42"},
    ],
    "image": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": PIXEL}},
            ],
        }
    ],
    "cache-control": [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "Long context.", "cache_control": {"type": "ephemeral"}}
            ],
        },
        {"role": "user", "content": "Hi."},
    ],
}
TOOL = {
    "id": "toolu_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
}
CACHE_USAGE = {
    "prompt_tokens": 12,
    "completion_tokens": 4,
    "cache_read_input_tokens": 5,
    "cache_creation_input_tokens": 3,
}
THINKING = Raw(
    body={
        "id": "msg_01Thinking",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-7-sonnet-20250219",
        "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig-abc"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Answer."},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 20},
    }
)
REPLIES: dict[str, Behaviour] = {
    "text": Reply("Hi there, how are you?"),
    "tool-use": Reply(None, tool_calls=[TOOL], finish_reason="tool_calls"),
    "text-and-tool-use": Reply("Let me look.", tool_calls=[TOOL], finish_reason="tool_calls"),
    "max-tokens": Reply("cut", finish_reason="length"),
    "cache-usage": Reply("cached", usage=CACHE_USAGE),
    "thinking": THINKING,
}
PARAMS: dict[str, dict[str, Any]] = {
    "none": {},
    "sampling": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 5, "stop": ["x"]},
    "extra-headers": {"extra_headers": {"X-Custom": "1"}, "max_tokens": 50},
    "tools": {"tools": TOOLS, "tool_choice": "auto", "max_completion_tokens": 64},
    "json-object": {"response_format": {"type": "json_object"}},
}
THINKING_MODEL = "anthropic/claude-3-7-sonnet-20250219"
THINKING_PARAMS: dict[str, dict[str, Any]] = {
    "thinking": {"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2048},
    "reasoning-effort": {"reasoning_effort": "low"},
}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
ANTHROPIC_FAULTS: dict[str, Behaviour] = {
    **FAULTS,
    "400": Error(400, "messages: field required", type="invalid_request_error"),
    "401": Error(401, "invalid x-api-key", type="authentication_error"),
    "403": Error(403, "not allowed", type="permission_error"),
    "404": Error(404, "model: not found", type="not_found_error"),
    "413": Error(413, "request too large", type="request_too_large"),
    "429-retry-after": Error(
        429, "slow down", type="rate_limit_error", headers={"retry-after": "2"}
    ),
    "500": Error(500, "Internal server error", type="api_error"),
    "529-overloaded": Error(529, "Overloaded", type="overloaded_error"),
}


@pytest.fixture
def upstream() -> Iterator[AnthropicUpstream]:
    with AnthropicUpstream() as server:
        yield server


def make_call(
    upstream: AnthropicUpstream,
    messages: list[dict[str, Any]] = SYSTEM,
    model: str = MODEL,
    **params: Any,
) -> ProviderCall:
    return ProviderCall(
        model="claude",
        litellm_model=model,
        provider="anthropic",
        messages=messages,
        params=params,
        credentials=Credentials({"api_key": KEY, "api_base": upstream.root_url}),
        timeout=TIMEOUT,
    )


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
    )


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("conversation", CONVERSATIONS)
def test_reply_parity_sync(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    conversation: str,
    params: str,
) -> None:
    for reply in REPLIES.values():
        run_both_sync(
            upstream, reference, lean, reply, CONVERSATIONS[conversation], **PARAMS[params]
        )


@pytest.mark.parametrize("conversation", CONVERSATIONS)
async def test_reply_parity_async(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    conversation: str,
) -> None:
    for reply in REPLIES.values():
        for params in PARAMS.values():
            await run_both_async(
                upstream, reference, lean, reply, CONVERSATIONS[conversation], **params
            )


@pytest.mark.parametrize("params", THINKING_PARAMS)
async def test_thinking_parity(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, params: str
) -> None:
    for reply in (THINKING, REPLIES["text"]):
        run_both_sync(
            upstream, reference, lean, reply, SYSTEM, THINKING_MODEL, **THINKING_PARAMS[params]
        )
        await run_both_async(
            upstream, reference, lean, reply, SYSTEM, THINKING_MODEL, **THINKING_PARAMS[params]
        )


@pytest.mark.parametrize("fault", ANTHROPIC_FAULTS)
async def test_fault_parity(
    upstream: AnthropicUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    run_both_sync(upstream, reference, lean, ANTHROPIC_FAULTS[fault])
    await run_both_async(upstream, reference, lean, ANTHROPIC_FAULTS[fault])


def test_cache_tokens_reach_the_usage(upstream: AnthropicUpstream, lean: LeanProvider) -> None:
    upstream.enqueue(Reply("cached", usage=CACHE_USAGE))
    usage = lean.complete(make_call(upstream)).usage
    assert usage is not None
    assert usage.prompt_tokens == 12 + 5 + 3  # Anthropic's input tokens exclude the cache
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 5


def test_unproven_anthropic_calls_go_through_litellm(
    upstream: AnthropicUpstream, lean: LeanProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}],
        }
    ]
    cases = [
        make_call(upstream, response_format=JSON_SCHEMA),  # JSON mode: a tool
        make_call(upstream, remote),  # litellm fetches the image
        make_call(upstream, user="u1"),  # outside the tested set
        make_call(upstream, tools=[{**TOOLS[0], "function": {"name": "a.b/c"}}]),  # renamed
    ]
    for case in cases:
        assert lean.attempt_for(case, stream=False) is None
    assert (
        lean.attempt_for(make_call(upstream, stream_options={"include_usage": True}), stream=False)
        is None
    )
    monkeypatch.setenv("LITELLM_ANTHROPIC_DISABLE_URL_SUFFIX", "true")
    assert lean.attempt_for(make_call(upstream), stream=False) is None
    monkeypatch.delenv("LITELLM_ANTHROPIC_DISABLE_URL_SUFFIX")
    assert lean.attempt_for(make_call(upstream), stream=False) is not None


async def test_connections_are_reused(upstream: AnthropicUpstream, lean: LeanProvider) -> None:
    for _ in range(3):
        await lean.acomplete(make_call(upstream))
        lean.complete(make_call(upstream))
    assert len(upstream.requests) == 6
    session = lean._async.session()
    assert sum(len(idle) for idle in session.connector._conns.values()) == 1
    assert upstream.open_connections == 2


async def test_the_span_says_lean_for_anthropic(
    upstream: AnthropicUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(Reply("hi"))
    router = Router(
        providers={"anthropic": {"api_key": KEY, "api_base": upstream.root_url}},
        tracer_provider=provider,
    )
    out = router.complete(model=MODEL, messages=SYSTEM)
    aout = await router.acomplete(model=MODEL, messages=SYSTEM)
    stream = router.complete(model=MODEL, messages=SYSTEM, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "hi"
    assert out.choices[0].message.content == aout.choices[0].message.content == "hi"
    paths = [
        (s.attributes or {}).get("respan.attempt.dispatch_path")
        for s in exporter.get_finished_spans()
        if s.parent is not None
    ]
    assert paths == ["lean", "lean", "lean"]


def test_key_from_the_environment_parity(
    upstream: AnthropicUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-the-environment")
    results = parity.run_both_sync(
        upstream,
        reference,
        lean,
        Reply("hi"),
        lambda: ProviderCall(
            model="claude",
            litellm_model=MODEL,
            provider="anthropic",
            messages=SYSTEM,
            credentials=Credentials({"api_base": upstream.root_url}),
            timeout=TIMEOUT,
        ),
    )
    assert results[1][1][0][2]["x-api-key"] == "sk-ant-from-the-environment"


def test_without_a_base_url_litellms_default_is_used(
    lean: LeanProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litellm.litellm_core_utils.url_utils import ensure_api_route

    for name in ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    call = ProviderCall(
        model="claude",
        litellm_model=MODEL,
        provider="anthropic",
        messages=SYSTEM,
        credentials=Credentials({"api_key": KEY}),
    )
    attempt = lean.attempt_for(call, stream=False)
    assert attempt is not None
    # litellm's main.py: the same default, through the same route helper.
    expected = ensure_api_route("https://api.anthropic.com/v1/messages", "v1/messages")
    assert attempt.request.url == expected == "https://api.anthropic.com/v1/messages"
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://elsewhere.test")
    assert lean.attempt_for(call, stream=False) is None  # litellm reads it: litellm's call
