"""Vertex AI on the lean path, beyond parity: pooled connections, one token for many
concurrent calls (loaded off the event loop), and the span saying ``lean``."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from respan_router import Router
from respan_router.providers import LeanProvider
from respan_router.providers._lean._google_token import google_auth_installed
from tests.test_lean_parity_gemini import SYSTEM
from tests.test_lean_parity_vertex import MODEL, given, make_call
from tests.upstream import Reply
from tests.upstream_google_token import GoogleTokenServer
from tests.upstream_vertex import VertexUpstream

pytestmark = pytest.mark.skipif(not google_auth_installed(), reason="google-auth not installed")


@pytest.fixture
def tokens() -> Iterator[GoogleTokenServer]:
    with GoogleTokenServer() as server:
        yield server


@pytest.fixture
def upstream(tokens: GoogleTokenServer) -> Iterator[VertexUpstream]:
    with VertexUpstream(tokens=tokens) as server:
        yield server


@pytest.fixture
def lean() -> Iterator[LeanProvider]:
    provider = LeanProvider()
    yield provider
    provider.close()


async def test_connections_and_the_token_are_reused(
    upstream: VertexUpstream, tokens: GoogleTokenServer, lean: LeanProvider
) -> None:
    upstream.set_default(Reply("one two", pieces=2))
    creds = given(upstream)
    for _ in range(5):
        await lean.acomplete(make_call(creds))
        lean.complete(make_call(creds))
        assert [c async for c in lean.astream(make_call(creds))]
        assert list(lean.stream(make_call(creds)))
    assert len(upstream.requests) == 20
    assert upstream.connections_accepted == 2  # one pooled connection per transport
    assert tokens.grants == 1
    attempt = lean.attempt_for(make_call(creds), stream=False)
    assert attempt is not None
    token = attempt.request.headers["Authorization"].removeprefix("Bearer ")
    assert token in tokens.issued
    assert token not in repr(attempt.request) + repr(attempt.deployment) + repr(lean)


async def test_concurrent_async_calls_wait_for_one_token_off_the_loop(
    upstream: VertexUpstream, tokens: GoogleTokenServer, lean: LeanProvider
) -> None:
    upstream.set_default(Reply("hi"))
    creds = given(upstream)
    tokens.hold()
    calls = [make_call(creds) for _ in range(10)]
    plain = [asyncio.ensure_future(lean.acomplete(call)) for call in calls[:5]]
    streams = [lean.astream(call) for call in calls[5:]]  # the token is had at anext()
    firsts = [asyncio.ensure_future(anext(s)) for s in streams]  # type: ignore[arg-type]
    while tokens.waiting < 1:  # the loop runs while the grant is held
        await asyncio.sleep(0.005)
    assert not any(t.done() for t in plain + firsts)
    tokens.release()
    done = await asyncio.gather(*plain)
    assert {c.choices[0].message.content for c in done} == {"hi"}
    assert all(chunk.choices for chunk in await asyncio.gather(*firsts))
    for s in streams:
        await s.aclose()  # type: ignore[attr-defined]
    assert tokens.grants == 1
    assert {call.dispatch_path for call in calls} == {"lean"}


def test_concurrent_sync_calls_wait_for_one_token(
    upstream: VertexUpstream, tokens: GoogleTokenServer, lean: LeanProvider
) -> None:
    upstream.set_default(Reply("hi"))
    creds = given(upstream)
    tokens.hold()
    answers: list[str | None] = []
    threads = [
        threading.Thread(
            target=lambda: answers.append(
                lean.complete(make_call(creds)).choices[0].message.content
            )
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    assert tokens.wait_for(lambda: tokens.waiting == 1)
    tokens.release()
    for thread in threads:
        thread.join(10)
    assert answers == ["hi"] * 6
    assert tokens.grants == 1


async def test_the_span_says_lean_for_vertex(
    upstream: VertexUpstream,
    tokens: GoogleTokenServer,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    upstream.set_default(Reply("hi"))
    settings = {**given(upstream), "vertex_credentials": json.dumps(tokens.service_account())}
    lean_provider = LeanProvider()
    router = Router(
        providers={"vertex_ai": settings}, tracer_provider=provider, provider=lean_provider
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
