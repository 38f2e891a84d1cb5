"""Gemini's ``streamGenerateContent`` events as litellm's chunks, for the streams whose every
event this module knows; anything else is handed back (:class:`Delegate`) to litellm's
own reader.

The rules are litellm's: its Gemini stream iterator (``ModelResponseIterator`` in
``litellm/llms/vertex_ai/gemini/vertex_and_google_ai_studio_gemini.py``) under its stream
wrapper (``CustomStreamWrapper``, given the provider ``vertex_ai_beta``), then the router's
:func:`restore_chunk` as on the litellm path, for events holding one candidate of ``text``
parts (a ``thought: true`` one is reasoning) and ``functionCall`` parts:
- an event's texts joined are a content chunk, its thought texts ``reasoning_content``,
  its function calls tool calls (a made-up ``call_`` id, the arguments as
  ``json.dumps(..., ensure_ascii=False)`` writes them, an index counted over the stream);
  an event with none of them gives no chunk;
- every chunk is named by the event's ``responseId`` and the model as called; the first
  says ``role: assistant``; a content chunk carries litellm's empty grounding, URL
  context, safety and citation lists; a ``x-gemini-service-tier`` response header is the
  ``service_tier`` (``standard`` is ``default``) of the chunk of an event carrying a
  ``usageMetadata``, and of the finish chunk once any event carried one;
- the finish reason (``STOP``, ``MAX_TOKENS``, or none: ``stop``; ``tool_calls`` once a
  tool call was streamed) is a chunk of its own after the body's end;
- a ``usageMetadata`` (the counts :mod:`._gemini_reply` knows) gives no chunk of its own.
An error event, an event or field not named here, more than one candidate, another
finish reason, an event after the finish reason, another ``responseId``, a stream that
gave no chunk: :class:`Delegate`. So does the body's end when the caller asked for the
usage chunk (``stream_options.include_usage``): litellm's wrapper builds it from the
assembled response, priced, and its reader goes on from a replay.
The caller then replays the lines read so far into litellm's reader and skips the chunks
already delivered, so the stream goes on as litellm's.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean._delegate import Delegate, data_event
from respan_router.providers._lean._gemini_reply import (
    FINISH_REASONS,
    part_known,
    service_tier_of,
    tool_call,
)
from respan_router.providers._lean._gemini_usage import usage_known
from respan_router.responses import chunk_from_dict

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["GeminiEvents"]

_EVENT_KEYS = frozenset({"candidates", "usageMetadata", "modelVersion", "responseId", "createTime"})
_CANDIDATE_KEYS = frozenset({"content", "finishReason", "index"})
_CONTENT_KEYS = frozenset({"parts", "role"})
_METADATA = (
    "vertex_ai_grounding_metadata",
    "vertex_ai_url_context_metadata",
    "vertex_ai_safety_ratings",
    "vertex_ai_safety_results",
    "vertex_ai_citation_metadata",
)


def _parts(event: dict[str, Any]) -> tuple[list[Any], str | None]:
    """The one candidate's parts and finish reason, or :class:`Delegate`."""
    if not _EVENT_KEYS.issuperset(event) or not isinstance(event.get("responseId"), str):
        raise Delegate
    candidates = event.get("candidates")
    if not isinstance(candidates, list) or len(candidates) != 1:
        raise Delegate
    candidate = candidates[0]
    if not isinstance(candidate, dict) or not _CANDIDATE_KEYS.issuperset(candidate):
        raise Delegate
    reason = candidate.get("finishReason")
    if candidate.get("index", 0) != 0 or (reason is not None and reason not in FINISH_REASONS):
        raise Delegate
    content = candidate.get("content")
    if not isinstance(content, dict) or not _CONTENT_KEYS.issuperset(content):
        raise Delegate
    parts = content.get("parts")
    if not isinstance(parts, list) or not all(map(part_known, parts)):
        raise Delegate
    return parts, reason


class GeminiEvents:
    """One Gemini stream's lines in, the chunks litellm gives out (a sans-I/O core).

    Args:
        model: the model the chunks name (litellm's wrapper names the call's).
        usage: whether the caller asked for the usage chunk.
        service_tier: the response's ``x-gemini-service-tier`` header, if any.
    """

    def __init__(self, model: str, *, usage: bool, service_tier: str | None) -> None:
        self.lines: list[str] = []  # every line read, for a replay through litellm
        self.id = f"chatcmpl-{uuid.uuid4()}"
        self.created = int(time.time())
        self._model = model
        self._usage = usage
        self._tier = service_tier_of(service_tier)
        self._delivered = 0
        self._tool_index = 0
        self._finish: str | None = None
        self._tools = False
        self._any_usage = False  # whether an event carried a usage

    @property
    def delivered(self) -> int:
        """The chunks given out so far."""
        return self._delivered

    def feed(self, line: str) -> ChatCompletionChunk | None:
        """The chunk of one line, or None.

        Raises:
            Delegate: the stream needs litellm's reader.
        """
        self.lines.append(line)
        event = data_event(line)
        if event is None:
            return None
        if self._finish is not None:
            raise Delegate
        parts, reason = _parts(event)
        if self._delivered and event["responseId"] != self.id:
            raise Delegate
        usage = "usageMetadata" in event
        if usage and not usage_known(event["usageMetadata"]):
            raise Delegate
        self._any_usage = self._any_usage or usage
        if reason is not None:
            self._finish = FINISH_REASONS[reason]
        delta = self._delta(parts)
        if delta is None:
            return None
        self.id = event["responseId"]
        choice = {"delta": delta, "index": 0, "finish_reason": None, "logprobs": None}
        data = self._frame([choice], tier=usage)
        for key in _METADATA:
            data[key] = []
        self._delivered += 1
        return chunk_from_dict(data)

    def end(self) -> ChatCompletionChunk:
        """At the body's end: the finish chunk.

        Raises:
            Delegate: the stream did not end as this module knows, or the caller asked
                for the usage chunk (litellm's wrapper prices it from the assembled
                response: its reader goes on from a replay).
        """
        if not self._delivered or self._usage:
            raise Delegate
        finish = "tool_calls" if self._tools else self._finish or "stop"
        delta = {"content": None, "role": None, "tool_calls": None, "function_call": None}
        choice = {"delta": delta, "index": 0, "finish_reason": finish, "logprobs": None}
        return chunk_from_dict(self._frame([choice], tier=self._any_usage))

    def _frame(self, choices: list[dict[str, Any]], *, tier: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "model": self._model,
            "object": "chat.completion.chunk",
            "choices": choices,
        }
        if tier and self._tier is not None:
            data["service_tier"] = self._tier
        return data

    def _delta(self, parts: list[dict[str, Any]]) -> dict[str, Any] | None:
        content: str | None = None
        reasoning: str | None = None
        calls: list[dict[str, Any]] = []
        for part in parts:
            if "functionCall" in part:
                calls.append(tool_call(part["functionCall"], self._tool_index))
                self._tool_index += 1
            elif part.get("thought") is True:
                if part["text"]:
                    reasoning = (reasoning or "") + part["text"]
            elif part["text"]:
                content = (content or "") + part["text"]
        if content is None and reasoning is None and not calls:
            return None
        delta: dict[str, Any] = {
            "content": content,
            "role": None if self._delivered else "assistant",
            "tool_calls": calls or None,
            "function_call": None,
        }
        if reasoning is not None:
            delta["reasoning_content"] = reasoning
        if calls:
            self._tools = True
        return delta
