"""Server-sent events: ``data:`` payloads out of lines, as litellm's stream iterators read them.

Lines other than ``data:`` (``event:``, ``id:``, comments, blank separators) carry nothing
for chat completions and are skipped; ``data: [DONE]`` ends the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from respan_router._json import loads

__all__ = ["DONE", "event_of", "lines_of"]

DONE = object()
_SKIP = None


def event_of(line: bytes) -> Any:
    """The parsed JSON of a ``data:`` line, :data:`DONE` at the end, None to skip."""
    if not line.startswith(b"data:"):
        return _SKIP
    payload = line[5:].strip()
    if not payload:
        return _SKIP
    if payload == b"[DONE]":
        return DONE
    event = loads(payload)
    return event if isinstance(event, dict) else _SKIP


def lines_of(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Lines (without their end) of a byte stream that arrives in arbitrary pieces."""
    pending = b""
    for piece in pieces:
        if not piece:
            continue
        pending += piece
        if b"\n" not in pending:
            continue
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line.rstrip(b"\r")
    if pending:
        yield pending.rstrip(b"\r")
