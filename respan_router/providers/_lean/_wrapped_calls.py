"""Streams litellm's wrapper shapes, over the lean transports.

Each driver sends the request on the router's pooled connection and answers an error
status as litellm's stream call for the provider does (``_stream_formats``). The body goes
to the provider's stream iterator under litellm's wrapper (``_wrapped_stream``): as
server-sent-event lines (Anthropic, Gemini, Vertex AI) or raw pieces (Bedrock's event
stream). Where the router reads the events itself (Anthropic's ``_anthropic_events``,
Bedrock's ``_converse_events``), it reads them first; when it meets what it does not know
(an error event, an unknown event, a failed read, a body cut before its end), the lines
(or pieces) read so far are replayed, followed by the rest of the body (or the read's
failure), into the provider's iterator, and the chunks already delivered are skipped: the
stream goes on as on the litellm path, its chunks and exceptions litellm's. The connection
goes back to the pool once the body was read to its end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean import _async_calls, _sync_calls
from respan_router.providers._lean._delegate import Delegate
from respan_router.providers._lean._errors import mapped
from respan_router.providers._lean._state import Attempt
from respan_router.providers._lean._stream_formats import OwnReading, format_of
from respan_router.providers._lean._sync_transport import Route
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


def _fed(own: OwnReading, item: Any) -> Sequence[ChatCompletionChunk]:
    """The chunks of one line (Anthropic's and Gemini's readers: one chunk or None) or one
    piece of the body (Bedrock's: the chunks of its whole frames)."""
    try:
        found = own.feed(item)
    except Delegate:
        raise
    except Exception as exc:  # whatever the own reading did not expect: litellm's reader
        raise Delegate from exc
    if found is None:
        return ()
    return found if isinstance(found, list) else (found,)


def _ended(own: OwnReading) -> ChatCompletionChunk | None:
    try:
        return own.end()
    except Delegate:
        raise
    except Exception as exc:
        raise Delegate from exc


def _replay(seen: list[Any], failure: Exception | None, rest: Iterator[Any]) -> Iterator[Any]:
    """The lines read so far, then the read's failure or the lines still to come."""
    yield from seen
    if failure is not None:
        raise failure
    yield from rest


async def _areplay(
    seen: list[Any], failure: Exception | None, rest: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    for line in seen:
        yield line
    if failure is not None:
        raise failure
    async for line in rest:
        yield line


def _same_stream(chunk: ChatCompletionChunk, own: OwnReading | None) -> ChatCompletionChunk:
    """A chunk of litellm's reader under the id and time the stream started with."""
    if own is not None and own.delivered:
        chunk.id, chunk.created = own.id, own.created
    return chunk


def stream(attempt: Attempt, route: Route) -> Iterator[ChatCompletionChunk]:
    import urllib3
    from litellm.llms.custom_httpx.sse_lines import iter_sse_lines

    call, decoding = attempt.call, format_of(attempt)
    # litellm's wrapper reads with one timeout, as on the litellm path: a first-chunk
    # bound, if smaller, bounds every read here too.
    seconds = min(filter(None, (call.timeout, call.first_chunk_timeout)), default=None)
    response = _sync_calls._send(attempt, route, seconds)
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
            decoding.raise_status(attempt, response.status, raw, response.headers, sync=True)
        body = pieces()
        source: Any = iter_sse_lines(text_of(body)) if decoding.lines else body
        own = decoding.own(attempt, response.headers) if decoding.own is not None else None
        failure: Exception | None = None
        if own is not None:
            try:
                while True:
                    try:
                        line = next(source)
                    except StopIteration:
                        break
                    except Exception as exc:  # a failed read: litellm's reader maps it
                        failure = exc
                        raise Delegate from exc
                    for chunk in _fed(own, line):
                        yield chunk
                last = _ended(own)
                if last is not None:
                    yield last
                return
            except Delegate:
                pass
            source = _replay(own.lines, failure, source)
        delivered = skip = own.delivered if own is not None else 0
        iterator = decoding.iterator(attempt, source, response.headers, sync=True)
        wrapper, events = new_wrapper(attempt, iterator)
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

    call, request, decoding = attempt.call, attempt.request, format_of(attempt)
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
            decoding.raise_status(attempt, response.status, raw, response.headers, sync=False)
        body = pieces()
        source: Any = aiter_sse_lines(atext_of(body)) if decoding.lines else body
        own = decoding.own(attempt, response.headers) if decoding.own is not None else None
        failure: Exception | None = None
        if own is not None:
            try:
                while True:
                    try:
                        line = await source.__anext__()
                    except StopAsyncIteration:
                        break
                    except Exception as exc:  # a failed read: litellm's reader maps it
                        failure = exc
                        raise Delegate from exc
                    for chunk in _fed(own, line):
                        yield chunk
                last = _ended(own)
                if last is not None:
                    yield last
                return
            except Delegate:
                pass
            source = _areplay(own.lines, failure, source)
        delivered = skip = own.delivered if own is not None else 0
        iterator = decoding.iterator(attempt, source, response.headers, sync=False)
        wrapper, events = new_wrapper(attempt, iterator)
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
