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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from respan_router.responses import chunk_from_dict, completion_from_dict

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["chunk_of", "completion_of", "sdk_stream_of"]

_PSF = "provider_specific_fields"


def completion_of(response: Any) -> ChatCompletion:
    """The completion of litellm's ``ModelResponse``."""
    data = response.model_dump()
    for choice in data.get("choices") or ():
        _lift(choice)
        message = choice.get("message")
        if isinstance(message, dict):
            _lift(message)
    _lift(data)
    return completion_from_dict(data)


def chunk_of(chunk: Any) -> ChatCompletionChunk:
    """The chunk of litellm's ``ModelResponseStream`` (or an SDK chunk, unchanged)."""
    if _is_sdk_chunk(chunk):
        return chunk  # type: ignore[no-any-return]
    data = chunk.model_dump()
    if data.get("citations", 0) is None:
        del data["citations"]
    for choice in data.get("choices") or ():
        _lift(choice)
        delta = choice.get("delta")
        if isinstance(delta, dict):
            _lift(delta)
    _lift(data)
    return chunk_from_dict(data)


def sdk_stream_of(wrapper: Any) -> Any:
    """The OpenAI SDK stream inside litellm's stream wrapper, or None when there is none."""
    inner = getattr(wrapper, "completion_stream", None)
    if inner is None:
        return None
    import openai  # loaded by litellm already

    return inner if isinstance(inner, openai.Stream | openai.AsyncStream) else None


def _is_sdk_chunk(chunk: Any) -> bool:
    from respan_router.responses import chunk_type

    return type(chunk) is chunk_type()


def _lift(data: dict[str, Any]) -> None:
    """Put the entries of litellm's ``provider_specific_fields`` back beside it."""
    fields = data.pop(_PSF, None)
    if isinstance(fields, dict):
        for key, value in fields.items():
            data.setdefault(key, value)
