"""Compact JSON encoding for the hot path, built once.

``json.JSONEncoder.encode`` builds a new C encoder on every call (about 0.8 µs here);
these encoders are built once and reused. The output is byte for byte what
``JSONEncoder(separators=(",", ":"), ensure_ascii=False, ...).encode`` gives; without
CPython's C accelerator they fall back to exactly that.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _encoder
from typing import Any

__all__ = ["compact_encoder", "stringify"]


def _no_json_form(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def compact_encoder(
    *,
    sort_keys: bool = False,
    allow_nan: bool = True,
    default: Callable[[Any], Any] | None = None,
) -> Callable[[Any], str]:
    """An ``obj -> str`` compact JSON encoder (no spaces, non-ASCII kept as is).

    Circular structures are not detected (callers pass validated, bounded data): they
    raise ``RecursionError`` instead of ``ValueError``.
    """
    c_make_encoder = getattr(_encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # no C accelerator: the standard, slower path
        return json.JSONEncoder(
            separators=(",", ":"),
            ensure_ascii=False,
            sort_keys=sort_keys,
            allow_nan=allow_nan,
            default=default,
        ).encode
    make = c_make_encoder(
        None,  # no circular-reference markers
        default or _no_json_form,
        _encoder.encode_basestring,
        None,  # no indent
        ":",
        ",",
        sort_keys,
        False,  # skipkeys
        allow_nan,
    )

    def encode(obj: Any) -> str:
        if type(obj) is str:
            return _encoder.encode_basestring(obj)
        return "".join(make(obj, 0))

    return encode


# One encoder for every call: json.dumps with options builds a new encoder each time.
_any_json = compact_encoder(default=str)


def stringify(value: Any) -> str:
    """A metadata value as a string: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return _any_json(value)
