"""How each wrapped provider's stream body is read (see ``_wrapped_calls``).

A format names what the drivers hand litellm's stream wrapper: the body as server-sent
event lines (Anthropic, Gemini, Vertex AI) or as raw pieces (Bedrock's binary event
stream); the provider's stream iterator over that source; the error litellm's stream call
raises for an error status; and, where the router reads the events itself (Anthropic's
``_anthropic_events``, Gemini's ``_gemini_events``, Bedrock's ``_converse_events``), the
reader to try first, made for the response's headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, Protocol

from respan_router.providers._lean import _bedrock_stream
from respan_router.providers._lean._anthropic_events import EventStream
from respan_router.providers._lean._errors import mapped, translation_error
from respan_router.providers._lean._state import Attempt

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["OwnReading", "StreamFormat", "format_of"]


class OwnReading(Protocol):
    """The router's own reading of a stream (a sans-I/O core): per line a chunk or none
    (server-sent events), or per piece of the body the chunks of its whole frames
    (Bedrock's event stream); one at the body's end or none; ``Delegate`` when litellm's
    reader must go on. ``lines`` keeps what was fed, for the replay."""

    lines: list[Any]
    id: str
    created: int

    @property
    def delivered(self) -> int: ...

    def feed(self, item: Any, /) -> ChatCompletionChunk | list[ChatCompletionChunk] | None: ...

    def end(self) -> ChatCompletionChunk | None: ...


class _Iterator(Protocol):
    def __call__(
        self, attempt: Attempt, source: Any, headers: Mapping[str, str], /, *, sync: bool
    ) -> Any: ...


class _Status(Protocol):
    def __call__(
        self,
        attempt: Attempt,
        status: int,
        raw: bytes,
        headers: Mapping[str, str],
        /,
        *,
        sync: bool,
    ) -> NoReturn: ...


class StreamFormat(NamedTuple):
    """A provider's stream decoding (see the module's docstring)."""

    lines: bool  # the iterator reads server-sent-event lines, else the body's pieces
    iterator: _Iterator
    raise_status: _Status
    own: Callable[[Attempt, Mapping[str, str]], OwnReading | None] | None = None


def _anthropic_iterator(
    attempt: Attempt, lines: Any, headers: Mapping[str, str], *, sync: bool
) -> Any:
    """litellm's Anthropic stream iterator over the body's lines."""
    from litellm.llms.anthropic.chat.handler import ModelResponseIterator

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


def _anthropic_events(attempt: Attempt, headers: Mapping[str, str]) -> EventStream:
    """The router's own reading of an Anthropic stream's events (litellm's rules)."""
    return EventStream(attempt.deployment.model, attempt.finish, usage=attempt.wants_usage)


def _config_iterator(
    attempt: Attempt, lines: Any, headers: Mapping[str, str], *, sync: bool
) -> Any:
    """The stream iterator the deployment's config makes (``stream_iterator``: Gemini's,
    Vertex AI's) over the body's lines."""
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


_ANTHROPIC = StreamFormat(True, _anthropic_iterator, _anthropic_status, _anthropic_events)


def _config_events(attempt: Attempt, headers: Mapping[str, str]) -> OwnReading:
    """The router's own reading the deployment's config makes (``events``: Gemini's,
    Vertex AI's)."""
    config = attempt.deployment.config
    reading: OwnReading = config.events(attempt.deployment.model, attempt.wants_usage, headers)
    return reading


_CONFIG = StreamFormat(True, _config_iterator, _config_status, _config_events)
_BEDROCK = StreamFormat(
    False, _bedrock_stream.iterator, _bedrock_stream.raise_status, _bedrock_stream.events
)


def format_of(attempt: Attempt) -> StreamFormat:
    """Bedrock's event stream; a config's own stream reading (Gemini, Vertex AI); else
    Anthropic's server-sent events."""
    if attempt.deployment.provider == "bedrock":
        return _BEDROCK
    return _CONFIG if hasattr(attempt.deployment.config, "stream_iterator") else _ANTHROPIC
