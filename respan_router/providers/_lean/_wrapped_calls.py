"""Streams litellm's wrapper shapes, over the lean transports: what the drivers share.

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

The drivers are written once, async (``_wrapped_async``, over aiohttp); the sync form
(``_wrapped_sync``, over urllib3) is generated from it by ``scripts/unasync.py``. What
differs between the two transports (sending, reading a piece of the body, which errors a
read raises) is each transport module's own (``_async_calls``, ``_sync_calls``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean._delegate import Delegate
from respan_router.providers._lean._stream_formats import OwnReading

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["ended", "fed", "same_stream"]


def fed(own: OwnReading, item: Any) -> Sequence[ChatCompletionChunk]:
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


def ended(own: OwnReading) -> ChatCompletionChunk | None:
    try:
        return own.end()
    except Delegate:
        raise
    except Exception as exc:
        raise Delegate from exc


def same_stream(chunk: ChatCompletionChunk, own: OwnReading | None) -> ChatCompletionChunk:
    """A chunk of litellm's reader under the id and time the stream started with."""
    if own is not None and own.delivered:
        chunk.id, chunk.created = own.id, own.created
    return chunk
