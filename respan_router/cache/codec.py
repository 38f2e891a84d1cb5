"""Responses to bytes and back, for the cache.

Compact JSON arrays, one position per field, so decoding a hit builds the dataclasses
directly from ``json`` output without looking any key up. A leading tag names the format
and its version; bytes in any other format fail with :class:`CodecError`. JSON (not
pickle) because a shared store must never be able to run code in the reader.

``request_breakdown`` is not stored: it describes one call (latency, cost, ``cached``),
not the answer, and the router writes a fresh one for each call it serves.
"""

from __future__ import annotations

import json
from typing import Any

from respan_router.responses import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    Delta,
    FunctionCall,
    Message,
    ToolCall,
    Usage,
)

__all__ = [
    "CodecError",
    "decode_chunks",
    "decode_completion",
    "encode_chunks",
    "encode_completion",
]

_COMPLETION_TAG = "chat.completion/2"
_CHUNKS_TAG = "chat.completion.chunks/2"

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_raw_decode = json.JSONDecoder().raw_decode

# Anything a malformed payload can raise while being decoded and unpacked.
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError)


class CodecError(ValueError):
    """Bytes that are not a response this codec wrote (corrupt, foreign, older format)."""


def encode_completion(resp: ChatCompletion) -> bytes:
    """Return ``resp`` as bytes, without its ``request_breakdown``."""
    return _dump(
        [
            _COMPLETION_TAG,
            resp.id,
            resp.model,
            resp.created,
            resp.object,
            resp.system_fingerprint,
            _usage_out(resp.usage),
            [
                [
                    c.index,
                    c.finish_reason,
                    c.logprobs,
                    c.message.role,
                    c.message.content,
                    c.message.refusal,
                    _calls_out(c.message.tool_calls),
                ]
                for c in resp.choices
            ],
        ]
    )


def decode_completion(data: bytes) -> ChatCompletion:
    """Return the completion :func:`encode_completion` wrote.

    Raises:
        CodecError: ``data`` is not such a completion.
    """
    try:
        tag, id_, model, created, obj, fingerprint, usage, choices = _load(data)
        if tag != _COMPLETION_TAG:
            raise CodecError(f"not a cached completion (format {tag!r})")
        return ChatCompletion(
            id_,
            model,
            [
                Choice(
                    Message(content, role, None if calls is None else _calls_in(calls), refusal),
                    index,
                    finish_reason,
                    logprobs,
                )
                for index, finish_reason, logprobs, role, content, refusal, calls in choices
            ],
            None if usage is None else Usage(usage[0], usage[1], usage[2], usage[3]),
            created,
            obj,
            fingerprint,
        )
    except CodecError:
        raise
    except _DECODE_ERRORS as exc:
        raise CodecError(f"not a cached completion: {exc}") from exc


def encode_chunks(chunks: list[ChatCompletionChunk]) -> bytes:
    """Return a stream's chunks as bytes, without their ``request_breakdown``."""
    return _dump(
        [
            _CHUNKS_TAG,
            [
                [
                    k.id,
                    k.model,
                    k.created,
                    k.object,
                    _usage_out(k.usage),
                    [
                        [
                            c.index,
                            c.finish_reason,
                            c.logprobs,
                            c.delta.role,
                            c.delta.content,
                            _calls_out(c.delta.tool_calls),
                        ]
                        for c in k.choices
                    ],
                ]
                for k in chunks
            ],
        ]
    )


def decode_chunks(data: bytes) -> list[ChatCompletionChunk]:
    """Return the chunks :func:`encode_chunks` wrote, in order.

    Raises:
        CodecError: ``data`` is not such a list of chunks.
    """
    try:
        tag, chunks = _load(data)
        if tag != _CHUNKS_TAG:
            raise CodecError(f"not cached chunks (format {tag!r})")
        return [
            ChatCompletionChunk(
                id_,
                model,
                [
                    ChunkChoice(
                        Delta(content, role, None if calls is None else _calls_in(calls)),
                        index,
                        finish_reason,
                        logprobs,
                    )
                    for index, finish_reason, logprobs, role, content, calls in choices
                ],
                None if usage is None else Usage(usage[0], usage[1], usage[2], usage[3]),
                created,
                obj,
            )
            for id_, model, created, obj, usage, choices in chunks
        ]
    except CodecError:
        raise
    except _DECODE_ERRORS as exc:
        raise CodecError(f"not cached chunks: {exc}") from exc


def _dump(obj: list[Any]) -> bytes:
    return _encode(obj).encode("utf-8", "surrogatepass")


def _load(data: bytes) -> Any:
    # raw_decode on a str: json.loads would also sniff the encoding and check kwargs, a
    # noticeable share of a hit's cost. Our own payloads have no surrounding whitespace.
    text = data.decode("utf-8", "surrogatepass")
    obj, end = _raw_decode(text)
    if end != len(text):
        raise CodecError("trailing data after the payload")
    return obj


def _usage_out(usage: Usage | None) -> list[int] | None:
    if usage is None:
        return None
    return [usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.cached_tokens]


def _calls_out(calls: list[ToolCall] | None) -> list[list[Any]] | None:
    if calls is None:
        return None
    return [[t.id, t.type, t.function.name, t.function.arguments, t.index] for t in calls]


def _calls_in(calls: list[list[Any]]) -> list[ToolCall]:
    return [
        ToolCall(id_, FunctionCall(name, arguments), type_, index)
        for id_, type_, name, arguments, index in calls
    ]
