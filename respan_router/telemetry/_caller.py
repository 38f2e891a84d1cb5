"""Who and what a call was for, as span attributes: the customer, identifiers, thread,
feedback, ``respan.metadata.*`` and ``respan.properties.*``. Pure functions: no
OpenTelemetry import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from respan_router._json import compact_encoder, stringify
from respan_router.request import RespanParams

__all__ = ["add_respan", "metadata_attributes", "property_attributes", "respan_attributes"]

AttributeValue = str | bool | int | float | tuple[str | bool | int | float, ...]
Attributes = dict[str, Any]

# One encoder for every call: json.dumps with options builds a new encoder each time.
_json = compact_encoder(default=str)


def metadata_attributes(metadata: Mapping[str, Any] | None) -> Attributes:
    """``respan.metadata.<key>``: every value coerced to a string."""
    if not metadata:
        return {}
    return {f"respan.metadata.{k}": stringify(v) for k, v in metadata.items() if v is not None}


_SCALARS = (bool, int, float, str)
_ARRAY_TYPES = frozenset(_SCALARS)  # the element types of an OTel array


def _typed_list(values: list[Any] | tuple[Any, ...]) -> AttributeValue:
    """A homogeneous list as an OTel array; anything else as a JSON string."""
    kinds = {type(v) for v in values}
    if len(kinds) <= 1 and kinds <= _ARRAY_TYPES:
        return tuple(values)
    if kinds == {int, float}:
        return tuple(float(v) for v in values)
    return _json(values)


def _flatten(prefix: str, value: Any, out: Attributes) -> None:
    if value is None:
        return
    if isinstance(value, _SCALARS):
        out[prefix] = value
    elif type(value) is list or type(value) is tuple:  # before the (slower) Mapping check
        out[prefix] = _typed_list(value)
    elif type(value) is dict or isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    elif isinstance(value, list | tuple):
        out[prefix] = _typed_list(value)
    else:
        out[prefix] = str(value)


def property_attributes(properties: Mapping[str, Any] | None) -> Attributes:
    """``respan.properties.<key>``: native types kept, nested objects flattened.

    bool, int, float and str stay as they are; a homogeneous list becomes an OTel array
    (a list mixing ints and floats becomes floats); other lists become JSON strings; a
    nested object ``{"a": {"b": 1}}`` becomes ``respan.properties.a.b = 1``; None is
    skipped.
    """
    out: Attributes = {}
    for key, value in (properties or {}).items():
        _flatten(f"respan.properties.{key}", value, out)
    return out


def respan_attributes(respan: RespanParams, *, record_customer_email: bool = False) -> Attributes:
    """Who and what the call was for: customer, identifiers, thread, metadata, properties."""
    out: Attributes = {}
    add_respan(respan, record_customer_email, out)
    return out


def add_respan(respan: RespanParams, record_customer_email: bool, out: Attributes) -> None:
    if (
        respan.customer_identifier is None
        and respan.customer_params is None
        and respan.custom_identifier is None
        and respan.thread_identifier is None
        and respan.positive_feedback is None
        and not respan.metadata
        and not respan.properties
    ):
        return  # the common case: nothing about the caller to record
    customer = respan.customer_params
    cid = respan.customer_identifier
    if cid is None and customer is not None:
        cid = customer.customer_identifier
    if cid is not None:
        out["respan.customer_params.customer_identifier"] = str(cid)
    if customer is not None:
        if customer.name is not None:
            out["respan.customer_params.name"] = customer.name
        if customer.group_identifier is not None:
            out["respan.customer_params.group_identifier"] = str(customer.group_identifier)
        if record_customer_email and customer.email is not None:
            out["respan.customer_params.email"] = customer.email
    if respan.custom_identifier is not None:
        out["respan.span_params.custom_identifier"] = str(respan.custom_identifier)
    if respan.thread_identifier is not None:
        thread = str(respan.thread_identifier)
        out["respan.threads.thread_identifier"] = thread
        out["gen_ai.conversation.id"] = thread
    if respan.positive_feedback is not None:
        out["respan.positive_feedback"] = respan.positive_feedback
    if respan.metadata:
        out.update(metadata_attributes(respan.metadata))
    for key, value in (respan.properties or {}).items():
        _flatten(f"respan.properties.{key}", value, out)
