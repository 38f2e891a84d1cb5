"""Parity of the lean path with litellm for Google AI Studio's Gemini API (``gemini/...``).

Against the local upstream speaking Gemini's wire format: the same upstream request (path
with the model and method, ``x-goog-api-key``, body), the same response (ids and times
aside: litellm makes up tool-call ids) and the same router error over the fault matrix,
sync and async. Streams are in ``test_lean_parity_gemini_stream.py``. What the tests do
not cover (output caps, media, context caching, other credentials, the environment's
base URL) goes to litellm; a test holds that it does.
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
from tests.upstream import Behaviour, Body, Error, Raw, Reply
from tests.upstream_gemini import GeminiUpstream, gemini_response

MODEL = "gemini/gemini-2.0-flash"
KEY = "gemini-api-key-parity-0123456789"
SYSTEM = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}]
TOOL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
}
CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "system-prompt": SYSTEM,
    "history": [
        {"role": "developer", "content": "Be brief.", "name": None},
        {"role": "user", "content": [{"type": "text", "text": "Hi."}]},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Again."},
    ],
    "tool-round": [
        {"role": "user", "content": "Look it up."},
        {"role": "assistant", "content": None, "tool_calls": [TOOL]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"found": true}'},
    ],
}
USAGE = {"prompt_tokens": 12, "completion_tokens": 4}
REPLIES: dict[str, Behaviour] = {
    "text": Reply("Hi there, how are you?"),
    "tool-call": Reply(None, tool_calls=[TOOL], finish_reason="tool_calls"),
    "text-and-tool-call": Reply("Let me look.", tool_calls=[TOOL], finish_reason="tool_calls"),
    "max-tokens": Reply("cut", finish_reason="length"),
    "safety": Reply("", finish_reason="content_filter"),
    "cached-and-thoughts": Reply("ok", usage={**USAGE, "cached_tokens": 5, "reasoning_tokens": 3}),
    "no-usage": Raw(
        body={k: v for k, v in gemini_response(Reply("x"), "m").items() if k != "usageMetadata"}
    ),
}
PARAMS: dict[str, dict[str, Any]] = {
    "none": {},
    "sampling": {"temperature": 0.2, "top_p": 0.9, "stop": ["x"], "seed": 7},
    "tools": {"tools": TOOLS, "tool_choice": "auto"},
    "forced-tool": {
        "tools": TOOLS,
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
    },
    "candidates": {"n": 2},
    "extra-headers": {"extra_headers": {"X-Custom": "1"}},
}
GEMINI_FAULTS: dict[str, Behaviour] = {
    **FAULTS,
    "400": Error(400, "Invalid JSON payload received.", type="INVALID_ARGUMENT"),
    "400-context-window": Error(
        400, "The input token count (9000) exceeds the maximum number of tokens allowed"
    ),
    "400-key-invalid": Error(400, "API key not valid. Please pass a valid API key."),
    "401": Error(401, "Request had invalid authentication credentials."),
    "403": Error(403, "The caller does not have permission"),
    "404": Error(404, "models/x is not found for API version v1beta"),
    "429-retry-after": Error(429, "Resource has been exhausted", headers={"retry-after": "2"}),
    "500": Error(500, "An internal error has occurred."),
    "503": Error(503, "The model is overloaded. Please try again later."),
    "not-json": Body(b"<html>oops</html>", content_type="text/html"),
}


@pytest.fixture
def upstream() -> Iterator[GeminiUpstream]:
    with GeminiUpstream() as server:
        yield server


def make_call(
    upstream: GeminiUpstream,
    messages: list[dict[str, Any]] = SYSTEM,
    model: str = MODEL,
    credentials: dict[str, Any] | None = None,
    **params: Any,
) -> ProviderCall:
    given = {"api_key": KEY, "api_base": upstream.base_url} if credentials is None else credentials
    return ProviderCall(
        model="flash",
        litellm_model=model,
        provider="gemini",
        messages=messages,
        params=params,
        credentials=Credentials(given),
        timeout=TIMEOUT,
    )


async def run_both(
    upstream: GeminiUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    **params: Any,
) -> None:
    def build() -> ProviderCall:
        return make_call(upstream, messages, **params)

    parity.run_both_sync(upstream, reference, lean, behaviour, build)
    await parity.run_both_async(upstream, reference, lean, behaviour, build)


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("conversation", CONVERSATIONS)
async def test_reply_parity(
    upstream: GeminiUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    conversation: str,
    params: str,
) -> None:
    for reply in REPLIES.values():
        await run_both(
            upstream, reference, lean, reply, CONVERSATIONS[conversation], **PARAMS[params]
        )


@pytest.mark.parametrize("fault", GEMINI_FAULTS)
async def test_fault_parity(
    upstream: GeminiUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    await run_both(upstream, reference, lean, GEMINI_FAULTS[fault])


def test_unproven_gemini_calls_go_through_litellm(
    upstream: GeminiUpstream, lean: LeanProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lean_for(call: ProviderCall, stream: bool = False) -> bool:
        return lean.attempt_for(call, stream=stream) is not None

    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    cached = {"type": "text", "text": "Long.", "cache_control": {"type": "ephemeral"}}
    assert lean_for(make_call(upstream))
    assert lean_for(make_call(upstream), stream=True)
    assert not lean_for(make_call(upstream, max_tokens=5))  # an output cap: continuation hops
    assert not lean_for(make_call(upstream, max_completion_tokens=5), stream=True)
    assert not lean_for(make_call(upstream, response_format={"type": "json_object"}))
    assert not lean_for(make_call(upstream, stream_options={"include_usage": True}))
    assert not lean_for(make_call(upstream, [{"role": "user", "content": [image]}]))
    assert not lean_for(make_call(upstream, [{"role": "user", "content": [cached]}]))
    credentials = {"api_key": KEY, "api_base": upstream.base_url, "vertex_project": "p"}
    assert not lean_for(make_call(upstream, credentials=credentials))
    assert not lean_for(make_call(upstream, credentials={}))  # no key: litellm's own error
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    assert lean_for(make_call(upstream, credentials={"api_base": upstream.base_url}))
    monkeypatch.setenv("GEMINI_API_BASE", upstream.base_url)
    attempt = lean.attempt_for(make_call(upstream, credentials={}), stream=False)
    assert attempt is not None and attempt.request.url.startswith(upstream.base_url)


async def test_the_environment_is_read_as_litellm_reads_it(
    upstream: GeminiUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.setenv("GEMINI_API_BASE", upstream.base_url)

    def build() -> ProviderCall:
        return make_call(upstream, credentials={})

    parity.run_both_sync(upstream, reference, lean, Reply("hi"), build)
    await parity.run_both_async(upstream, reference, lean, Reply("hi"), build, stream=True)


def test_litellm_cache_callback_counts_only_with_a_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Importing litellm's Gemini context caching registers its ``"cache"`` callback; it
    does nothing without ``litellm.cache``, so the lean path stays on; with one, it is off."""
    import litellm

    from respan_router.providers._lean._support import litellm_globals_set

    monkeypatch.setattr(litellm, "success_callback", ["cache"])
    monkeypatch.setattr(litellm, "input_callback", ["cache"])
    monkeypatch.setattr(litellm, "cache", None)
    assert not litellm_globals_set(litellm)
    monkeypatch.setattr(litellm, "cache", object())
    assert litellm_globals_set(litellm)
    monkeypatch.setattr(litellm, "cache", None)
    monkeypatch.setattr(litellm, "success_callback", ["cache", "langfuse"])
    assert litellm_globals_set(litellm)


async def test_connections_are_reused(upstream: GeminiUpstream, lean: LeanProvider) -> None:
    upstream.set_default(Reply("one two", pieces=2))
    for _ in range(5):
        await lean.acomplete(make_call(upstream))
        lean.complete(make_call(upstream))
        assert [c async for c in lean.astream(make_call(upstream))]
        assert list(lean.stream(make_call(upstream)))
    assert len(upstream.requests) == 20
    assert upstream.connections_accepted == 2  # one pooled connection per transport


async def test_the_span_says_lean_for_gemini(
    upstream: GeminiUpstream, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    upstream.set_default(Reply("hi"))
    lean_provider = LeanProvider()
    router = Router(
        providers={"gemini": {"api_key": KEY, "api_base": upstream.base_url}},
        tracer_provider=provider,
        provider=lean_provider,
    )
    out = router.complete(model=MODEL, messages=SYSTEM)
    aout = await router.acomplete(model=MODEL, messages=SYSTEM)
    assert out.choices[0].message.content == aout.choices[0].message.content == "hi"
    stream = await router.acomplete(model=MODEL, messages=SYSTEM, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "hi"
    paths = [
        (s.attributes or {}).get("respan.attempt.dispatch_path")
        for s in exporter.get_finished_spans()
        if s.parent is not None
    ]
    assert paths == ["lean", "lean", "lean"]
    await lean_provider.aclose()
    lean_provider.close()
