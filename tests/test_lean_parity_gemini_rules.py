"""Parity of the router's own Gemini rules with litellm's, branch by branch.

The lean path turns a Gemini reply into a completion (``_gemini_reply``) and a stream's
events into chunks (``_gemini_events``) with its own code, builds a request once per call
shape (``_gemini_body.templated``), and leaves what it does not know to litellm's
transform or stream reader. Each case runs through litellm and through the lean path,
sync and async, on Google AI Studio and on Vertex AI, and must give the same upstream
request, the same ``model_dump()`` (ids and times aside) and the same router error; each
case also says which way the lean path went (its own code, or litellm's transform or
stream reader).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from respan_router.providers import LeanProvider, LiteLLMProvider
from respan_router.providers._lean import _gemini, _gemini_body, _vertex
from respan_router.providers._lean._google_token import google_auth_installed
from tests import lean_parity_helpers as parity
from tests import test_lean_parity_gemini as gemini
from tests import test_lean_parity_vertex as vertex
from tests.upstream import Behaviour, Raw, Reply
from tests.upstream_gemini import GeminiUpstream, RawWithHeaders
from tests.upstream_google_token import GoogleTokenServer
from tests.upstream_vertex import VertexUpstream

SERVED = "gemini-2.0-flash-001"
USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 4, "totalTokenCount": 16}
CALL = {"functionCall": {"name": "lookup", "args": {"q": "é"}}}
THOUGHT = {"text": "Let me think.", "thought": True}


def candidate(parts: list[dict[str, Any]], finish: str | None = "STOP", **extra: Any) -> Any:
    found: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0, **extra}
    if finish is not None:
        found["finishReason"] = finish
    return found


def reply(
    parts: list[dict[str, Any]] | None = None,
    finish: str | None = "STOP",
    usage: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    candidates: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Raw:
    body: dict[str, Any] = {
        "candidates": [candidate([{"text": "Hello."}] if parts is None else parts, finish)]
        if candidates is None
        else candidates,
        "usageMetadata": USAGE if usage is None else usage,
        "modelVersion": SERVED,
        "responseId": "resp-1",
        **extra,
    }
    if headers:
        return RawWithHeaders(body=body, headers=headers)
    return Raw(body=body)


# Replies the router translates itself.
OWN_REPLIES: dict[str, Behaviour] = {
    "text": reply(),
    "texts": reply([{"text": "One. "}, {"text": ""}, {"text": "Two."}]),
    "no-parts": reply([]),
    "max-tokens": reply(finish="MAX_TOKENS"),
    "no-finish-reason": reply(finish=None),
    "function-calls": reply([CALL, CALL]),
    "text-and-function-call": reply([{"text": "Looking."}, CALL]),
    "thoughts": reply([THOUGHT, {"text": "", "thought": True}, {"text": "Answer."}]),
    "thought-false": reply([{"text": "plain", "thought": False}]),
    "two-candidates": reply(
        candidates=[candidate([CALL]), {**candidate([{"text": "b"}, CALL]), "index": 1}]
    ),
    "candidates-without-index": reply(
        candidates=[
            {"content": {"parts": [{"text": "a"}]}},
            {"content": {"parts": [{"text": "b"}]}},
        ]
    ),
    "cached-and-thoughts": reply(
        usage={
            **USAGE,
            "cachedContentTokenCount": 5,
            "thoughtsTokenCount": 3,
            "totalTokenCount": 19,
        }
    ),
    "thoughts-counted-in-total": reply(usage={**USAGE, "thoughtsTokenCount": 3}),
    "only-thoughts-counted": reply(
        usage={"promptTokenCount": 12, "totalTokenCount": 15, "thoughtsTokenCount": 3}
    ),
    "modality-details": reply(
        usage={
            **USAGE,
            "cachedContentTokenCount": 5,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 4}],
            "trafficType": "ON_DEMAND",
        }
    ),
    "empty-usage": reply(usage={}),
    "no-model-version-nor-id": Raw(
        body={"candidates": [candidate([{"text": "x"}])], "usageMetadata": USAGE}
    ),
    "model-version-with-revision": reply(modelVersion="gemini-2.0-flash@001"),
    "log-probability-and-time": reply(
        candidates=[candidate([{"text": "x"}], avgLogprobs=-0.25)], createTime="2025-01-01"
    ),
    "service-tier-standard": reply(headers={"x-gemini-service-tier": "Standard"}),
    "service-tier-priority": reply(headers={"X-Gemini-Service-Tier": "priority"}),
}
# Replies left to litellm's transform.
LITELLM_REPLIES: dict[str, Behaviour] = {
    "safety-finish": reply([], "SAFETY"),
    "other-finish": reply(finish="MALFORMED_FUNCTION_CALL"),
    "safety-ratings": reply(
        candidates=[
            candidate(
                [{"text": "x"}], safetyRatings=[{"category": "HARM", "probability": "NEGLIGIBLE"}]
            )
        ]
    ),
    "citations": reply(candidates=[candidate([{"text": "x"}], citationMetadata={"citations": []})]),
    "grounding": reply(
        candidates=[candidate([{"text": "x"}], groundingMetadata={"webSearchQueries": ["q"]})]
    ),
    "blocked-prompt": Raw(
        body={"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": USAGE}
    ),
    "thought-signature": reply([{"text": "x", "thoughtSignature": "c2ln"}]),
    "function-call-id": reply([{"functionCall": {"name": "f", "args": {}, "id": "fc-1"}}]),
    "function-call-without-args": reply([{"functionCall": {"name": "f"}}]),
    "inline-data": reply([{"inlineData": {"mimeType": "image/png", "data": "iVBO"}}]),
    "data-uri-text": reply([{"text": "data:audio/wav;base64,UklGRg=="}]),
    "no-usage": Raw(body={"candidates": [candidate([{"text": "x"}])]}),
    "no-candidates": reply(candidates=[]),
    "image-tokens": reply(
        usage={**USAGE, "promptTokensDetails": [{"modality": "IMAGE", "tokenCount": 12}]}
    ),
    "tool-use-prompt-tokens": reply(usage={**USAGE, "toolUsePromptTokenCount": 2}),
    "empty-details": reply(usage={"promptTokenCount": 1, "candidatesTokensDetails": []}),
    "unknown-field": reply(surprise=True),
}


def event(
    parts: list[dict[str, Any]],
    finish: str | None = None,
    usage: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    found = candidate(parts, finish)
    body: dict[str, Any] = {"candidates": [found], "modelVersion": SERVED, "responseId": "r-1"}
    if usage is not None:
        body["usageMetadata"] = usage
    return {**body, **extra}


def text(value: str) -> dict[str, Any]:
    return {"text": value}


ERROR = {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
# Streams the router reads itself; with the usage chunk asked for, litellm's reader takes
# over at the end (a replay).
OWN_STREAMS: dict[str, list[dict[str, Any]]] = {
    "texts": [event([text("Hel")]), event([text("lo.")]), event([text(" Bye.")], "STOP", USAGE)],
    "empty-last": [event([text("Hi.")]), event([text("")], "STOP", USAGE)],
    "empty-middle": [event([text("a")]), event([]), event([text("b")], "STOP", USAGE)],
    "empty-first": [event([text("")]), event([text("b")], "STOP", USAGE)],
    "no-finish-reason": [event([text("a")]), event([text("b")], None, USAGE)],
    "max-tokens": [event([text("cut")], "MAX_TOKENS", USAGE)],
    "function-calls": [event([CALL]), event([CALL, text("")], "STOP", USAGE)],
    "text-then-calls": [event([text("Looking.")]), event([CALL, CALL], "STOP", USAGE)],
    "text-and-call-in-one": [event([text("a"), CALL], "STOP", USAGE)],
    "usage-on-every-event": [
        event([text("a")], usage={"promptTokenCount": 12, "totalTokenCount": 12}),
        event([text("b")], "STOP", USAGE),
    ],
    "cached-and-thoughts": [
        event([text("a")]),
        event(
            [text("b")],
            "STOP",
            {**USAGE, "cachedContentTokenCount": 5, "thoughtsTokenCount": 3, "totalTokenCount": 19},
        ),
    ],
    "thoughts-in-total": [event([text("a")], "STOP", {**USAGE, "thoughtsTokenCount": 3})],
    "modality-details": [
        event(
            [text("a")],
            "STOP",
            {
                **USAGE,
                "cachedContentTokenCount": 5,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}],
                "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 4}],
                "trafficType": "ON_DEMAND",
            },
        )
    ],
    "served-model-and-time": [
        event([text("a")], modelVersion="gemini-2.0-flash@001", createTime="2025-01-01"),
        event([text("b")], "STOP", USAGE),
    ],
}
# Reasoning, read as the other streams are.
THOUGHT_STREAMS: dict[str, list[dict[str, Any]]] = {
    "thoughts": [event([THOUGHT]), event([text("b")], "MAX_TOKENS", USAGE)],
    "thought-and-text": [event([THOUGHT, text("a")]), event([text("b")], "STOP", USAGE)],
}
# Streams handed to litellm's reader part way (a replay of the lines read so far).
LITELLM_STREAMS: dict[str, list[dict[str, Any]]] = {
    "error-first": [ERROR],
    "error-mid-stream": [event([text("a")]), ERROR],
    "safety-finish": [event([text("a")]), event([], "SAFETY", USAGE)],
    "event-after-finish": [event([text("a")], "STOP", USAGE), event([text("b")])],
    "two-candidates": [
        {
            **event([text("a")], "STOP", USAGE),
            "candidates": [candidate([text("a")]), {**candidate([text("b")]), "index": 1}],
        }
    ],
    "safety-ratings": [
        event([text("a")]),
        {
            **event([text("b")], "STOP", USAGE),
            "candidates": [candidate([text("b")], safetyRatings=[])],
        },
    ],
    "usage-only-event": [event([text("a")], "STOP"), {"usageMetadata": USAGE, "responseId": "r-1"}],
    "thought-signature": [event([{"text": "a", "thoughtSignature": "c2ln"}], "STOP", USAGE)],
    "other-response-id": [
        event([text("a")]),
        {**event([text("b")], "STOP", USAGE), "responseId": "r-2"},
    ],
    "no-response-id": [
        {k: v for k, v in event([text("a")], "STOP", USAGE).items() if k != "responseId"}
    ],
    "nothing-delivered": [event([text("")], "STOP", USAGE)],
}
# Streams without a usage, read by the router's own code without the usage chunk.
NO_USAGE_STREAMS: dict[str, list[dict[str, Any]]] = {
    "no-usage": [event([text("a")]), event([text("b")], "STOP")],
    "zero-cached": [event([text("a")], "STOP", {**USAGE, "cachedContentTokenCount": 0})],
}


# Call shapes for the body built once per shape: the same shape twice with other texts,
# texts litellm changes (kept out of slots), a tool result (built in full), a system
# prompt in parts.
SHAPES: dict[str, list[list[dict[str, Any]]]] = {
    "same-shape-other-texts": [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi."}],
        [{"role": "system", "content": "Be long."}, {"role": "user", "content": "Bye."}],
    ],
    "whitespace-and-empty": [
        [
            {"role": "user", "content": " padded "},
            {"role": "assistant", "content": "trailing space "},
            {
                "role": "user",
                "content": [{"type": "text", "text": ""}, {"type": "text", "text": "Hi."}],
            },
        ],
    ],
    "same-text-twice": [
        [
            {"role": "user", "content": "Same."},
            {"role": "assistant", "content": "Same."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Same."}, {"type": "text", "text": "x"}],
            },
        ],
    ],
    "tool-round": [gemini.CONVERSATIONS["tool-round"], gemini.CONVERSATIONS["tool-round"]],
    "system-in-parts": [
        [
            {
                "role": "system",
                "content": [{"type": "text", "text": "A."}, {"type": "text", "text": "B."}],
            },
            {"role": "user", "content": "Hi."},
        ],
        [
            {
                "role": "system",
                "content": [{"type": "text", "text": "C."}, {"type": "text", "text": "D."}],
            },
            {"role": "user", "content": "Hi."},
        ],
    ],
}


@pytest.fixture
def litellm_steps(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the lean path used litellm's reply transform and built a body."""
    counts = {"transform": 0, "body": 0, "reader": 0}
    transform = _gemini_body.GeminiConfig.litellm_response
    build_body = _gemini_body.build_body
    def counted_transform(self: Any, **kwargs: Any) -> Any:
        counts["transform"] += 1
        return transform(self, **kwargs)

    def counted_body(*args: Any, **kwargs: Any) -> Any:
        counts["body"] += 1
        return build_body(*args, **kwargs)

    monkeypatch.setattr(_gemini_body.GeminiConfig, "litellm_response", counted_transform)
    for module in (_gemini, _vertex):
        monkeypatch.setattr(module, "build_body", counted_body)
    parity.count_wrappers(monkeypatch, counts, "reader")
    return counts


class Both:
    """One call through litellm and the lean path, sync and async, on AI Studio or Vertex."""

    def __init__(self, upstream: Any, reference: LiteLLMProvider, lean: LeanProvider) -> None:
        self.upstream, self.reference, self.lean = upstream, reference, lean

    def build(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
        if isinstance(self.upstream, VertexUpstream):
            return vertex.make_call(vertex.given(self.upstream), messages, **params)
        return gemini.make_call(self.upstream, messages, **params)

    async def run(
        self,
        behaviour: Behaviour,
        *,
        stream: bool = False,
        messages: list[dict[str, Any]] = gemini.SYSTEM,
        **params: Any,
    ) -> None:
        ignore = vertex.IGNORE if isinstance(self.upstream, VertexUpstream) else ()

        def build() -> Any:
            return self.build(messages, params)

        up, ref, lean = self.upstream, self.reference, self.lean
        parity.run_both_sync(up, ref, lean, behaviour, build, stream=stream, ignore=ignore)
        await parity.run_both_async(up, ref, lean, behaviour, build, stream=stream, ignore=ignore)


@pytest.fixture(scope="module")
def tokens() -> Iterator[GoogleTokenServer]:
    with GoogleTokenServer() as server:
        yield server


@pytest.fixture(params=["gemini", "vertex"])
def both(
    request: pytest.FixtureRequest,
    tokens: GoogleTokenServer,
    reference: LiteLLMProvider,
    lean: LeanProvider,
) -> Iterator[Both]:
    if request.param == "vertex":
        if not google_auth_installed():
            pytest.skip("google-auth not installed")
        with VertexUpstream(tokens=tokens) as server:
            yield Both(server, reference, lean)
    else:
        with GeminiUpstream() as gemini_server:
            yield Both(gemini_server, reference, lean)


@pytest.mark.parametrize("name", OWN_REPLIES)
async def test_replies_the_router_translates(
    both: Both, litellm_steps: dict[str, int], name: str
) -> None:
    await both.run(OWN_REPLIES[name])
    assert litellm_steps["transform"] == 0


@pytest.mark.parametrize("name", LITELLM_REPLIES)
async def test_replies_left_to_litellm(
    both: Both, litellm_steps: dict[str, int], name: str
) -> None:
    await both.run(LITELLM_REPLIES[name])
    assert litellm_steps["transform"] == 2


async def test_a_tool_call_reply_to_a_call_with_tools(
    both: Both, litellm_steps: dict[str, int]
) -> None:
    await both.run(OWN_REPLIES["text-and-function-call"], **gemini.PARAMS["tools"])
    await both.run(OWN_REPLIES["two-candidates"], n=2, temperature=0.3)
    assert litellm_steps["transform"] == 0


@pytest.fixture
def built_responses(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many ``httpx.Response`` objects were built (litellm's transform reads one)."""
    import httpx

    counts = {"built": 0}

    class Counted(httpx.Response):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            counts["built"] += 1
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(httpx, "Response", Counted)
    return counts


@pytest.mark.parametrize(
    ("name", "own"),
    [("text", True), ("service-tier-priority", True), ("safety-finish", False)],
)
async def test_no_httpx_response_for_a_reply_the_router_reads(
    both: Both, built_responses: dict[str, int], name: str, own: bool
) -> None:
    """The router's own reading of a reply (service tier included, from the response's
    headers) builds no ``httpx.Response``; a reply left to litellm's transform does."""
    behaviour = {**OWN_REPLIES, **LITELLM_REPLIES}[name]
    for _ in range(2):  # the first call of a deployment may fetch a token
        both.upstream.reset()
        both.upstream.enqueue(behaviour)
        out = both.lean.complete(both.build(gemini.SYSTEM, {}))
        both.upstream.enqueue(behaviour)
        out_async = await both.lean.acomplete(both.build(gemini.SYSTEM, {}))
        assert out.choices and out_async.choices
        if name == "service-tier-priority":
            assert out.service_tier == out_async.service_tier == "priority"
    built_responses["built"] = 0
    both.upstream.enqueue(behaviour)
    both.lean.complete(both.build(gemini.SYSTEM, {}))
    both.upstream.enqueue(behaviour)
    await both.lean.acomplete(both.build(gemini.SYSTEM, {}))
    assert built_responses["built"] == (0 if own else 2)


# The bodies the lean side builds through litellm for each shape's calls: each call shape
# once (streamed and not are two; each with two parameter sets); a call with a tool result
# every time.
BUILT = {
    "same-shape-other-texts": 4,
    "whitespace-and-empty": 4,
    "same-text-twice": 4,
    "tool-round": 16,
    "system-in-parts": 4,
}


@pytest.fixture
def fresh_lean(reference: LiteLLMProvider) -> Iterator[LeanProvider]:
    """A lean path that has built no request yet."""
    provider = LeanProvider(fallback=reference)
    yield provider
    provider.close()


@pytest.mark.parametrize("shape", SHAPES)
async def test_bodies_built_once_per_shape(
    both: Both, fresh_lean: LeanProvider, litellm_steps: dict[str, int], shape: str
) -> None:
    both.lean = fresh_lean
    for messages in SHAPES[shape]:
        for params in ({}, {"temperature": 0.5, "stop": ["x"]}):
            await both.run(Reply("ok"), messages=messages, **params)
            await both.run(Reply("ok"), stream=True, messages=messages, **params)
    assert litellm_steps["body"] == BUILT[shape]


def _usage_matrix() -> Iterator[dict[str, Any]]:
    counts = ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")
    extra = ("cachedContentTokenCount", "thoughtsTokenCount")
    values = ([0, 12], [None, 0, 4], [None, 16, 19], [None, 0, 5], [None, 0, 3])
    for found in itertools.product(*values, [False, True], [False, True]):
        usage = {k: v for k, v in zip(counts + extra, found, strict=False) if v is not None}
        if found[5]:
            usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": found[0]}]
        if found[6]:
            usage["candidatesTokensDetails"] = [{"modality": "TEXT", "tokenCount": found[1] or 0}]
        yield usage


def test_usage_rules_match_litellm_over_every_combination() -> None:
    """The usage rule against litellm's transform, for every combination of the counts
    it knows (prompt, candidates, total, cached, thoughts, text details)."""
    import httpx
    import litellm
    from litellm.llms.gemini.chat.transformation import GoogleAIStudioGeminiConfig

    from respan_router.providers._lean._gemini_reply import reply_dump

    config = _gemini_body.GeminiConfig(GoogleAIStudioGeminiConfig(), "")
    request = httpx.Request("POST", "http://127.0.0.1/v1beta/models/m:generateContent")
    for usage in _usage_matrix():
        body = {"candidates": [candidate([{"text": "x"}])], "usageMetadata": usage}
        response = httpx.Response(200, content=json.dumps(body).encode(), request=request)
        own = reply_dump(body, "m", None)
        theirs = config.litellm_response(
            model="m",
            raw_response=response,
            model_response=litellm.ModelResponse(),
            request_data={},
            messages=[],
            optional_params={},
        ).model_dump()
        assert own is not None
        assert own["usage"] == theirs["usage"], usage


STREAMS = {**OWN_STREAMS, **THOUGHT_STREAMS, **NO_USAGE_STREAMS}


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
@pytest.mark.parametrize("events", STREAMS)
async def test_streams_the_router_reads(
    both: Both, litellm_steps: dict[str, int], events: str, usage: bool
) -> None:
    params = {"stream_options": {"include_usage": True}} if usage else {}
    await both.run(Raw(events=STREAMS[events]), stream=True, **params)
    assert litellm_steps["reader"] == (2 if usage else 0)


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
@pytest.mark.parametrize("events", LITELLM_STREAMS)
async def test_streams_handed_to_litellm(
    both: Both, litellm_steps: dict[str, int], events: str, usage: bool
) -> None:
    params = {"stream_options": {"include_usage": True}} if usage else {}
    await both.run(Raw(events=LITELLM_STREAMS[events]), stream=True, **params)
    assert litellm_steps["reader"] == 2


async def test_a_tool_call_stream_to_a_call_with_tools(
    both: Both, litellm_steps: dict[str, int]
) -> None:
    events = Raw(events=OWN_STREAMS["text-then-calls"])
    await both.run(events, stream=True, **gemini.PARAMS["tools"])
    assert litellm_steps["reader"] == 0


@pytest.mark.parametrize(
    "events", ["texts", "usage-on-every-event", "no-usage", "usage-in-the-middle"]
)
async def test_a_service_tier_header(
    both: Both, litellm_steps: dict[str, int], events: str
) -> None:
    found = {**STREAMS, "usage-in-the-middle": TIER_STREAM}[events]
    for tier in ("standard", "flex"):
        header = {"X-Gemini-Service-Tier" if tier == "flex" else "x-gemini-service-tier": tier}
        await both.run(RawWithHeaders(events=found, headers=header), stream=True)
    assert litellm_steps["reader"] == 0


TIER_STREAM = [event([text("a")]), event([text("b")], usage=USAGE), event([text("c")], "STOP")]
