"""The Router's answers as the gateway sends them.

A completion is the JSON the upstream sent (the fields it set, the ones the SDK's types do
not name included) plus the router's additions (``request_breakdown``,
``prompt_message``); a stream is server-sent events, one ``data: {chunk}`` per chunk and
``data: [DONE]`` at the end, and an error after the first chunk is one
``data: {"error": {...}}`` event, which the OpenAI SDK raises as ``APIError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from respan_router.errors import RouterError
from respan_router.wire._errors import error_body

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = [
    "DONE",
    "JSON_HEADERS",
    "SSE_HEADERS",
    "completion_json",
    "event",
    "json_headers",
    "models_json",
    "stream_error_event",
]

DONE = b"data: [DONE]\n\n"
JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
]


def json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of a JSON answer: its type and length."""
    return [*JSON_HEADERS, (b"content-length", b"%d" % len(body))]


def completion_json(answer: BaseModel) -> bytes:
    """A completion as the upstream sent it (the fields it set), with the router's extra
    fields; pydantic's serializer called directly (``model_dump_json`` less its wrapper)."""
    out: bytes = answer.__pydantic_serializer__.to_json(answer, exclude_unset=True, warnings=False)
    return out


def event(chunk: BaseModel) -> bytes:
    """One stream chunk as a server-sent event."""
    data = chunk.__pydantic_serializer__.to_json(chunk, exclude_unset=True, warnings=False)
    return b"data: " + data + b"\n\n"


def stream_error_event(error: RouterError) -> bytes:
    """A failure after the first chunk, as the last event of the stream."""
    return b"data: " + orjson.dumps({"error": error_body(error)}) + b"\n\n"


def models_json(config: Any) -> bytes:
    """``GET /models``: the names a request's ``model`` can take in this Router's
    configuration (its deployments and the models of its load balance groups)."""
    names: dict[str, str] = {}
    deployments: Mapping[str, Any] = getattr(config, "deployments", {}) or {}
    for name, deployment in deployments.items():
        names[name] = str(getattr(deployment, "provider", None) or "respan-router")
    groups: Mapping[str, Any] = getattr(config, "load_balance_groups", {}) or {}
    for models in groups.values():
        for entry in models:
            names.setdefault(str(entry.model), "respan-router")
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": owner}
        for name, owner in sorted(names.items())
    ]
    return orjson.dumps({"object": "list", "data": data})
