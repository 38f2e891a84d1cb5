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

from typing import TYPE_CHECKING, Any

from respan_router.responses import chunk_from_dict, completion_from_dict

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["chunk_of", "completion_of", "restore_chunk", "restore_completion", "sdk_stream_of"]

_PSF = "provider_specific_fields"
_OPENAI_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})
_LITELLM_NOTES = ("native_finish_reason",)


def completion_of(response: Any) -> ChatCompletion:
    """The completion of litellm's ``ModelResponse``."""
    return completion_from_dict(restore_completion(response.model_dump()))


def restore_completion(data: dict[str, Any]) -> dict[str, Any]:
    """litellm's dump of a completion, its ``provider_specific_fields`` put back (in place)."""
    return _restore_choices(data, "message")


def chunk_of(chunk: Any) -> ChatCompletionChunk:
    """The chunk of litellm's ``ModelResponseStream`` (or an SDK chunk, unchanged)."""
    if _is_sdk_chunk(chunk):
        for choice in chunk.choices:
            reason = choice.finish_reason
            if reason is not None and reason not in _OPENAI_FINISH:
                choice.finish_reason = _map_finish(reason)
        return chunk  # type: ignore[no-any-return]
    return chunk_from_dict(restore_chunk(chunk.model_dump()))


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
