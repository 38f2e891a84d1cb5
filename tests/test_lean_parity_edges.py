"""Lean path vs litellm on the edges: messages as litellm normalises them per provider
(``developer`` role, keys set to None), unreadable 200 replies, a refused connection, a
base URL without ``/v1``. Same upstream request, same response or error, both paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from respan_router._secrets import Credentials
from respan_router.providers import LeanProvider, LiteLLMProvider, ProviderCall
from tests import lean_parity_helpers as parity
from tests.redis_helpers import free_port
from tests.test_lean_parity import (
    ALLOWED,
    API_KEY,
    MESSAGES,
    TOOL,
    behaviour_for,
)
from tests.upstream import Behaviour, Body, FakeUpstream, Raw, Reply

# None of these cases waits on the upstream: a generous timeout keeps a loaded machine
# from turning one into a timeout.
_TIMEOUT = 10.0


def _previous_answer() -> dict[str, Any]:
    """An earlier answer added back with ``.model_dump()``: every unset field is None."""
    from openai.types.chat import ChatCompletionMessage

    message = ChatCompletionMessage.model_validate(
        {"role": "assistant", "content": None, "tool_calls": [TOOL]}
    )
    return message.model_dump()


CONVERSATIONS: dict[str, list[dict[str, Any]]] = {
    "developer-role": [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ],
    "none-keys": [
        {"role": "system", "content": "sys", "name": None},
        {"role": "user", "content": "hi", "name": None},
        {"role": "assistant", "content": None, "tool_calls": [TOOL], "function_call": None},
        {"role": "tool", "tool_call_id": "call_1", "content": "x"},
    ],
    "model-dump": [
        {"role": "user", "content": "look it up"},
        _previous_answer(),
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
    ],
}


def _call(base_url: str, provider: str, messages: list[dict[str, Any]]) -> ProviderCall:
    return ProviderCall(
        model="fast",
        litellm_model=f"{provider}/test-model",
        provider=provider,
        messages=copy.deepcopy(messages),
        params={},
        credentials=Credentials({"api_key": API_KEY, "api_base": base_url}),
        timeout=_TIMEOUT,
    )


def _both_sync(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    behaviour: Behaviour,
    *,
    messages: list[dict[str, Any]] = MESSAGES,
    base_url: str | None = None,
    stream: bool = False,
) -> list[Any]:
    return parity.run_both_sync(
        upstream,
        reference,
        lean,
        behaviour_for(provider, behaviour),
        lambda: _call(base_url or upstream.base_url, provider, messages),
        stream=stream,
        scrub=parity.scrub_openai,
    )


async def _both_async(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    behaviour: Behaviour,
    *,
    stream: bool = False,
) -> list[Any]:
    return await parity.run_both_async(
        upstream,
        reference,
        lean,
        behaviour_for(provider, behaviour),
        lambda: _call(upstream.base_url, provider, MESSAGES),
        stream=stream,
        scrub=parity.scrub_openai,
    )


@pytest.mark.parametrize("conversation", list(CONVERSATIONS))
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ALLOWED)
def test_messages_are_normalised_as_litellm_does(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    stream: bool,
    conversation: str,
) -> None:
    messages = CONVERSATIONS[conversation]
    results = _both_sync(
        upstream, reference, lean, provider, Reply("ok"), messages=messages, stream=stream
    )
    sent = results[1][1][0][3]["messages"]
    assert all(None not in m.values() for m in sent)  # litellm drops keys set to None
    if conversation == "developer-role":
        assert sent[0]["role"] == "system"


def test_the_callers_messages_are_not_mutated(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider
) -> None:
    messages = CONVERSATIONS["none-keys"] + CONVERSATIONS["developer-role"]
    before = copy.deepcopy(messages)
    call = _call(upstream.base_url, "openai", messages)
    lean.complete(call)
    assert call.messages == before


BODIES = {
    "empty": Body(b""),
    "text": Body(b"not json", "text/plain"),
    "html": Body(b"<html>bad gateway</html>", "text/html"),
    "array": Body(b"[1, 2]"),
}


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("provider", ALLOWED)
def test_an_unreadable_200_fails_as_in_litellm_sync(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    body: str,
) -> None:
    _both_sync(upstream, reference, lean, provider, BODIES[body])


@pytest.mark.parametrize("body", list(BODIES))
@pytest.mark.parametrize("provider", ALLOWED)
async def test_an_unreadable_200_fails_as_in_litellm_async(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    body: str,
) -> None:
    await _both_async(upstream, reference, lean, provider, BODIES[body])


def _gzipped_completion() -> Body:
    import gzip
    import json

    reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "test-model",
        "service_tier": "on_demand",  # groq's config reads it
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "squeezed " * 400},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 400, "total_tokens": 403},
    }
    return Body(gzip.compress(json.dumps(reply).encode()), encoding="gzip")


@pytest.mark.parametrize("provider", ["openai", "groq", "mistral"])
async def test_a_compressed_200_is_read_whole(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, provider: str
) -> None:
    """A body of declared length with a Content-Encoding is decoded to its end (the sync
    path takes a body in one read only when nothing is left to decode)."""
    results = _both_sync(upstream, reference, lean, provider, _gzipped_completion())
    assert results[1][0][1]["choices"][0]["message"]["content"] == "squeezed " * 400
    await parity.run_both_async(
        upstream,
        reference,
        lean,
        _gzipped_completion(),
        lambda: _call(upstream.base_url, provider, MESSAGES),
        scrub=parity.scrub_openai,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("provider", ALLOWED)
async def test_a_refused_connection_is_a_connection_error_on_both_paths(
    reference: LiteLLMProvider, lean: LeanProvider, provider: str, stream: bool
) -> None:
    base = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    views = []
    for which in (reference, lean):
        sync = parity.outcome_sync(
            which, _call(base, provider, MESSAGES), stream=stream, scrub=parity.scrub_openai
        )
        asynchronous = await parity.outcome_async(
            which, _call(base, provider, MESSAGES), stream=stream, scrub=parity.scrub_openai
        )
        assert sync == asynchronous
        views.append(sync)
    assert views[0] == views[1]
    assert views[1][2]["type"] == "ProviderConnectionError"


@pytest.mark.parametrize("suffix", ["", "/"])
@pytest.mark.parametrize("provider", ALLOWED)
def test_a_base_url_without_v1_goes_where_litellm_sends_it(
    upstream: FakeUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    provider: str,
    suffix: str,
) -> None:
    base = upstream.base_url.removesuffix("/v1") + suffix
    results = _both_sync(upstream, reference, lean, provider, Reply("ok"), base_url=base)
    if provider == "mistral":  # litellm appends /v1 to a mistral base
        assert results[1][0][0] == "completion"


def _unknown_field_events() -> list[dict[str, Any]]:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return [
        {
            **head,
            "service_tier": "on_demand",
            "x_groq": {"id": "req_1"},
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": "Hi", "x_delta": "d"},
                    "finish_reason": None,
                    "x_choice": 3,
                }
            ],
        },
        {
            **head,
            "service_tier": "on_demand",
            "x_groq": {"id": "req_1", "usage": {"queue_time": 0.1}},
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        },
    ]


@pytest.mark.parametrize("provider", ALLOWED)
def test_unknown_chunk_fields_are_kept_on_both_paths(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, provider: str
) -> None:
    events = Raw(events=_unknown_field_events())
    results = _both_sync(upstream, reference, lean, provider, events, stream=True)
    kind, chunks = results[0][0]
    assert kind == "chunks"
    assert [c.get("x_groq") for c in chunks] == [e["x_groq"] for e in _unknown_field_events()]
    assert chunks[0]["choices"][0]["x_choice"] == 3
    assert chunks[0]["choices"][0]["delta"]["x_delta"] == "d"


@pytest.mark.parametrize("provider", ["groq", "mistral", "fireworks_ai", "xai"])
async def test_unknown_chunk_fields_are_kept_async(
    upstream: FakeUpstream, reference: LiteLLMProvider, lean: LeanProvider, provider: str
) -> None:
    events = Raw(events=_unknown_field_events())
    results = await _both_async(upstream, reference, lean, provider, events, stream=True)
    assert results[0][0][1][1]["x_groq"] == {"id": "req_1", "usage": {"queue_time": 0.1}}
