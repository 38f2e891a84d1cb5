"""One wrapped stream over the lean transport (see ``_wrapped_calls``).

Written once, async (``_wrapped_async``); the sync form (``_wrapped_sync``, over urllib3)
is generated from it by ``scripts/unasync.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean import _async_calls as _calls
from respan_router.providers._lean._delegate import Delegate
from respan_router.providers._lean._errors import mapped
from respan_router.providers._lean._state import Attempt
from respan_router.providers._lean._stream_formats import format_of
from respan_router.providers._lean._wrapped_calls import ended, fed, same_stream
from respan_router.providers._lean._wrapped_stream import atext_of, cut_error, new_wrapper
from respan_router.providers._litellm_response import chunk_of

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["astream"]  # unasync: __all__ = ["stream"]

_SYNC = False  # unasync: _SYNC = True


async def areplay(
    seen: list[Any], failure: Exception | None, rest: AsyncIterator[Any]
) -> AsyncIterator[Any]:
    """The lines read so far, then the read's failure or the lines still to come."""
    for line in seen:  # unasync: yield from seen
        yield line  # unasync: remove
    if failure is not None:
        raise failure
    async for line in rest:  # unasync: yield from rest
        yield line  # unasync: remove


async def astream(  # unasync: def stream(
    attempt: Attempt, session: Any, proxy: str | None  # unasync: attempt: Attempt, route: Any
) -> AsyncIterator[ChatCompletionChunk]:
    from litellm.llms.custom_httpx.sse_lines import aiter_sse_lines

    call, decoding = attempt.call, format_of(attempt)
    response = await _calls.open_stream(  # unasync: response = _calls.open_stream(
        attempt, session, proxy  # unasync: attempt, route
    )
    finished = False

    async def pieces() -> AsyncIterator[bytes]:
        nonlocal finished
        read = _calls.pieces(response)
        try:
            async for piece in read:  # unasync: yield from read
                yield piece  # unasync: remove
        except _calls.read_errors() as exc:
            raise cut_error(exc, timeout=_calls.timed_out(exc)) from exc
        finished = True

    try:
        if response.status >= 400:
            try:
                raw = await response.read()
            except _calls.read_errors() as exc:
                error = _calls.transport_error(attempt, exc)
                raise mapped(error, call) from error
            decoding.raise_status(attempt, response.status, raw, response.headers, sync=_SYNC)
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
                    for chunk in fed(own, line):
                        yield chunk
                last = ended(own)
                if last is not None:
                    yield last
                return
            except Delegate:
                pass
            source = areplay(own.lines, failure, source)
        delivered = skip = own.delivered if own is not None else 0
        iterator = decoding.iterator(attempt, source, response.headers, sync=_SYNC)
        wrapper, events = new_wrapper(attempt, iterator)
        chunks = wrapper.__aiter__()
        while True:
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                with contextlib.suppress(Exception):
                    async for _ in body:  # what the wrapper left unread: the connection is free
                        pass
                return
            except Exception as exc:
                raise mapped(exc, call, delivered=delivered) from exc
            raw = events.take()
            if skip:  # delivered already, by the router's own reading
                skip -= 1
                continue
            yield same_stream(chunk_of(chunk, raw), own)
            delivered += 1
    finally:
        if finished:
            response.release()  # unasync: response.release_conn()
        else:
            response.close()
