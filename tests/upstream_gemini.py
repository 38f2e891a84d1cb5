"""A local upstream speaking Google AI Studio's Gemini API (``generateContent``).

The same scripting as :class:`tests.upstream.FakeUpstream` (``Reply``, ``Raw``, ``Error``,
``Drop``, per model, FIFO), answered in Gemini's wire format on
``POST /{version}/models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse`` (the model is read from the path, the stream from the
method): a ``GenerateContentResponse`` with one candidate whose parts are ``text`` and
``functionCall``, its ``finishReason`` (``STOP``, ``MAX_TOKENS``, ``SAFETY``), and
``usageMetadata`` (``promptTokenCount``, ``candidatesTokenCount``, ``totalTokenCount``;
``cachedContentTokenCount`` and ``thoughtsTokenCount`` when the reply's usage names
``cached_tokens`` / ``reasoning_tokens``). A stream is server-sent events, one response per
``data:`` line ending in ``\\r\\n\\r\\n``, the last one carrying the finish reason and the
usage, and no ``[DONE]``. Errors are Google's ``{"error": {"code", "message", "status"}}``;
``Raw(events=...)`` sends each event as it is (``{"error": ...}`` in a stream too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.upstream import Error, FakeUpstream, Raw, Reply, _Handler, split_text

__all__ = ["GeminiUpstream", "RawWithHeaders", "gemini_chunks", "gemini_response"]


@dataclass(frozen=True)
class RawWithHeaders(Raw):
    """:class:`Raw` answered with these response headers too."""

    headers: Mapping[str, str] = field(default_factory=dict)


_FINISH = {"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_USAGE_KEYS = {"cached_tokens": "cachedContentTokenCount", "reasoning_tokens": "thoughtsTokenCount"}
RESPONSE_ID = "fake-gemini-response-1"


def usage_metadata(reply: Reply) -> dict[str, int]:
    """The ``usageMetadata`` of a reply (totals include thoughts, as Gemini counts them)."""
    usage = dict(reply.usage or {})
    prompt, output = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    out = {"promptTokenCount": prompt, "candidatesTokenCount": output}
    out.update({wire: usage[k] for k, wire in _USAGE_KEYS.items() if k in usage})
    out["totalTokenCount"] = prompt + output + usage.get("reasoning_tokens", 0)
    return out


def _call_parts(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "functionCall": {
                "name": call["function"]["name"],
                "args": json.loads(call["function"]["arguments"]),
            }
        }
        for call in reply.tool_calls or ()
    ]


def _response(parts: list[dict[str, Any]], model: str, **candidate: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"parts": parts, "role": "model"}, **candidate, "index": 0}],
        "modelVersion": model,
        "responseId": RESPONSE_ID,
    }


def gemini_response(reply: Reply, model: str) -> dict[str, Any]:
    """The body of a non-streamed ``generateContent`` reply."""
    parts: list[dict[str, Any]] = [{"text": reply.content}] if reply.content else []
    parts += _call_parts(reply)
    finish = _FINISH.get(reply.finish_reason, reply.finish_reason)
    body = _response(parts, model, finishReason=finish)
    if reply.usage is not None:
        body["usageMetadata"] = usage_metadata(reply)
    return {**body, **reply.extra}


def gemini_chunks(reply: Reply, model: str) -> list[dict[str, Any]]:
    """The responses of a streamed reply: text pieces, the function calls, and the finish
    reason with the usage on the last one."""
    pieces: list[list[dict[str, Any]]] = [
        [{"text": piece}] for piece in split_text(reply.content or "", reply.pieces)
    ]
    if reply.tool_calls:
        pieces.append(_call_parts(reply))
    if not pieces:
        pieces.append([{"text": ""}])
    chunks = [_response(parts, model) for parts in pieces]
    last = chunks[-1]
    last["candidates"][0]["finishReason"] = _FINISH.get(reply.finish_reason, reply.finish_reason)
    if reply.usage is not None:
        last["usageMetadata"] = usage_metadata(reply)
    return [{**chunk, **reply.extra} for chunk in chunks]


def _route(path: str) -> tuple[str, str] | None:
    """The model and method of a Gemini path, or None."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    if len(parts) != 3 or parts[1] != "models" or ":" not in parts[2]:
        return None
    model, method = parts[2].rsplit(":", 1)
    if method not in ("generateContent", "streamGenerateContent"):
        return None
    return model, method


class _GeminiHandler(_Handler):
    done_line = b""

    def _routed(self, path: str) -> bool:
        return _route(path) is not None

    def _model_of(self, path: str, body: Any) -> str:
        route = _route(path)
        return route[0] if route else ""

    def _streams(self, path: str, body: Any) -> bool:
        route = _route(path)
        return route is not None and route[1] == "streamGenerateContent"

    def _completion(self, reply: Reply, model: str) -> dict[str, Any]:
        return gemini_response(reply, model)

    def _frame(self, event: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(event)}\r\n\r\n".encode()

    def _send_raw(self, raw: Raw, stream: bool) -> None:
        self._raw_headers = raw.headers if isinstance(raw, RawWithHeaders) else {}
        super()._send_raw(raw, stream)

    def end_headers(self) -> None:
        # The response headers a :class:`RawWithHeaders` names, after the others.
        for name, value in getattr(self, "_raw_headers", {}).items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self._raw_headers: Mapping[str, str] = {}
        super().end_headers()

    def _send_error(self, err: Error) -> None:
        status = err.type if err.type.isupper() else _STATUS.get(err.status, "UNKNOWN")
        payload = {"error": {"code": err.status, "message": err.message, "status": status}}
        self._send_json(err.status, payload, err.headers)

    def _send_stream(self, reply: Reply, body: dict[str, Any]) -> None:
        self._send_events(gemini_chunks(reply, self._model_of(self.path, body)), reply)


class GeminiUpstream(FakeUpstream):
    """:class:`FakeUpstream` answering Gemini's API; ``base_url`` is its ``/v1beta`` base."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handler = _GeminiHandler

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1beta"
