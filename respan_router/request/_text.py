"""Stage 1c: text every provider can receive.

A request body travels as UTF-8 JSON. Python strings may hold lone surrogates
(``"a\\ud800b"``: what ``json.loads`` yields for a ``\\ud800`` escape), which no UTF-8
encoder accepts. Sent on, such a string fails inside the provider layer, where it looks
like a provider fault: retried, fallen back on, and counted against the deployment's
breaker, so one tenant's input could send every caller to the fallback. It is refused
here instead, as an :class:`~respan_router.errors.InvalidRequestError` naming the field
(the value is never quoted).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from respan_router.errors import InvalidRequestError

__all__ = ["check_encodable"]

# The only code points a UTF-8 encoder refuses in a Python str.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Values with no text in them: skipped before the (slower) Mapping check.
_SCALARS = frozenset({int, float, bool, type(None), bytes})


def _bad(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def _first_unencodable(value: Any, path: str) -> str | None:
    """The location of the first string (key or value) that cannot be UTF-8 encoded."""
    stack: list[tuple[Any, str]] = [(value, path)]
    pop, push = stack.pop, stack.append
    while stack:
        item, where = pop()
        if isinstance(item, str):
            if _bad(item):
                return where
        elif isinstance(item, Mapping):
            for key, child in item.items():
                if isinstance(key, str) and _bad(key):
                    return f"{where} (a key)"
                push((child, f"{where}.{key}" if isinstance(key, str) else where))
        elif isinstance(item, list | tuple):
            for i, child in enumerate(item):
                push((child, f"{where}[{i}]"))
    return None


def _any_unencodable(value: Any) -> bool:
    """Whether any string in ``value`` cannot be encoded (no paths built: the common case)."""
    stack: list[Any] = [value]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            if _bad(item):
                return True
        elif kind in _SCALARS:
            continue
        elif kind is dict or (kind is not list and isinstance(item, Mapping)):
            for key, child in item.items():
                if type(key) is str and _bad(key):
                    return True
                push(child)
        elif kind is list or kind is tuple:
            stack.extend(item)
    return False


def check_encodable(values: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidRequestError` when any text in ``values`` cannot be UTF-8 encoded.

    Args:
        values: top-level parameters (body or Respan), walked iteratively (depth is bounded
            by the caller's own check).
    """
    for name, value in values.items():
        kind = type(value)
        if kind is str:
            if not _bad(value):
                continue
            where: str | None = name
        elif kind in _SCALARS:
            continue
        elif kind is dict or kind is list or kind is tuple or isinstance(value, Mapping):
            if not _any_unencodable(value):
                continue
            where = _first_unencodable(value, name)
        else:
            continue
        if where is not None:
            raise InvalidRequestError(
                f"{where} holds text that cannot be encoded as UTF-8 (a lone surrogate "
                "such as \\ud800); the value is refused before any provider is called",
                field=where.removesuffix(" (a key)"),
            )


def may_fail_checks(values: Mapping[str, Any], max_depth: int) -> bool:
    """Whether the depth check or :func:`check_encodable` could refuse ``values``: one walk
    over every value that answers the common case (no) for both. On yes, the caller runs
    both checks, which find and name the fault. A value the checks skip (not text, not a
    mapping, list or tuple) is skipped here too."""
    for value in values.values():
        kind = type(value)
        if kind is str:
            if not value.isascii() and _bad(value):  # isascii first: no call for ASCII
                return True
            continue
        if kind in _SCALARS:
            continue
        if not (kind is dict or kind is list or kind is tuple or isinstance(value, Mapping)):
            continue
        stack: list[tuple[Any, int]] = [(value, 1)]
        pop, push = stack.pop, stack.append
        while stack:
            item, depth = pop()
            if depth > max_depth:
                return True
            kind = type(item)
            if kind is dict or (kind is not list and kind is not tuple):
                children = []
                for key, child in item.items():
                    if type(key) is str and not key.isascii() and _bad(key):
                        return True
                    children.append(child)
            else:
                children = item
            for child in children:
                ck = type(child)
                if ck is str:
                    if not child.isascii() and _bad(child):
                        return True
                elif ck in _SCALARS:
                    continue
                elif ck is dict or ck is list or ck is tuple or isinstance(child, Mapping):
                    push((child, depth + 1))
    return False
