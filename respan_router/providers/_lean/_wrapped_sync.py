# Generated from _wrapped_async.py by scripts/unasync.py: edit that file, not this one.
"""One wrapped stream over the lean transport (see ``_wrapped_calls``).

Written once, async (``_wrapped_async``); the sync form (``_wrapped_sync``, over urllib3)
is generated from it by ``scripts/unasync.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean import _sync_calls as _calls
from respan_router.providers._lean._delegate import Delegate
from respan_router.providers._lean._errors import mapped
from respan_router.providers._lean._state import Attempt
from respan_router.providers._lean._stream_formats import format_of
from respan_router.providers._lean._wrapped_calls import ended, fed, same_stream
from respan_router.providers._lean._wrapped_stream import cut_error, new_wrapper, text_of
from respan_router.providers._litellm_response import chunk_of

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["stream"]

_SYNC = True


def replay(
    seen: list[Any], failure: Exception | None, rest: Iterator[Any]
) -> Iterator[Any]:
    """The lines read so far, then the read's failure or the lines still to come."""
    yield from seen
    if failure is not None:
        raise failure
    yield from rest


def stream(
    attempt: Attempt, route: Any
) -> Iterator[ChatCompletionChunk]:
    from litellm.llms.custom_httpx.sse_lines import iter_sse_lines

    call, decoding = attempt.call, format_of(attempt)
    response = _calls.open_stream(
        attempt, route
    )
    finished = False

    def pieces() -> Iterator[bytes]:
        nonlocal finished
        read = _calls.pieces(response)
        try:
            yield from read
        except _calls.read_errors() as exc:
            raise cut_error(exc, timeout=_calls.timed_out(exc)) from exc
        finished = True

    try:
        if response.status >= 400:
            try:
                raw = response.read()
            except _calls.read_errors() as exc:
                error = _calls.transport_error(attempt, exc)
                raise mapped(error, call) from error
            decoding.raise_status(attempt, response.status, raw, response.headers, sync=_SYNC)
        body = pieces()
        source: Any = iter_sse_lines(text_of(body)) if decoding.lines else body
        own = decoding.own(attempt, response.headers) if decoding.own is not None else None
        failure: Exception | None = None
        if own is not None:
            try:
                while True:
                    try:
                        line = source.__next__()
                    except StopIteration:
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
            source = replay(own.lines, failure, source)
        delivered = skip = own.delivered if own is not None else 0
        iterator = decoding.iterator(attempt, source, response.headers, sync=_SYNC)
        wrapper, events = new_wrapper(attempt, iterator)
        chunks = wrapper.__iter__()
        while True:
            try:
                chunk = chunks.__next__()
            except StopIteration:
                with contextlib.suppress(Exception):
                    for _ in body:  # what the wrapper left unread: the connection is free
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
            response.release_conn()
        else:
            response.close()
