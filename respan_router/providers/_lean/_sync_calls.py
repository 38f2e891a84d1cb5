"""One lean attempt over urllib3: a completion, or a stream of chunks."""

from __future__ import annotations

from collections.abc import Iterator
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
from respan_router.providers._lean._sse import DONE, event_of, lines_of
from respan_router.providers._lean._state import Attempt

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["complete", "stream"]


def _transport_error(attempt: Attempt, exc: BaseException) -> BaseException:
    from urllib3.exceptions import NewConnectionError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    # urllib3's NewConnectionError (a refused connection, a failed name lookup) is a
    # ConnectTimeoutError for backward compatibility: litellm (httpx) calls it a
    # connection error, and so does this path.
    if isinstance(exc, NewConnectionError):
        return connection_error(attempt.litellm, attempt.deployment, exc)
    if isinstance(exc, Urllib3Timeout | TimeoutError):
        return timeout_error(attempt.litellm, attempt.deployment, exc)
    return connection_error(attempt.litellm, attempt.deployment, exc)


def _send(attempt: Attempt, pool: Any, *, preload: bool) -> Any:
    import urllib3

    request, seconds = attempt.request, attempt.call.timeout
    try:
        return pool.request(
            "POST",
            request.url,
            body=request.body,
            headers=dict(request.headers),
            timeout=urllib3.Timeout(connect=seconds, read=seconds),
            redirect=False,
            retries=False,
            preload_content=preload,
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        error = _transport_error(attempt, exc)
        raise mapped(error, attempt.call) from error


def _raise_status(attempt: Attempt, response: Any, raw: bytes) -> None:
    error = status_error(
        attempt.litellm,
        attempt.deployment,
        response.status,
        raw.decode("utf-8", "replace"),
        response.headers,
    )
    raise mapped(error, attempt.call) from error


def complete(attempt: Attempt, pool: Any) -> ChatCompletion:
    response = _send(attempt, pool, preload=True)
    raw: bytes = response.data
    if response.status >= 400:
        _raise_status(attempt, response, raw)
    return attempt.completion(raw, response.headers)


def _pieces(response: Any) -> Iterator[bytes]:
    if response.chunked and response.supports_chunked_reads():
        yield from response.read_chunked(decode_content=True)
        return
    while True:
        piece = response.read1()
        if not piece:
            return
        yield piece


def stream(attempt: Attempt, pool: Any) -> Iterator[ChatCompletionChunk]:
    import urllib3

    call = attempt.call
    response = _send(attempt, pool, preload=False)
    finished = False
    delivered = 0
    try:
        if response.status >= 400:
            try:
                raw = response.read()
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                error = _transport_error(attempt, exc)
                raise mapped(error, call) from error
            _raise_status(attempt, response, raw)
        decoder = ChunkDecoder(
            attempt.deployment, call.model, attempt.finish, usage=attempt.wants_usage
        )
        lines = lines_of(_pieces(response))
        while True:
            try:
                line = next(lines, None)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                error = _transport_error(attempt, exc)
                raise mapped(error, call, delivered=delivered) from error
            if line is None:
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
                try:
                    for _ in lines:  # the chunked terminator: then the connection is reusable
                        pass
                    finished = True
                except (urllib3.exceptions.HTTPError, OSError):
                    pass
                return
            if chunk is None:
                continue
            yield chunk
            delivered += 1
    finally:
        if finished:
            response.release_conn()
        else:
            response.close()
