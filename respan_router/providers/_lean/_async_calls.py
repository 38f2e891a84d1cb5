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


def _transport_error(attempt: Attempt, exc: BaseException) -> BaseException:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return timeout_error(attempt.litellm, attempt.deployment, exc)
    return connection_error(attempt.litellm, attempt.deployment, exc)


def _url(url: str) -> Any:
    """The URL as built (already encoded: aiohttp would otherwise decode ``%3A`` in a
    Bedrock model id, where litellm's transport sends it as is)."""
    import yarl

    return yarl.URL(url, encoded=True)


async def acomplete(attempt: Attempt, session: Any, proxy: str | None) -> ChatCompletion:
    import aiohttp

    call, request = attempt.call, attempt.request
    timeout = aiohttp.ClientTimeout(total=call.timeout)
    try:
        async with session.post(
            _url(request.url),
            data=request.body,
            headers=request.headers,
            timeout=timeout,
            allow_redirects=False,
            proxy=proxy,
        ) as response:
            raw = await response.read()
            status, headers = response.status, response.headers
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        error = _transport_error(attempt, exc)
        raise mapped(error, call) from error
    if status >= 400:
        raise_status(attempt, status, raw, headers)
    return attempt.completion(raw, headers)


async def astream(
    attempt: Attempt, session: Any, proxy: str | None
) -> AsyncIterator[ChatCompletionChunk]:
    import aiohttp

    call, request = attempt.call, attempt.request
    timeout = aiohttp.ClientTimeout(sock_connect=call.timeout, sock_read=call.timeout)
    try:
        response = await session.post(
            _url(request.url),
            data=request.body,
            headers=request.headers,
            timeout=timeout,
            allow_redirects=False,
            proxy=proxy,
        )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        error = _transport_error(attempt, exc)
        raise mapped(error, call) from error
    reader = Reader(attempt, _transport_error)
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
