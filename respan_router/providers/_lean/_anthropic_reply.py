"""An Anthropic ``message`` reply as litellm's ``transform_response`` turns it into a
completion, for the replies whose every field this module knows; None for the others.

litellm's rules (``AnthropicConfig.transform_parsed_response``, ``extract_response_content``
and ``calculate_usage`` in ``litellm/llms/anthropic/chat/transformation.py``), for a reply of
``text``, ``tool_use``, ``thinking`` and ``redacted_thinking`` blocks:
- the text blocks' texts joined; an empty text is no content (None);
- each ``tool_use`` block a function tool call, its ``input`` as ``json.dumps`` writes it,
  its index the block's position among all blocks;
- thinking blocks kept as they came (``thinking_blocks``) and their texts joined as
  ``reasoning_content``; completion token details estimate the reasoning tokens with
  litellm's token counter when there is thinking text, say nothing (None) when the only
  thinking is redacted, else 0 reasoning tokens;
- the stop reason through litellm's finish-reason map;
- prompt tokens are the input tokens plus the cache read and cache creation tokens; the
  prompt token details name the cached (read) and written (creation) tokens and the rest
  as text tokens; the cache creation breakdown (``cache_creation``) and ``service_tier``
  are kept.
Anything else (citations, server tools and their results, containers, context management,
a ``refusal`` or ``pause_turn`` stop, usage ``iterations``, an assistant prefix in the
prompt, JSON mode) is litellm's: the caller runs ``transform_response`` for it.

The result is the dictionary litellm's ``ModelResponse.model_dump()`` gives, before
:func:`~respan_router.providers._litellm_response.restore_completion`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["reply_dump"]

_MESSAGE_KEYS = frozenset(
    {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
)
_BLOCK_KEYS = {
    "text": frozenset({"type", "text", "citations"}),
    "tool_use": frozenset({"type", "id", "name", "input"}),
    "thinking": frozenset({"type", "thinking", "signature"}),
    "redacted_thinking": frozenset({"type", "data"}),
}
_USAGE_INTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_USAGE_KEYS = frozenset({*_USAGE_INTS, "cache_creation", "service_tier"})
_CACHE_CREATION_KEYS = frozenset({"ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"})
# The stop reasons litellm maps without keeping a provider-specific field.
STOP_REASONS = frozenset({"end_turn", "stop_sequence", "max_tokens", "tool_use"})


def _known(payload: Any) -> bool:
    """Whether every field of the reply is one this module translates as litellm does."""
    if not isinstance(payload, dict) or not _MESSAGE_KEYS.issuperset(payload):
        return False
    if payload.get("stop_reason") not in STOP_REASONS or not isinstance(payload.get("model"), str):
        return False
    content, usage = payload.get("content"), payload.get("usage")
    if not isinstance(content, list) or not isinstance(usage, dict):
        return False
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        keys = _BLOCK_KEYS.get(kind) if isinstance(kind, str) else None
        if keys is None or not keys.issuperset(block) or block.get("citations") is not None:
            return False
    return usage_known(usage)


def usage_known(usage: Mapping[str, Any]) -> bool:
    """Whether a usage object holds only the token counts (and cache breakdown) known here."""
    if not _USAGE_KEYS.issuperset(usage):
        return False
    if not all(type(usage.get(k, 0)) is int for k in _USAGE_INTS):
        return False
    breakdown = usage.get("cache_creation")
    if breakdown is not None and not (
        isinstance(breakdown, dict) and _CACHE_CREATION_KEYS.issuperset(breakdown)
    ):
        return False
    return usage.get("service_tier") is None or isinstance(usage.get("service_tier"), str)


def usage_dump(
    usage: Mapping[str, Any], completion_details: dict[str, Any] | None
) -> dict[str, Any]:
    """litellm's usage for an Anthropic usage object (``calculate_usage``), dumped."""
    read = usage.get("cache_read_input_tokens") or 0
    created = usage.get("cache_creation_input_tokens") or 0
    completion = usage.get("output_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + read + created
    prompt_details: dict[str, Any] = {
        "audio_tokens": None,
        "cache_write_tokens": created,
        "cached_tokens": read,
        "image_tokens": None,
        "text_tokens": prompt - read - created,
        "video_tokens": None,
        "initial_prompt_tokens": None,
        "cache_creation_tokens": created,
    }
    breakdown = usage.get("cache_creation")
    if breakdown is not None:
        prompt_details["cache_creation_token_details"] = {
            "ephemeral_5m_input_tokens": breakdown.get("ephemeral_5m_input_tokens"),
            "ephemeral_30m_input_tokens": None,
            "ephemeral_1h_input_tokens": breakdown.get("ephemeral_1h_input_tokens"),
            "ephemeral_12h_input_tokens": None,
        }
    return {
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens_details": completion_details
        or {"reasoning_tokens": 0, "text_tokens": completion},
        "prompt_tokens_details": prompt_details,
        "cache_creation_input_tokens": created,
        "cache_read_input_tokens": read,
        "iterations": None,
        "inference_geo": None,
        "speed": None,
        "service_tier": usage.get("service_tier"),
    }


def reasoning_details(
    reasoning: str | None, has_thinking: bool, completion: int
) -> dict[str, Any] | None:
    """litellm's completion token details when the reply thought; None when it did not."""
    if reasoning:
        from litellm.utils import token_counter

        estimated = max(
            0, min(token_counter(text=reasoning, count_response_tokens=True), completion)
        )
        return {"reasoning_tokens": estimated, "text_tokens": completion - estimated}
    if has_thinking:
        return {"reasoning_tokens": None, "text_tokens": None}
    return None


def reply_dump(payload: Any, finish: Any, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """litellm's dump of the completion for ``payload`` (a parsed reply), or None when the
    reply (or the prompt: an assistant prefix) needs litellm's ``transform_response``."""
    if not _known(payload) or (messages and messages[-1].get("prefix")):
        return None
    text, tool_calls = "", []
    thinking: list[dict[str, Any]] = []
    for index, block in enumerate(payload["content"]):
        kind = block["type"]
        if kind == "text":
            text += block["text"]
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block["id"],
                    "function": {"arguments": json.dumps(block["input"]), "name": block["name"]},
                    "type": "function",
                    "index": index,
                }
            )
        else:
            thinking.append(block)
    message: dict[str, Any] = {
        "content": text or None,
        "role": "assistant",
        "tool_calls": tool_calls or None,
        "function_call": None,
    }
    reasoning = None
    if thinking:
        reasoning = "".join(b["thinking"] for b in thinking if b.get("thinking") is not None)
        message["reasoning_content"] = reasoning
        message["thinking_blocks"] = thinking
    message["provider_specific_fields"] = {"citations": None, "thinking_blocks": thinking or None}
    usage = payload["usage"]
    details = reasoning_details(reasoning, bool(thinking), usage.get("output_tokens") or 0)
    return {
        "id": f"chatcmpl-{uuid.uuid4()}",
        "created": int(time.time()),
        "model": payload["model"],
        "object": "chat.completion",
        "choices": [
            {
                "finish_reason": finish(payload["stop_reason"]),
                "index": 0,
                "message": message,
            }
        ],
        "usage": usage_dump(usage, details),
    }
