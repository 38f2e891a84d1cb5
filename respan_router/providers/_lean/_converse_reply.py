"""A Bedrock Converse reply read once, as litellm's ``AmazonConverseConfig`` reads it.

litellm's ``transform_response`` builds pydantic objects (``Message``, ``Choices``,
``Usage`` and its details, ``ModelResponse``) and the lean path dumps them again: most of
a Bedrock call's client CPU. :func:`converse_reply` writes the same ``model_dump()``
directly, with litellm's rules (``converse_transformation.py``):

- content blocks in order: ``text`` through litellm's ``parse_content_for_reasoning``
  (a leading ``<think>`` block becomes reasoning) and concatenated into ``content``
  (``""`` when there is none); ``toolUse`` becomes a tool call (``index`` = the block's
  position, ``arguments`` = ``json.dumps`` of the input, the name through litellm's tool
  name mapping); ``reasoningContent`` blocks are kept under ``provider_specific_fields``
  and give ``reasoning_content`` and ``thinking_blocks`` through the config's own methods;
- ``stopReason`` through litellm's ``map_finish_reason``;
- usage: prompt tokens are ``inputTokens`` plus the cache read and write tokens
  (``cacheReadInputTokens`` / ``cacheWriteInputTokens``), ``total_tokens`` as Bedrock
  sent it, the cache counts in the prompt details; a reply with reasoning (its reasoning
  tokens are counted by litellm's tokenizer) or with ``additionalModelResponseFields``
  takes the config's own ``transform_usage``.

Anything else (citations, guardrail traces, service tiers, cache TTL details, other
block or usage kinds, JSON mode, a call with tools whose text is a JSON object, which
litellm may read back as a tool call) returns None: the caller then runs litellm's
``transform_response``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

__all__ = ["converse_reply"]

_TOP_KEYS = frozenset({"output", "stopReason", "usage", "metrics", "additionalModelResponseFields"})
_BLOCK_KEYS = frozenset({"text", "toolUse", "reasoningContent"})
_USAGE_KEYS = frozenset(
    {"inputTokens", "outputTokens", "totalTokens", "cacheReadInputTokens", "cacheWriteInputTokens"}
)
_TOOL_USE_KEYS = frozenset({"toolUseId", "name", "input"})
_JSON_MODE = ("json_mode", "response_format")


def _count(value: Any) -> bool:
    return type(value) is int


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def converse_reply(
    config: Any, model: str, payload: Any, optional_params: Mapping[str, Any]
) -> dict[str, Any] | None:
    """litellm's ``transform_response(...).model_dump()`` of a 2xx Converse reply, or None
    when the reply (or the call) has something this module does not read (or a block it
    reads is malformed: litellm's transform then fails its own way)."""
    try:
        return _read(config, model, payload, optional_params)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _read(
    config: Any, model: str, payload: Any, optional_params: Mapping[str, Any]
) -> dict[str, Any] | None:
    if not isinstance(payload, dict) or not _TOP_KEYS.issuperset(payload):
        return None
    if any(key in optional_params for key in _JSON_MODE):
        return None
    output, stop, usage = payload.get("output"), payload.get("stopReason"), payload.get("usage")
    if not isinstance(output, dict) or "message" not in output or not isinstance(stop, str):
        return None
    if not isinstance(usage, dict) or not _USAGE_KEYS.issuperset(usage):
        return None
    if not all(_count(v) for v in usage.values()) or "inputTokens" not in usage:
        return None
    if "outputTokens" not in usage:
        return None
    message = _message(config, output["message"])
    if message is None:
        return None
    if optional_params.get("tools") is not None and _json_object(message["content"]):
        return None  # litellm may read a tool call back from the text
    reasoning = message.get("reasoning_content")
    if reasoning is not None or "additionalModelResponseFields" in payload:
        usage_dump = _litellm_usage(config, payload, usage, message)
    else:
        usage_dump = _usage(usage)
    from litellm.litellm_core_utils.core_helpers import map_finish_reason

    return {
        "id": f"chatcmpl-{uuid.uuid4()}",
        "created": int(time.time()),
        "model": model,
        "object": "chat.completion",
        "choices": [{"finish_reason": map_finish_reason(stop), "index": 0, "message": message}],
        "usage": usage_dump,
    }


def _message(config: Any, block: Any) -> dict[str, Any] | None:
    """The dumped ``Message`` of ``output.message`` (None: litellm's reading)."""
    from litellm.litellm_core_utils.prompt_templates.reasoning_utils import (
        parse_content_for_reasoning,
    )
    from litellm.llms.bedrock.common_utils import get_bedrock_tool_name

    content = ""
    tools: list[dict[str, Any]] = []
    reasoning_blocks: list[Any] | None = None
    if block is not None:
        blocks = block.get("content") if isinstance(block, dict) else None
        if not isinstance(blocks, list):
            return None
        for index, part in enumerate(blocks):
            if not isinstance(part, dict) or not _BLOCK_KEYS.issuperset(part):
                return None
            thought: str | None = None
            if "text" in part:
                text = part["text"]
                if not isinstance(text, str):
                    return None
                thought, text = parse_content_for_reasoning(text)
                if text is not None:
                    content += text
            if "toolUse" in part:
                use = part["toolUse"]
                if not isinstance(use, dict) or not _TOOL_USE_KEYS.issubset(use):
                    return None
                if not isinstance(use["name"], str):
                    return None
                function = {
                    "arguments": json.dumps(use["input"]),
                    "name": get_bedrock_tool_name(response_tool_name=use["name"]),
                }
                tools.append(
                    {
                        "index": index,
                        "function": function,
                        "id": use["toolUseId"],
                        "type": "function",
                    }
                )
            if thought is not None:
                reasoning_blocks = reasoning_blocks or []
                reasoning_blocks.append({"reasoningText": {"text": thought}})
            if "reasoningContent" in part:
                reasoning_blocks = reasoning_blocks or []
                reasoning_blocks.append(part["reasoningContent"])
    message: dict[str, Any] = {
        "content": content,
        "role": "assistant",
        "tool_calls": tools or None,
        "function_call": None,
    }
    if reasoning_blocks is not None:
        message["reasoning_content"] = config._transform_reasoning_content(reasoning_blocks)
        message["thinking_blocks"] = config._transform_thinking_blocks(reasoning_blocks)
        message["provider_specific_fields"] = {"reasoningContentBlocks": reasoning_blocks}
    return message


def _litellm_usage(
    config: Any, payload: Mapping[str, Any], usage: Mapping[str, int], message: Mapping[str, Any]
) -> dict[str, Any]:
    """The usage as litellm computes it (its tokenizer counts reasoning tokens), dumped as
    part of its ``ModelResponse``, as the litellm path dumps it."""
    import litellm

    extra = payload.get("additionalModelResponseFields")
    response = litellm.ModelResponse()
    response.usage = config.transform_usage(
        usage,
        reasoning_content=message.get("reasoning_content"),
        thinking_ran="thinking_blocks" in message,
        provider_reasoning_tokens=config.thinking_tokens_from_additional_fields(extra),
    )
    dumped: dict[str, Any] = response.model_dump()["usage"]
    return dumped


def _usage(usage: Mapping[str, int]) -> dict[str, Any]:
    """litellm's ``transform_usage(...).model_dump()`` for a reply without reasoning."""
    raw, out = usage["inputTokens"], usage["outputTokens"]
    read = usage.get("cacheReadInputTokens", 0)
    write = usage.get("cacheWriteInputTokens", 0)
    prompt = raw + read + write
    return {
        "completion_tokens": out,
        "prompt_tokens": prompt,
        "total_tokens": usage.get("totalTokens", prompt + out),
        "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": out},
        "prompt_tokens_details": {
            "audio_tokens": None,
            "cache_write_tokens": write,
            "cached_tokens": read,
            "image_tokens": None,
            "text_tokens": raw,
            "video_tokens": None,
            "initial_prompt_tokens": None,
            "cache_creation_tokens": write,
        },
        "cache_creation_input_tokens": write,
        "cache_read_input_tokens": read,
    }
