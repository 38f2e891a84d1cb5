"""A local upstream speaking Anthropic's Messages API: ``POST /v1/messages``.

The same scripting as :class:`tests.upstream.FakeUpstream` (``Reply``, ``Raw``, ``Error``,
``Drop``, per model, FIFO), answered in Anthropic's wire format: a ``message`` object with
``text`` and ``tool_use`` content blocks and ``input_tokens``/``output_tokens`` usage (cache
read and creation tokens when the reply's usage names them); a stream of named SSE events
(``message_start``, ``content_block_start``/``_delta``/``_stop``, ``ping``, ``message_delta``,
``message_stop``) with no ``[DONE]``; errors as ``{"type": "error", "error": {...}}``.
``Raw(events=...)`` sends each event under its own ``type`` (an ``error`` event too).
"""

from __future__ import annotations

import json
from typing import Any

from tests.upstream import Error, FakeUpstream, Reply, _Handler, split_text

__all__ = ["AnthropicUpstream", "anthropic_events", "anthropic_message"]

_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}
_CACHE_KEYS = ("cache_read_input_tokens", "cache_creation_input_tokens")


def _usage(reply: Reply) -> dict[str, int]:
    usage = dict(reply.usage or {})
    out = {
        "input_tokens": usage.get("prompt_tokens", 0),
        "output_tokens": usage.get("completion_tokens", 0),
    }
    out.update({k: usage[k] for k in _CACHE_KEYS if k in usage})
    return out


def _tool_blocks(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "type": "tool_use",
            "id": call["id"],
            "name": call["function"]["name"],
            "input": json.loads(call["function"]["arguments"]),
        }
        for call in reply.tool_calls or ()
    ]


def anthropic_message(reply: Reply, model: str) -> dict[str, Any]:
    """The ``message`` object of a non-streamed reply."""
    content: list[dict[str, Any]] = []
    if reply.content:
        content.append({"type": "text", "text": reply.content})
    content += _tool_blocks(reply)
    return {
        "id": "msg_01FakeUpstream",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _STOP.get(reply.finish_reason, reply.finish_reason),
        "stop_sequence": None,
        "usage": _usage(reply),
        **reply.extra,
    }


def anthropic_events(reply: Reply, model: str) -> list[dict[str, Any]]:
    """The SSE events of a streamed reply, in Anthropic's order."""
    usage = _usage(reply)
    start_usage = {**usage, "output_tokens": 1}
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                **anthropic_message(Reply(None, usage=None), model),
                "content": [],
                "stop_reason": None,
                "usage": start_usage,
            },
        },
    ]
    index = 0
    if reply.content:
        events.append(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            }
        )
        events.append({"type": "ping"})
        for piece in split_text(reply.content, reply.pieces):
            events.append(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                }
            )
        events.append({"type": "content_block_stop", "index": 0})
        index = 1
    for block in _tool_blocks(reply):
        events.append(
            {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
        )
        events.append(
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
            }
        )
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": _STOP.get(reply.finish_reason, reply.finish_reason),
                "stop_sequence": None,
            },
            "usage": {"output_tokens": usage["output_tokens"]},
        }
    )
    events.append({"type": "message_stop"})
    return events


class _AnthropicHandler(_Handler):
    done_line = b""

    def _routed(self, path: str) -> bool:
        return path.split("?", 1)[0].rstrip("/") == "/v1/messages"

    def _completion(self, reply: Reply, model: str) -> dict[str, Any]:
        return anthropic_message(reply, model)

    def _frame(self, event: dict[str, Any]) -> bytes:
        return f"event: {event.get('type', 'message')}\ndata: {json.dumps(event)}\n\n".encode()

    def _send_error(self, err: Error) -> None:
        payload = {"type": "error", "error": {"type": err.type, "message": err.message}}
        self._send_json(err.status, payload, err.headers)

    def _send_stream(self, reply: Reply, body: dict[str, Any]) -> None:
        self._send_events(anthropic_events(reply, body.get("model", "")), reply)


class AnthropicUpstream(FakeUpstream):
    """:class:`FakeUpstream` answering Anthropic's Messages API; ``root_url`` is its base."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler = _AnthropicHandler

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
