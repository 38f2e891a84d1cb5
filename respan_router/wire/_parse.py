"""A request of the gateway's wire contract, read into the Router's call.

``POST .../chat/completions`` (``/v1/chat/completions``, the gateway's
``/api/chat/completions``): the JSON body's fields are the call's keywords, exactly as
``complete(**body)`` takes them, so top-level Respan fields, ``respan_params`` and
``keywordsai_params`` merge as for an in-process call. The headers go in as
``extra_headers``: the merge stage reads ``X-Data-Respan-Params`` (and the legacy
``X-Data-Keywordsai-Params``) and ``X-Respan-Beta`` from them and forwards the rest
upstream, less the ones an HTTP client sets for itself (``Authorization``, ``User-Agent``,
the SDK's ``X-Stainless-*``, ...). ``GET .../models`` lists the models. No query
parameter is read: a non-empty query is refused rather than dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from respan_router.errors import (
    FeatureNotAvailableError,
    InvalidRequestError,
    NotFoundError,
    RouterError,
)

__all__ = ["WireCall", "read_call"]

# What an HTTP client sets for itself: never a parameter of the call, never forwarded.
_CLIENT_HEADERS = frozenset(
    {
        b"authorization",
        b"host",
        b"content-length",
        b"content-type",
        b"accept",
        b"accept-encoding",
        b"connection",
        b"user-agent",
        b"openai-organization",
        b"openai-project",
        b"idempotency-key",
        b"transfer-encoding",
    }
)


@dataclass(frozen=True, slots=True)
class WireCall:
    """What a request asks: a chat completion with its keywords, or the model list."""

    kind: Literal["chat", "models"]
    params: dict[str, Any]


def _route(method: str, path: str) -> Literal["chat", "models"]:
    path = path.rstrip("/")
    if path.endswith("/chat/completions"):
        kind: Literal["chat", "models"] = "chat"
        allowed = "POST"
    elif path.endswith("/models"):
        kind, allowed = "models", "GET"
    else:
        raise NotFoundError(f"no route {path!r}: the router serves chat/completions and models")
    if method != allowed:
        raise RouterError(f"{method} {path} is not allowed; use {allowed}", status_code=405)
    return kind


def _forwarded(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    forwarded: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered not in _CLIENT_HEADERS and not lowered.startswith(b"x-stainless-"):
            forwarded[name.decode("latin-1")] = value.decode("latin-1")
    return forwarded


def read_call(
    method: str,
    path: str,
    query: str | bytes,
    headers: Iterable[tuple[bytes, bytes]],
    body: bytes,
    timeout: float | None = None,
) -> WireCall:
    """The call one request asks for.

    Args:
        headers: ``(name, value)`` pairs as bytes (the raw headers of httpx, ASGI's).
        timeout: the client's read timeout, seconds per attempt (None: the Router's).

    Raises:
        RouterError: a route that does not exist (404), a wrong method (405), a body
            that is not a JSON object or a non-empty query (400).
    """
    kind = _route(method, path)
    if query:
        raise FeatureNotAvailableError(
            "query parameters are not read: pass parameters in the JSON body "
            "(extra_body with the OpenAI SDK)",
            field="extra_query",
        )
    if kind == "models":
        return WireCall("models", {})
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequestError("the request body is not valid JSON", field="body") from None
    if not isinstance(params, dict):
        raise InvalidRequestError("the request body must be a JSON object", field="body")
    forwarded = _forwarded(headers)
    if forwarded:
        given = params.get("extra_headers")
        if isinstance(given, dict):  # the body's own copy wins, as a keyword would
            forwarded.update(given)
        params["extra_headers"] = forwarded
    if timeout is not None and "timeout" not in params:
        params["timeout"] = timeout
    return WireCall("chat", params)
