"""Stage 1a: merge the three sources of Respan parameters into one mapping.

Precedence is per field, highest first:

1. top-level keywords (and ``extra_body``, whose keys count as top-level body fields;
   as with the OpenAI SDK, ``extra_body`` is merged over the explicit keywords);
2. ``respan_params`` (legacy ``keywordsai_params`` merges under it: respan wins);
3. the header ``X-Data-Respan-Params`` (base64 of a JSON object), from ``headers=`` or
   ``extra_headers=``; the legacy ``X-Data-Keywordsai-Params`` merges under it.

A field at a higher level replaces that field from lower levels whole (no deep merge).
``None`` means absent at every level: a field set to ``None`` is dropped before merging,
so it never hides a value given at a lower level.

Headers are checked here too: a credential-bearing header (``Authorization``,
``api-key``, ``x-api-key``, ...) is rejected like ``api_key=`` (its value never echoed),
and ``X-Respan-Beta`` (comma-separated flags) is read and never forwarded upstream.
The header's base64 may be standard, URL-safe, padded or not.
Pure functions: no I/O, nothing is mutated.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from respan_router.errors import FeatureNotAvailableError, InvalidRequestError
from respan_router.request._headers import check_forwarded_header, is_credential_header
from respan_router.request._params import RESPAN_FIELDS

__all__ = [
    "BETA_FLAGS",
    "BETA_HEADER",
    "HEADER",
    "LEGACY_HEADER",
    "MergedSources",
    "is_credential_header",
    "merge_sources",
]

HEADER = "x-data-respan-params"
LEGACY_HEADER = "x-data-keywordsai-params"
BETA_HEADER = "x-respan-beta"
_CONTROL_KEYS = frozenset(
    {"extra_body", "respan_params", "keywordsai_params", "headers", "extra_headers"}
)
_HEADER_KEYS = ("headers", "extra_headers")

#: The X-Respan-Beta flags: accepted ones map to None, the others to why they are refused.
BETA_FLAGS: dict[str, str | None] = {
    "token-breakdown-2026-03-26": None,
    "env-scoped-integrations-2026-03-28": (
        "environment-scoped integrations are a feature of the hosted Respan gateway and "
        "have no meaning in-process"
    ),
}


@dataclass(frozen=True, slots=True)
class MergedSources:
    """The call's parameters split by destination.

    Attributes:
        body: OpenAI and pass-through parameters (everything not Respan's).
        respan: the merged Respan parameters (unvalidated).
        headers: headers to forward upstream (the Respan headers removed), or None.
        beta: the accepted ``X-Respan-Beta`` flags.
    """

    body: dict[str, Any]
    respan: dict[str, Any]
    headers: dict[str, str] | None
    beta: frozenset[str] = frozenset()


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


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the names set to None (None means absent)."""
    return {k: v for k, v in values.items() if v is not None}


_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _unbase64(value: str | bytes) -> bytes | None:
    """Standard or URL-safe base64, padded or not (one alphabet, not a mix of both)."""
    try:
        raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
    except UnicodeEncodeError:
        return None
    if b"-" in raw or b"_" in raw:
        if b"+" in raw or b"/" in raw:
            return None
        raw = raw.translate(_URLSAFE)
    raw = raw.rstrip(b"=") if raw.endswith(b"=") else raw
    if len(raw) % 4 == 1:
        return None
    raw += b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
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


def _beta_flags(value: Any, name: str) -> set[str]:
    if not isinstance(value, str):
        raise InvalidRequestError(f"header {name} must be a string", field=name)
    flags = {flag.strip() for flag in value.split(",") if flag.strip()}
    for flag in sorted(flags):
        if flag not in BETA_FLAGS:
            known = ", ".join(sorted(BETA_FLAGS))
            # The flag is not quoted: a header value may hold anything, a secret included.
            raise InvalidRequestError(
                f"header {name}: an unknown beta flag; known flags: {known}", field=name
            )
        why = BETA_FLAGS[flag]
        if why is not None:
            raise FeatureNotAvailableError(f"header {name}: {flag}: {why}", field=name)
    return flags


def _split_headers(
    sources: list[tuple[str, Mapping[str, Any]]],
) -> tuple[dict[str, Any], dict[str, str] | None, frozenset[str]]:
    """Respan params from the headers, the headers left to forward upstream, beta flags.

    ``sources`` come lowest first: a later one wins for a forwarded header.
    """
    forward: dict[str, str] = {}
    beta: set[str] = set()
    found: list[tuple[int, str, Any]] = []  # (rank, name, value): the legacy header ranks 0
    for where, source in sources:
        for name, value in source.items():
            if value is None:
                continue
            lowered = name.lower()
            if lowered in (HEADER, LEGACY_HEADER):
                found.append((int(lowered == HEADER), name, value))
            elif lowered == BETA_HEADER:
                beta |= _beta_flags(value, name)
            else:
                check_forwarded_header(name, value, where)
                forward[name] = value
    respan: dict[str, Any] = {}
    # Every copy is decoded (a broken one is an error even when another would win); the
    # sort is stable, so at one rank a later source merges over an earlier one.
    for _, name, value in sorted(found, key=lambda item: item[0]):
        respan.update(_present(decode_header(value, name)))
    return respan, forward or None, frozenset(beta)


def merge_sources(kwargs: Mapping[str, Any]) -> MergedSources:
    """Split a call's keywords into body, merged Respan parameters and headers."""
    if not _CONTROL_KEYS.intersection(kwargs):
        # Fast path: only top-level keywords.
        plain: dict[str, Any] = {}
        given: dict[str, Any] = {}
        for key, value in kwargs.items():
            if value is not None:
                (given if key in RESPAN_FIELDS else plain)[key] = value
        return MergedSources(plain, given, None)

    top: dict[str, Any] = {k: v for k, v in kwargs.items() if k not in _CONTROL_KEYS}
    top.update(_as_mapping(kwargs.get("extra_body"), "extra_body"))

    # headers, then extra_headers; each as a keyword, then inside extra_body.
    header_sources = [(name, _as_mapping(kwargs.get(name), name)) for name in _HEADER_KEYS]
    header_sources += [(name, _as_mapping(top.pop(name, None), name)) for name in _HEADER_KEYS]
    header_params, forward, beta = _split_headers(
        [header_sources[0], header_sources[2], header_sources[1], header_sources[3]]
    )
    # Each nested name may come as a keyword or inside extra_body; legacy merges under new.
    legacy = _present(_as_mapping(kwargs.get("keywordsai_params"), "keywordsai_params"))
    legacy.update(_present(_as_mapping(top.pop("keywordsai_params", None), "keywordsai_params")))
    nested = _present(_as_mapping(kwargs.get("respan_params"), "respan_params"))
    nested.update(_present(_as_mapping(top.pop("respan_params", None), "respan_params")))
    nested = {**legacy, **nested}

    respan: dict[str, Any] = {**header_params, **nested}
    body: dict[str, Any] = {}
    for key, value in top.items():
        if value is None:
            continue
        if key in RESPAN_FIELDS:
            respan[key] = value
        else:
            body[key] = value
    return MergedSources(body, respan, forward, beta)
