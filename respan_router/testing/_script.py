"""What :class:`~respan_router.testing.FakeProvider` answers: :class:`Reply` and
:class:`Failure`, and the OpenAI-shaped completions and chunks a reply becomes.

The answers go through :func:`~respan_router.responses.completion_from_dict` /
:func:`~respan_router.responses.chunk_from_dict`, like a real provider's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from respan_router.providers import ProviderCall
from respan_router.responses import chunk_from_dict, completion_from_dict, new_completion_id

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["Failure", "Reply", "chunks_of", "completion_of", "partial_chunks", "usage_of"]


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer.

    Args:
        content: the assistant's text (None: no text, as with tool calls or a refusal).
        usage: (prompt_tokens, completion_tokens); counted from words when None.
        tool_calls: (name, arguments-JSON) pairs the assistant calls.
        latency: seconds before answering (before the first chunk when streaming).
        chunk_latency: seconds between chunks when streaming.
        finish_reason: as the provider would say.
        chunks: how many pieces a stream splits the content into (default: per word).
        function_call: a legacy function call, (name, arguments-JSON).
        refusal: the model's refusal text.
        reasoning_content: the model's reasoning, as litellm reports it.
        cached_tokens: ``usage.prompt_tokens_details.cached_tokens``.
        reasoning_tokens: ``usage.completion_tokens_details.reasoning_tokens``.
        usage_details: more usage fields, merged into ``usage`` as given (e.g.
            ``{"cache_creation_input_tokens": 8}``).
        alternatives: with ``n`` > 1, the texts of choices 1, 2, ... (cycled; the
            other choices repeat ``content`` when empty).
        model: the model the answer names (default: the backend model string called).
        fields: more top-level fields of the answer (e.g. ``{"service_tier": "default"}``).
    """

    content: str | None = "ok"
    usage: tuple[int, int] | None = None
    tool_calls: tuple[tuple[str, str], ...] = ()
    latency: float = 0.0
    chunk_latency: float = 0.0
    finish_reason: str | None = None
    chunks: int | None = None
    function_call: tuple[str, str] | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage_details: Mapping[str, Any] = field(default_factory=dict)
    alternatives: tuple[str, ...] = ()
    model: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed attempt.

    Args:
        status: the HTTP status the provider answers with (429, 500, ...).
        message: the provider's error message.
        retry_after: seconds the provider asks to wait (Retry-After), if any.
        timeout: fail as a timeout (408) instead of a status.
        dropped: fail as a dropped connection.
        latency: seconds before failing.
        after_chunks: when streaming, fail after this many chunks were delivered.
    """

    status: int = 500
    message: str = "fake provider failure"
    retry_after: float | None = None
    timeout: bool = False
    dropped: bool = False
    latency: float = 0.0
    after_chunks: int = 0


def _choices(reply: Reply, call: ProviderCall) -> list[str | None]:
    """The text of each choice (``n`` of them)."""
    n = call.params.get("n") or 1
    others = reply.alternatives
    return [
        reply.content if i == 0 or not others else others[(i - 1) % len(others)]
        for i in range(max(int(n), 1))
    ]


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def usage_of(reply: Reply, call: ProviderCall) -> dict[str, Any]:
    """The usage of a reply: scripted, or counted from words."""
    if reply.usage is not None:
        p, c = reply.usage
    else:
        p = sum(_words(m["content"]) for m in call.messages if isinstance(m.get("content"), str))
        c = sum(_words(text) for text in _choices(reply, call))
    usage: dict[str, Any] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    if reply.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    if reply.reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reply.reasoning_tokens}
    usage.update(reply.usage_details)
    return usage


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
        for i, (n, a) in enumerate(reply.tool_calls)
    ]


def _finish(reply: Reply) -> str:
    if reply.finish_reason:
        return reply.finish_reason
    if reply.tool_calls:
        return "tool_calls"
    return "function_call" if reply.function_call else "stop"


def _head(reply: Reply, call: ProviderCall, cid: str, obj: str) -> dict[str, Any]:
    return {
        "id": cid,
        "object": obj,
        "created": int(time.time()),
        "model": reply.model or call.litellm_model,
        **reply.fields,
    }


def completion_of(reply: Reply, call: ProviderCall) -> ChatCompletion:
    """The completion a reply stands for."""
    finish = _finish(reply)
    choices = []
    for i, text in enumerate(_choices(reply, call)):
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reply.tool_calls:
            message["tool_calls"] = _tool_calls(reply)
        if reply.function_call is not None:
            name, arguments = reply.function_call
            message["function_call"] = {"name": name, "arguments": arguments}
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        if reply.reasoning_content is not None:
            message["reasoning_content"] = reply.reasoning_content
        choices.append({"index": i, "message": message, "finish_reason": finish})
    data = _head(reply, call, new_completion_id(), "chat.completion")
    data["choices"] = choices
    data["usage"] = usage_of(reply, call)
    return completion_from_dict(data)


def _pieces(reply: Reply, text: str | None) -> list[str]:
    if not text:
        return []
    if reply.chunks:
        size = max(1, -(-len(text) // reply.chunks))
        return [text[i : i + size] for i in range(0, len(text), size)]
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _deltas(reply: Reply, text: str | None) -> list[dict[str, Any]]:
    """One choice's deltas, in order: reasoning, text, refusal, function and tool calls."""
    deltas: list[dict[str, Any]] = []
    if reply.reasoning_content:
        deltas.append({"reasoning_content": reply.reasoning_content})
    deltas.extend({"content": piece} for piece in _pieces(reply, text))
    if reply.refusal:
        half = len(reply.refusal) // 2
        deltas += [{"refusal": reply.refusal[:half]}, {"refusal": reply.refusal[half:]}]
    if reply.function_call is not None:
        name, arguments = reply.function_call
        half = len(arguments) // 2
        deltas.append({"function_call": {"name": name, "arguments": arguments[:half]}})
        deltas.append({"function_call": {"arguments": arguments[half:]}})
    for i, (name, arguments) in enumerate(reply.tool_calls):
        head = {"index": i, "id": f"call_{i}", "type": "function"}
        deltas.append({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
        deltas.append({"tool_calls": [{"index": i, "function": {"arguments": arguments}}]})
    if not deltas:
        deltas.append({"content": ""})
    deltas[0] = {"role": "assistant", **deltas[0]}
    return deltas


def chunks_of(reply: Reply, call: ProviderCall) -> Iterator[ChatCompletionChunk | float]:
    """A reply's stream: the choices' deltas interleaved, each choice's finish, then
    usage when ``stream_options.include_usage`` asks; floats mean 'wait this long'."""
    head = _head(reply, call, new_completion_id(), "chat.completion.chunk")
    per_choice = [_deltas(reply, text) for text in _choices(reply, call)]
    first = True
    for step in range(max(len(d) for d in per_choice)):
        for index, deltas in enumerate(per_choice):
            if step < len(deltas):
                if not first and reply.chunk_latency:
                    yield reply.chunk_latency
                first = False
                choice = {"index": index, "delta": deltas[step], "finish_reason": None}
                yield chunk_from_dict({**head, "choices": [choice]})
    finish = _finish(reply)
    for index in range(len(per_choice)):
        choice = {"index": index, "delta": {}, "finish_reason": finish}
        yield chunk_from_dict({**head, "choices": [choice]})
    options = call.params.get("stream_options") or {}
    if options.get("include_usage"):
        yield chunk_from_dict({**head, "choices": [], "usage": usage_of(reply, call)})


def partial_chunks(call: ProviderCall, count: int) -> Iterator[ChatCompletionChunk]:
    """The chunks a failing stream delivers before it fails."""
    head = _head(Reply(), call, new_completion_id(), "chat.completion.chunk")
    for i in range(count):
        delta: dict[str, Any] = {"content": f"part{i} "}
        if i == 0:
            delta["role"] = "assistant"
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        yield chunk_from_dict({**head, "choices": [choice]})
