"""Parity of the lean path with litellm for Gemini's ``streamGenerateContent`` (AI Studio).

Against the local upstream's server-sent events: the same upstream request, the same
chunks (``model_dump()``, chunk by chunk, ids and times aside) and the same router error
over the fault matrix (an error status surfaces while iterating, as litellm's handler
opens the stream inside its wrapper), in-stream ``{"error": ...}`` events and cut streams
included, sync and async; the lean stream gives its connection back to the pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from respan_router.providers import LeanProvider, LiteLLMProvider
from tests import lean_parity_helpers as parity
from tests.lean_parity_helpers import TIMEOUT
from tests.test_lean_parity_gemini import (
    CONVERSATIONS,
    GEMINI_FAULTS,
    PARAMS,
    REPLIES,
    SYSTEM,
    make_call,
)
from tests.upstream import Behaviour, Raw, Reply
from tests.upstream_gemini import GeminiUpstream, gemini_chunks

_CHUNKS = gemini_chunks(Reply("one two three", pieces=3), "gemini-2.0-flash")


def _error(code: int, status: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": "Resource has been exhausted", "status": status}}


STREAM_PARAMS: dict[str, dict[str, Any]] = {
    **PARAMS,
    "usage": {"stream_options": {"include_usage": True}},
    "no-usage": {"stream_options": {"include_usage": False}},
}
STREAM_REPLIES: dict[str, Behaviour] = {
    **{k: v for k, v in REPLIES.items() if k != "no-usage"},
    "many-pieces": Reply("a b c d e f g h", pieces=8),
    "no-usage": Raw(events=[{k: v for k, v in c.items() if k != "usageMetadata"} for c in _CHUNKS]),
}
STREAM_FAULTS: dict[str, Behaviour] = {
    "cut-before-first-chunk": Reply("one two three", pieces=3, break_after=0),
    "cut-after-first-chunk": Reply("one two three", pieces=3, break_after=1),
    "cut-before-the-last": Reply("one two three", pieces=3, break_after=2),
    "first-chunk-too-slow": Reply("one two", first_chunk_delay=TIMEOUT + 0.3),
    "error-event-first": Raw(events=[_error(429, "RESOURCE_EXHAUSTED")]),
    "error-event-mid-stream": Raw(events=[_CHUNKS[0], _error(500, "INTERNAL")]),
    "error-event-unavailable": Raw(events=[_CHUNKS[0], _error(503, "UNAVAILABLE")]),
    "error-event-not-an-object": Raw(events=[_CHUNKS[0], {"error": "quota"}]),
}


@pytest.fixture
def upstream() -> Iterator[GeminiUpstream]:
    with GeminiUpstream() as server:
        yield server


async def run_both(
    upstream: GeminiUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    **params: Any,
) -> None:
    def build() -> Any:
        return make_call(upstream, messages, **params)

    parity.run_both_sync(upstream, reference, lean, behaviour, build, stream=True)
    await parity.run_both_async(upstream, reference, lean, behaviour, build, stream=True)


@pytest.mark.parametrize("params", STREAM_PARAMS)
async def test_stream_parity(
    upstream: GeminiUpstream, reference: LiteLLMProvider, lean: LeanProvider, params: str
) -> None:
    for reply in STREAM_REPLIES.values():
        await run_both(upstream, reference, lean, reply, **STREAM_PARAMS[params])


@pytest.mark.parametrize("conversation", CONVERSATIONS)
async def test_conversation_stream_parity(
    upstream: GeminiUpstream, reference: LiteLLMProvider, lean: LeanProvider, conversation: str
) -> None:
    reply = STREAM_REPLIES["text-and-tool-call"]
    await run_both(upstream, reference, lean, reply, CONVERSATIONS[conversation])


@pytest.mark.parametrize("fault", {**GEMINI_FAULTS, **STREAM_FAULTS})
async def test_stream_fault_parity(
    upstream: GeminiUpstream, reference: LiteLLMProvider, lean: LeanProvider, fault: str
) -> None:
    await run_both(upstream, reference, lean, {**GEMINI_FAULTS, **STREAM_FAULTS}[fault])


async def test_an_early_close_drops_the_connection(
    upstream: GeminiUpstream, lean: LeanProvider
) -> None:
    await parity.close_two_streams_early(upstream, lean, lambda: make_call(upstream))
    upstream.set_default(Reply("one two", pieces=2))
    assert [c async for c in lean.astream(make_call(upstream))]
    assert list(lean.stream(make_call(upstream)))
    assert upstream.wait_for(lambda: upstream.streams_completed == 2)
