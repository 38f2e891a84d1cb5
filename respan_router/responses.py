"""Responses are the OpenAI SDK's own types, built in one place.

``complete()`` returns :class:`openai.types.chat.ChatCompletion` and streams yield
:class:`openai.types.chat.ChatCompletionChunk`. Every field an upstream sent is kept,
including the ones the SDK's types do not name (they allow extra fields); the router's
own additions (``request_breakdown``) ride as extra fields too.

``openai`` takes most of a second to import, so it is imported on first use (the first
response built), never when ``respan_router`` is imported. Everything that turns a dict
into a response goes through :func:`completion_from_dict` / :func:`chunk_from_dict`:
pydantic validation (a few µs), and for an answer the SDK's types reject (an unexpected
``finish_reason``, a wrong type), the SDK's own lenient ``construct``, as the SDK does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openai.types import CompletionUsage
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from pydantic import BaseModel

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "CompletionUsage",
    "chunk_from_dict",
    "chunk_type",
    "completion_from_dict",
    "completion_type",
    "extra_field",
    "new_completion_id",
    "set_extra_field",
    "usage_from_dict",
    "usage_from_tokens",
    "usage_type",
]


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


@cache
def completion_type() -> type[ChatCompletion]:
    """:class:`openai.types.chat.ChatCompletion`, imported on first use."""
    from openai.types.chat import ChatCompletion

    return ChatCompletion


@cache
def chunk_type() -> type[ChatCompletionChunk]:
    """:class:`openai.types.chat.ChatCompletionChunk`, imported on first use."""
    from openai.types.chat import ChatCompletionChunk

    return ChatCompletionChunk


@cache
def usage_type() -> type[CompletionUsage]:
    """:class:`openai.types.CompletionUsage`, imported on first use."""
    from openai.types import CompletionUsage

    return CompletionUsage


@cache
def _validation_error() -> type[Exception]:
    from pydantic import ValidationError

    return ValidationError


def completion_from_dict(data: Mapping[str, Any]) -> ChatCompletion:
    """A completion from the OpenAI wire shape; every field kept, unknown ones as extras."""
    cls = completion_type()
    try:
        return cls.model_validate(data)
    except _validation_error():
        return cls.construct(**data)  # what the SDK itself does with any answer


def chunk_from_dict(data: Mapping[str, Any]) -> ChatCompletionChunk:
    """A stream chunk from the OpenAI wire shape; every field kept, unknown ones as extras."""
    cls = chunk_type()
    try:
        return cls.model_validate(data)
    except _validation_error():
        return cls.construct(**data)


def usage_from_dict(data: Mapping[str, Any]) -> CompletionUsage:
    """Usage from the OpenAI wire shape, details included."""
    cls = usage_type()
    try:
        return cls.model_validate(data)
    except _validation_error():
        return cls.construct(**data)


def usage_from_tokens(prompt: int, completion: int) -> CompletionUsage:
    """Usage of counted tokens (a stream whose provider reported none)."""
    return usage_type()(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def extra_field(obj: BaseModel, name: str) -> Any:
    """An extra field of a response (``request_breakdown``), or None."""
    extra = obj.__pydantic_extra__
    return extra.get(name) if extra else None


def set_extra_field(obj: BaseModel, name: str, value: Any) -> None:
    """Set an extra field on a response; it shows in ``model_dump()`` and as an attribute."""
    setattr(obj, name, value)


def __getattr__(name: str) -> Any:
    """``ChatCompletion``, ``ChatCompletionChunk``, ``CompletionUsage`` on first access."""
    if name == "ChatCompletion":
        return completion_type()
    if name == "ChatCompletionChunk":
        return chunk_type()
    if name == "CompletionUsage":
        return usage_type()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
