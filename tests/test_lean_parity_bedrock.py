"""Parity of the lean path with litellm for Bedrock's Converse API (non-streamed, bearer key).

Against the local upstream speaking Converse's wire format: the same upstream request
(path with the encoded model id, headers but transport ones, body), the same response (ids
and timestamps aside) and the same router error over the fault matrix, sync and async.
Calls without ``api_base`` and models litellm routes elsewhere stay on litellm; a test holds
that they do. Streams: ``test_lean_parity_bedrock_stream.py``. The rules the router writes
itself (the reply's reading, plain-text bodies) are proven branch by branch in
``test_lean_parity_bedrock_rules.py``.
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
from tests.test_lean_parity import FAULTS
from tests.upstream import Behaviour, Error, Reply
from tests.upstream_bedrock import BedrockUpstream

MODEL = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"
KEY = "bedrock-api-key-parity-0123456789"
SYSTEM = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}]
CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "system-prompt": SYSTEM,
    "history": [
        {"role": "developer", "content": "Be brief.", "name": None},
        {"role": "user", "content": "Hi."},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again."},
    ],
}
TOOL = {
    "id": "tooluse_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
}
REPLIES: dict[str, Behaviour] = {
    "text": Reply("Hi there, how are you?"),
    "tool-use": Reply("Let me look.", tool_calls=[TOOL], finish_reason="tool_calls"),
    "max-tokens": Reply("cut", finish_reason="length"),
    "cache-usage": Reply(
        "cached", usage={"prompt_tokens": 12, "completion_tokens": 4, "cache_read_input_tokens": 5}
    ),
}
PARAMS: dict[str, dict[str, Any]] = {
    "none": {},
    "sampling": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 5, "stop": ["x"]},
    "extra-headers": {"extra_headers": {"X-Custom": "1"}, "max_completion_tokens": 50},
}
BEDROCK_FAULTS: dict[str, Behaviour] = {
    **FAULTS,
    "400": Error(400, "Malformed input request", type="ValidationException"),
    "400-context-window": Error(
        400, "Input is too long for requested model.", type="ValidationException"
    ),
    "403": Error(403, "Authentication failed", type="AccessDeniedException"),
    "404": Error(404, "Model not found", type="ResourceNotFoundException"),
    "429-retry-after": Error(
        429, "Too many requests", type="ThrottlingException", headers={"retry-after": "2"}
    ),
    "500": Error(500, "Internal error", type="InternalServerException"),
    "503": Error(503, "Service unavailable", type="ServiceUnavailableException"),
}


@pytest.fixture
def upstream() -> Iterator[BedrockUpstream]:
    with BedrockUpstream() as server:
        yield server


def make_call(
    upstream: BedrockUpstream,
    messages: list[dict[str, Any]] = SYSTEM,
    model: str = MODEL,
    **params: Any,
) -> ProviderCall:
    return ProviderCall(
        model="claude",
        litellm_model=model,
        provider="bedrock",
        messages=messages,
        params=params,
        credentials=Credentials({"api_key": KEY, "api_base": upstream.root_url}),
        timeout=TIMEOUT,
    )


def run_both_sync(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    **params: Any,
) -> None:
    parity.run_both_sync(
        upstream, reference, lean, behaviour, lambda: make_call(upstream, messages, **params)
    )


async def run_both_async(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    **params: Any,
) -> None:
    await parity.run_both_async(
        upstream, reference, lean, behaviour, lambda: make_call(upstream, messages, **params)
    )


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("conversation", CONVERSATIONS)
async def test_reply_parity(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    conversation: str,
    params: str,
) -> None:
    for reply in REPLIES.values():
        run_both_sync(
            upstream, reference, lean, reply, CONVERSATIONS[conversation], **PARAMS[params]
        )
        await run_both_async(
            upstream, reference, lean, reply, CONVERSATIONS[conversation], **PARAMS[params]
        )


@pytest.mark.parametrize("fault", BEDROCK_FAULTS)
async def test_fault_parity(
    upstream: BedrockUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    run_both_sync(upstream, reference, lean, BEDROCK_FAULTS[fault])
    await run_both_async(upstream, reference, lean, BEDROCK_FAULTS[fault])


def test_unproven_bedrock_calls_go_through_litellm(
    upstream: BedrockUpstream, lean: LeanProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    sigv4 = ProviderCall(
        model="claude",
        litellm_model=MODEL,
        provider="bedrock",
        messages=SYSTEM,
        credentials=Credentials(
            {"aws_access_key_id": "AKIA", "aws_secret_access_key": "s", "api_base": "http://x"}
        ),
    )
    no_base = ProviderCall(
        model="claude",
        litellm_model=MODEL,
        provider="bedrock",
        messages=SYSTEM,
        credentials=Credentials({"api_key": KEY}),
    )
    assert lean.attempt_for(sigv4, stream=False) is None
    assert lean.attempt_for(no_base, stream=False) is None
    assert lean.attempt_for(make_call(upstream), stream=True) is not None
    faked = make_call(upstream, model="bedrock/ai21.jamba-1-5-large-v1:0")  # litellm fakes it
    assert lean.attempt_for(faked, stream=True) is None
    options = {"include_usage": True}
    assert lean.attempt_for(make_call(upstream, stream_options=options), stream=False) is None
    json_mode = make_call(upstream, response_format={"type": "json_object"})
    assert lean.attempt_for(json_mode, stream=False) is None
    assert lean.attempt_for(make_call(upstream, model="bedrock/invoke/x"), stream=False) is None
    monkeypatch.setenv("AWS_BEDROCK_RUNTIME_ENDPOINT", "http://elsewhere.test")
    assert lean.attempt_for(make_call(upstream), stream=False) is None
    monkeypatch.delenv("AWS_BEDROCK_RUNTIME_ENDPOINT")
    assert lean.attempt_for(make_call(upstream), stream=False) is not None


async def test_connections_are_reused(upstream: BedrockUpstream, lean: LeanProvider) -> None:
    upstream.set_default(Reply("hi"))
    for _ in range(5):
        await lean.acomplete(make_call(upstream))
        lean.complete(make_call(upstream))
    assert len(upstream.requests) == 10
    assert upstream.connections_accepted == 2


async def test_the_span_says_lean_for_bedrock(
    upstream: BedrockUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(Reply("hi"))
    lean_provider = LeanProvider()
    router = Router(
        providers={"bedrock": {"api_key": KEY, "api_base": upstream.root_url}},
        tracer_provider=provider,
        provider=lean_provider,
    )
    out = router.complete(model=MODEL, messages=SYSTEM)
    aout = await router.acomplete(model=MODEL, messages=SYSTEM)
    assert out.choices[0].message.content == aout.choices[0].message.content == "hi"
    paths = [
        (s.attributes or {}).get("respan.attempt.dispatch_path")
        for s in exporter.get_finished_spans()
        if s.parent is not None
    ]
    assert paths == ["lean", "lean"]
    await lean_provider.aclose()
    lean_provider.close()
