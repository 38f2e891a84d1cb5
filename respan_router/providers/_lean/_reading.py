"""What one lean attempt decides while it reads an answer, with no I/O (a sans-I/O core).

The two transports (urllib3 in ``_sync_calls``, aiohttp in ``_async_calls``) only send,
read lines and release connections; everything they decide is here, once: an error status
becomes the provider's error, a failed read becomes a connection or timeout error (an
interrupted stream once a chunk was delivered), and each server-sent-event line becomes a
chunk, nothing, or the end of the stream.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NoReturn

from respan_router.errors import RouterError
from respan_router.providers._lean._errors import mapped, status_error, translation_error
from respan_router.providers._lean._response import ChunkDecoder
from respan_router.providers._lean._sse import DONE, event_of
from respan_router.providers._lean._state import Attempt

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["END", "End", "Reader", "raise_status"]


class End(enum.Enum):
    """The stream's last event (``data: [DONE]``), as :meth:`Reader.feed` returns it."""

    END = "end"


END = End.END

#: A transport's own classification of a failed read: a timeout or a lost connection.
TransportError = Callable[[Attempt, BaseException], BaseException]


def raise_status(attempt: Attempt, status: int, raw: bytes, headers: Mapping[str, str]) -> NoReturn:
    """Raise the provider's error for an error ``status`` and its body ``raw``."""
    error = status_error(
        attempt.litellm, attempt.deployment, status, raw.decode("utf-8", "replace"), headers
    )
    raise mapped(error, attempt.call) from error


class Reader:
    """One streamed attempt's decisions: feed it lines, it answers chunks.

    Args:
        attempt: the attempt being read.
        transport_error: how the transport classifies a failed read.
    """

    __slots__ = ("attempt", "decoder", "delivered", "transport_error")

    def __init__(self, attempt: Attempt, transport_error: TransportError) -> None:
        self.attempt = attempt
        self.transport_error = transport_error
        self.delivered = 0  # chunks handed to the caller so far
        call = attempt.call
        self.decoder = ChunkDecoder(
            attempt.deployment, call.model, attempt.finish, usage=attempt.wants_usage
        )

    def lost(self, exc: BaseException) -> NoReturn:
        """A read failed: a timeout or connection error (interrupted after a chunk)."""
        error = self.transport_error(self.attempt, exc)
        raise mapped(error, self.attempt.call, delivered=self.delivered) from error

    def feed(self, line: bytes) -> ChatCompletionChunk | End | None:
        """A chunk to deliver, :data:`END`, or None (nothing to deliver for this line)."""
        attempt = self.attempt
        try:
            event = event_of(line)
            chunk = None if event is None or event is DONE else self.decoder.decode(event)
        except RouterError:
            raise
        except Exception as exc:
            error = translation_error(attempt.litellm, attempt.deployment, exc)
            raise mapped(error, attempt.call, delivered=self.delivered) from error
        if event is DONE:
            return END
        return chunk
