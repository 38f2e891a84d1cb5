"""Bedrock ConverseStream's events as litellm's chunks, for the streams whose every event
this module knows; anything else is handed back (:class:`Delegate`) to litellm's decoder.

The body is AWS's binary event stream, cut into events as the pieces arrive
(``_converse_frames``: a frame may span pieces, a piece may hold several; frames litellm's
decoder reads otherwise are handed back). The rules are litellm's: its
``AWSEventStreamDecoder`` (``converse_chunk_parser``) under its stream wrapper
(``CustomStreamWrapper``), then the router's :func:`restore_chunk` as on the litellm path:

- ``messageStart`` gives no chunk (it must come first);
- a ``text`` delta is a content chunk; a ``toolUse`` block's start is a tool call chunk
  (id, name through litellm's tool-name mapping, empty arguments, the stream's tool index,
  content ``""``) and each ``toolUse`` delta one with the arguments' next piece;
- the first chunk says ``role: assistant``;
- ``contentBlockStop`` gives no chunk; ``messageStop`` is the finish chunk (litellm's
  finish-reason map; ``stop`` after a tool call is ``tool_calls``, as litellm's wrapper
  makes it); ``metadata`` (usage and metrics) gives none without the usage chunk.

An exception frame (``throttlingException``, ...) or another frame ``_converse_frames``
does not read, an event or field not named here (reasoning, citations, guardrail traces,
``conversationId``, a block event without its index, a ``metadata`` without ``metrics``
or with usage fields not named here), a first event other than ``messageStart``, an
empty text or tool input, a tool block without arguments, an event before the first
chunk that litellm would turn into an empty one, a text repeated as litellm counts it,
bytes left over at the body's end, a body that ends before ``messageStop``, the usage
chunk asked for: :class:`Delegate`. The caller replays the pieces read so far into
litellm's decoder and skips the chunks already delivered, so the stream goes on as
litellm's, with its chunks and errors.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean._converse_frames import whole_events
from respan_router.providers._lean._delegate import Delegate
from respan_router.responses import chunk_from_dict

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletionChunk

__all__ = ["ConverseEvents", "Delegate"]

_PAD = "p"  # Bedrock pads each event with a random ``p`` field, which litellm ignores
# A block's events: litellm reads them as such only with their index.
_INDEX = "contentBlockIndex"
_DELTA_KEYS = frozenset({"delta", _INDEX, _PAD})
_INDEX_KEYS = frozenset({_INDEX, _PAD})
_START_KEYS = frozenset({"start", _INDEX, _PAD})
_TOOL_START_KEYS = frozenset({"toolUseId", "name"})
_STOP_KEYS = frozenset({"stopReason", _PAD})
_STOP_REASONS = frozenset({"end_turn", "tool_use", "max_tokens", "stop_sequence"})
_USAGE_KEYS = frozenset(
    {"inputTokens", "outputTokens", "totalTokens", "cacheReadInputTokens", "cacheWriteInputTokens"}
)


def _usage_known(usage: Any) -> bool:
    """Usage litellm's ``transform_usage`` reads without failing, as this module knows it."""
    return (
        isinstance(usage, dict)
        and _USAGE_KEYS.issuperset(usage)
        and {"inputTokens", "outputTokens"} <= usage.keys()
        and all(type(count) is int for count in usage.values())
    )


def _metrics_known(metrics: Any) -> bool:
    """Metrics botocore's event parser reads as this module knows them (counts)."""
    return isinstance(metrics, dict) and all(type(v) is int for v in metrics.values())


class ConverseEvents:
    """One ConverseStream's body pieces in, the chunks litellm gives out (a sans-I/O core).

    Args:
        model: the model the chunks name (litellm's wrapper names the deployment's).
        finish: litellm's finish-reason map.
        repeat_limit: litellm's limit of identical chunks in a row (it raises there).
    """

    def __init__(self, model: str, finish: Callable[[str], str], *, repeat_limit: int) -> None:
        self.lines: list[bytes] = []  # every piece read, for a replay through litellm
        self.id = f"chatcmpl-{uuid.uuid4()}"
        self.created = int(time.time())
        self._model = model
        self._finish = finish
        self._repeat_limit = max(repeat_limit // 2, 1)
        self._buffer = b""
        self._delivered = 0  # chunks given out
        self._made = 0  # chunks made (a piece's are given out once all its frames are read)
        self._events = 0
        self._tool_index = -1
        self._tool_block = False
        self._arguments = False
        self._tools = False
        self._stopped = False
        self._ended = False
        self._last_text: str | None = None
        self._repeats = 0

    @property
    def delivered(self) -> int:
        """The chunks given out so far."""
        return self._delivered

    def feed(self, piece: bytes) -> list[ChatCompletionChunk]:
        """The chunks of one piece of the body (its whole frames).

        Raises:
            Delegate: the stream needs litellm's decoder.
        """
        self.lines.append(piece)
        events, self._buffer = whole_events(self._buffer + piece if self._buffer else piece)
        chunks: list[ChatCompletionChunk] = []
        for kind, event in events:
            self._events += 1
            chunk = self._event(kind, event)
            if chunk is not None:
                self._made += 1
                chunks.append(chunk)
        self._delivered = self._made
        return chunks

    def end(self) -> None:
        """At the body's end: nothing more (the usage chunk is litellm's).

        Raises:
            Delegate: the stream did not end as this module knows.
        """
        if self._buffer or not self._stopped:
            raise Delegate

    # -- one event ---------------------------------------------------------------------------

    def _event(self, kind: str, event: Any) -> ChatCompletionChunk | None:
        if not isinstance(event, dict) or type(event.get(_INDEX, 0)) is not int:
            raise Delegate
        if self._ended or (self._events == 1) != (kind == "messageStart"):
            raise Delegate  # messageStart first, once; nothing after metadata
        if kind == "contentBlockDelta":
            return self._delta(event)
        if kind == "messageStart":
            if not {"role", _PAD}.issuperset(event) or event.get("role") != "assistant":
                raise Delegate
            return None
        if kind == "contentBlockStart":
            return self._start(event)
        if kind == "contentBlockStop":
            if not _INDEX_KEYS.issuperset(event) or _INDEX not in event:
                raise Delegate
            if not self._made or self._stopped:
                raise Delegate
            if self._tool_block and not self._arguments:
                raise Delegate  # litellm's own rule for empty arguments
            self._tool_block = False
            return None
        if kind == "messageStop":
            return self._stop(event)
        if kind == "metadata":
            if not self._stopped or event.keys() - {_PAD} != {"usage", "metrics"}:
                raise Delegate
            if not _usage_known(event["usage"]) or not _metrics_known(event["metrics"]):
                raise Delegate  # litellm reads the usage even when it drops it
            self._ended = True
            return None
        raise Delegate

    def _delta(self, event: dict[str, Any]) -> ChatCompletionChunk:
        if not _DELTA_KEYS.issuperset(event) or _INDEX not in event or self._stopped:
            raise Delegate
        delta = event["delta"]
        if not isinstance(delta, dict) or len(delta) != 1:
            raise Delegate
        text = delta.get("text")
        if type(text) is str and text:
            if self._tool_block:
                raise Delegate
            self._repeated(text)
            return self._chunk({"content": text, "tool_calls": None})
        use = delta.get("toolUse")
        if not isinstance(use, dict) or use.keys() != {"input"} or not self._tool_block:
            raise Delegate
        arguments = use["input"]
        if type(arguments) is not str or not arguments:
            raise Delegate
        self._arguments = True
        return self._tool_chunk(None, None, arguments)

    def _start(self, event: dict[str, Any]) -> ChatCompletionChunk:
        if not _START_KEYS.issuperset(event) or _INDEX not in event or self._stopped:
            raise Delegate
        if self._tool_block:
            raise Delegate
        start = event["start"]
        if not isinstance(start, dict) or start.keys() != {"toolUse"}:
            raise Delegate
        use = start["toolUse"]
        if not isinstance(use, dict) or use.keys() != _TOOL_START_KEYS:
            raise Delegate
        call_id, name = use["toolUseId"], use["name"]
        if type(call_id) is not str or type(name) is not str:
            raise Delegate
        from litellm.llms.bedrock.common_utils import get_bedrock_tool_name

        self._tool_index += 1
        self._tool_block, self._arguments, self._tools = True, False, True
        named: str = get_bedrock_tool_name(response_tool_name=name)
        return self._tool_chunk(call_id, named, "")

    def _stop(self, event: dict[str, Any]) -> ChatCompletionChunk:
        if not _STOP_KEYS.issuperset(event) or not self._made or self._stopped:
            raise Delegate
        reason = event.get("stopReason")
        if reason not in _STOP_REASONS or self._tool_block:
            raise Delegate
        finish = self._finish(reason)
        if finish == "stop" and self._tools:
            finish = "tool_calls"
        self._stopped = True
        return self._chunk({"content": None, "tool_calls": None}, finish)

    def _repeated(self, text: str) -> None:
        """litellm raises on a model repeating one chunk: its decoder decides, early."""
        if len(text) > 2 and text == self._last_text:
            self._repeats += 1
            if self._repeats >= self._repeat_limit:
                raise Delegate
        else:
            self._repeats = 1
        self._last_text = text

    def _tool_chunk(
        self, call_id: str | None, name: str | None, arguments: str
    ) -> ChatCompletionChunk:
        self._last_text, self._repeats = None, 1
        function = {"arguments": arguments, "name": name}
        call = {"index": self._tool_index, "id": call_id, "function": function}
        return self._chunk({"content": "", "tool_calls": [{**call, "type": "function"}]})

    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> ChatCompletionChunk:
        delta["role"] = None if self._made else "assistant"
        data = {
            "id": self.id,
            "created": self.created,
            "model": self._model,
            "object": "chat.completion.chunk",
            "choices": [{"delta": delta, "index": 0, "finish_reason": reason, "logprobs": None}],
        }
        return chunk_from_dict(data)
