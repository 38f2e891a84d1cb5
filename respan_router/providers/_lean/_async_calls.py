"""One lean attempt over aiohttp: a completion, or a stream of chunks.

The aiohttp driver of the sans-I/O reader (``_reading``): it sends, reads and releases;
the reader decides.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean._errors import connection_error, mapped, timeout_error
from respan_router.providers._lean._reading import END, Reader, raise_status
from respan_router.providers._lean._state import Attempt

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["acomplete", "astream"]

# Per-call objects that depend only on a deployment's URL or a call's timeout, made once:
# both are immutable (a ``yarl.URL``, a frozen ``aiohttp.ClientTimeout``).
_MEMO_LIMIT = 1024
_urls: dict[str, Any] = {}
_timeouts: dict[tuple[float | None, bool], Any] = {}


def read_errors() -> tuple[type[BaseException], ...]:
    """What a send or a read on aiohttp raises when the transport fails (an ``except``
    clause asks only once an exception is raised)."""
    import aiohttp

    return (TimeoutError, aiohttp.ClientError, OSError)


def timed_out(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.TimeoutError | TimeoutError)


def transport_error(attempt: Attempt, exc: BaseException) -> BaseException:
    if timed_out(exc):
        return timeout_error(attempt.litellm, attempt.deployment, exc)
    return connection_error(attempt.litellm, attempt.deployment, exc)


def _url(url: str) -> Any:
    """The URL as built (already encoded: aiohttp would otherwise decode ``%3A`` in a
    Bedrock model id, where litellm's transport sends it as is)."""
    found = _urls.get(url)
    if found is None:
        import yarl

        found = yarl.URL(url, encoded=True)
        if len(_urls) < _MEMO_LIMIT:
            _urls[url] = found
    return found


def _timeout(seconds: float | None, *, stream: bool) -> Any:
    """A call's whole time (a stream: its connect and each read) as aiohttp's timeout."""
    key = (seconds, stream)
    found = _timeouts.get(key)
    if found is None:
        import aiohttp

        if stream:
            found = aiohttp.ClientTimeout(sock_connect=seconds, sock_read=seconds)
        else:
            found = aiohttp.ClientTimeout(total=seconds)
        if len(_timeouts) < _MEMO_LIMIT:
            _timeouts[key] = found
    return found


async def acomplete(attempt: Attempt, session: Any, proxy: str | None) -> ChatCompletion:
    import aiohttp

    call, request = attempt.call, attempt.request
    try:
        # What ``async with session.post(...)`` does, without its two wrapping coroutines
        # alive for the whole request.
        response = await session.post(
            _url(request.url),
            data=request.body,
            headers=request.headers,
            timeout=_timeout(call.timeout, stream=False),
            allow_redirects=False,
            proxy=proxy,
        )
        try:
            raw = await response.read()
            status, headers = response.status, response.headers
        finally:
            response.release()
            await response.wait_for_close()
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        error = transport_error(attempt, exc)
        raise mapped(error, call) from error
    if status >= 400:
        raise_status(attempt, status, raw, headers)
    return attempt.completion(raw, headers)


async def open_stream(attempt: Attempt, session: Any, proxy: str | None) -> Any:
    """A stream's response, its status and headers read (its connect and each read
    bounded by the attempt's timeout)."""
    request = attempt.request
    try:
        return await session.post(
            _url(request.url),
            data=request.body,
            headers=request.headers,
            timeout=_timeout(attempt.call.timeout, stream=True),
            allow_redirects=False,
            proxy=proxy,
        )
    except read_errors() as exc:
        error = transport_error(attempt, exc)
        raise mapped(error, attempt.call) from error


def pieces(response: Any) -> AsyncIterator[bytes]:
    """The body's pieces as they arrive."""
    iterator: AsyncIterator[bytes] = response.content.iter_any()
    return iterator


async def astream(
    attempt: Attempt, session: Any, proxy: str | None
) -> AsyncIterator[ChatCompletionChunk]:
    import aiohttp

    response = await open_stream(attempt, session, proxy)
    reader = Reader(attempt, transport_error)
    finished = False
    try:
        if response.status >= 400:
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                reader.lost(exc)
            raise_status(attempt, response.status, raw, response.headers)
        content = response.content
        while True:
            try:
                line = await content.readline()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                reader.lost(exc)
            if not line:
                finished = True
                return
            out = reader.feed(line)
            if out is END:
                try:  # the chunked terminator: then the connection is reusable
                    await content.read()
                    finished = True
                except (TimeoutError, aiohttp.ClientError, OSError):
                    pass
                return
            if out is not None:
                yield out
                reader.delivered += 1
    finally:
        if finished:
            response.release()
        else:
            response.close()
