"""Bedrock's ConverseStream on the lean path: AWS's binary event stream.

The router reads the events itself first (``_converse_events``: litellm's rules for the
events it knows), unless the caller asked for the usage chunk. What it does not know goes
to litellm's own ``AWSEventStreamDecoder``, the body replayed from its first byte, as on
the litellm path: botocore's ``EventStreamBuffer`` cuts the bytes into frames as they
arrive (a frame may span reads, a read may hold several), each frame's CRCs are checked,
an exception frame (``throttlingException``, ``modelStreamErrorException``, ...) becomes
litellm's ``BedrockError`` with the status botocore's model gives it, and each event's
JSON becomes a chunk through the decoder's Converse chunk parser. Neither reader does I/O:
they read pieces of bytes from an iterator, synchronous or asynchronous, which the two
transports' drivers (``_wrapped_calls``) fill from the pooled connection; litellm's stream
wrapper shapes the decoder's chunks, as for Anthropic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from respan_router.providers._lean._converse_events import ConverseEvents
from respan_router.providers._lean._errors import mapped, translation_error
from respan_router.providers._lean._state import Attempt

__all__ = ["decodable", "events", "iterator", "raise_status"]


def decodable() -> bool:
    """Whether botocore, which litellm's decoder needs, can be imported (else the stream
    goes through litellm)."""
    try:
        import botocore.eventstream  # noqa: F401
    except ImportError:
        return False
    return True


def events(attempt: Attempt, headers: Mapping[str, str]) -> ConverseEvents | None:
    """The router's own reading of the stream's events, or None: with the usage chunk
    asked for (the chunk's usage and cost are litellm's stream builder's), or with
    litellm's post-call rules set (its wrapper runs them on every chunk), litellm's decoder
    reads the stream."""
    import litellm

    if attempt.wants_usage or litellm.post_call_rules:
        return None
    limit: int = litellm.REPEATED_STREAMING_CHUNK_LIMIT  # type: ignore[attr-defined]
    return ConverseEvents(attempt.deployment.model, attempt.finish, repeat_limit=limit)


def iterator(attempt: Attempt, pieces: Any, headers: Mapping[str, str], *, sync: bool) -> Any:
    """The chunks litellm's decoder makes of the body's ``pieces`` (an iterator of bytes,
    or an async one), for litellm's stream wrapper."""
    from litellm.llms.bedrock.chat.invoke_handler import AWSEventStreamDecoder

    decoder = AWSEventStreamDecoder(model=attempt.deployment.model, json_mode=False)
    if sync:
        return decoder.iter_bytes(pieces, response_headers=headers)
    return decoder.aiter_bytes(pieces, response_headers=headers)


def raise_status(
    attempt: Attempt, status: int, raw: bytes, headers: Mapping[str, str], *, sync: bool
) -> NoReturn:
    """Raise the error litellm's ConverseStream call raises for an error status.

    litellm's synchronous stream call puts the body's ``str()`` (of the bytes) in the
    message, its asynchronous one the body's text."""
    from litellm.llms.bedrock.common_utils import BedrockError

    message = str(raw) if sync else raw.decode("utf-8", "replace")
    original = BedrockError(status_code=status, message=message, headers=dict(headers))
    error = translation_error(attempt.litellm, attempt.deployment, original)
    raise mapped(error, attempt.call) from error
