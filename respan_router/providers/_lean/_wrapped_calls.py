"""Streams litellm's wrapper shapes (Anthropic's), over the lean transports.

Each driver sends the request on the router's pooled connection and answers an error
status as the other lean streams do. The body's lines are read by the router's own
translation of litellm's rules (``_anthropic_events``); when it meets what it does not
know (an error event, an unknown event, a failed read, a body cut before its end), the
lines read so far are replayed, followed by the rest of the body (or the read's
failure), into the provider's stream iterator under litellm's wrapper
(``_wrapped_stream``), and the chunks already delivered are skipped: the stream goes on
as on the litellm path, its chunks and exceptions litellm's. The connection goes back to
the pool once the body was read to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from respan_router.providers._lean import _async_calls, _sync_calls
from respan_router.providers._lean._anthropic_events import Delegate, EventStream
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


def _iterator(attempt: Attempt, lines: Any, *, sync: bool) -> Any:
    """The provider's own stream iterator over ``lines`` (Anthropic's)."""
    from litellm.llms.anthropic.chat.handler import ModelResponseIterator

    return ModelResponseIterator(streaming_response=lines, sync_stream=sync, json_mode=False)


def _own(attempt: Attempt) -> EventStream:
    """The router's own reading of this stream's events (litellm's rules)."""
    return EventStream(attempt.deployment.model, attempt.finish, usage=attempt.wants_usage)


def _fed(own: EventStream, line: str) -> ChatCompletionChunk | None:
    try:
        return own.feed(line)
    except Delegate:
        raise
    except Exception as exc:  # whatever the own reading did not expect: litellm's reader
        raise Delegate from exc


def _ended(own: EventStream) -> ChatCompletionChunk | None:
    try:
        return own.end()
    except Delegate:
        raise
    except Exception as exc:
        raise Delegate from exc


def _replay(seen: list[str], failure: Exception | None, rest: Iterator[str]) -> Iterator[str]:
    """The lines read so far, then the read's failure or the lines still to come."""
    yield from seen
    if failure is not None:
        raise failure
    yield from rest


async def _areplay(
    seen: list[str], failure: Exception | None, rest: AsyncIterator[str]
) -> AsyncIterator[str]:
    for line in seen:
        yield line
    if failure is not None:
        raise failure
    async for line in rest:
        yield line


def _same_stream(chunk: ChatCompletionChunk, own: EventStream) -> ChatCompletionChunk:
    """A chunk of litellm's reader under the id and time the stream started with."""
    if own.delivered:
        chunk.id, chunk.created = own.id, own.created
    return chunk


def raise_status(attempt: Attempt, status: int, raw: bytes, headers: Any) -> NoReturn:
    """Raise the error litellm's Anthropic stream call raises for an error status: the
    body is the message as bytes (so litellm's message-based mapping reads it as such)."""
    from litellm.llms.anthropic.common_utils import AnthropicError

    original = AnthropicError(status_code=status, message=raw, headers=dict(headers))  # type: ignore[arg-type]
    error = translation_error(attempt.litellm, attempt.deployment, original)
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
        own = _own(attempt)
        failure: Exception | None = None
        try:
            while True:
                try:
                    line = next(lines)
                except StopIteration:
                    break
                except Exception as exc:  # a failed read: litellm's reader maps it
                    failure = exc
                    raise Delegate from exc
                chunk = _fed(own, line)
                if chunk is not None:
                    yield chunk
            last = _ended(own)
            if last is not None:
                yield last
            return
        except Delegate:
            pass
        delivered = skip = own.delivered
        replayed = _replay(own.lines, failure, lines)
        wrapper, events = new_wrapper(attempt, _iterator(attempt, replayed, sync=True))
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
            raw = events.take()
            if skip:  # delivered already, by the router's own reading
                skip -= 1
                continue
            yield _same_stream(chunk_of(chunk, raw), own)
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
            raise_status(attempt, response.status, raw, response.headers)
        body = pieces()
        lines = aiter_sse_lines(atext_of(body))
        own = _own(attempt)
        failure: Exception | None = None
        try:
            while True:
                try:
                    line = await lines.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:  # a failed read: litellm's reader maps it
                    failure = exc
                    raise Delegate from exc
                chunk = _fed(own, line)
                if chunk is not None:
                    yield chunk
            last = _ended(own)
            if last is not None:
                yield last
            return
        except Delegate:
            pass
        delivered = skip = own.delivered
        replayed = _areplay(own.lines, failure, lines)
        wrapper, events = new_wrapper(attempt, _iterator(attempt, replayed, sync=False))
        chunks = wrapper.__aiter__()
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
            raw = events.take()
            if skip:
                skip -= 1
                continue
            yield _same_stream(chunk_of(chunk, raw), own)
            delivered += 1
    finally:
        if finished:
            response.release()
        else:
            response.close()
