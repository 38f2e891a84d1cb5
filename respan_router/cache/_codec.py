"""Responses to bytes and back, for the cache.

A stored entry is compact JSON: ``["chat.completion/3",{...}]`` for a completion,
``["chat.completion.chunks/3",[{...},...]]`` for a stream's chunks. The object is the
response as the upstream sent it: only the fields it set (``exclude_unset``, so no
``null`` for a field it never sent), unknown ones included. The leading tag names the
format and its version; bytes in any other format fail with :class:`CodecError`. JSON
(not pickle) because a shared store must never be able to run code in the reader.
Encoding and decoding run in pydantic's compiled serializer and validator.

``request_breakdown`` is not stored: it describes one call (latency, cost, ``cached``),
not the answer, and the router writes a fresh one for each call it serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from respan_router.responses import chunk_type, completion_type

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = [
    "CodecError",
    "decode_chunks",
    "decode_completion",
    "encode_chunks",
    "encode_completion",
]

_COMPLETION_HEAD = b'["chat.completion/3",'
_CHUNKS_HEAD = b'["chat.completion.chunks/3",'
_TAIL = b"]"
#: Extra fields of the router's own, never stored.
_NOT_STORED: set[str] = {"request_breakdown"}

T = TypeVar("T")
M = TypeVar("M", bound="BaseModel")


class CodecError(ValueError):
    """Bytes that are not a response this codec wrote (corrupt, foreign, older format)."""


def _json(model: BaseModel) -> bytes:
    # warnings=False: an answer the SDK's types reject is held as built by the SDK's own
    # lenient construct(); it is stored as it came.
    try:
        return model.model_dump_json(
            exclude_unset=True, exclude=_NOT_STORED, warnings=False
        ).encode()
    except ValueError:  # text pydantic cannot write as UTF-8 (a lone surrogate)
        data = model.model_dump(exclude_unset=True, exclude=_NOT_STORED, warnings=False)
        return json.dumps(data, separators=(",", ":")).encode()


def encode_completion(resp: ChatCompletion) -> bytes:
    """Return ``resp`` as bytes, without its ``request_breakdown``."""
    return _COMPLETION_HEAD + _json(resp) + _TAIL


def decode_completion(data: bytes) -> ChatCompletion:
    """Return the completion :func:`encode_completion` wrote.

    Raises:
        CodecError: ``data`` is not such a completion.
    """
    cls = completion_type()
    if data.startswith(_COMPLETION_HEAD) and data.endswith(_TAIL):  # the usual entry
        try:  # what model_validate_json runs, without its wrapper
            found: ChatCompletion = cls.__pydantic_validator__.validate_json(
                data[len(_COMPLETION_HEAD) : -1]
            )
            return found
        except ValidationError:
            pass  # rare: told apart below
    payload = _payload(data, _COMPLETION_HEAD, "a cached completion")
    return _decode(
        payload, cls.model_validate_json, cls.model_validate, lambda obj: _construct(cls, obj)
    )


def encode_chunks(chunks: list[ChatCompletionChunk]) -> bytes:
    """Return a stream's chunks as bytes, without their ``request_breakdown``."""
    return _CHUNKS_HEAD + b"[" + b",".join(_json(c) for c in chunks) + b"]" + _TAIL


def decode_chunks(data: bytes) -> list[ChatCompletionChunk]:
    """Return the chunks :func:`encode_chunks` wrote, in order.

    Raises:
        CodecError: ``data`` is not such a list of chunks.
    """
    payload = _payload(data, _CHUNKS_HEAD, "cached chunks")
    cls = chunk_type()

    def construct(obj: Any) -> list[ChatCompletionChunk]:
        if not isinstance(obj, list):
            raise CodecError("not cached chunks: not a list")
        return [_construct(cls, item) for item in obj]

    adapter = _chunks_adapter()
    return _decode(payload, adapter.validate_json, adapter.validate_python, construct)


@cache
def _chunks_adapter() -> TypeAdapter[list[ChatCompletionChunk]]:
    from pydantic import TypeAdapter

    return TypeAdapter(list[chunk_type()])  # type: ignore[arg-type,misc]


def _payload(data: bytes, head: bytes, what: str) -> bytes:
    if not data.startswith(head) or not data.endswith(_TAIL) or len(data) < len(head) + 2:
        raise CodecError(f"not {what}")
    return data[len(head) : -len(_TAIL)]


def _decode(
    payload: bytes,
    validate_json: Callable[[bytes], T],
    validate: Callable[[Any], T],
    construct: Callable[[Any], T],
) -> T:
    """Validate ``payload``; a well-formed entry the SDK's types reject is constructed as
    the SDK would (it was stored that way); anything else is a :class:`CodecError`."""
    try:
        return validate_json(payload)
    except ValidationError:
        pass  # rare: parsed again below to tell a foreign entry from a lenient one
    try:
        obj = json.loads(payload)
    except ValueError as exc:
        raise CodecError(f"not a cached response: {exc}") from None
    try:
        return validate(obj)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(_foreign(e) for e in errors):
            raise CodecError(f"not a cached response: {errors[0]['msg']}") from None
    return construct(obj)


def _foreign(error: Any) -> bool:
    """A validation error no stored response has: a missing top-level field, a top level
    (or list item) that is not an object."""
    names = [p for p in error["loc"] if isinstance(p, str)]
    if error["type"] in ("model_type", "model_attributes_type", "list_type"):
        return not names
    return error["type"] == "missing" and len(names) == 1


def _construct(cls: type[M], obj: Any) -> M:
    if not isinstance(obj, dict):
        raise CodecError("not a cached response: not an object")
    return cls.construct(**obj)
