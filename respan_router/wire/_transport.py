"""The Router as an HTTP transport: ``OpenAI(http_client=Client(transport=...))``.

The OpenAI SDK sends its request to the transport, which reads it into a Router call
(:mod:`._parse`), runs it through ``complete`` / ``acomplete`` and hands back the response
the gateway would send (:mod:`._render`, :mod:`._errors`); no socket is opened. A
stream's response body iterates the Router's stream; closing the response closes it.

openai 2.x speaks ``httpx`` and openai 3.x ``httpx2`` (the same API under another name):
the transport classes are built once per HTTP package, over its base classes, and
:func:`http_module` names the one the installed SDK uses.

A router error becomes the status and OpenAI's error body; the error object itself rides
on the request and the response as ``extensions["respan_router.error"]``, so
:func:`respan_router.wire.router_error` finds it from the SDK's exception. Anything
else a call raises (a bug) propagates, and the SDK reports it as a connection error with
the exception as ``__cause__``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import Any

from respan_router.errors import RouterError
from respan_router.responses import completion_type
from respan_router.wire._errors import ERROR_KEY, error_headers, error_json
from respan_router.wire._parse import WireCall, read_call
from respan_router.wire._render import (
    DONE,
    SSE_HEADERS,
    completion_json,
    event,
    json_headers,
    models_json,
    stream_error_event,
)

__all__ = ["http_module", "transport_classes"]


@cache
def http_module() -> Any:
    """The HTTP package of the installed OpenAI SDK (``httpx`` or ``httpx2``)."""
    import openai

    base = openai.DefaultHttpxClient.__mro__[1]
    return importlib.import_module(base.__module__.partition(".")[0])


def _read(request: Any, body: bytes) -> WireCall:
    timeout = (request.extensions.get("timeout") or {}).get("read")
    url = request.url
    return read_call(request.method, url.path, url.query, request.headers.raw, body, timeout)


def _json(h: Any, request: Any, status: int, headers: Any, body: bytes, **kw: Any) -> Any:
    # A ByteStream and raw headers: httpx's own encoding of ``content=`` costs ~7x more.
    return h.Response(status, headers=headers, stream=h.ByteStream(body), request=request, **kw)


def _failed(h: Any, request: Any, error: RouterError) -> Any:
    request.extensions[ERROR_KEY] = error
    body = error_json(error)
    headers = [*error_headers(error), (b"content-length", b"%d" % len(body))]
    return _json(h, request, error.status_code, headers, body, extensions={ERROR_KEY: error})


def _answer(h: Any, request: Any, call: WireCall, result: Any, stream: Any) -> Any:
    if call.kind == "models":
        body = models_json(result)
    elif isinstance(result, completion_type()):
        body = completion_json(result)
    else:
        return h.Response(200, headers=SSE_HEADERS, stream=stream(result, request), request=request)
    return _json(h, request, 200, json_headers(body), body)


@cache
def transport_classes(h: Any) -> tuple[type[Any], type[Any]]:
    """The sync and async transport classes over HTTP package ``h``."""

    class _Events(h.SyncByteStream):  # type: ignore[misc]
        def __init__(self, stream: Any, request: Any) -> None:
            self._stream, self._request = stream, request

        def __iter__(self) -> Iterator[bytes]:
            try:
                for chunk in self._stream:
                    yield event(chunk)
            except RouterError as error:
                self._request.extensions[ERROR_KEY] = error
                yield stream_error_event(error)
                return
            yield DONE

        def close(self) -> None:
            self._stream.close()

    class _AsyncEvents(h.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, stream: Any, request: Any) -> None:
            self._stream, self._request = stream, request

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self._stream:
                    yield event(chunk)
            except RouterError as error:
                self._request.extensions[ERROR_KEY] = error
                yield stream_error_event(error)
                return
            yield DONE

        async def aclose(self) -> None:
            await self._stream.aclose()

    class RouterTransport(h.BaseTransport):  # type: ignore[misc]
        """Serves the gateway's chat completion and models routes from a Router."""

        def __init__(self, router: Any) -> None:
            self._router = router

        def handle_request(self, request: Any) -> Any:
            try:
                call = _read(request, request.read())
                if call.kind == "models":
                    return _answer(h, request, call, self._router.config, _Events)
                result = self._router.complete(**call.params)
            except RouterError as error:
                return _failed(h, request, error)
            return _answer(h, request, call, result, _Events)

    class AsyncRouterTransport(h.AsyncBaseTransport):  # type: ignore[misc]
        """The async twin of ``RouterTransport``, over ``acomplete``."""

        def __init__(self, router: Any) -> None:
            self._router = router

        async def handle_async_request(self, request: Any) -> Any:
            try:
                call = _read(request, await request.aread())
                if call.kind == "models":
                    return _answer(h, request, call, self._router.config, _AsyncEvents)
                result = await self._router.acomplete(**call.params)
            except RouterError as error:
                return _failed(h, request, error)
            return _answer(h, request, call, result, _AsyncEvents)

    return RouterTransport, AsyncRouterTransport
