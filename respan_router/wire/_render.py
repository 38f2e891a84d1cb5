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
    "SSE_HEADERS",
    "completion_json",
    "event",
    "models_json",
    "stream_error_event",
]

DONE = b"data: [DONE]\n\n"
JSON_HEADERS = [("content-type", "application/json")]
SSE_HEADERS = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]


def completion_json(answer: BaseModel) -> bytes:
    """A completion as the upstream sent it, with the router's extra fields."""
    return answer.model_dump_json(exclude_unset=True, warnings=False).encode()


def event(chunk: BaseModel) -> bytes:
    """One stream chunk as a server-sent event."""
    return b"data: " + chunk.model_dump_json(exclude_unset=True, warnings=False).encode() + b"\n\n"


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
