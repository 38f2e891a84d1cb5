"""Parity of the Converse rules the router writes itself, branch by branch, with litellm.

The lean path reads a Converse reply without litellm's ``transform_response`` and builds
a plain-text conversation's body without its ``_transform_request`` (litellm's frame for
the parameters remembered per deployment). Each case below is one branch of those rules,
or one thing they hand back to litellm; each asserts which side handled it (the router's
reader, or litellm's transform) and then that the upstream saw the same request and the
caller got the same ``model_dump()`` as through litellm, sync and async.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from respan_router.providers import LeanProvider, LiteLLMProvider
from respan_router.providers._lean._converse_reply import converse_reply
from respan_router.providers._lean._converse_request import plain_text_messages
from tests import lean_parity_helpers as parity
from tests.test_lean_parity_bedrock import MODEL, SYSTEM, make_call
from tests.upstream import Behaviour, Raw, Reply
from tests.upstream_bedrock import BedrockUpstream

MODEL_ID = MODEL.removeprefix("bedrock/")
USAGE = {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up.",
            "parameters": {
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "required": ["q"],
            },
        },
    }
]
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def converse(
    content: list[dict[str, Any]] | None,
    stop: str = "end_turn",
    usage: dict[str, Any] = USAGE,
    **extra: Any,
) -> dict[str, Any]:
    """A Converse reply body."""
    message = None if content is None else {"role": "assistant", "content": content}
    return {
        "output": {"message": message},
        "stopReason": stop,
        "usage": usage,
        "metrics": {"latencyMs": 9},
        **extra,
    }


def tool_use(n: int, value: Any = "x") -> dict[str, Any]:
    return {"toolUse": {"toolUseId": f"tooluse_{n}", "name": "lookup", "input": {"q": value}}}


def reasoning(text: str, signature: str | None = "sig-1") -> dict[str, Any]:
    block: dict[str, Any] = {"text": text}
    if signature is not None:
        block["signature"] = signature
    return {"reasoningContent": {"reasoningText": block}}


# Replies the router's reader writes itself.
READ: dict[str, dict[str, Any]] = {
    "text": converse([{"text": "Hello there."}]),
    "several-text-blocks": converse([{"text": "Hello, "}, {"text": ""}, {"text": "world."}]),
    "tool-use": converse([tool_use(1)], "tool_use"),
    "text-and-tool-uses": converse(
        [{"text": "Let me look."}, tool_use(1, "é✓"), tool_use(2, [1, {"a": None}])], "tool_use"
    ),
    "reasoning": converse([reasoning("Think first."), {"text": "Done."}]),
    "reasoning-unsigned-and-redacted": converse(
        [
            reasoning("Hm.", None),
            {"reasoningContent": {"redactedContent": "c2VjcmV0"}},
            {"text": "Ok."},
        ]
    ),
    "reasoning-tokens-reported": converse(
        [reasoning("Think.")],
        additionalModelResponseFields={"usage": {"output_tokens_details": {"thinking_tokens": 3}}},
    ),
    "think-tags-in-text": converse([{"text": "<think>Hidden.</think>Shown."}]),
    "cache-read-and-write": converse(
        [{"text": "cached"}],
        usage={**USAGE, "cacheReadInputTokens": 5, "cacheWriteInputTokens": 7},
    ),
    "cache-read-only": converse([{"text": "cached"}], usage={**USAGE, "cacheReadInputTokens": 5}),
    "no-total-tokens": converse([{"text": "hi"}], usage={"inputTokens": 3, "outputTokens": 2}),
    "zero-output-tokens": converse(
        [], usage={"inputTokens": 3, "outputTokens": 0, "totalTokens": 3}
    ),
    "empty-content": converse([]),
    "null-message": converse(None),
}
STOP_REASONS = (
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "model_context_window_exceeded",
    "a_reason_not_known_yet",
)
READ.update({f"stop-{r}": converse([{"text": "x"}], r) for r in STOP_REASONS})

# Replies the reader hands to litellm's transform_response.
DELEGATED: dict[str, dict[str, Any]] = {
    "citations": converse(
        [
            {
                "citationsContent": {
                    "content": [{"text": "Paris."}],
                    "citations": [
                        {
                            "title": "Atlas",
                            "source": "https://example.com/atlas",
                            "location": {"searchResultLocation": {"start": 0, "end": 6}},
                        }
                    ],
                }
            }
        ]
    ),
    "guardrail-trace": converse([{"text": "x"}], trace={"guardrail": {"action": "NONE"}}),
    "service-tier": converse([{"text": "x"}], serviceTier={"type": "priority"}),
    "cache-ttl-details": converse(
        [{"text": "x"}],
        usage={
            **USAGE,
            "cacheWriteInputTokens": 6,
            "cacheDetails": [{"ttl": "5m", "inputTokens": 6}],
        },
    ),
    "invoke-style-cache-counts": converse(
        [{"text": "x"}], usage={**USAGE, "cacheReadInputTokenCount": 4}
    ),
    "unknown-block": converse([{"text": "x"}, {"image": {"format": "png"}}]),
    "float-tokens": converse([{"text": "x"}], usage={**USAGE, "inputTokens": 12.0}),
    "no-message-key": {"output": {}, "stopReason": "end_turn", "usage": USAGE},
}

TOOL_PARAMS: dict[str, Any] = {"tools": TOOLS}
TOOL_REPLIES: dict[str, tuple[dict[str, Any], bool]] = {  # body, read by the router
    "tool-use": (converse([{"text": "Looking."}, tool_use(1)], "tool_use"), True),
    "text": (converse([{"text": "No tool needed."}]), True),
    "tool-call-as-json-text": (
        converse([{"text": '{"type": "function", "name": "lookup", "parameters": {"q": "x"}}'}]),
        False,
    ),
}

TOOL_CALL = {
    "id": "tooluse_1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": "x"}'},
}
# Conversations the router converts itself (with the parameters they are sent with).
CONVERTED: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "system-and-user": (SYSTEM, {}),
    "two-system-messages": (
        [{"role": "system", "content": "Be brief."}, *SYSTEM],
        {"temperature": 0.3, "max_tokens": 20},
    ),
    "system-text-parts": (
        [
            {
                "role": "system",
                "content": [{"type": "text", "text": "One."}, {"type": "text", "text": ""}],
            },
            {"role": "user", "content": "Hi."},
        ],
        {"stop": "END"},
    ),
    "empty-system": ([{"role": "system", "content": ""}, {"role": "user", "content": "Hi."}], {}),
    "user-text-parts": (
        [
            {
                "role": "user",
                "content": [{"type": "text", "text": "A."}, {"type": "text", "text": "B."}],
            }
        ],
        {},
    ),
    "consecutive-users": (
        [{"role": "user", "content": "A."}, {"role": "user", "content": "B."}],
        {},
    ),
    "consecutive-assistants": (
        [
            {"role": "user", "content": "Hi."},
            {"role": "assistant", "content": "One."},
            {"role": "assistant", "content": "Two."},
            {"role": "user", "content": "Go on."},
        ],
        {"top_p": 0.5},
    ),
    "assistant-first": (
        [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Hi."}],
        {},
    ),
    "assistant-prefill-last": (
        [{"role": "user", "content": "Count."}, {"role": "assistant", "content": "One,"}],
        {"max_completion_tokens": 9},
    ),
    "with-tools": (SYSTEM, TOOL_PARAMS),
    "with-tool-choice-required": (SYSTEM, {"tools": TOOLS, "tool_choice": "required"}),
    "with-tool-choice-named": (
        SYSTEM,
        {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "lookup"}}},
    ),
}
# Conversations litellm's _transform_request converts.
LITELLM_CONVERTS: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "image-input": (
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            }
        ],
        {},
    ),
    "tool-results": (
        [
            {"role": "user", "content": "Look x up."},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [TOOL_CALL]},
            {"role": "tool", "tool_call_id": "tooluse_1", "content": "x is 42"},
            {"role": "user", "content": "Thanks. And y?"},
        ],
        TOOL_PARAMS,
    ),
    "blank-user-text": (
        [{"role": "user", "content": "  "}, {"role": "user", "content": "Hi."}],
        {},
    ),
    "system-after-first-turn": (
        [
            {"role": "user", "content": "Hi."},
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Again."},
        ],
        {},
    ),
    "cache-control": (
        [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Long.", "cache_control": {"type": "ephemeral"}}
                ],
            }
        ],
        {},
    ),
    "named-user": ([{"role": "user", "content": "Hi.", "name": "ana"}], {}),
}


@pytest.fixture
def upstream() -> Iterator[BedrockUpstream]:
    with BedrockUpstream() as server:
        yield server


@pytest.fixture(scope="module")
def config() -> Any:
    import litellm

    return litellm.AmazonConverseConfig()


async def both(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    behaviour: Behaviour,
    messages: list[dict[str, Any]] = SYSTEM,
    **params: Any,
) -> None:
    def build() -> Any:
        return make_call(upstream, messages, **params)

    parity.run_both_sync(upstream, reference, lean, behaviour, build)
    await parity.run_both_async(upstream, reference, lean, behaviour, build)


@pytest.mark.parametrize("case", [*READ, *DELEGATED])
async def test_reply_rules(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    config: Any,
    case: str,
) -> None:
    body = READ.get(case) or DELEGATED[case]
    read = converse_reply(config, MODEL_ID, body, {}) is not None
    assert read == (case in READ)
    await both(upstream, reference, lean, Raw(body=body))


@pytest.mark.parametrize("case", TOOL_REPLIES)
async def test_reply_rules_with_tools(
    upstream: BedrockUpstream,
    reference: LiteLLMProvider,
    lean: LeanProvider,
    config: Any,
    case: str,
) -> None:
    body, by_router = TOOL_REPLIES[case]
    mapped = config.map_openai_params(
        non_default_params=dict(TOOL_PARAMS), optional_params={}, model=MODEL_ID, drop_params=False
    )
    assert (converse_reply(config, MODEL_ID, body, mapped) is not None) == by_router
    await both(upstream, reference, lean, Raw(body=body), **TOOL_PARAMS)


@pytest.mark.parametrize("case", [*CONVERTED, *LITELLM_CONVERTS])
async def test_request_rules(
    upstream: BedrockUpstream, reference: LiteLLMProvider, lean: LeanProvider, case: str
) -> None:
    messages, params = CONVERTED.get(case) or LITELLM_CONVERTS[case]
    assert (plain_text_messages(messages) is not None) == (case in CONVERTED)
    await both(upstream, reference, lean, Reply("Fine."), messages, **params)
    await both(upstream, reference, lean, Raw(body=READ["text-and-tool-uses"]), messages, **params)


async def test_extra_headers_get_their_own_frame(
    upstream: BedrockUpstream, reference: LiteLLMProvider, lean: LeanProvider
) -> None:
    """The remembered frame is per parameter set and extra headers: a beta header litellm
    moves into the body is not carried over to the next call."""
    beta = {"extra_headers": {"anthropic-beta": "context-1m-2025-08-07"}}
    for params in ({}, beta, {}, {"extra_headers": {"X-Other": "1"}}, beta):
        await both(upstream, reference, lean, Reply("Fine."), SYSTEM, **params)
