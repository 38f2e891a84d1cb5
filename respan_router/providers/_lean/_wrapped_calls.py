"""Streams litellm's wrapper shapes (see ``_wrapped_stream``), over the lean transports.

Each driver sends the request on the router's pooled connection, answers an error status
as the other lean streams do, then hands the body's lines to the provider's stream
iterator under litellm's wrapper; the wrapper's chunks and exceptions come out as on the
litellm path. The connection goes back to the pool once the body was read to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

from respan_router.providers._lean import _async_calls, _sync_calls
from respan_router.providers._lean._errors import mapped, translation_error
from respan_router.providers._lean._state import Attempt
from respan_router.providers._lean._wrapped_stream import (
    atext_of,
    cut_error,
    new_wrapper,
    text_of,
)
from respan_router.providers._litellm_response import chunk_of

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["astream", "stream"]


def _iterator(attempt: Attempt, lines: Any, headers: Any, *, sync: bool) -> Any:
    """The provider's own stream iterator over ``lines``: the one its deployment's config
    makes (``stream_iterator``), else Anthropic's."""
    config = attempt.deployment.config
    if hasattr(config, "stream_iterator"):
        optional = attempt.request.optional_params
        return config.stream_iterator(lines, headers, sync=sync, optional_params=optional)
    from litellm.llms.anthropic.chat.handler import ModelResponseIterator

    return ModelResponseIterator(streaming_response=lines, sync_stream=sync, json_mode=False)


def raise_status(
    attempt: Attempt, status: int, raw: bytes, headers: Any, *, sync: bool = True
) -> NoReturn:
    """Raise the error litellm's stream call raises for an error status: the one the
    deployment's config makes (``stream_status_error``, mapped as litellm's stream wrapper
    maps it), else Anthropic's (the body is the message as bytes, so litellm's
    message-based mapping reads it as such)."""
    from litellm.llms.anthropic.common_utils import AnthropicError

    config, deployment = attempt.deployment.config, attempt.deployment
    original: Exception
    if hasattr(config, "stream_status_error"):
        original = config.stream_status_error(status, raw, headers, sync=sync)
        deployment = replace(deployment, provider=config.stream_provider)
    else:
        original = AnthropicError(status_code=status, message=raw, headers=dict(headers))  # type: ignore[arg-type]
    error = translation_error(attempt.litellm, deployment, original)
    raise mapped(error, attempt.call) from error


def stream(attempt: Attempt, pool: Any) -> Iterator[ChatCompletionChunk]:
    import urllib3
    from litellm.llms.custom_httpx.sse_lines import iter_sse_lines

    call = attempt.call
    # litellm's wrapper reads with one timeout, as on the litellm path: a first-chunk
    # bound, if smaller, bounds every read here too.
    seconds = min(filter(None, (call.timeout, call.first_chunk_timeout)), default=None)
    response = _sync_calls._send(attempt, pool, seconds)
    finished = False

    def pieces() -> Iterator[bytes]:
        nonlocal finished
        try:
            yield from _sync_calls._pieces(response)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            timeout = isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError)
            raise cut_error(exc, timeout=timeout) from exc
        finished = True

    try:
        if response.status >= 400:
            try:
                raw = response.read()
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                error = _sync_calls._transport_error(attempt, exc)
                raise mapped(error, call) from error
            raise_status(attempt, response.status, raw, response.headers)
        body = pieces()
        lines = iter_sse_lines(text_of(body))
        wrapper, events = new_wrapper(
            attempt, _iterator(attempt, lines, response.headers, sync=True)
        )
        delivered = 0
        while True:
            try:
                chunk = next(wrapper)
            except StopIteration:
                with contextlib.suppress(Exception):
                    for _ in body:  # what the wrapper left unread: then the connection is free
                        pass
                return
            except Exception as exc:
                raise mapped(exc, call, delivered=delivered) from exc
            yield chunk_of(chunk, events.take())
            delivered += 1
    finally:
        if finished:
            response.release_conn()
        else:
            response.close()


async def astream(
    attempt: Attempt, session: Any, proxy: str | None
) -> AsyncIterator[ChatCompletionChunk]:
    import aiohttp
    from litellm.llms.custom_httpx.sse_lines import aiter_sse_lines

    call, request = attempt.call, attempt.request
    timeout = aiohttp.ClientTimeout(sock_connect=call.timeout, sock_read=call.timeout)
    try:
        response = await session.post(
            _async_calls._url(request.url),
            data=request.body,
            headers=request.headers,
            timeout=timeout,
            allow_redirects=False,
            proxy=proxy,
        )
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        error = _async_calls._transport_error(attempt, exc)
        raise mapped(error, call) from error
    finished = False

    async def pieces() -> AsyncIterator[bytes]:
        nonlocal finished
        try:
            async for piece in response.content.iter_any():
                yield piece
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            timeout = isinstance(exc, asyncio.TimeoutError | TimeoutError)
            raise cut_error(exc, timeout=timeout) from exc
        finished = True

    try:
        if response.status >= 400:
            try:
                raw = await response.read()
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                error = _async_calls._transport_error(attempt, exc)
                raise mapped(error, call) from error
            raise_status(attempt, response.status, raw, response.headers, sync=False)
        body = pieces()
        lines = aiter_sse_lines(atext_of(body))
        wrapper, events = new_wrapper(
            attempt, _iterator(attempt, lines, response.headers, sync=False)
        )
        chunks = wrapper.__aiter__()
        delivered = 0
        while True:
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                with contextlib.suppress(Exception):
                    async for _ in body:  # what the wrapper left unread
                        pass
                return
            except Exception as exc:
                raise mapped(exc, call, delivered=delivered) from exc
            yield chunk_of(chunk, events.take())
            delivered += 1
    finally:
        if finished:
            response.release()
        else:
            response.close()
