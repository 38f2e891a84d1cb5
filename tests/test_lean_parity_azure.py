"""Parity of the lean path with litellm for Azure OpenAI.

As ``tests/test_lean_parity.py``, against the local upstream speaking Azure's routes
(``/openai/deployments/{name}/chat/completions?api-version=...``): the same upstream
request (path and query, headers but transport and the openai SDK's telemetry, body), the
same response chunk by chunk (content-filter fields and the prompt-filter pre-chunk as the
upstream sent them) and the same router error over the fault matrix, sync and async,
streamed and not, with an ``api-key`` and with an Entra ID token.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from respan_router._secrets import Credentials
from respan_router.providers import LITELLM, LeanProvider, LiteLLMProvider, ProviderCall
from tests import lean_parity_helpers as parity
from tests.test_lean_parity import (
    FAULTS,
    PARAMS,
    REPLIES,
    STREAM_FAULTS,
    TIMEOUT,
    TOOLS,
)
from tests.upstream import Behaviour, FakeUpstream, Raw, Reply, maximal_chunks, maximal_completion

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}]
AUTH = {
    "api-key": {"api_key": "azure-key-0123456789"},
    "entra-token": {"azure_ad_token": "eyJ0eXAiOiJKV1QiLCJhbGciOi.entra"},
}
FILTER = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": FILTER}]
FILTERED_COMPLETION = Raw(
    body={
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "prompt_filter_results": PROMPT_FILTER,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hello."},
                "logprobs": None,
                "content_filter_results": FILTER,
            }
        ],
        "system_fingerprint": "fp_abc",
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": 2,
            "total_tokens": 13,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }
)


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_abc",
        "choices": [
            {
                "index": 0,
                "delta": delta,
                "finish_reason": finish,
                "logprobs": None,
                "content_filter_results": {} if finish else FILTER,
            }
        ],
        **extra,
    }


FILTERED_STREAM = Raw(
    events=[
        {
            "id": "",
            "object": "",
            "created": 0,
            "model": "",
            "choices": [],
            "prompt_filter_results": PROMPT_FILTER,
        },
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hel"}),
        _chunk({"content": "lo."}),
        _chunk({}, "stop"),
    ]
)


@pytest.fixture(autouse=True)
def _no_azure_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AZURE_AD_TOKEN",
        "AZURE_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "AZURE_TENANT_ID",
        "AZURE_API_VERSION",
        "AZURE_API_BASE",
    ):
        monkeypatch.delenv(name, raising=False)


def make_call(
    upstream: FakeUpstream,
    auth: str = "api-key",
    model: str = "my-gpt4o",
    messages: list[dict[str, Any]] = MESSAGES,
    **params: Any,
) -> ProviderCall:
    base = f"http://127.0.0.1:{upstream.port}"
    return ProviderCall(
        model="smart",
        litellm_model=f"azure/{model}",
        provider="azure",
        messages=messages,
        params=params,
        credentials=Credentials({**AUTH[auth], "api_base": base, "api_version": "2024-10-21"}),
        timeout=TIMEOUT,
    )


def run_both_sync(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    *,
    stream: bool,
    auth: str = "api-key",
    messages: list[dict[str, Any]] = MESSAGES,
    **params: Any,
) -> None:
    parity.run_both_sync(
        upstream,
        reference,
        lean,
        behaviour,
        lambda: make_call(upstream, auth, messages=messages, **params),
        stream=stream,
        scrub=parity.scrub_openai,
    )


async def run_both_async(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    *,
    stream: bool,
    auth: str = "api-key",
    **params: Any,
) -> None:
    await parity.run_both_async(
        upstream,
        reference,
        lean,
        behaviour,
        lambda: make_call(upstream, auth, **params),
        stream=stream,
        scrub=parity.scrub_openai,
    )


REPLY_CASES: dict[str, Behaviour] = {
    **REPLIES,
    "content-filter": FILTERED_COMPLETION,
    "every-field": Raw(body=maximal_completion()),
}
STREAM_CASES: dict[str, Behaviour] = {
    **REPLIES,
    "prompt-filter-pre-chunk": FILTERED_STREAM,
    "every-field": Raw(events=maximal_chunks()),
}


@pytest.mark.parametrize("auth", AUTH)
@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_reply_parity_sync(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    stream: bool,
    params: str,
    auth: str,
) -> None:
    if params == "usage" and not stream:
        pytest.skip("stream_options only applies to streams")
    cases = STREAM_CASES if stream else REPLY_CASES
    for reply in cases.values():
        run_both_sync(upstream, reference, lean, reply, stream=stream, auth=auth, **PARAMS[params])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_reply_parity_async(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, stream: bool
) -> None:
    cases = STREAM_CASES if stream else REPLY_CASES
    for reply in cases.values():
        for name, params in PARAMS.items():
            if name == "usage" and not stream:
                continue
            await run_both_async(upstream, reference, lean, reply, stream=stream, **params)


def test_tools_parity(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider
) -> None:
    reply = REPLIES["tool-call"]
    for stream in (False, True):
        run_both_sync(
            upstream,
            reference,
            lean,
            reply,
            stream=stream,
            tools=TOOLS,
            tool_choice="required",
            response_format={"type": "json_object"},
        )


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_parity_sync(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    for stream in (False, True):
        run_both_sync(upstream, reference, lean, FAULTS[fault], stream=stream)


@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_parity_async(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    for stream in (False, True):
        await run_both_async(upstream, reference, lean, FAULTS[fault], stream=stream)


@pytest.mark.parametrize("fault", STREAM_FAULTS)
async def test_stream_fault_parity(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    await run_both_async(upstream, reference, lean, STREAM_FAULTS[fault], stream=True)
    run_both_sync(upstream, reference, lean, STREAM_FAULTS[fault], stream=True)


def test_the_upstream_gets_azure_routes_and_auth(
    upstream: FakeUpstream, lean: LeanProvider
) -> None:
    lean.complete(make_call(upstream, "api-key"))
    lean.complete(make_call(upstream, "entra-token"))
    first, second = upstream.requests
    assert first.path == "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21"
    assert first.headers["api-key"] == "azure-key-0123456789"
    assert "authorization" not in first.headers
    assert second.headers["authorization"] == "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.entra"
    assert "api-key" not in second.headers


def test_unproven_azure_calls_go_through_litellm(
    upstream: FakeUpstream, lean: LeanProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = f"http://127.0.0.1:{upstream.port}"

    def call(model: str = "my-gpt4o", **credentials: Any) -> ProviderCall:
        return ProviderCall(
            model="smart",
            litellm_model=f"azure/{model}",
            provider="azure",
            messages=MESSAGES,
            credentials=Credentials(credentials),
            timeout=TIMEOUT,
        )

    key = {"api_key": "k", "api_base": base, "api_version": "2024-10-21"}
    cases = [
        call(**key, azure_ad_token="t"),  # both: the SDK picks
        call(**{**key, "api_base": base + "/openai/deployments/x"}),  # a deployment URL
        call(**{k: v for k, v in key.items() if k != "api_key"}, azure_ad_token="oidc/x"),
        call("o3-mini", **key),  # litellm's o-series handler
        call("gpt-5", **key),  # litellm's GPT-5 handler
        make_call(upstream, user="u1"),  # a parameter outside the tested set
    ]
    for case in cases:
        assert lean.attempt_for(case, stream=False) is None
    monkeypatch.setenv("AZURE_AD_TOKEN", "from-the-environment")  # litellm would send it
    assert lean.attempt_for(make_call(upstream), stream=False) is None
    monkeypatch.delenv("AZURE_AD_TOKEN")
    assert lean.attempt_for(make_call(upstream), stream=False) is not None


async def test_connections_are_reused(upstream: FakeUpstream, lean: LeanProvider) -> None:
    for _ in range(3):
        await lean.acomplete(make_call(upstream))
        async for _chunk in lean.astream(make_call(upstream)):
            pass
        lean.complete(make_call(upstream))
        for _chunk in lean.stream(make_call(upstream)):
            pass
    assert len(upstream.requests) == 12
    session = lean._async.session()
    assert sum(len(idle) for idle in session.connector._conns.values()) == 1
    assert upstream.open_connections == 2  # one async, one sync, both kept alive


def test_without_lean_dispatch_azure_goes_through_litellm(
    upstream: FakeUpstream, reference: LiteLLMProvider
) -> None:
    provider = LeanProvider(enabled=False, fallback=reference)
    call = make_call(upstream)
    provider.complete(call)
    assert call.dispatch_path == LITELLM


@pytest.mark.parametrize(("on", "path"), [(True, "lean"), (False, "litellm")])
async def test_the_span_says_lean_for_azure(
    upstream: FakeUpstream,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    on: bool,
    path: str,
) -> None:
    upstream.set_default(Reply("hi"))
    router = Router(
        providers={
            "azure": {
                "api_key": "azure-key-router",
                "api_base": f"http://127.0.0.1:{upstream.port}",
                "api_version": "2024-10-21",
            }
        },
        tracer_provider=provider,
        lean_dispatch=on,
    )
    out = router.complete(model="azure/my-gpt4o", messages=MESSAGES)
    aout = await router.acomplete(model="azure/my-gpt4o", messages=MESSAGES)
    assert out.choices[0].message.content == aout.choices[0].message.content == "hi"
    paths = [
        (s.attributes or {}).get("respan.attempt.dispatch_path")
        for s in exporter.get_finished_spans()
        if s.parent is not None
    ]
    assert paths == [path, path]
    assert {r.path for r in upstream.requests} == {
        "/openai/deployments/my-gpt4o/chat/completions?api-version=2024-10-21"
    }


USAGE = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
UNASKED_USAGE: dict[str, Behaviour] = {
    "usage-on-the-last-chunk": Raw(
        events=[_chunk({"role": "assistant", "content": "Hi"}), _chunk({}, "stop", usage=USAGE)]
    ),
    "usage-chunk-alone": Raw(
        events=[
            _chunk({"role": "assistant", "content": "Hi"}),
            _chunk({}, "stop"),
            {**_chunk({}), "choices": [], "usage": USAGE},
        ]
    ),
}


@pytest.mark.parametrize("case", UNASKED_USAGE)
async def test_usage_the_caller_did_not_ask_for(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, case: str
) -> None:
    """Azure streams usage on its own: litellm passes it on, and so does the lean path."""
    run_both_sync(upstream, reference, lean, UNASKED_USAGE[case], stream=True)
    await run_both_async(upstream, reference, lean, UNASKED_USAGE[case], stream=True)


IN_STREAM_ERRORS: dict[str, Behaviour] = {
    "error-event-after-a-chunk": Raw(
        events=[
            _chunk({"role": "assistant", "content": "Hi"}),
            {"error": {"message": "The server had an error", "type": "server_error", "code": None}},
        ]
    ),
    "error-event-first": Raw(
        events=[{"error": {"message": "overloaded", "type": "server_error", "code": "429"}}]
    ),
}


@pytest.mark.parametrize("case", IN_STREAM_ERRORS)
async def test_in_stream_error_event_parity(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, case: str
) -> None:
    run_both_sync(upstream, reference, lean, IN_STREAM_ERRORS[case], stream=True)
    await run_both_async(upstream, reference, lean, IN_STREAM_ERRORS[case], stream=True)


@pytest.mark.parametrize("case", IN_STREAM_ERRORS)
async def test_in_stream_error_event_parity_openai(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, case: str
) -> None:
    """The openai provider reads streams the same way (litellm through the openai SDK)."""
    from tests import test_lean_parity as generic

    behaviour = IN_STREAM_ERRORS[case]
    generic.run_both_sync(upstream, reference, lean, "openai", behaviour, stream=True)
    await generic.run_both_async(upstream, reference, lean, "openai", behaviour, stream=True)


@pytest.mark.parametrize(
    ("given", "environment"),
    [
        ({"api_base", "api_key"}, {}),  # litellm's default api-version
        ({"api_base", "api_key"}, {"AZURE_API_VERSION": "2024-06-01"}),
        ({"api_base", "api_version"}, {"AZURE_OPENAI_API_KEY": "azure-key-from-env"}),
        ({"api_base", "api_version"}, {"AZURE_API_KEY": "azure-key-from-env-2"}),
        (
            set(),
            {"AZURE_API_KEY": "k-env", "AZURE_API_BASE": "", "AZURE_API_VERSION": "2024-06-01"},
        ),
    ],
    ids=["default-version", "env-version", "env-openai-key", "env-key", "all-from-env"],
)
def test_settings_from_the_environment_parity(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    monkeypatch: pytest.MonkeyPatch,
    given: set[str],
    environment: dict[str, str],
) -> None:
    base = f"http://127.0.0.1:{upstream.port}"
    full = {"api_key": "azure-key-given", "api_base": base, "api_version": "2024-10-21"}
    for name, value in environment.items():
        monkeypatch.setenv(name, value or base)
    parity.run_both_sync(
        upstream,
        reference,
        lean,
        None,
        lambda: ProviderCall(
            model="smart",
            litellm_model="azure/my-gpt4o",
            provider="azure",
            messages=MESSAGES,
            credentials=Credentials({k: v for k, v in full.items() if k in given}),
            timeout=TIMEOUT,
        ),
        scrub=parity.scrub_openai,
    )


# What litellm's completion() normalises first: the developer role, None keys.
NORMALISED = [
    {"role": "developer", "content": "Be brief.", "name": None},
    {"role": "user", "content": "Hi.", "name": None},
    {"role": "assistant", "content": "Hello.", "tool_calls": None, "audio": None},
    {"role": "user", "content": "Again."},
]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_messages_normalised_as_litellm_does(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, stream: bool
) -> None:
    run_both_sync(
        upstream, reference, lean, next(iter(REPLIES.values())), stream=stream, messages=NORMALISED
    )
