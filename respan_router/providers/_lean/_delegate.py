"""What the router's own stream readers share: handing a stream to litellm's reader
(:class:`Delegate`), and the JSON event of a server-sent ``data:`` line as those readers
take it (:func:`data_event`)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Delegate", "data_event"]


class Delegate(Exception):
    """This stream goes on through litellm's reader, from its first line."""


def data_event(line: str) -> dict[str, Any] | None:
    """The JSON object of a ``data:`` line, or None for any other line.

    Raises:
        Delegate: a payload that is not one whole JSON object (litellm accumulates a split
            payload: its reader's case).
    """
    if not line.startswith("data:"):
        return None
    try:
        event = json.loads(line[5:])
    except ValueError as exc:
        raise Delegate from exc
    if not isinstance(event, dict):
        raise Delegate
    return event
