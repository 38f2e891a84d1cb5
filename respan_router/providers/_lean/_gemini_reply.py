"""A Gemini ``generateContent`` reply as litellm's Gemini handler turns it into a
completion, for the replies whose every field this module knows; None for the others.

litellm's rules (``VertexGeminiConfig._transform_google_generate_content_to_openai_model_response``,
``_process_candidates`` and ``_calculate_usage`` in
``litellm/llms/vertex_ai/gemini/vertex_and_google_ai_studio_gemini.py``, after the one-hop
``_transform_long_decode_hops``), for a reply whose candidates hold ``text`` parts (a
``thought: true`` one is reasoning) and ``functionCall`` parts, and stop with ``STOP`` or
``MAX_TOKENS`` (or say nothing):
- the model is the reply's ``modelVersion`` (before any ``@``), else the deployment's;
  the id its ``responseId``, else litellm's ``chatcmpl-`` one;
- each candidate a choice (its ``index``, else its position): the non-empty texts joined as
  the content (None when there are none), the thought texts as ``reasoning_content`` and
  each thought part a thinking block, each function call a tool call (a made-up
  ``call_`` id, the arguments as ``json.dumps(..., ensure_ascii=False)`` writes them, an
  index counted across candidates); a choice with a tool call finishes with
  ``tool_calls``, else by litellm's finish-reason map (``stop`` without a reason);
- the usage by litellm's rules for the counts :mod:`._gemini_usage` knows;
- a ``x-gemini-service-tier`` response header as ``service_tier`` (``standard`` is
  ``default``); the grounding, URL context, safety and citation lists empty.
Anything else (safety ratings, citations, grounding, logprobs, a flagged or other finish
reason, a blocked prompt, thought signatures, function call ids, inline data, other
modalities in the usage, tool-use prompt tokens) is litellm's: the caller runs litellm's
transform for it.

The result is the dictionary litellm's ``ModelResponse.model_dump()`` gives, before
:func:`~respan_router.providers._litellm_response.restore_completion` (which drops
litellm's ``native_finish_reason`` note: it is not written here).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from respan_router.providers._lean._deployment import ReplyReader
from respan_router.providers._lean._gemini_usage import usage_dump, usage_known

__all__ = [
    "FINISH_REASONS",
    "part_known",
    "reply_dump",
    "reply_reader",
    "service_tier_of",
    "tool_call",
]

_BODY_KEYS = frozenset({"candidates", "usageMetadata", "modelVersion", "responseId", "createTime"})
_CANDIDATE_KEYS = frozenset({"content", "finishReason", "index", "avgLogprobs"})
_CONTENT_KEYS = frozenset({"parts", "role"})
FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
_METADATA = (
    "vertex_ai_grounding_metadata",
    "vertex_ai_url_context_metadata",
    "vertex_ai_safety_results",
    "vertex_ai_citation_metadata",
)


def _int(value: Any) -> bool:
    return type(value) is int


def part_known(part: Any) -> bool:
    """Whether a part is a text (a thought or not) or a function call this module knows."""
    if not isinstance(part, dict):
        return False
    if "text" in part:
        text = part["text"]
        if not isinstance(text, str) or text.startswith("data:"):
            return False  # litellm may read a data URI as audio
        thought = part.get("thought", False)
        return isinstance(thought, bool) and {"text", "thought"}.issuperset(part)
    call = part.get("functionCall")
    return (
        part.keys() == {"functionCall"}
        and isinstance(call, dict)
        and call.keys() == {"name", "args"}
        and isinstance(call["name"], str)
    )


def _candidate_known(candidate: Any) -> bool:
    if not isinstance(candidate, dict) or not _CANDIDATE_KEYS.issuperset(candidate):
        return False
    if candidate.get("finishReason", "STOP") not in FINISH_REASONS:
        return False
    if "index" in candidate and not _int(candidate["index"]):
        return False
    content = candidate.get("content")
    if not isinstance(content, dict) or not _CONTENT_KEYS.issuperset(content):
        return False
    parts = content.get("parts")
    return isinstance(parts, list) and all(map(part_known, parts))


def _known(body: Any) -> bool:
    if not isinstance(body, dict) or not _BODY_KEYS.issuperset(body):
        return False
    for key in ("modelVersion", "responseId"):
        if key in body and not isinstance(body[key], str):
            return False
    candidates = body.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        return False
    return usage_known(body.get("usageMetadata")) and all(map(_candidate_known, candidates))


def tool_call(call: Mapping[str, Any], index: int) -> dict[str, Any]:
    """litellm's tool call for a known ``functionCall`` (a made-up id)."""
    return {
        "id": f"call_{uuid.uuid4().hex[:28]}",
        "type": "function",
        "function": {
            "name": call["name"],
            "arguments": json.dumps(call["args"], ensure_ascii=False),
        },
        "index": index,
    }


def service_tier_of(header: str | None) -> str | None:
    """The ``service_tier`` litellm names for a ``x-gemini-service-tier`` header."""
    if not header:
        return None
    tier = header.lower()
    return "default" if tier == "standard" else tier


def _choice(
    candidate: dict[str, Any], position: int, tool_index: int
) -> tuple[dict[str, Any], int]:
    content: str | None = None
    reasoning: str | None = None
    thinking: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for part in candidate["content"]["parts"]:
        if "text" in part:
            text = part["text"]
            if part.get("thought") is True:
                thinking.append({"type": "thinking", "thinking": text})
                if text:
                    reasoning = (reasoning or "") + text
            elif text:
                content = (content or "") + text
            continue
        tool_calls.append(tool_call(part["functionCall"], tool_index))
        tool_index += 1
    message: dict[str, Any] = {
        "content": content,
        "role": "assistant",
        "tool_calls": tool_calls or None,
        "function_call": None,
        "images": [],
        "thinking_blocks": thinking,
    }
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    reason = candidate.get("finishReason")
    finish = "tool_calls" if tool_calls else FINISH_REASONS[reason] if reason else "stop"
    choice = {
        "finish_reason": finish,
        "index": candidate.get("index", position),
        "message": message,
    }
    return choice, tool_index


def reply_dump(body: Any, model: str, service_tier: str | None) -> dict[str, Any] | None:
    """litellm's dump of the completion for ``body`` (a parsed reply), or None when the
    reply needs litellm's transform.

    Args:
        model: the deployment's model (named when the reply names none).
        service_tier: the reply's ``x-gemini-service-tier`` header, if any.
    """
    if not _known(body):
        return None
    choices, tool_index = [], 0
    for position, candidate in enumerate(body["candidates"]):
        choice, tool_index = _choice(candidate, position, tool_index)
        choices.append(choice)
    served = body.get("modelVersion")
    dumped: dict[str, Any] = {
        "id": body.get("responseId") or f"chatcmpl-{uuid.uuid4()}",
        "created": int(time.time()),
        "model": served.split("@", 1)[0] if served else model,
        "object": "chat.completion",
        "choices": choices,
        "usage": usage_dump(body["usageMetadata"]),
    }
    for key in _METADATA:
        dumped[key] = []
    tier = service_tier_of(service_tier)
    if tier is not None:
        dumped["service_tier"] = tier
    return dumped


def reply_reader(model: str) -> ReplyReader:
    """The deployment's reader of a 2xx reply (:func:`reply_dump` of its parsed body and
    ``x-gemini-service-tier`` header) for ``model``, the deployment's model."""

    def read(
        body: Any,
        _params: Mapping[str, Any],
        _finish: Callable[[str], str],
        _messages: list[dict[str, Any]],
        headers: Mapping[str, str],
    ) -> dict[str, Any] | None:
        return reply_dump(body, model, headers.get("x-gemini-service-tier"))

    return read
