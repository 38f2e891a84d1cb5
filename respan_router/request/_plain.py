"""Stage 1, the common shape: a call of only ``messages``, ``model`` and ``stream``.

Such a call has nothing to merge (no Respan parameter, no header) and nothing for a schema
to check, and its messages are usually flat: each one a dict of strings. One walk over
them proves what the full stage would conclude (every message valid, no text a UTF-8
encoder refuses, nothing nested too deep). When the walk cannot prove it (any other
shape, any fault), it answers None and the full stage decides, naming the fault: the
walk accepts a subset of what the full checks accept, never more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["PLAIN_KEYS", "plain_parts"]

#: The keywords of the common shape.
PLAIN_KEYS = frozenset({"messages", "model", "stream"})
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_SURROGATE = re.compile("[\ud800-\udfff]")  # the only code points UTF-8 refuses


def _flat_messages(messages: Any) -> bool:
    """Whether ``messages`` is a non-empty list of valid, flat messages: dicts whose keys
    and values are all encodable strings, with a known role and a text content (a tool
    message with its ``tool_call_id``)."""
    if type(messages) is not list or not messages:
        return False
    search = _SURROGATE.search
    for message in messages:
        if type(message) is not dict:
            return False
        role = message.get("role")
        content = message.get("content")
        if role not in _ROLES or type(content) is not str:
            return False
        if role == "tool" and type(message.get("tool_call_id")) is not str:
            return False
        if len(message) == 2:  # exactly "role" (a known one) and "content": one text to check
            if not (content.isascii() or search(content) is None):
                return False
            continue
        for key, value in message.items():
            if type(key) is not str or type(value) is not str:
                return False
            if not (key.isascii() or search(key) is None) or not (
                value.isascii() or search(value) is None
            ):
                return False
    return True


def plain_parts(kwargs: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str, bool] | None:
    """``(messages, model, stream)`` of a call of the common shape whose every check is
    proven to pass; None when the full request stage must decide.

    Args:
        kwargs: the call's keywords (only ``messages``, ``model``, ``stream``: the caller
            checked the names).
    """
    model = kwargs.get("model")
    stream = kwargs.get("stream", False)
    if (
        type(model) is not str
        or not model
        or not (model.isascii() or _SURROGATE.search(model) is None)
        or (stream is not False and stream is not True)
    ):
        return None
    messages: list[dict[str, Any]] = kwargs.get("messages")  # type: ignore[assignment]
    if not _flat_messages(messages):  # proves it a list of dicts
        return None
    return messages, model, stream
