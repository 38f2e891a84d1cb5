"""Fresh copies of a stored completion, without validating it again.

A hit hands out a new object each time: the caller may change what it got (the router
adds its ``request_breakdown``) without touching the stored answer or a later hit's.
Decoding the stored JSON through pydantic's validator is one way to get one; once an
entry has been decoded, :class:`StoredCopies` keeps that validated tree as a template
and copies it instead: each model node gets a new ``__dict__``, fields-set and extras,
each list and dict is new, strings and numbers are shared (they cannot change). The
copier of a template is built once, from the template's own shape, so a copy runs no
type test and no validation: about two thirds of what the validator costs.

The template is the stored bytes' decoding, kept only while the store still returns
the same bytes under its key (an entry written again is decoded again), a bounded
number of entries. A tree holding anything but models, lists, dicts and plain scalars
(never the case for the SDK's types read from JSON) has no copier: it is decoded for
each hit, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from respan_router.cache._codec import decode_completion

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion

__all__ = ["StoredCopies", "copier"]

#: Templates held at most (the most recently decoded entries; an older one is decoded
#: again when hit).
MAX_TEMPLATES = 1024

_SCALARS = frozenset({str, int, float, bool, type(None)})
_new = object.__new__
# The slots every pydantic model instance has, set as pydantic's own copy sets them.
_slot = BaseModel.__dict__
_set_dict = _slot["__dict__"].__set__
_set_fields = _slot["__pydantic_fields_set__"].__set__
_set_extra = _slot["__pydantic_extra__"].__set__
_set_private = _slot["__pydantic_private__"].__set__

Make = Callable[[], Any]


class _NoCopier(Exception):
    """A value the copier does not know how to copy."""


def copier(template: Any) -> Make | None:
    """A function returning a new deep copy of ``template`` each time it is called (equal
    to it, sharing no list, dict or model with it or with another copy), or None when
    the tree holds a value other than a pydantic model, list, dict or plain scalar.

    ``template`` must never change afterwards: the copier reads it as it is now.
    """
    try:
        return _maker(template)
    except _NoCopier:
        return None


def _maker(value: Any) -> Make:
    kind = type(value)
    if kind in _SCALARS:
        return lambda: value
    if isinstance(value, BaseModel):
        return _model_maker(value)
    if kind is list:
        items = [_maker(item) for item in value]
        if all(type(item) in _SCALARS for item in value):
            copy: Make = value.copy
            return copy
        if len(items) == 1:  # one choice, one tool call: the usual list
            only = items[0]
            return lambda: [only()]
        return lambda: [make() for make in items]
    if kind is dict:
        return _dict_maker(value)
    raise _NoCopier(kind.__name__)


def _dict_maker(value: dict[Any, Any]) -> Make:
    nested = tuple(
        (name, _maker(item)) for name, item in value.items() if type(item) not in _SCALARS
    )
    if not nested:
        return value.copy

    def make() -> dict[Any, Any]:
        out = value.copy()
        for name, inner in nested:
            out[name] = inner()
        return out

    return make


def _model_maker(model: BaseModel) -> Make:
    private = model.__pydantic_private__
    if private:  # the SDK's response types hold no private state
        raise _NoCopier("private attributes")
    # A class with private fields and none set holds {}; any other, None.
    empty_private: dict[str, Any] | None = None if private is None else {}
    cls = type(model)
    fields = model.__dict__
    fields_set = model.__pydantic_fields_set__
    extra = model.__pydantic_extra__
    make_extra = None if extra is None else _dict_maker(extra)
    nested = tuple(
        (name, _maker(item)) for name, item in fields.items() if type(item) not in _SCALARS
    )

    if not nested and extra == {} and empty_private is None:  # a leaf, as the SDK's are

        def make_leaf() -> BaseModel:
            new = _new(cls)
            _set_dict(new, fields.copy())
            _set_fields(new, fields_set.copy())
            _set_extra(new, {})
            _set_private(new, None)
            return new

        return make_leaf

    def make() -> BaseModel:
        new = _new(cls)
        out = fields.copy()
        for name, inner in nested:
            out[name] = inner()
        _set_dict(new, out)
        _set_fields(new, fields_set.copy())
        _set_extra(new, None if make_extra is None else make_extra())
        _set_private(new, None if empty_private is None else {})
        return new

    return make


class StoredCopies:
    """The templates of stored completions, by stored key, and their copiers.

    Thread-safe: a template is never changed once made; adding one takes a lock.
    """

    def __init__(self, limit: int = MAX_TEMPLATES) -> None:
        self._limit = limit
        self._held: dict[str, tuple[bytes, Make]] = {}
        self._lock = threading.Lock()

    def completion(self, stored_key: str, data: bytes) -> ChatCompletion:
        """A new completion equal to ``data``'s decoding (stored under ``stored_key``).

        Raises:
            CodecError: ``data`` is not a stored completion.
        """
        held = self._held.get(stored_key)
        if held is not None and (held[0] is data or held[0] == data):
            made: ChatCompletion = held[1]()
            return made
        template = decode_completion(data)
        make = copier(template)
        if make is None:
            return template  # decoded for this caller alone
        with self._lock:
            if len(self._held) >= self._limit:
                self._held.pop(next(iter(self._held)))  # the oldest template
            self._held[stored_key] = (data, make)
        copy: ChatCompletion = make()
        return copy

    def clear(self) -> None:
        with self._lock:
            self._held = {}
