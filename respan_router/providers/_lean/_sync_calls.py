"""One lean attempt over urllib3: a completion, or a stream of chunks.

The urllib3 driver of the sans-I/O reader (``_reading``): it sends, reads and releases;
the reader decides.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean._errors import connection_error, mapped, timeout_error
from respan_router.providers._lean._reading import END, Reader, raise_status
from respan_router.providers._lean._sse import lines_of
from respan_router.providers._lean._state import Attempt
from respan_router.providers._lean._sync_transport import Route

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["complete", "stream"]

_MEMO_LIMIT = 1024
_timeouts: dict[float | None, Any] = {}
_NO_RETRIES: Any = None


def read_errors() -> tuple[type[BaseException], ...]:
    """What a send or a read on urllib3 raises when the transport fails (an ``except``
    clause asks only once an exception is raised)."""
    import urllib3

    return (urllib3.exceptions.HTTPError, OSError)


def timed_out(exc: BaseException) -> bool:
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    return isinstance(exc, Urllib3Timeout | TimeoutError)


def transport_error(attempt: Attempt, exc: BaseException) -> BaseException:
    from urllib3.exceptions import NewConnectionError

    # urllib3's NewConnectionError (a refused connection, a failed name lookup) is a
    # ConnectTimeoutError for backward compatibility: litellm (httpx) calls it a
    # connection error, and so does this path.
    if isinstance(exc, NewConnectionError):
        return connection_error(attempt.litellm, attempt.deployment, exc)
    if timed_out(exc):
        return timeout_error(attempt.litellm, attempt.deployment, exc)
    return connection_error(attempt.litellm, attempt.deployment, exc)


def _timeout(seconds: float | None) -> Any:
    """A call's timeout as urllib3's (made once per value: each pool clones the one it is
    given before using it)."""
    found = _timeouts.get(seconds)
    if found is None:
        import urllib3

        found = urllib3.Timeout(connect=seconds, read=seconds)
        if len(_timeouts) < _MEMO_LIMIT:
            _timeouts[seconds] = found
    return found


def _no_retries() -> Any:
    """urllib3's ``retries=False, redirect=False`` as the one object it would make of them
    on every call (a ``Retry`` never changes: it is replaced as it counts)."""
    global _NO_RETRIES
    if _NO_RETRIES is None:
        import urllib3

        _NO_RETRIES = urllib3.Retry(False, redirect=False)
    return _NO_RETRIES


def _send(attempt: Attempt, route: Route, seconds: float | None) -> Any:
    import urllib3

    request = attempt.request
    headers = request.headers
    try:
        # What ``pool.request`` does for a body of bytes, without its layer; the headers
        # as they are (a pool copies them before adding its own).
        return route.opener.urlopen(
            "POST",
            route.target,
            body=request.body,
            headers=headers if type(headers) is dict else dict(headers),
            timeout=_timeout(seconds),
            redirect=False,
            assert_same_host=False,
            retries=_no_retries(),
            preload_content=False,
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = transport_error(attempt, exc)
        raise mapped(error, attempt.call) from error


def _bound(response: Any, deadline: float | None) -> None:
    """Let the next read of ``response`` wait only until ``deadline`` (monotonic)."""
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the attempt's timeout passed while its answer was read")
    connection = response.connection
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(remaining)


def _bound_each(response: Any, seconds: float | None) -> None:
    sock = getattr(response.connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)


def _read_all(attempt: Attempt, response: Any, deadline: float | None) -> bytes:
    """The whole body, read within the attempt's timeout (not a timeout per read: a body
    that trickles in never outlasts it)."""
    import urllib3

    body = bytearray()
    try:
        for piece in _pieces_within(response, deadline):
            body += piece
            if _complete(response):
                break
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        response.close()
        error = transport_error(attempt, exc)
        raise mapped(error, attempt.call) from error
    response.release_conn()
    return bytes(body)


def _complete(response: Any) -> bool:
    """Whether the whole body is read without another read: a declared length all read,
    nothing left to decode (a decoder flushes only at the empty read that ends a body)."""
    return (
        response.length_remaining == 0
        and not response.chunked
        and "content-encoding" not in response.headers
    )


def _pieces_within(response: Any, deadline: float | None) -> Iterator[bytes]:
    source = pieces(response)
    while True:
        _bound(response, deadline)
        piece = next(source, None)
        if piece is None:
            return
        yield piece


def complete(attempt: Attempt, route: Route) -> ChatCompletion:
    seconds = attempt.call.timeout
    deadline = None if seconds is None else time.monotonic() + seconds
    response = _send(attempt, route, seconds)
    raw = _read_all(attempt, response, deadline)
    if response.status >= 400:
        raise_status(attempt, response.status, raw, response.headers)
    return attempt.completion(raw, response.headers)


def pieces(response: Any) -> Iterator[bytes]:
    if response.chunked and response.supports_chunked_reads():
        yield from response.read_chunked(decode_content=True)
        return
    while True:
        piece = response.read1()
        if not piece:
            return
        yield piece


def open_stream(attempt: Attempt, route: Route) -> Any:
    """A wrapped stream's response, its status and headers read: litellm's wrapper reads
    with one timeout, as on the litellm path, so a first-chunk bound, if smaller, bounds
    every read."""
    call = attempt.call
    seconds = min(filter(None, (call.timeout, call.first_chunk_timeout)), default=None)
    return _send(attempt, route, seconds)


def stream(attempt: Attempt, route: Route) -> Iterator[ChatCompletionChunk]:
    import urllib3

    call = attempt.call
    first = call.first_chunk_timeout
    seconds = call.timeout
    if first is not None:  # the wait for the first chunk only; then the attempt's timeout
        seconds = first if seconds is None else min(seconds, first)
    deadline = None if first is None else time.monotonic() + seconds  # type: ignore[operator]
    response = _send(attempt, route, seconds)
    reader = Reader(attempt, transport_error)
    finished = False
    try:
        if response.status >= 400:
            try:
                raw = response.read()
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                reader.lost(exc)
            raise_status(attempt, response.status, raw, response.headers)
        lines = lines_of(pieces(response))
        while True:
            try:
                if deadline is not None:
                    if reader.delivered:  # the first chunk is out: each read as before
                        _bound_each(response, call.timeout)
                        deadline = None
                    else:
                        _bound(response, deadline)
                line = next(lines, None)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                reader.lost(exc)
            if line is None:
                finished = True
                return
            out = reader.feed(line)
            if out is END:
                try:
                    for _ in lines:  # the chunked terminator: then the connection is reusable
                        pass
                    finished = True
                except (urllib3.exceptions.HTTPError, OSError):
                    pass
                return
            if out is not None:
                yield out
                reader.delivered += 1
    finally:
        if finished:
            response.release_conn()
        else:
            response.close()
