"""OpenAI-shaped responses: what ``complete`` returns and what streams yield.

Plain slotted dataclasses, cheap to build on the hot path. ``from_dict`` reads the OpenAI
wire shape (and litellm's ``model_dump()``); ``to_dict`` writes it back.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "Delta",
    "FunctionCall",
    "Message",
    "ToolCall",
    "Usage",
    "new_completion_id",
]


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


@dataclass(slots=True)
class FunctionCall:
    name: str
    arguments: str


@dataclass(slots=True)
class ToolCall:
    id: str
    function: FunctionCall
    type: str = "function"
    index: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ToolCall:
        fn = data.get("function") or {}
        return cls(
            id=data.get("id") or "",
            type=data.get("type") or "function",
            function=FunctionCall(name=fn.get("name") or "", arguments=fn.get("arguments") or ""),
            index=data.get("index"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.function.name, "arguments": self.function.arguments},
        }
        if self.index is not None:
            out["index"] = self.index
        return out


@dataclass(slots=True)
class Usage:
    """Token counts; ``cached_tokens`` are the prompt tokens read from the provider's
    prompt cache (``prompt_tokens_details.cached_tokens``), priced lower."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage | None:
        if not data:
            return None
        p = int(data.get("prompt_tokens") or 0)
        c = int(data.get("completion_tokens") or 0)
        details = data.get("prompt_tokens_details")
        cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
        return cls(p, c, int(data.get("total_tokens") or p + c), cached)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return out


@dataclass(slots=True)
class Message:
    content: str | None
    role: str = "assistant"
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        calls = data.get("tool_calls")
        return cls(
            content=data.get("content"),
            role=data.get("role") or "assistant",
            tool_calls=[ToolCall.from_dict(c) for c in calls] if calls else None,
            refusal=data.get("refusal"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.refusal is not None:
            out["refusal"] = self.refusal
        return out


@dataclass(slots=True)
class Choice:
    message: Message
    index: int = 0
    finish_reason: str | None = "stop"
    logprobs: Any = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Choice:
        return cls(
            message=Message.from_dict(data.get("message") or {}),
            index=int(data.get("index") or 0),
            finish_reason=data.get("finish_reason"),
            logprobs=data.get("logprobs"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "message": self.message.to_dict(),
            "finish_reason": self.finish_reason,
            "logprobs": self.logprobs,
        }


@dataclass(slots=True)
class ChatCompletion:
    """A chat completion, as the OpenAI API returns it.

    ``model`` names the model that actually answered (as requested, after routing).
    ``request_breakdown`` is set when the request asked for it; ``prompt_message`` (the
    messages a ``prompt`` rendered to) when the request named a prompt with ``echo``.
    """

    id: str
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    object: str = "chat.completion"
    system_fingerprint: str | None = None
    request_breakdown: dict[str, Any] | None = None
    prompt_message: list[dict[str, Any]] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatCompletion:
        return cls(
            id=data.get("id") or new_completion_id(),
            model=data.get("model") or "",
            choices=[Choice.from_dict(c) for c in data.get("choices") or ()],
            usage=Usage.from_dict(data.get("usage")),
            created=int(data.get("created") or time.time()),
            system_fingerprint=data.get("system_fingerprint"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "choices": [c.to_dict() for c in self.choices],
            "usage": self.usage.to_dict() if self.usage else None,
            "system_fingerprint": self.system_fingerprint,
        }
        if self.request_breakdown is not None:
            out["request_breakdown"] = self.request_breakdown
        if self.prompt_message is not None:
            out["prompt_message"] = self.prompt_message
        return out


@dataclass(slots=True)
class Delta:
    content: str | None = None
    role: str | None = None
    tool_calls: list[ToolCall] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delta:
        calls = data.get("tool_calls")
        return cls(
            content=data.get("content"),
            role=data.get("role"),
            tool_calls=[ToolCall.from_dict(c) for c in calls] if calls else None,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.role is not None:
            out["role"] = self.role
        if self.content is not None:
            out["content"] = self.content
        if self.tool_calls:
            out["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        return out


@dataclass(slots=True)
class ChunkChoice:
    delta: Delta
    index: int = 0
    finish_reason: str | None = None
    logprobs: Any = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkChoice:
        return cls(
            delta=Delta.from_dict(data.get("delta") or {}),
            index=int(data.get("index") or 0),
            finish_reason=data.get("finish_reason"),
            logprobs=data.get("logprobs"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "delta": self.delta.to_dict(),
            "finish_reason": self.finish_reason,
            "logprobs": self.logprobs,
        }


@dataclass(slots=True)
class ChatCompletionChunk:
    """One streamed chunk. The breakdown chunk has ``id == "request_breakdown"``."""

    id: str
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    created: int = field(default_factory=lambda: int(time.time()))
    object: str = "chat.completion.chunk"
    request_breakdown: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatCompletionChunk:
        return cls(
            id=data.get("id") or "",
            model=data.get("model") or "",
            choices=[ChunkChoice.from_dict(c) for c in data.get("choices") or ()],
            usage=Usage.from_dict(data.get("usage")),
            created=int(data.get("created") or time.time()),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": self.object,
            "created": self.created,
            "model": self.model,
            "choices": [c.to_dict() for c in self.choices],
        }
        if self.usage is not None:
            out["usage"] = self.usage.to_dict()
        if self.request_breakdown is not None:
            out["request_breakdown"] = self.request_breakdown
        return out
