"""AWS's binary event stream cut into Bedrock ConverseStream's JSON events, as they arrive.

A frame is a prelude (total length, headers length, the prelude's CRC32), headers, a
payload and the message's CRC32; a frame may span pieces of the body, a piece may hold
several. :func:`whole_events` reads the whole frames of the bytes so far and keeps the
rest for the next piece. A frame is read only as botocore's ``EventStreamBuffer`` reads
it (both checksums right, lengths well within botocore's bounds, string headers) and only
if it is a JSON event (``:message-type`` ``event``, ``:content-type``
``application/json``): anything else (an exception frame, a wrong checksum, another
header) raises :class:`Delegate`, so litellm's decoder reads the stream as it does.
"""

from __future__ import annotations

import json
from binascii import crc32
from typing import Any

from respan_router.providers._lean._delegate import Delegate

__all__ = ["whole_events"]

_PRELUDE = 12  # total length, headers length, prelude CRC
# Frames read here: well within botocore's bounds (24 MiB payloads, 128 KiB headers).
_MAX_TOTAL = 1024**2
_MAX_HEADERS = 128 * 1024
_STRING = 7  # the header value type of a string
_EVENT_HEADERS = frozenset({":event-type", ":content-type", ":message-type"})


def whole_events(buffer: bytes) -> tuple[list[tuple[str, Any]], bytes]:
    """The ``(event type, JSON payload)`` of each whole frame in ``buffer``, and the bytes
    left over (the start of the next frame).

    Raises:
        Delegate: a frame this module does not read.
    """
    events: list[tuple[str, Any]] = []
    at, size = 0, len(buffer)
    while size - at >= _PRELUDE:
        total = int.from_bytes(buffer[at : at + 4], "big")
        if total < _PRELUDE + 4 or total > _MAX_TOTAL:
            raise Delegate
        if size - at < total:
            break
        events.append(_event(buffer[at : at + total]))
        at += total
    return events, buffer[at:]


def _event(frame: bytes) -> tuple[str, Any]:
    headers_length = int.from_bytes(frame[4:8], "big")
    if int.from_bytes(frame[8:12], "big") != crc32(frame[:8]):
        raise Delegate
    if int.from_bytes(frame[-4:], "big") != crc32(frame[:-4]):
        raise Delegate
    if headers_length > min(len(frame) - _PRELUDE - 4, _MAX_HEADERS):
        raise Delegate
    kind = _event_type(frame[_PRELUDE : _PRELUDE + headers_length])
    return kind, json.loads(frame[_PRELUDE + headers_length : -4].decode())


_KINDS: dict[bytes, str] = {}  # an event frame's headers as sent, read once: its type
_KINDS_LIMIT = 64


def _event_type(raw: bytes) -> str:
    """The event type of a JSON event frame's headers (an exception frame, or any other
    header: litellm's decoder reads it)."""
    kind = _KINDS.get(raw)
    if kind is not None:
        return kind
    headers = _headers(raw)
    if headers.keys() != _EVENT_HEADERS or headers[":message-type"] != "event":
        raise Delegate  # an exception frame, or one this module does not know
    if headers[":content-type"] != "application/json":
        raise Delegate
    kind = headers[":event-type"]
    if len(_KINDS) < _KINDS_LIMIT:
        _KINDS[raw] = kind
    return kind


def _headers(raw: bytes) -> dict[str, str]:
    """A frame's headers, all strings (anything else: litellm's decoder reads it)."""
    headers: dict[str, str] = {}
    at, end = 0, len(raw)
    while at < end:
        size = raw[at]
        name = raw[at + 1 : at + 1 + size].decode()
        at += 1 + size
        if raw[at] != _STRING:
            raise Delegate
        length = int.from_bytes(raw[at + 1 : at + 3], "big")
        value = raw[at + 3 : at + 3 + length]
        if len(value) != length:
            raise Delegate
        headers[name] = value.decode()
        at += 3 + length
    return headers
