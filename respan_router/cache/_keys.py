"""Cache keys: a hash of the canonical form of everything sent to the provider.

:func:`key_fields` picks what the key covers: the messages, every parameter that reaches
the provider and the forwarded headers, minus a short deny-list of fields that cannot
change the answer (:data:`KEY_EXCLUDED`, :data:`HEADERS_EXCLUDED`). A provider option the
router has never heard of is in the key by default: an extra name only costs hits, a
missing one serves wrong answers. :func:`cache_key` canonicalises the fields so that
equal requests give equal keys whatever the order of their dict keys, and hashes the
result. A key never holds request text, so no message or secret can be read back from it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

from respan_router._json import compact_encoder, plain_sorted_json
from respan_router.errors import InvalidRequestError

__all__ = ["HEADERS_EXCLUDED", "KEY_EXCLUDED", "cache_key", "key_fields"]

#: Parameters sent to the provider that cannot change the answer, left out of the key.
#: Respan's own fields never reach the provider, so they are never in it either; neither
#: are ``model`` (passed to :func:`cache_key` on its own) and ``stream`` (streamed and
#: whole answers are stored apart).
KEY_EXCLUDED: frozenset[str] = frozenset(
    {
        # logging and attribution
        "metadata", "user", "safety_identifier", "store", "litellm_metadata",
        "litellm_session_id", "litellm_trace_id", "litellm_call_id", "tags",
        # delivery: how long to wait, where headers go (headers are keyed on their own)
        "timeout", "request_timeout", "stream_timeout", "extra_headers", "headers",
    }
)  # fmt: skip

#: Forwarded headers that cannot change the answer (per-request tracing and ids).
HEADERS_EXCLUDED: frozenset[str] = frozenset(
    {
        "traceparent", "tracestate", "baggage", "x-request-id", "x-correlation-id",
        "idempotency-key", "user-agent", "x-stainless-retry-count",
    }
)  # fmt: skip

# Credentials are never keyed (a key must hold no secret, even hashed): a name with a
# credential's word in it (api_key, azure_ad_token, aws_secret_access_key; not max_tokens).
_SECRET_NAME = re.compile(
    r"(?:^|[_-])(?:key|secret|password|credentials?|token|auth)(?:$|[_-])", re.IGNORECASE
)


def key_fields(
    messages: Any, params: Mapping[str, Any], headers: Mapping[str, str] | None
) -> dict[str, Any]:
    """What the key of a request covers: its messages, every parameter but those of
    :data:`KEY_EXCLUDED` or with a credential's name, and its forwarded headers (names
    lowercased) but those of :data:`HEADERS_EXCLUDED`."""
    fields: dict[str, Any] = {"messages": messages}
    for name, value in params.items():
        if name not in KEY_EXCLUDED and not _SECRET_NAME.search(name):
            fields[name] = value
    if headers:
        kept = {
            name.lower(): value
            for name, value in headers.items()
            if name.lower() not in HEADERS_EXCLUDED
        }
        if kept:
            fields["headers"] = kept
    return fields


# Part of every hashed form: bump it when the canonical form changes, so entries stored
# by an older version (in a shared store) are never read as answers to a newer request.
# 3: floats in orjson's shortest form (``1e-7``, was ``1e-07``).
# 4: everything sent to the provider but a deny-list (was an allow-list of fields).
_KEY_VERSION = 4

_dumps = compact_encoder(sort_keys=True, allow_nan=False)


def _hashed_form(body: Mapping[str, Any], model: str | None, customer: Any) -> str:
    """``[version, body, model, customer]`` as compact JSON, sorted keys.

    Written in parts: a ``null`` in the encoder's output sends it to the slower standard
    path (it may be a NaN), so the usual ``None`` model and customer are kept out of it.
    """
    return (
        f"[{_KEY_VERSION},{_dumps(body)},"
        f"{'null' if model is None else _dumps(model)},"
        f"{'null' if customer is None else _dumps(customer)}]"
    )


def _hashed_bytes(body: Mapping[str, Any], model: str | None, customer: Any) -> bytes | None:
    """:func:`_hashed_form` UTF-8 encoded, written by orjson in one pass (the standard
    encoder's output for such data, byte for byte); None for a per-customer entry or
    data orjson does not write alone (then :func:`_hashed_form` writes it)."""
    if customer is not None:
        return None
    head = [_KEY_VERSION, body] if model is None else [_KEY_VERSION, body, model]
    written = plain_sorted_json(head)
    if written is None:
        return None
    return written[:-1] + (b",null,null]" if model is None else b",null]")


# What _json.plain_sorted_json writes with: sorted keys, dataclasses and datetimes refused.
_SORTED = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_SORT_KEYS
_TAIL_NULL = len(b",null]")


def messages_key(messages: list[dict[str, Any]], model: str) -> str:
    """``cache_key(key_fields(messages, {}, None), model=model, customer=None)``: the key
    of a request that sends only its messages to a model, in one orjson pass.

    The hashed form ``[version, {"messages": ...}, model, null]`` is written whole; any
    other ``null`` in it (a NaN would be written so) or a value orjson refuses sends the
    request to :func:`cache_key`, which writes the same bytes or raises as it does.
    """
    try:
        data = orjson.dumps([_KEY_VERSION, {"messages": messages}, model, None], None, _SORTED)
    except TypeError:
        data = None
    if data is None or data.find(b"null", 0, len(data) - _TAIL_NULL) != -1:
        return cache_key({"messages": messages}, model=model, customer=None)
    return f"respan:chat:{hashlib.sha256(data).hexdigest()}"


def cache_key(
    fields: Mapping[str, Any],
    *,
    model: str | None,
    customer: str | int | None,
    namespace: str = "respan",
) -> str:
    """Return the cache key of a request: ``"{namespace}:chat:<sha256 hex>"``.

    Canonical form: dict keys are sorted (their order never matters); tuples are lists;
    ``int`` dict keys are strings (``{50256: -100}`` is ``{"50256": -100}`` on the wire);
    a top-level field set to ``None`` is the same as an absent one. Plain JSON data is
    encoded as it is (the fast path, a few µs); only when that fails is the value
    canonicalised further: a pydantic model becomes its JSON dump, a pydantic model
    class (``response_format=MyModel``) its schema, an integral float an int. So ``1.0``
    and ``1`` may give different keys: a miss, never a wrong hit.

    Args:
        fields: the request fields that change the answer (see :func:`key_fields`).
        model: included when the cache is per model (``is_cached_by_model``), else None.
        customer: included when the cache is per customer (``cache_by_customer``), else
            None. An int identifier is the same customer as its decimal string.
        namespace: the key's prefix, to share one store between applications.

    Raises:
        InvalidRequestError: a value has no JSON form (NaN, infinity, an arbitrary
            object); ``field`` names where. Such a request could not be sent either.
    """
    if isinstance(customer, int) and not isinstance(customer, bool):
        customer = str(customer)
    body: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    # Fastest path: plain JSON data written by orjson as bytes, hashed as they are (the
    # same bytes as the paths below write, see _hashed_bytes).
    data = _hashed_bytes(body, model, customer)
    if data is not None:
        return f"{namespace}:chat:{hashlib.sha256(data).hexdigest()}"
    # Fast path: the encoder straight over plain JSON data (nearly every request).
    try:
        text = _hashed_form(body, model, customer)
    except (TypeError, ValueError, RecursionError):
        pass  # NaN, a non-JSON object, mixed key types: the canonical path says where
    else:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{namespace}:chat:{digest}"
    body = {}
    for name, value in fields.items():
        if value is None:
            continue
        try:
            body[name] = _canon(value)
        except _NoJSONForm as exc:
            path, reason = name + "".join(reversed(exc.path)), exc.reason
        else:
            continue
        # Raised outside the except: the rejected request carries no __context__.
        raise InvalidRequestError(f"{path}: {reason}", field=path)
    # A JSON array: positions keep model, customer and the fields apart, and null is
    # never the string "None".
    text = _hashed_form(body, model, customer)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{namespace}:chat:{digest}"


class _NoJSONForm(Exception):
    """A value without a JSON form; ``path`` is filled in, innermost first, on unwind."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _canon(value: Any) -> Any:
    # Exact type checks first: plain str, int, dict and list are nearly every node, and
    # an ABC isinstance check (Mapping) costs several times more.
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    # The common case, without bookkeeping; on an error, the loops below say where.
    if kind is dict and all(type(k) is str for k in value):
        try:
            return {k: _canon(v) for k, v in value.items()}
        except _NoJSONForm:
            pass
    elif kind is list:
        try:
            return [_canon(v) for v in value]
        except _NoJSONForm:
            pass
    if kind is float:
        if not math.isfinite(value):
            raise _NoJSONForm(f"{value!r} is not a finite number")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            name = k if type(k) is str else _key_name(k)
            if name in out:
                raise _NoJSONForm(f"the keys {name!r} collide once written as JSON")
            try:
                out[name] = _canon(v)
            except _NoJSONForm as exc:
                exc.path.append(f".{name}")
                raise
        return out
    if isinstance(value, list | tuple):
        items = []
        for i, v in enumerate(value):
            try:
                items.append(_canon(v))
            except _NoJSONForm as exc:
                exc.path.append(f"[{i}]")
                raise
        return items
    # Subclasses (str and int enums, float-like scalars) are written as their base value.
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _canon(float(value))
    if isinstance(value, type) and hasattr(value, "model_json_schema"):
        return _canon(value.model_json_schema())
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _canon(dump(mode="json"))
    raise _NoJSONForm(f"a {kind.__name__} has no JSON form")


def _key_name(key: Any) -> str:
    # What json.dumps writes for a non-str key, with the same normalisation as values.
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    if isinstance(key, str):
        return str.__str__(key)
    if isinstance(key, int | float):
        return str(_canon(key))
    raise _NoJSONForm(f"a {type(key).__name__} cannot be a JSON object key")
