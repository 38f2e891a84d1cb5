"""Streams litellm's wrapper shapes (see ``_wrapped_stream``), over the lean transports.

Each driver sends the request on the router's pooled connection, answers an error status
as litellm's stream call for the provider does, then hands the body's pieces to the
provider's stream decoder (Anthropic: litellm's SSE lines and stream iterator; Gemini and
Vertex AI: their config's iterator over SSE lines; Bedrock: litellm's event-stream decoder,
``_bedrock_stream``) under litellm's wrapper; the wrapper's chunks and exceptions come out
as on the litellm path. The connection goes back to the pool once the body was read to its
end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, Protocol

from respan_router.providers._lean import _async_calls, _bedrock_stream, _sync_calls
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


class _Iterator(Protocol):
    def __call__(
        self, attempt: Attempt, pieces: Any, headers: Mapping[str, str], *, sync: bool
    ) -> Any: ...


class _Status(Protocol):
    def __call__(
        self, attempt: Attempt, status: int, raw: bytes, headers: Mapping[str, str], *, sync: bool
    ) -> NoReturn: ...


class _Format(NamedTuple):
    """A provider's stream decoding: its iterator over the body's pieces (for litellm's
    wrapper) and the error it raises for an error status."""

    iterator: _Iterator
    raise_status: _Status


def _anthropic_iterator(
    attempt: Attempt, pieces: Any, headers: Mapping[str, str], *, sync: bool
) -> Any:
    """litellm's Anthropic stream iterator over the body's server-sent-event lines."""
    from litellm.llms.anthropic.chat.handler import ModelResponseIterator
    from litellm.llms.custom_httpx.sse_lines import aiter_sse_lines, iter_sse_lines

    lines = iter_sse_lines(text_of(pieces)) if sync else aiter_sse_lines(atext_of(pieces))
    return ModelResponseIterator(streaming_response=lines, sync_stream=sync, json_mode=False)


def _anthropic_status(
    attempt: Attempt, status: int, raw: bytes, headers: Mapping[str, str], *, sync: bool
) -> NoReturn:
    """Raise the error litellm's Anthropic stream call raises for an error status: the
    body is the message as bytes (so litellm's message-based mapping reads it as such)."""
    from litellm.llms.anthropic.common_utils import AnthropicError

    original = AnthropicError(status_code=status, message=raw, headers=dict(headers))  # type: ignore[arg-type]
    error = translation_error(attempt.litellm, attempt.deployment, original)
    raise mapped(error, attempt.call) from error


def _config_iterator(
    attempt: Attempt, pieces: Any, headers: Mapping[str, str], *, sync: bool
) -> Any:
    """The stream iterator the deployment's config makes (``stream_iterator``: Gemini's,
    Vertex AI's) over the body's server-sent-event lines."""
    from litellm.llms.custom_httpx.sse_lines import aiter_sse_lines, iter_sse_lines

    lines = iter_sse_lines(text_of(pieces)) if sync else aiter_sse_lines(atext_of(pieces))
    optional = attempt.request.optional_params
    config = attempt.deployment.config
    return config.stream_iterator(lines, headers, sync=sync, optional_params=optional)


def _config_status(
    attempt: Attempt, status: int, raw: bytes, headers: Mapping[str, str], *, sync: bool
) -> NoReturn:
    """The error the deployment's config makes for an error status
    (``stream_status_error``), mapped as litellm's stream wrapper maps it."""
    config = attempt.deployment.config
    original = config.stream_status_error(status, raw, headers, sync=sync)
    deployment = replace(attempt.deployment, provider=config.stream_provider)
    error = translation_error(attempt.litellm, deployment, original)
    raise mapped(error, attempt.call) from error


_ANTHROPIC = _Format(_anthropic_iterator, _anthropic_status)
_CONFIG = _Format(_config_iterator, _config_status)
_FORMATS = {"bedrock": _Format(_bedrock_stream.iterator, _bedrock_stream.raise_status)}


def _format(attempt: Attempt) -> _Format:
    """Bedrock's event stream; a config's own stream reading (Gemini, Vertex AI); else
    Anthropic's server-sent events."""
    found = _FORMATS.get(attempt.deployment.provider)
    if found is not None:
        return found
    return _CONFIG if hasattr(attempt.deployment.config, "stream_iterator") else _ANTHROPIC


def stream(attempt: Attempt, pool: Any) -> Iterator[ChatCompletionChunk]:
    import urllib3

    call, decoding = attempt.call, _format(attempt)
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
            decoding.raise_status(attempt, response.status, raw, response.headers, sync=True)
        body = pieces()
        chunks = decoding.iterator(attempt, body, response.headers, sync=True)
        wrapper, events = new_wrapper(attempt, chunks)
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

    call, request, decoding = attempt.call, attempt.request, _format(attempt)
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
        iterator = decoding.iterator(attempt, body, response.headers, sync=False)
        wrapper, events = new_wrapper(attempt, iterator)
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
