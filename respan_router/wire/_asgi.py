"""The gateway's HTTP contract as an ASGI app: the same reading and rendering as the
in-process transport, over real HTTP, for services not written in Python.

With API keys, a request without ``Authorization: Bearer <one of them>`` gets a 401 in
OpenAI's shape before anything is read. A stream whose client goes away is closed at
once (the upstream with it). Nothing a request carries is logged: an unexpected failure
logs its exception type only, and answers a generic 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import orjson

from respan_router.errors import RouterError
from respan_router.responses import completion_type
from respan_router.wire._errors import error_headers, error_json
from respan_router.wire._parse import read_call
from respan_router.wire._render import (
    DONE,
    JSON_HEADERS,
    SSE_HEADERS,
    completion_json,
    event,
    models_json,
    stream_error_event,
)

__all__ = ["RouterApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_log = logging.getLogger("respan_router.server")

_UNAUTHORIZED = orjson.dumps(
    {
        "error": {
            "message": "Invalid or missing API key: send Authorization: Bearer <key>",
            "type": "authentication_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
)
_INTERNAL = orjson.dumps(
    {"error": {"message": "internal error", "type": "api_error", "param": None, "code": None}}
)


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    headers = [*headers, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("the client went away")
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _pump(send: Send, stream: Any) -> None:
    try:
        async for chunk in stream:
            await send({"type": "http.response.body", "body": event(chunk), "more_body": True})
    except RouterError as error:
        await send({"type": "http.response.body", "body": stream_error_event(error)})
        return
    await send({"type": "http.response.body", "body": DONE})


class RouterApp:
    """An ASGI app serving a Router's ``acomplete`` (any object with the Router's calls).

    Args:
        router: what serves the calls.
        api_keys: the keys a request must present as ``Authorization: Bearer <key>``;
            None or empty: no check (bind to loopback only).
        owns_router: close the router (``aclose``) at the server's lifespan shutdown
            (an app built from a configuration owns its Router; a given one is the
            caller's).
    """

    def __init__(
        self, router: Any, *, api_keys: Iterable[str] | None = None, owns_router: bool = False
    ) -> None:
        self._router = router
        self._keys = tuple(key.encode() for key in api_keys or ())
        self._owns = owns_router

    @property
    def requires_key(self) -> bool:
        """Whether a request must present one of the API keys."""
        return bool(self._keys)

    def __repr__(self) -> str:  # never the keys
        return f"RouterApp(api_keys={len(self._keys)})"

    def _authorized(self, headers: list[tuple[bytes, bytes]]) -> bool:
        if not self._keys:
            return True
        given = next((v for k, v in headers if k.lower() == b"authorization"), b"")
        scheme, _, token = given.partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return False
        presented = token.strip()
        return any(hmac.compare_digest(presented, key) for key in self._keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            aclose = getattr(self._router, "aclose", None)
            if self._owns and aclose is not None:  # a Router this app built: closed with it
                await aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        if not self._authorized(headers):
            await _respond(send, 401, JSON_HEADERS, _UNAUTHORIZED)
            return
        try:
            await self._serve(scope, receive, send, headers)
        except ConnectionError:
            return
        except Exception as exc:  # a bug: answered, logged without any content
            _log.error("request failed: %s", type(exc).__name__)
            with contextlib.suppress(Exception):
                await _respond(send, 500, JSON_HEADERS, _INTERNAL)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, headers: list[tuple[bytes, bytes]]
    ) -> None:
        try:
            call = read_call(
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                headers,
                await _body(receive),
            )
            if call.kind == "models":
                await _respond(send, 200, JSON_HEADERS, models_json(self._router.config))
                return
            result = await self._router.acomplete(**call.params)
        except RouterError as error:
            await _respond(send, error.status_code, error_headers(error), error_json(error))
            return
        if isinstance(result, completion_type()):
            await _respond(send, 200, JSON_HEADERS, completion_json(result))
            return
        await self._stream(receive, send, result)

    async def _stream(self, receive: Receive, send: Send, stream: Any) -> None:
        """Send a stream's events until it ends or the client goes away."""
        try:
            start = {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS}
            await send(start)
            pump = asyncio.ensure_future(_pump(send, stream))
            gone = asyncio.ensure_future(_disconnected(receive))
            await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in (pump, gone):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await task
        finally:
            await stream.aclose()
