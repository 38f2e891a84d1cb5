"""Stage 1a: merge the three sources of Respan parameters into one mapping.

Precedence is per field, highest first:

1. top-level keywords (and ``extra_body``, whose keys count as top-level body fields;
   as with the OpenAI SDK, ``extra_body`` is merged over the explicit keywords);
2. ``respan_params`` (legacy ``keywordsai_params`` merges under it: respan wins);
3. the header ``X-Data-Respan-Params`` (base64 of a JSON object), from ``headers=`` or
   ``extra_headers=``; the legacy ``X-Data-Keywordsai-Params`` merges under it.

A field at a higher level replaces that field from lower levels whole (no deep merge).
Pure functions: no I/O, nothing is mutated.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from respan_router.errors import InvalidRequestError
from respan_router.request._params import RESPAN_FIELDS

__all__ = ["HEADER", "LEGACY_HEADER", "MergedSources", "merge_sources"]

HEADER = "x-data-respan-params"
LEGACY_HEADER = "x-data-keywordsai-params"
_CONTROL_KEYS = frozenset(
    {"extra_body", "respan_params", "keywordsai_params", "headers", "extra_headers"}
)


@dataclass(frozen=True, slots=True)
class MergedSources:
    """The call's parameters split by destination.

    Attributes:
        body: OpenAI and pass-through parameters (everything not Respan's).
        respan: the merged Respan parameters (unvalidated).
        headers: headers to forward upstream (the Respan headers removed), or None.
    """

    body: dict[str, Any]
    respan: dict[str, Any]
    headers: dict[str, str] | None


def _as_mapping(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"{name} must be an object, got {type(value).__name__}", field=name
        )
    for key in value:
        if not isinstance(key, str):
            raise InvalidRequestError(f"{name} keys must be strings", field=name)
    return value


_UNREADABLE = object()


def _unbase64(value: str | bytes) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _unjson(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _UNREADABLE


def decode_header(value: Any, name: str) -> dict[str, Any]:
    """Decode a base64 JSON object header; any defect is an error naming the header.

    The error chains nothing (no ``__cause__`` or ``__context__``): a decoder's exception
    quotes the header's content, which may hold a credential.
    """
    if not isinstance(value, str | bytes):
        raise InvalidRequestError(f"header {name} must be a string", field=name)
    raw = _unbase64(value)
    if raw is None:
        raise InvalidRequestError(f"header {name} is not valid base64", field=name)
    decoded = _unjson(raw)
    if decoded is _UNREADABLE:
        raise InvalidRequestError(
            f"header {name} is not valid JSON (or nests too deeply)", field=name
        )
    if not isinstance(decoded, dict):
        raise InvalidRequestError(
            f"header {name} must hold a JSON object, got {type(decoded).__name__}", field=name
        )
    return decoded


def _split_headers(
    headers: Mapping[str, Any], extra_headers: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """Respan params from the headers, and the headers left to forward upstream."""
    forward: dict[str, str] = {}
    found: list[tuple[int, str, Any]] = []  # (rank, name, value): the legacy header ranks 0
    for source in (headers, extra_headers):
        for name, value in source.items():
            lowered = name.lower()
            if lowered in (HEADER, LEGACY_HEADER):
                found.append((int(lowered == HEADER), name, value))
            else:
                forward[name] = value
    respan: dict[str, Any] = {}
    # Every copy is decoded (a broken one is an error even when another would win); the
    # sort is stable, so at one rank extra_headers merges over headers.
    for _, name, value in sorted(found, key=lambda item: item[0]):
        respan.update(decode_header(value, name))
    return respan, forward or None


def merge_sources(kwargs: Mapping[str, Any]) -> MergedSources:
    """Split a call's keywords into body, merged Respan parameters and headers."""
    if not _CONTROL_KEYS.intersection(kwargs):
        # Fast path: only top-level keywords.
        plain: dict[str, Any] = {}
        given: dict[str, Any] = {}
        for key, value in kwargs.items():
            (given if key in RESPAN_FIELDS else plain)[key] = value
        return MergedSources(plain, given, None)

    top: dict[str, Any] = {k: v for k, v in kwargs.items() if k not in _CONTROL_KEYS}
    top.update(_as_mapping(kwargs.get("extra_body"), "extra_body"))

    header_params, forward = _split_headers(
        _as_mapping(kwargs.get("headers"), "headers"),
        _as_mapping(kwargs.get("extra_headers"), "extra_headers"),
    )
    # Each nested name may come as a keyword or inside extra_body; legacy merges under new.
    legacy = dict(_as_mapping(kwargs.get("keywordsai_params"), "keywordsai_params"))
    legacy.update(_as_mapping(top.pop("keywordsai_params", None), "keywordsai_params"))
    nested = dict(_as_mapping(kwargs.get("respan_params"), "respan_params"))
    nested.update(_as_mapping(top.pop("respan_params", None), "respan_params"))
    nested = {**legacy, **nested}

    respan: dict[str, Any] = {**header_params, **nested}
    body: dict[str, Any] = {}
    for key, value in top.items():
        if key in RESPAN_FIELDS:
            respan[key] = value
        else:
            body[key] = value
    return MergedSources(body, respan, forward)
