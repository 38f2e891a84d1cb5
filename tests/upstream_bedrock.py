"""A local upstream speaking Bedrock's Converse API: ``POST /model/{id}/converse``.

The same scripting as :class:`tests.upstream.FakeUpstream` (``Reply``, ``Raw``, ``Error``,
``Drop``, FIFO), answered in Converse's wire format: ``output.message`` with ``text`` and
``toolUse`` content blocks, ``stopReason``, ``usage`` in ``inputTokens``/``outputTokens``
(cache read and write tokens when the reply's usage names them) and ``metrics``; errors as
``{"message": ...}`` with the ``x-amzn-ErrorType`` header. Streams are not spoken.
"""

from __future__ import annotations

import json
from typing import Any

from tests.upstream import Error, FakeUpstream, Reply, _Handler

__all__ = ["BedrockUpstream", "converse_message"]

_STOP = {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}
_CACHE_KEYS = {"cache_read_input_tokens": "cacheReadInputTokens"}


def _usage(reply: Reply) -> dict[str, int]:
    usage = dict(reply.usage or {})
    out = {
        "inputTokens": usage.get("prompt_tokens", 0),
        "outputTokens": usage.get("completion_tokens", 0),
    }
    out["totalTokens"] = out["inputTokens"] + out["outputTokens"]
    out.update({wire: usage[k] for k, wire in _CACHE_KEYS.items() if k in usage})
    return out


def converse_message(reply: Reply) -> dict[str, Any]:
    """The body of a non-streamed Converse reply."""
    content: list[dict[str, Any]] = []
    if reply.content:
        content.append({"text": reply.content})
    for call in reply.tool_calls or ():
        content.append(
            {
                "toolUse": {
                    "toolUseId": call["id"],
                    "name": call["function"]["name"],
                    "input": json.loads(call["function"]["arguments"]),
                }
            }
        )
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": _STOP.get(reply.finish_reason, reply.finish_reason),
        "usage": _usage(reply),
        "metrics": {"latencyMs": 12},
        **reply.extra,
    }


class _BedrockHandler(_Handler):
    def _routed(self, path: str) -> bool:
        parts = path.split("?", 1)[0].strip("/").split("/")
        return len(parts) == 3 and parts[0] == "model" and parts[2] == "converse"

    def _completion(self, reply: Reply, model: str) -> dict[str, Any]:
        return converse_message(reply)

    def _send_error(self, err: Error) -> None:
        kind = f"{err.type}:http://internal.amazon.com/coral/com.amazon.bedrock/"
        self._send_json(
            err.status, {"message": err.message}, {"x-amzn-ErrorType": kind, **err.headers}
        )


class BedrockUpstream(FakeUpstream):
    """:class:`FakeUpstream` answering Bedrock's Converse API; ``root_url`` is its base."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler = _BedrockHandler

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
