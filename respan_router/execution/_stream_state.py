"""What a stream delivered, assembled as it goes: every choice with its text, refusal,
tool calls, function call, audio, logprobs and unknown fields, then as one completion.

The assembled completion is what a plain call would have returned for the same answer;
it is what the call's span and ``request_breakdown`` read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from respan_router.responses import completion_from_dict

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk, CompletionUsage

__all__ = ["StreamState"]

# Top-level chunk fields that are not the answer's (or are the router's own).
_SKIPPED_TOP = frozenset({"request_breakdown", "obfuscation"})


@dataclass(slots=True)
class _Choice:
    """One choice, from its deltas."""

    role: str | None = None
    text: list[str] = field(default_factory=list)
    refusal: list[str] | None = None
    tool_calls: dict[int, dict[str, Any]] | None = None
    function_call: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    logprobs: dict[str, list[Any]] | None = None
    finish_reason: str | None = None
    extra: dict[str, Any] | None = None

    def observe(self, choice: Any) -> None:
        delta = choice.delta
        if delta.content:
            self.text.append(delta.content)
        if delta.role and self.role is None:
            self.role = delta.role
        if delta.refusal:
            if self.refusal is None:
                self.refusal = []
            self.refusal.append(delta.refusal)
        if delta.tool_calls:
            self._tool_calls(delta.tool_calls)
        if delta.function_call is not None:
            self.function_call = _joined(self.function_call, delta.function_call.model_dump())
        audio = getattr(delta, "audio", None)  # a field of openai 3.x's types only
        if audio is not None:
            self.audio = _joined(self.audio, _fields(audio))
        if delta.__pydantic_extra__:
            self.extra = _joined(self.extra, delta.__pydantic_extra__)
        if choice.logprobs is not None:
            self._logprobs(choice.logprobs)
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason

    def _tool_calls(self, calls: list[Any]) -> None:
        if self.tool_calls is None:
            self.tool_calls = {}
        for call in calls:
            index = call.index if call.index is not None else len(self.tool_calls)
            got = self.tool_calls.setdefault(index, {"function": {}})
            if call.id:
                got["id"] = call.id
            if call.type:
                got["type"] = call.type
            if call.function is not None:
                got["function"] = _joined(got["function"], call.function.model_dump())

    def _logprobs(self, logprobs: Any) -> None:
        if self.logprobs is None:
            self.logprobs = {}
        for kind in ("content", "refusal"):
            items = getattr(logprobs, kind, None)
            if items:
                self.logprobs.setdefault(kind, []).extend(i.model_dump() for i in items)

    def message(self, index: int) -> dict[str, Any]:
        message: dict[str, Any] = {
            **(self.extra or {}),
            "role": self.role or "assistant",
            "content": "".join(self.text) if self.text else None,
        }
        if self.refusal is not None:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [
                {"type": "function", **c} for _, c in sorted(self.tool_calls.items())
            ]
        if self.function_call is not None:
            message["function_call"] = self.function_call
        if self.audio is not None:
            message["audio"] = self.audio
        logprobs = None
        if self.logprobs is not None:
            logprobs = {"content": None, "refusal": None, **self.logprobs}
        return {
            "index": index,
            "message": message,
            "finish_reason": self.finish_reason,
            "logprobs": logprobs,
        }


def _fields(value: Any) -> dict[str, Any]:
    """A delta part as a dict: an SDK model (openai 3.x) or the plain dict an older SDK
    keeps as an extra field."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    dumped: dict[str, Any] = value.model_dump(exclude_none=True)
    return dumped


def _joined(into: dict[str, Any] | None, parts: dict[str, Any]) -> dict[str, Any]:
    """Merge a delta's fields: strings are concatenated, anything else replaced; an
    ``id`` or ``name`` is set once (later pieces carry only the rest)."""
    out = dict(into) if into else {}
    for key, value in parts.items():
        if value is None:
            continue
        before = out.get(key)
        if isinstance(value, str) and isinstance(before, str) and key not in ("id", "name"):
            out[key] = before + value
        elif before is None or key not in ("id", "name"):
            out[key] = value
    return out


@dataclass(slots=True)
class StreamState:
    """What a stream delivered so far: its chunks, choices, usage and how it ended.

    ``model`` and ``provider`` are the candidate that answered (the model as routed);
    the answer's own ``model`` is the upstream's, in :meth:`as_completion`.
    """

    model: str = ""
    provider: str = ""
    chunks: list[ChatCompletionChunk] = field(default_factory=list)
    choices: dict[int, _Choice] = field(default_factory=dict)
    usage: CompletionUsage | None = None
    top: dict[str, Any] = field(default_factory=dict)
    completed: bool = False
    closed_early: bool = False
    error: BaseException | None = None

    def observe(self, chunk: ChatCompletionChunk) -> None:
        self.chunks.append(chunk)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.system_fingerprint is not None:
            self.top["system_fingerprint"] = chunk.system_fingerprint
        if chunk.service_tier is not None:
            self.top["service_tier"] = chunk.service_tier
        if chunk.__pydantic_extra__:
            self.top.update(
                (k, v)
                for k, v in chunk.__pydantic_extra__.items()
                if v is not None and k not in _SKIPPED_TOP
            )
        choices = self.choices
        for choice in chunk.choices:
            got = choices.get(choice.index)
            if got is None:
                got = choices[choice.index] = _Choice()
            got.observe(choice)

    @property
    def content(self) -> str:
        """The text of the first choice."""
        first = self.choices.get(0)
        return "".join(first.text) if first is not None else ""

    @property
    def all_text(self) -> str:
        """The text of every choice, for counting tokens."""
        return " ".join("".join(c.text) for _, c in sorted(self.choices.items()))

    @property
    def finish_reasons(self) -> list[str]:
        return [c.finish_reason for _, c in sorted(self.choices.items()) if c.finish_reason]

    def as_completion(self) -> ChatCompletion | None:
        """The answer delivered so far as one completion; None before any chunk."""
        if not self.chunks:
            return None
        first = self.chunks[0]
        data: dict[str, Any] = {
            **self.top,
            "id": first.id,
            "object": "chat.completion",
            "created": first.created,
            "model": next((c.model for c in self.chunks if c.model), self.model),
            "choices": [c.message(i) for i, c in sorted(self.choices.items())],
            "usage": self.usage,
        }
        return completion_from_dict(data)
