"""Parity of the lean path with litellm for Vertex AI's Gemini models (``vertex_ai/...``).

Against the local upstream speaking Gemini's wire format on Vertex's paths, with both
sides getting their access tokens from the local Google token endpoint (the upstream
refuses a token that endpoint did not issue): the same upstream request (path with the
project, location, model and method, headers but the token itself, body), the same
response (chunk by chunk for streams) and the same router error over the fault matrix,
sync and async. Credentials as a dict, a JSON string, a file or ADC; project, location
and base URL from the call or the environment. A token endpoint that refuses the grant
gives litellm's router error; without google-auth the calls take litellm.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from respan_router._secrets import Credentials
from respan_router.errors import RouterError
from respan_router.providers import LeanProvider, LiteLLMProvider, ProviderCall
from respan_router.providers._lean._google_token import google_auth_installed
from tests import lean_parity_helpers as parity
from tests.lean_parity_helpers import TIMEOUT
from tests.test_lean_parity import STREAM_FAULTS
from tests.test_lean_parity_gemini import CONVERSATIONS, GEMINI_FAULTS, PARAMS, REPLIES, SYSTEM
from tests.upstream import Behaviour, Raw, Reply
from tests.upstream_gemini import gemini_chunks
from tests.upstream_google_token import GoogleTokenServer
from tests.upstream_vertex import VertexUpstream

pytestmark = pytest.mark.skipif(not google_auth_installed(), reason="google-auth not installed")

MODEL = "vertex_ai/gemini-2.0-flash"
IGNORE = ("authorization",)  # each side has its own token; the upstream checks both
_ERROR_EVENT = {
    "error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}
}
VERTEX_STREAM_FAULTS: dict[str, Behaviour] = {
    **STREAM_FAULTS,
    "error-event-first": Raw(events=[_ERROR_EVENT]),
    "error-event-mid-stream": Raw(events=[gemini_chunks(Reply("a b"), "m")[0], _ERROR_EVENT]),
}


@pytest.fixture(scope="module")
def tokens() -> Iterator[GoogleTokenServer]:
    with GoogleTokenServer() as server:
        yield server


@pytest.fixture
def upstream(tokens: GoogleTokenServer) -> Iterator[VertexUpstream]:
    with VertexUpstream(tokens=tokens) as server:
        yield server


def given(upstream: VertexUpstream, **more: Any) -> dict[str, Any]:
    """The credentials of a test call: a service account as JSON, a location, the base."""
    account = upstream.tokens.service_account("vertex-parity") if upstream.tokens else {}
    return {
        "vertex_credentials": json.dumps(account),
        "vertex_location": "us-central1",
        "api_base": upstream.root_url,
        **more,
    }


def make_call(
    credentials: dict[str, Any],
    messages: list[dict[str, Any]] = SYSTEM,
    model: str = MODEL,
    **params: Any,
) -> ProviderCall:
    return ProviderCall(
        model="flash",
        litellm_model=model,
        provider="vertex_ai",
        messages=messages,
        params=params,
        credentials=Credentials(credentials),
        timeout=TIMEOUT,
    )


async def run_both(
    upstream: VertexUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    *,
    stream: bool = False,
    credentials: dict[str, Any] | None = None,
    **params: Any,
) -> None:
    creds = given(upstream) if credentials is None else credentials

    def build() -> ProviderCall:
        return make_call(creds, messages, **params)

    parity.run_both_sync(upstream, reference, lean, behaviour, build, stream=stream, ignore=IGNORE)
    await parity.run_both_async(
        upstream, reference, lean, behaviour, build, stream=stream, ignore=IGNORE
    )


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("conversation", CONVERSATIONS)
async def test_reply_parity(
    upstream: VertexUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    conversation: str,
    params: str,
) -> None:
    for reply in REPLIES.values():
        await run_both(
            upstream, reference, lean, reply, CONVERSATIONS[conversation], **PARAMS[params]
        )


@pytest.mark.parametrize("reply", REPLIES)
async def test_stream_parity(
    upstream: VertexUpstream, reference: LiteLLMProvider, lean: LeanProvider, reply: str
) -> None:
    await run_both(upstream, reference, lean, REPLIES[reply], stream=True)
    tools = PARAMS["tools"]
    await run_both(upstream, reference, lean, REPLIES[reply], stream=True, **tools)


@pytest.mark.parametrize("fault", GEMINI_FAULTS)
async def test_fault_parity(
    upstream: VertexUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    await run_both(upstream, reference, lean, GEMINI_FAULTS[fault])


@pytest.mark.parametrize("fault", {**GEMINI_FAULTS, **VERTEX_STREAM_FAULTS})
async def test_stream_fault_parity(
    upstream: VertexUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    behaviour = {**GEMINI_FAULTS, **VERTEX_STREAM_FAULTS}[fault]
    await run_both(upstream, reference, lean, behaviour, stream=True)


async def test_credentials_project_location_and_base_as_litellm_reads_them(
    upstream: VertexUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert upstream.tokens is not None
    account = upstream.tokens.service_account("from-account")
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(account))
    base = {"vertex_location": "europe-west4", "api_base": upstream.root_url}
    for credentials in (
        {**base, "vertex_credentials": account},  # a mapping
        {**base, "vertex_credentials": str(path), "vertex_project": "explicit"},  # a file
    ):
        await run_both(upstream, reference, lean, Reply("hi"), credentials=credentials)
    # The environment: ADC, then litellm's own variables.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("VERTEXAI_PROJECT", "env-project")
    monkeypatch.setenv("VERTEXAI_LOCATION", "asia-northeast1")
    monkeypatch.setenv("VERTEXAI_API_BASE", upstream.root_url)
    await run_both(upstream, reference, lean, Reply("hi"), credentials={}, stream=True)
    assert "/projects/env-project/locations/asia-northeast1/" in upstream.requests[0].path


def _no_key_in(error: BaseException, account: dict[str, str]) -> None:
    seen: BaseException | None = error
    while seen is not None:
        for text in (str(seen), repr(seen)):
            assert "PRIVATE KEY" not in text
            assert account["private_key"].splitlines()[1] not in text
        seen = seen.__cause__ or seen.__context__


async def test_a_refused_token_grant_is_litellms_router_error(
    upstream: VertexUpstream,
    tokens: GoogleTokenServer,
    reference: LiteLLMProvider,
    lean: LeanProvider,
) -> None:
    account = tokens.service_account("refused")
    credentials = {**given(upstream), "vertex_credentials": json.dumps(account)}
    tokens.fail(400)
    try:
        for stream in (False, True):
            ref = parity.outcome_sync(reference, make_call(credentials), stream=stream)
            call = make_call(credentials)
            got = parity.outcome_sync(lean, call, stream=stream)
            assert got == ref and got[0] == "error" and got[2]["type"] == "ProviderConnectionError"
            assert call.dispatch_path == "lean"
            acall = make_call(credentials)
            assert await parity.outcome_async(lean, acall, stream=stream) == ref
            assert acall.dispatch_path == "lean"
        with pytest.raises(RouterError) as caught:
            lean.complete(make_call(credentials))
        _no_key_in(caught.value, account)
    finally:
        tokens.fail(None)
    assert upstream.requests == []


def test_unproven_vertex_calls_go_through_litellm(
    upstream: VertexUpstream, lean: LeanProvider
) -> None:
    creds = given(upstream)
    lean.complete(make_call(creds))  # a token at hand: the choice needs no I/O

    def lean_for(call: ProviderCall, stream: bool = False) -> bool:
        return lean.attempt_for(call, stream=stream) is not None

    assert lean_for(make_call(creds)) and lean_for(make_call(creds), stream=True)
    assert not lean_for(make_call(creds, max_tokens=5))  # an output cap: continuation hops
    assert not lean_for(make_call(creds, response_format={"type": "json_object"}))
    assert not lean_for(make_call(creds, model="vertex_ai/claude-3-5-sonnet@20240620"))
    assert not lean_for(make_call(creds, model="vertex_ai/1234567890"))  # an endpoint
    assert not lean_for(make_call({**creds, "vertex_ai_project": "p"}))
    assert not lean_for(make_call({**creds, "vertex_credentials": 42}))


def test_without_google_auth_vertex_calls_take_litellm(
    upstream: VertexUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(sys.modules):
        if name.startswith(("google.auth", "google.oauth2")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "google.auth", None)
    monkeypatch.setitem(sys.modules, "google.oauth2", None)
    provider = LeanProvider()
    call = make_call(given(upstream))
    assert provider.attempt_for(call, stream=False) is None
    # litellm's own path (it needs google-auth too, unless its cache has the token)
    with contextlib.suppress(RouterError):
        provider.complete(call)
    assert call.dispatch_path == "litellm"
    provider.close()
