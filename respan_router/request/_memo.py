"""Validated routing parameters remembered by their exact contents.

A routed call names the same ``load_balance_models``, ``fallback_models`` and
``retry_params`` call after call; validating them (pydantic, the depth and UTF-8 walk)
costs more than the rest of the request. Their validated form is remembered under a key
that is their exact contents: the bytes :func:`pickle.dumps` writes for them, computed on
every call (so a list the caller mutated gets another key, never a stale entry).

The key is exact: for values of the builtin JSON types only (``dict`` with ``str`` keys,
``list``, ``tuple``, ``str``, ``int``, ``float``, ``bool``, ``None``, each of exactly that
type), pickle writes each value's type and contents and nothing else, and it writes any
other object (a subclass, a mapping of another kind) through its class, an opcode such
bytes never hold. An entry is stored only for values of those types (checked on the miss
that stores it), so a hit means the same types and values as a call that was validated:
the same result, and the same absence of errors. Nothing is stored that names
credentials (per-call credentials stay out of a memo), nor any parameter outside
routing, resilience and cache settings (identifiers and metadata change per call).

Not a cache of :func:`pickle.loads`: nothing is ever unpickled.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

from respan_router.request._params import RespanParams

__all__ = ["memo_key", "remember", "remembered"]

#: The parameters whose validated form may be remembered: routing, resilience, cache.
MEMO_FIELDS = frozenset(
    {
        "load_balance_group",
        "load_balance_models",
        "models",
        "fallback_models",
        "disable_fallback",
        "exclude_providers",
        "exclude_models",
        "routing_strategy",
        "model_name_map",
        "retry_params",
        "retries",
        "total_timeout",
        "first_token_timeout",
        "cache_enabled",
        "cache_ttl",
        "cache_options",
        "request_breakdown",
    }
)
_TOP = frozenset({dict, list, tuple, str, int, float, bool})
_LEAVES = frozenset({str, int, float, bool, type(None)})
_MAX_ENTRIES = 256
_memo: dict[bytes, RespanParams] = {}


def memo_key(raw: Mapping[str, Any]) -> bytes | None:
    """The exact key of merged Respan parameters, or None when they are not remembered."""
    if not raw.keys() <= MEMO_FIELDS:
        return None
    for value in raw.values():
        if type(value) not in _TOP:
            return None
    try:
        key = pickle.dumps(raw, 5)
    except Exception:  # anything unpicklable is validated as usual
        return None
    return None if b"credentials" in key else key


def remembered(key: bytes) -> RespanParams | None:
    """The validated parameters of an earlier call with exactly these contents, or None."""
    return _memo.get(key)


def remember(key: bytes, raw: Mapping[str, Any], respan: RespanParams) -> None:
    """Remember ``respan``, validated from ``raw``, when ``raw`` holds builtin JSON values
    only (see the module's note); bounded: the memo is emptied when full."""
    if not _builtin_json(raw):
        return
    if len(_memo) >= _MAX_ENTRIES:
        _memo.clear()
    _memo[key] = respan


def _builtin_json(value: Any) -> bool:
    """Whether ``value`` holds only the builtin JSON types, each exactly (depth is bounded
    by the request's own check, which passed before anything is remembered)."""
    stack: list[Any] = [value]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        kind = type(item)
        if kind in _LEAVES:
            continue
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return False
                push(child)
        elif kind is list or kind is tuple:
            stack.extend(item)
        else:
            return False
    return True
