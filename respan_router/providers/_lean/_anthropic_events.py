"""Anthropic's stream events as litellm's chunks, for the streams whose every event this
module knows; anything else is handed back (:class:`Delegate`) to litellm's own reader.

The rules are litellm's: its Anthropic stream iterator (``ModelResponseIterator`` in
``litellm/llms/anthropic/chat/handler.py``) under its stream wrapper
(``CustomStreamWrapper``), then the router's :func:`restore_chunk` and
:func:`keep_unknown_fields` as on the litellm path:
- ``message_start`` (its usage kept), ``ping``, ``content_block_stop`` and
  ``message_stop`` give no chunk; neither does the start of a text or thinking block;
- a ``text_delta`` is a content chunk; the start of a ``tool_use`` block is a tool call
  chunk (id, name, empty arguments, the stream's tool index) and each ``input_json_delta``
  one with the arguments' next piece; a ``thinking_delta`` carries ``reasoning_content``
  and a thinking block (the stream's thinking index), a ``signature_delta`` an empty
  thinking block with the signature, a ``redacted_thinking`` block's start the block;
- the first chunk says ``role: assistant``; each chunk keeps the upstream event's own
  fields beside the chunk's (``type``, ``index``, ``delta``, ``content_block``, ``usage``);
- ``message_delta`` is the finish chunk (litellm's finish-reason map);
- after the body's end, with ``stream_options.include_usage``, the usage chunk: prompt
  tokens are the input tokens plus the cache read and creation tokens.
An error event, an event or field not named here, a stop reason litellm keeps as a field,
a tool call without arguments, reasoning with the usage chunk asked for, a body that ends
before ``message_stop``: :class:`Delegate`. The caller then replays the lines read so far
into litellm's reader and skips the chunks already delivered, so the stream goes on as
litellm's.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from respan_router.providers._lean._anthropic_reply import STOP_REASONS, usage_dump, usage_known
from respan_router.providers._lean._delegate import Delegate, data_event
from respan_router.providers._litellm_response import keep_unknown_fields, restore_chunk
from respan_router.responses import chunk_from_dict, usage_type

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["EventStream"]

_INTS = frozenset(
    {"input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"}
)
_START_KEYS = frozenset(
    {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
)
_DELTA_KEYS = {
    "text_delta": ("text", "text"),
    "input_json_delta": ("partial_json", "partial_json"),
    "thinking_delta": ("thinking", "thinking"),
    "signature_delta": ("signature", "signature"),
}


def _event_keys(event: Mapping[str, Any], *allowed: str) -> None:
    if not {"type", *allowed}.issuperset(event):
        raise Delegate


class EventStream:
    """One Anthropic stream's lines in, the chunks litellm gives out (a sans-I/O core).

    Args:
        model: the model the chunks name (litellm's wrapper names the call's).
        finish: litellm's finish-reason map.
        usage: whether the caller asked for the usage chunk.
    """

    def __init__(self, model: str, finish: Callable[[str], str], *, usage: bool) -> None:
        self.lines: list[str] = []  # every line read, for a replay through litellm
        self.id = f"chatcmpl-{uuid.uuid4()}"
        self.created = int(time.time())
        self._model = model
        self._finish = finish
        self._usage = usage
        self._delivered = 0
        self._tool_index = -1
        self._thinking_index = -1
        self._block: str | None = None
        self._arguments = False
        self._reasoned = False
        self._stopped = False
        self._tokens: dict[str, Any] = {}

    def feed(self, line: str) -> ChatCompletionChunk | None:
        """The chunk of one line, or None.

        Raises:
            Delegate: the stream needs litellm's reader.
        """
        self.lines.append(line)
        event = data_event(line)
        if event is None:
            return None
        if self._stopped:
            raise Delegate
        delta = self._delta(event)
        if delta is None:
            return None
        return self._chunk(delta, event)

    @property
    def delivered(self) -> int:
        """The chunks given out so far."""
        return self._delivered

    def end(self) -> ChatCompletionChunk | None:
        """At the body's end: the usage chunk when asked for, else None.

        Raises:
            Delegate: the stream did not end as this module knows.
        """
        if not self._stopped or (self._usage and self._reasoned):
            raise Delegate
        if not self._usage:
            return None
        tokens = self._tokens
        if not _INTS.issuperset(tokens):
            raise Delegate
        usage = usage_dump(tokens, None)
        data = {
            "id": self.id,
            "created": self.created,
            "model": self._model,
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {k: usage[k] for k in _STREAM_USAGE_KEYS},
        }
        return chunk_from_dict(restore_chunk(data))

    # -- one event ---------------------------------------------------------------------------

    def _delta(self, event: dict[str, Any]) -> dict[str, Any] | None:
        kind = event.get("type")
        if kind == "ping":
            _event_keys(event)
            return None
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_stop":
            _event_keys(event, "index")
            if self._block == "tool_use" and not self._arguments:
                raise Delegate  # litellm sends "{}" as the arguments
            self._block = None
            return None
        if kind == "message_start":
            _event_keys(event, "message")
            message = event["message"]
            if not _START_KEYS.issuperset(message) or not usage_known(message["usage"]):
                raise Delegate
            self._tokens = dict(message["usage"])
            return None
        if kind == "message_delta":
            return self._message_delta(event)
        if kind == "message_stop":
            _event_keys(event)
            self._stopped = True
            return None
        raise Delegate  # an error event, or one this module does not know

    def _block_start(self, event: dict[str, Any]) -> dict[str, Any] | None:
        _event_keys(event, "index", "content_block")
        block = event["content_block"]
        kind = block.get("type")
        self._block = kind
        if kind == "text" and block.keys() == {"type", "text"} and block["text"] == "":
            return None
        if kind == "thinking" and {"type", "thinking", "signature"}.issuperset(block):
            if block.get("thinking") or block.get("signature"):
                raise Delegate
            self._thinking_index += 1
            return None
        if kind == "redacted_thinking" and block.keys() == {"type", "data"}:
            self._thinking_index += 1
            return {"content": "", "thinking_blocks": [{**block, "index": self._thinking_index}]}
        if kind == "tool_use" and block.keys() == {"type", "id", "name", "input"}:
            self._tool_index += 1
            self._arguments = False
            function = {"arguments": "", "name": block["name"]}
            call = {"index": self._tool_index, "id": block["id"], "function": function}
            return {"content": "", "tool_calls": [{**call, "type": "function"}]}
        raise Delegate

    def _block_delta(self, event: dict[str, Any]) -> dict[str, Any]:
        _event_keys(event, "index", "delta")
        delta = event["delta"]
        kind = delta.get("type")
        field = _DELTA_KEYS.get(kind)
        if field is None or delta.keys() != {"type", field[0]}:
            raise Delegate
        value = delta[field[0]]
        if not isinstance(value, str) or not value:
            raise Delegate
        block = self._block
        if kind == "text_delta" and block == "text":
            return {"content": value}
        if kind == "input_json_delta" and block == "tool_use":
            self._arguments = True
            function = {"arguments": value, "name": None}
            call = {"index": self._tool_index, "id": None, "function": function}
            return {"content": "", "tool_calls": [{**call, "type": "function"}]}
        if kind == "thinking_delta" and block == "thinking":
            self._reasoned = True
            thinking = {"type": "thinking", "thinking": value, "index": self._thinking_index}
            return {"content": "", "reasoning_content": value, "thinking_blocks": [thinking]}
        if kind == "signature_delta" and block == "thinking":
            signed = {"type": "thinking", "thinking": "", "signature": value}
            blocks = [{**signed, "index": self._thinking_index}]
            return {"content": "", "reasoning_content": "", "thinking_blocks": blocks}
        raise Delegate

    def _message_delta(self, event: dict[str, Any]) -> dict[str, Any]:
        _event_keys(event, "delta", "usage")
        delta, usage = event["delta"], event.get("usage")
        if not {"stop_reason", "stop_sequence"}.issuperset(delta) or not self._delivered:
            raise Delegate
        reason = delta.get("stop_reason")
        if reason not in STOP_REASONS or not isinstance(usage, dict) or not usage_known(usage):
            raise Delegate
        self._tokens.update(usage)
        return {"content": None, "finish_reason": self._finish(reason)}

    def _chunk(self, delta: dict[str, Any], event: dict[str, Any]) -> ChatCompletionChunk:
        reason = delta.pop("finish_reason", None)
        delta.setdefault("tool_calls", None)
        delta["role"] = None if self._delivered else "assistant"
        data: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "model": self._model,
            "object": "chat.completion.chunk",
            "choices": [{"delta": delta, "index": 0, "finish_reason": reason, "logprobs": None}],
        }
        keep_unknown_fields(data, event)
        self._delivered += 1
        usage = data.get("usage")
        if not isinstance(usage, dict):
            return chunk_from_dict(data)
        del data["usage"]
        chunk = chunk_from_dict(data)
        chunk.usage = _partial_usage(usage)
        return chunk


def _partial_usage(usage: dict[str, Any]) -> Any:
    """The finish chunk's usage: the event's own, partial (``{"output_tokens": 5}``).

    It fails validation, so on the litellm path the chunk is built by the SDK's
    ``construct``, which sets the usage's missing fields to None and keeps the event's
    fields as extras. The same object, through pydantic's ``model_construct`` (the SDK's
    override costs several times more); the SDK's own when a field is a declared one
    (it builds nested models then). The rest of the chunk validates.
    """
    cls = usage_type()
    if not cls.model_fields.keys().isdisjoint(usage):
        return cls.construct(**usage)
    missing = dict.fromkeys(k for k, f in cls.model_fields.items() if f.is_required())
    # The SDK's fields-set names the declared fields given: none here.
    return BaseModel.model_construct.__func__(cls, set(), **missing, **usage)  # type: ignore[attr-defined]


_STREAM_USAGE_KEYS = (
    "completion_tokens",
    "prompt_tokens",
    "total_tokens",
    "completion_tokens_details",
    "prompt_tokens_details",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
