"""litellm's responses as the OpenAI SDK's types, with nothing lost on the way.

A completion: litellm's ``ModelResponse.model_dump()`` keeps what the upstream sent,
except that fields its types do not name are gathered into ``provider_specific_fields``
(on the message and each choice). They are put back where the upstream sent them, so an
answer reads as it does from the OpenAI SDK; for a provider whose answer litellm
translated (Anthropic's citations, ...), they appear under their own names. Fields of
litellm's own (``reasoning_content``, ``thinking_blocks``, ...) are kept as extras.

A stream: when litellm streams through the OpenAI SDK (OpenAI and OpenAI-compatible
upstreams), the SDK's own chunks are passed through unchanged; litellm's stream wrapper
keeps only the first choice, drops refusal deltas and rewrites ``model`` and
``created``. Other providers' streams come through the wrapper, converted chunk by chunk.

One normalisation is kept from litellm, on every path: a finish reason outside OpenAI's
set (``"eos"``, ``"end_turn"``) is mapped onto it (``"stop"``), as litellm maps it;
litellm's ``native_finish_reason`` note is not passed on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from respan_router.responses import chunk_from_dict, completion_from_dict

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = [
    "RawEvents",
    "aclose_stream",
    "chunk_of",
    "close_stream",
    "completion_of",
    "keep_unknown_fields",
    "restore_chunk",
    "restore_completion",
    "sdk_stream_of",
]

_PSF = "provider_specific_fields"
_OPENAI_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
_LITELLM_NOTES = ("native_finish_reason",)


def completion_of(response: Any) -> ChatCompletion:
    """The completion of litellm's ``ModelResponse``."""
    return completion_from_dict(restore_completion(response.model_dump()))


def restore_completion(data: dict[str, Any]) -> dict[str, Any]:
    """litellm's dump of a completion, its ``provider_specific_fields`` put back (in place)."""
    return _restore_choices(data, "message")


def chunk_of(chunk: Any, raw: Mapping[str, Any] | None = None) -> ChatCompletionChunk:
    """The chunk of litellm's ``ModelResponseStream`` (or an SDK chunk, unchanged).

    ``raw`` is the upstream event litellm parsed it from, when known: its top-level
    fields litellm's chunk type does not name are kept (see :func:`keep_unknown_fields`).
    """
    if _is_sdk_chunk(chunk):
        for choice in chunk.choices:
            reason = choice.finish_reason
            if reason is not None and reason not in _OPENAI_FINISH:
                choice.finish_reason = _map_finish(reason)
        return chunk  # type: ignore[no-any-return]
    data = restore_chunk(chunk.model_dump())
    if raw is not None:
        keep_unknown_fields(data, raw)
    return chunk_from_dict(data)


def keep_unknown_fields(data: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (a chunk as litellm parsed it) with the top-level fields of the upstream
    event ``raw`` that litellm's parser drops (Groq's ``x_groq``, any unknown field) put
    back, in place. Fields litellm sets are left as they are."""
    for key, value in raw.items():
        if key not in data:
            data[key] = value
    return data


class RawEvents:
    """The upstream events a litellm stream wrapper's parser reads, for :func:`chunk_of`.

    For providers litellm streams through its own HTTP handler, the wrapper's
    ``completion_stream`` parses each SSE event with ``chunk_parser(event)``; the
    instance's parser is wrapped to remember the last event (nothing else changes).
    """

    __slots__ = ("_last",)

    def __init__(self, wrapper: Any) -> None:
        self._last: Mapping[str, Any] | None = None
        inner = getattr(wrapper, "completion_stream", None)
        parser = getattr(inner, "chunk_parser", None)
        if inner is None or not callable(parser):
            return

        def remembering(chunk: Any) -> Any:  # litellm passes it by keyword
            if isinstance(chunk, Mapping):
                self._last = chunk
            return parser(chunk=chunk)

        try:
            inner.chunk_parser = remembering
        except (AttributeError, TypeError):  # a type that refuses it: nothing kept
            return

    def take(self) -> Mapping[str, Any] | None:
        """The event read since the last take, or None."""
        last, self._last = self._last, None
        return last


def restore_chunk(data: dict[str, Any]) -> dict[str, Any]:
    """litellm's dump of a stream chunk, its ``provider_specific_fields`` put back, its
    empty ``citations`` dropped, and the usage details its stream wrapper fills in with
    zeros when the provider sent none (in place)."""
    if data.get("citations", 0) is None:
        del data["citations"]
    usage = data.get("usage")
    if isinstance(usage, dict):
        for key, total in (
            ("prompt_tokens_details", "prompt_tokens"),
            ("completion_tokens_details", "completion_tokens"),
        ):
            details = usage.get(key)
            if isinstance(details, dict) and _filled_in(details, usage.get(total)):
                usage[key] = None
    return _restore_choices(data, "delta")


def _restore_choices(data: dict[str, Any], inner: str) -> dict[str, Any]:
    """Each choice's and its ``inner`` object's (message or delta) provider-specific
    fields put back, litellm's own notes dropped; then the top level's."""
    for choice in data.get("choices") or ():
        _lift(choice)
        for note in _LITELLM_NOTES:
            choice.pop(note, None)
        body = choice.get(inner)
        if isinstance(body, dict):
            _lift(body)
    _lift(data)
    return data


def sdk_stream_of(wrapper: Any) -> Any:
    """The OpenAI SDK stream inside litellm's stream wrapper, or None when there is none."""
    inner = getattr(wrapper, "completion_stream", None)
    if inner is None:
        return None
    import openai  # loaded by litellm already

    return inner if isinstance(inner, openai.Stream | openai.AsyncStream) else None


def _filled_in(details: dict[str, Any], total: Any) -> bool:
    """Details that say nothing: zeros and nulls, and text tokens equal to the total (what
    litellm's stream wrapper writes when the provider sent no details)."""
    return all(not v or (k == "text_tokens" and v == total) for k, v in details.items())


def _map_finish(reason: str) -> str:
    from litellm.litellm_core_utils.core_helpers import map_finish_reason

    mapped: str = map_finish_reason(reason)
    return mapped


def _is_sdk_chunk(chunk: Any) -> bool:
    from respan_router.responses import chunk_type

    return type(chunk) is chunk_type()


def _lift(data: dict[str, Any]) -> None:
    """Put the entries of litellm's ``provider_specific_fields`` back beside it."""
    fields = data.pop(_PSF, None)
    if isinstance(fields, dict):
        for key, value in fields.items():
            data.setdefault(key, value)


def close_stream(stream: Any) -> None:
    """Close a litellm or SDK stream, whatever it offers."""
    close = getattr(stream, "close", None)
    if callable(close):
        close()


async def aclose_stream(stream: Any) -> None:
    aclose = getattr(stream, "aclose", None)
    if callable(aclose):
        await aclose()
    else:
        close_stream(stream)
