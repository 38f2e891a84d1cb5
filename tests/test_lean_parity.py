"""Parity of the lean path with litellm: same upstream request, same response or error.

Every call runs twice against the local upstream, once through ``LiteLLMProvider`` and
once through ``LeanProvider``, for every allow-listed provider, sync and async, streamed
and not, over the fault matrix. What must match: the request the upstream received
(method, path, headers but the user agent, transport headers and the openai SDK's
``x-stainless-*`` telemetry headers, JSON body) and what the caller gets (the response's
dictionary, ids and timestamps aside; the error's type, status, retry-after,
retryability, model and provider; for streams the chunks before an interruption).
"""

from __future__ import annotations

from typing import Any

import pytest

from respan_router._secrets import Credentials
from respan_router.errors import RouterError
from respan_router.providers import LEAN, LITELLM, LeanProvider, LiteLLMProvider, ProviderCall
from respan_router.providers._lean._support import PROVIDERS
from tests import lean_parity_helpers as parity
from tests.lean_parity_helpers import TIMEOUT
from tests.upstream import Behaviour, Drop, Error, FakeUpstream, Reply

API_KEY = "sk-parity-0123456789"
MESSAGES = [{"role": "user", "content": "Say hello."}]
# Groq's config reads ``service_tier``, which Groq always sends.
EXTRA = {"groq": {"service_tier": "on_demand"}}
ALLOWED = sorted(PROVIDERS)

TOOL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
]


def make_call(upstream: FakeUpstream, provider: str, **params: Any) -> ProviderCall:
    return ProviderCall(
        model="fast",
        litellm_model=f"{provider}/test-model",
        provider=provider,
        messages=MESSAGES,
        params=params,
        credentials=Credentials({"api_key": API_KEY, "api_base": upstream.base_url}),
        timeout=TIMEOUT,
    )


def supports(provider: str, param: str) -> bool:
    from litellm import LlmProviders
    from litellm.utils import ProviderConfigManager

    config = ProviderConfigManager.get_provider_chat_config(
        model="test-model", provider=LlmProviders(provider)
    )
    return param in config.get_supported_openai_params("test-model")


def behaviour_for(provider: str, behaviour: Behaviour) -> Behaviour:
    if isinstance(behaviour, Reply) and provider in EXTRA:
        return Reply(**{**behaviour.__dict__, "extra": EXTRA[provider]})
    return behaviour


def run_both_sync(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    behaviour: Behaviour,
    *,
    stream: bool,
    **params: Any,
) -> None:
    parity.run_both_sync(
        upstream,
        reference,
        lean,
        behaviour_for(provider, behaviour),
        lambda: make_call(upstream, provider, **params),
        stream=stream,
        scrub=parity.scrub_openai,
    )


async def run_both_async(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    behaviour: Behaviour,
    *,
    stream: bool,
    **params: Any,
) -> None:
    await parity.run_both_async(
        upstream,
        reference,
        lean,
        behaviour_for(provider, behaviour),
        lambda: make_call(upstream, provider, **params),
        stream=stream,
        scrub=parity.scrub_openai,
    )


# -- replies -----------------------------------------------------------------------------------

PARAMS: dict[str, dict[str, Any]] = {
    "none": {},
    "sampling": {"temperature": 0.2, "top_p": 0.9, "max_tokens": 5, "stop": ["x"]},
    "extra-headers": {"extra_headers": {"X-Custom": "1"}, "temperature": 0.1},
    "usage": {"stream_options": {"include_usage": True}},
}
REPLIES: dict[str, Reply] = {
    "text": Reply("Hi there, how are you?"),
    "tool-call": Reply(None, tool_calls=[TOOL], finish_reason="tool_calls"),
    "mapped-finish": Reply("done", finish_reason="eos"),
}


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ALLOWED)
def test_reply_parity_sync(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    stream: bool,
    params: str,
) -> None:
    if params == "usage" and not stream:
        pytest.skip("stream_options only applies to streams")
    if not all(supports(provider, name) for name in PARAMS[params] if name != "extra_headers"):
        pytest.skip(f"{provider}'s config does not take {params}: litellm's own path")
    for reply in REPLIES.values():
        run_both_sync(upstream, reference, lean, provider, reply, stream=stream, **PARAMS[params])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ALLOWED)
async def test_reply_parity_async(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    stream: bool,
) -> None:
    for reply in REPLIES.values():
        for params in PARAMS.values():
            if not all(supports(provider, name) for name in params if name != "extra_headers"):
                continue
            await run_both_async(
                upstream, reference, lean, provider, reply, stream=stream, **params
            )


@pytest.mark.parametrize("provider", ["openai", "hosted_vllm", "mistral"])
def test_tools_parity(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, provider: str
) -> None:
    reply = Reply(None, tool_calls=[TOOL], finish_reason="tool_calls")
    for stream in (False, True):
        run_both_sync(
            upstream,
            reference,
            lean,
            provider,
            reply,
            stream=stream,
            tools=TOOLS,
            tool_choice="auto",
            response_format={"type": "json_object"},
        )


# -- the fault matrix --------------------------------------------------------------------------

FAULTS: dict[str, Behaviour] = {
    "400": Error(400, "bad request"),
    "400-context-window": Error(
        400, "This model's maximum context length is 8 tokens.", code="context_length_exceeded"
    ),
    "400-content-policy": Error(
        400, "Invalid prompt: your prompt was flagged as violating our usage policy."
    ),
    "401": Error(401, "bad key", code="invalid_api_key"),
    "403": Error(403, "not allowed"),
    "404": Error(404, "no such model", code="model_not_found"),
    "408": Error(408, "request timeout"),
    "422": Error(422, "unprocessable"),
    "429-retry-after": Error(429, "slow down", headers={"retry-after": "2"}),
    "429-retry-after-ms": Error(429, "slow down", headers={"retry-after-ms": "1500"}),
    "500": Error(500, "boom", type="server_error"),
    "502": Error(502, "bad gateway", type="server_error"),
    "503": Error(503, "unavailable", type="server_error"),
    "504": Error(504, "gateway timeout", type="server_error"),
    "dropped-connection": Drop(),
    "slower-than-timeout": Reply(delay=TIMEOUT + 0.3),
}
STREAM_FAULTS: dict[str, Behaviour] = {
    "cut-before-first-chunk": Reply("one two three", pieces=3, break_after=0),
    "cut-after-first-chunk": Reply("one two three", pieces=3, break_after=1),
    "cut-mid-way": Reply("one two three four", pieces=4, break_after=3),
    "first-chunk-too-slow": Reply("one two", first_chunk_delay=TIMEOUT + 0.3),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", ALLOWED)
def test_fault_parity_sync(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    fault: str,
) -> None:
    for stream in (False, True):
        run_both_sync(upstream, reference, lean, provider, FAULTS[fault], stream=stream)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("provider", ALLOWED)
async def test_fault_parity_async(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    fault: str,
) -> None:
    for stream in (False, True):
        await run_both_async(upstream, reference, lean, provider, FAULTS[fault], stream=stream)


@pytest.mark.parametrize("fault", STREAM_FAULTS)
@pytest.mark.parametrize("provider", ALLOWED)
async def test_stream_fault_parity(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    fault: str,
) -> None:
    await run_both_async(upstream, reference, lean, provider, STREAM_FAULTS[fault], stream=True)
    run_both_sync(upstream, reference, lean, provider, STREAM_FAULTS[fault], stream=True)


def test_key_from_environment_parity(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    results = parity.run_both_sync(
        upstream,
        reference,
        lean,
        None,
        lambda: ProviderCall(
            model="fast",
            litellm_model="openai/test-model",
            provider="openai",
            messages=MESSAGES,
            credentials=Credentials({"api_base": upstream.base_url}),
            timeout=TIMEOUT,
        ),
        scrub=parity.scrub_openai,
    )
    assert results[1][1][0][2]["authorization"] == "Bearer sk-from-the-environment"


def test_unproven_calls_go_through_litellm(upstream: FakeUpstream, lean: LeanProvider) -> None:
    cases = [
        make_call(upstream, "openai", user="u1"),  # a parameter outside the tested set
        make_call(upstream, "openai", mock_response="hi"),  # litellm-only
        make_call(upstream, "mistral", logprobs=True),  # not supported by the config
        ProviderCall(
            model="fast",
            litellm_model="anthropic/claude",
            provider="anthropic",
            messages=MESSAGES,
            params={"mock_response": "hi"},
        ),
    ]
    for call in cases:
        assert lean.attempt_for(call, stream=False) is None
    call = make_call(upstream, "openai", mock_response="hi")
    assert lean.complete(call).choices[0].message.content == "hi"
    assert call.dispatch_path == LITELLM
    assert upstream.requests == []


# -- guards --------------------------------------------------------------------------------------


def test_litellm_range_is_pinned() -> None:
    """The installed litellm is one the parity suite ran on; outside the range, lean is off."""
    from importlib.metadata import version

    from respan_router.providers._lean._support import LITELLM_RANGE, litellm_version_supported

    assert litellm_version_supported(), f"litellm {version('litellm')} outside {LITELLM_RANGE}"
    assert LITELLM_RANGE == ((1, 108, 0), (1, 111, 0))
    assert litellm_version_supported("1.108.0")
    assert litellm_version_supported("1.110.2")
    assert not litellm_version_supported("1.107.0")
    assert not litellm_version_supported("1.111.0")
    assert not litellm_version_supported("2.0.0")
    assert not litellm_version_supported("nonsense")


def test_outside_the_range_the_lean_path_switches_off(
    upstream: FakeUpstream, reference: LiteLLMProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from respan_router.providers._lean import _provider

    monkeypatch.setattr(_provider, "litellm_version_supported", lambda: False)
    provider = LeanProvider(fallback=reference)
    upstream.enqueue(Reply("via litellm"))
    call = make_call(upstream, "openai")
    assert provider.complete(call).choices[0].message.content == "via litellm"
    assert call.dispatch_path == LITELLM
    assert not provider.enabled


def test_setting_off_sends_everything_through_litellm(
    upstream: FakeUpstream, reference: LiteLLMProvider
) -> None:
    provider = LeanProvider(enabled=False, fallback=reference)
    upstream.enqueue(Reply("via litellm"))
    call = make_call(upstream, "openai")
    assert provider.complete(call).choices[0].message.content == "via litellm"
    assert call.dispatch_path == LITELLM


async def test_early_close_releases_the_connection(
    upstream: FakeUpstream, lean: LeanProvider
) -> None:
    upstream.enqueue(Reply("a b c d e f", pieces=6, chunk_delay=0.2))
    stream = lean.astream(make_call(upstream, "openai"))
    first = await anext(stream)
    assert first.choices[0].delta.content
    await stream.aclose()  # type: ignore[attr-defined]
    assert await upstream.async_wait_for(lambda: upstream.disconnects == 1)
    assert upstream.streams_completed == 0


def test_sync_early_close_releases_the_connection(
    upstream: FakeUpstream, lean: LeanProvider
) -> None:
    upstream.enqueue(Reply("a b c d e f", pieces=6, chunk_delay=0.2))
    stream = lean.stream(make_call(upstream, "openai"))
    assert next(stream).choices[0].delta.content
    stream.close()  # type: ignore[attr-defined]
    assert upstream.wait_for(lambda: upstream.disconnects == 1)


async def test_connections_are_reused(upstream: FakeUpstream, lean: LeanProvider) -> None:
    for _ in range(3):
        await lean.acomplete(make_call(upstream, "openai"))
        async for _chunk in lean.astream(make_call(upstream, "openai")):
            pass
    assert len(upstream.requests) == 6
    session = lean._async.session()  # this loop's session: one idle pooled connection
    assert sum(len(idle) for idle in session.connector._conns.values()) == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_environment_proxy_is_honoured(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """``HTTP_PROXY`` sends the request through the proxy (here the upstream itself)."""
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{upstream.port}")
    provider = LeanProvider(fallback=reference)
    call = ProviderCall(
        model="fast",
        litellm_model="openai/test-model",
        provider="openai",
        messages=MESSAGES,
        credentials=Credentials({"api_key": API_KEY, "api_base": "http://llm.example.test/v1"}),
        timeout=TIMEOUT,
    )
    with pytest.raises(RouterError):  # the upstream, as a proxy, knows no such route
        if mode == "sync":
            provider.complete(call)
        else:
            await provider.acomplete(call)
    await provider.aclose()
    provider.close()
    (request,) = upstream.requests
    assert request.path == "http://llm.example.test/v1/chat/completions"
    assert call.dispatch_path == LEAN


async def test_an_attempt_sends_nothing_until_awaited(
    upstream: FakeUpstream, lean: LeanProvider
) -> None:
    """``acomplete`` hands back the coroutine of the path taken: the path is chosen when it
    is called, the request sent only when it is awaited."""
    upstream.enqueue(Reply("later"))
    call = make_call(upstream, "openai")
    pending = lean.acomplete(call)
    assert call.dispatch_path == LEAN
    assert upstream.requests == []
    assert (await pending).choices[0].message.content == "later"
    assert len(upstream.requests) == 1
    unproven = make_call(upstream, "openai", user="u1")
    pending = lean.acomplete(unproven)
    assert unproven.dispatch_path == LITELLM
    pending.close()  # never awaited: nothing sent
    assert len(upstream.requests) == 1
