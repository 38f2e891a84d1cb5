"""The conversation as span attributes: ``gen_ai.input.messages`` and
``gen_ai.output.messages`` in the GenAI semantic conventions' message schema (recorded only
when content recording is on). Pure functions: no OpenTelemetry import.
"""

from __future__ import annotations

from collections.abc import Iterable
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from respan_router._json import compact_encoder

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion

__all__ = ["input_messages", "output_messages"]

# OpenAI finish reasons -> the GenAI output-message schema's names.
_FINISH_REASONS = {"tool_calls": "tool_call", "function_call": "tool_call"}

# One encoder for every call: json.dumps with options builds a new encoder each time.
_json = compact_encoder(default=str)

# The common message, one role and a text, written around its text: the JSON the encoder
# writes for ``{"role": r, "parts": [{"type": "text", "content": text}]}`` (a string is
# written alike wherever it sits), without building the dicts. Roles are those a request
# may carry. The text is written by ``encode_basestring``, the standard encoder's own
# string writer with ``ensure_ascii=False``: what the encoder writes for any str (a lone
# surrogate included, which orjson refuses and hands to the standard encoder), with no
# bytes object to decode.
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_TEXT_HEAD = {r: '{"role":"' + r + '","parts":[{"type":"text","content":' for r in _ROLES}
_TEXT_TAIL = "}]}"
# An answer's one text choice: its head and, by finish reason, its tail.
_ANSWER_HEAD = '[{"role":"assistant","parts":[{"type":"text","content":'
_ANSWER_TAIL = {
    reason: '}],"finish_reason":"' + _FINISH_REASONS.get(reason, reason) + '"}]'
    for reason in ("stop", "length", "content_filter", "tool_calls", "function_call", "")
}


def _parts_of_content(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "text":
            parts.append({"type": "text", "content": part.get("text", "")})
        else:
            parts.append(dict(part))
    return parts


def _tool_call_parts(calls: Iterable[Any]) -> list[dict[str, Any]]:
    parts = []
    for call in calls:
        fn = call.get("function") or {}
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id", ""),
                "name": fn.get("name", ""),
                "arguments": fn.get("arguments"),
            }
        )
    return parts


def input_messages(messages: list[dict[str, Any]]) -> str:
    """``gen_ai.input.messages``: the conversation in the GenAI message schema, as JSON."""
    pieces = []
    for m in messages:
        content = m.get("content")
        head = _TEXT_HEAD.get(m.get("role", "")) if len(m) == 2 else None
        if head is None or type(content) is not str:
            return _json(_input_schema(messages))
        pieces.append(f"{head}{encode_basestring(content)}{_TEXT_TAIL}")  # one string
    return f"[{pieces[0]}]" if len(pieces) == 1 else f"[{','.join(pieces)}]"


def _input_schema(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        role = m.get("role")
        content = m.get("content")
        if type(content) is str and len(m) == 2:  # {"role", "content"}: the common case
            out.append({"role": role, "parts": [{"type": "text", "content": content}]})
            continue
        if role in ("tool", "function"):
            parts: list[dict[str, Any]] = [
                {
                    "type": "tool_call_response",
                    "id": m.get("tool_call_id") or m.get("name") or "",
                    "result": m.get("content"),
                }
            ]
        else:
            parts = _parts_of_content(m.get("content"))
            if m.get("tool_calls"):
                parts.extend(_tool_call_parts(m["tool_calls"]))
        message: dict[str, Any] = {"role": role, "parts": parts}
        if m.get("name") and role not in ("tool", "function"):
            message["name"] = m["name"]
        out.append(message)
    return out


def _output_tool_calls(msg: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for call in msg.tool_calls or ():
        fn = getattr(call, "function", None) or getattr(call, "custom", None)
        parts.append(
            {
                "type": "tool_call",
                "id": call.id,
                "name": getattr(fn, "name", ""),
                "arguments": getattr(fn, "arguments", getattr(fn, "input", None)),
            }
        )
    if msg.function_call is not None:
        fc = msg.function_call
        parts.append({"type": "tool_call", "id": "", "name": fc.name, "arguments": fc.arguments})
    return parts


def output_messages(response: ChatCompletion) -> str:
    """``gen_ai.output.messages``: one message per choice, as JSON: its text, refusal,
    tool calls and legacy function call."""
    choices = response.choices
    if len(choices) == 1:  # the common answer: one text
        choice = choices[0]
        msg = choice.message
        content = msg.content
        tail = _ANSWER_TAIL.get(choice.finish_reason or "")
        if (
            tail is not None
            and type(content) is str
            and msg.role == "assistant"
            and not msg.refusal
            and not msg.tool_calls
            and msg.function_call is None
        ):
            return f"{_ANSWER_HEAD}{encode_basestring(content)}{tail}"
    out = []
    for choice in response.choices:
        msg = choice.message
        parts = _parts_of_content(msg.content)
        if msg.refusal:
            parts.append({"type": "refusal", "content": msg.refusal})
        if msg.tool_calls or msg.function_call is not None:
            parts.extend(_output_tool_calls(msg))
        reason = choice.finish_reason or ""
        out.append(
            {
                "role": msg.role,
                "parts": parts,
                "finish_reason": _FINISH_REASONS.get(reason, reason),
            }
        )
    return _json(out)


# -- whole spans ------------------------------------------------------------------------
