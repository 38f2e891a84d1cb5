"""One lean attempt over aiohttp: a completion, or a stream of chunks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from respan_router.errors import RouterError
from respan_router.providers._lean._errors import (
    connection_error,
    mapped,
    status_error,
    timeout_error,
    translation_error,
)
from respan_router.providers._lean._response import ChunkDecoder
from respan_router.providers._lean._sse import DONE, event_of
from respan_router.providers._lean._state import Attempt

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["acomplete", "astream"]


def _transport_error(attempt: Attempt, exc: BaseException) -> BaseException:
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return timeout_error(attempt.litellm, attempt.deployment, exc)
    return connection_error(attempt.litellm, attempt.deployment, exc)


async def acomplete(attempt: Attempt, session: Any, proxy: str | None) -> ChatCompletion:
    import aiohttp

    call, request = attempt.call, attempt.request
    timeout = aiohttp.ClientTimeout(total=call.timeout)
    try:
        async with session.post(
            request.url,
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
        error = status_error(
            attempt.litellm, attempt.deployment, status, raw.decode("utf-8", "replace"), headers
        )
        raise mapped(error, call) from error
    return attempt.completion(raw, headers)


async def astream(
    attempt: Attempt, session: Any, proxy: str | None
) -> AsyncIterator[ChatCompletionChunk]:
    import aiohttp

    call, request = attempt.call, attempt.request
    timeout = aiohttp.ClientTimeout(sock_connect=call.timeout, sock_read=call.timeout)
    try:
        response = await session.post(
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=timeout,
            allow_redirects=False,
            proxy=proxy,
        )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        error = _transport_error(attempt, exc)
        raise mapped(error, call) from error
    finished = False
    delivered = 0
    try:
        if response.status >= 400:
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                error = _transport_error(attempt, exc)
                raise mapped(error, call) from error
            error = status_error(
                attempt.litellm,
                attempt.deployment,
                response.status,
                raw.decode("utf-8", "replace"),
                response.headers,
            )
            raise mapped(error, call) from error
        decoder = ChunkDecoder(
            attempt.deployment, call.model, attempt.finish, usage=attempt.wants_usage
        )
        content = response.content
        while True:
            try:
                line = await content.readline()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                error = _transport_error(attempt, exc)
                raise mapped(error, call, delivered=delivered) from error
            if not line:
                finished = True
                return
            try:
                event = event_of(line)
                chunk = None if event is None or event is DONE else decoder.decode(event)
            except RouterError:
                raise
            except Exception as exc:
                error = translation_error(attempt.litellm, attempt.deployment, exc)
                raise mapped(error, call, delivered=delivered) from error
            if event is None:
                continue
            if event is DONE:
                try:  # the chunked terminator: then the connection is reusable
                    await content.read()
                    finished = True
                except (TimeoutError, aiohttp.ClientError, OSError):
                    pass
                return
            if chunk is None:
                continue
            yield chunk
            delivered += 1
    finally:
        if finished:
            response.release()
        else:
            response.close()
