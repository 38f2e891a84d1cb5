"""Respan parameters that name a customer and nothing else, typed without a validation.

``customer_identifier`` alone is the usual Respan parameter of a customer's call, and a
different one each call (so not for :mod:`respan_router.request._memo`). Its rule is
short: a ``str`` or an ``int`` (not a ``bool``), at most ``max_length`` characters
written out. A value that plainly keeps it becomes the parameters pydantic's validation
would build (every other field at its default, only ``customer_identifier`` set); any
other value returns None and goes through the validation, which gives its errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from respan_router.request._params import RespanParams

__all__ = ["customer_only"]

_MAX_INT = 10**18  # ints written in fewer digits than any identifier bound
_defaults: dict[str, Any] | None = None
_new = object.__new__  # a model's own: BaseModel defines no __new__
# What pydantic sets on a model it builds, each set through its slot's own descriptor
# (object.__setattr__ would look each one up on the class first).
_SLOTS = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
_SETTERS: tuple[Callable[[Any, Any], None], ...] = tuple(
    vars(BaseModel)[name].__set__ for name in _SLOTS
)


def _template() -> dict[str, Any]:
    """The fields of parameters with nothing set: immutable defaults (None, False), so
    copies of the dict share no mutable value."""
    global _defaults
    if _defaults is None:
        fields = dict(RespanParams().__dict__)
        if not all(v is None or type(v) is bool for v in fields.values()):
            raise TypeError("RespanParams has a mutable default: validate instead")
        _defaults = fields
    return _defaults


def customer_only(raw: dict[str, Any], max_length: int) -> RespanParams | None:
    """The validated parameters of ``{"customer_identifier": value}``, or None when
    ``raw`` is anything else or the value needs the validation (its errors)."""
    if len(raw) != 1:
        return None
    cid: Any = raw.get("customer_identifier")
    kind = type(cid)
    if not (
        (kind is str and 0 < len(cid) <= max_length) or (kind is int and -_MAX_INT < cid < _MAX_INT)
    ):
        return None
    fields = (_defaults or _template()).copy()
    fields["customer_identifier"] = cid
    params = _new(RespanParams)
    set_dict, set_fields_set, set_extra, set_private = _SETTERS
    set_dict(params, fields)
    set_fields_set(params, {"customer_identifier"})
    set_extra(params, None)
    set_private(params, None)
    return params
