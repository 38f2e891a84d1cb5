"""Gemini's ``usageMetadata`` as litellm's usage, for the counts this module knows.

litellm's rules (``VertexGeminiConfig._calculate_usage`` and litellm's ``Usage`` in
``litellm/types/utils.py``, as its ``ModelResponse`` dumps them): prompt, candidates and
total token counts; cached tokens (``cachedContentTokenCount``) as the prompt's cached
tokens and ``cache_read_input_tokens``, taken off the prompt's text tokens when
``promptTokensDetails`` gives those; thoughts (``thoughtsTokenCount``) as reasoning
tokens, added to the completion tokens when the total does not already count them; the
completion's text tokens from ``candidatesTokensDetails``, the candidates count, or what
is left after the reasoning tokens. Modality details other than text, tool-use prompt
tokens and any other count are litellm's: :func:`usage_known` says no.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["usage_dump", "usage_known"]

_USAGE_INTS = (
    "promptTokenCount",
    "candidatesTokenCount",
    "totalTokenCount",
    "cachedContentTokenCount",
    "thoughtsTokenCount",
)
_USAGE_KEYS = frozenset(
    {*_USAGE_INTS, "promptTokensDetails", "candidatesTokensDetails", "trafficType"}
)


# The finish reasons litellm maps without flagging the reply (its ``map_finish_reason``).
def _int(value: Any) -> bool:
    return type(value) is int


def _details_known(details: Any) -> bool:
    """Text-only modality details (``[{"modality": "TEXT", "tokenCount": n}, ...]``, not
    empty)."""
    return (
        isinstance(details, list)
        and bool(details)
        and all(
            isinstance(d, dict)
            and d.keys() == {"modality", "tokenCount"}
            and d["modality"] == "TEXT"
            and _int(d["tokenCount"])
            for d in details
        )
    )


def usage_known(usage: Any) -> bool:
    """Whether a ``usageMetadata`` holds only the counts this module translates."""
    if not isinstance(usage, dict) or not _USAGE_KEYS.issuperset(usage):
        return False
    if not all(_int(usage[k]) for k in _USAGE_INTS if k in usage):
        return False
    traffic = usage.get("trafficType")
    if traffic is not None and not isinstance(traffic, str):
        return False
    return all(
        _details_known(usage[k])
        for k in ("promptTokensDetails", "candidatesTokensDetails")
        if k in usage
    )


def _text_count(details: Any) -> int | None:
    """The tokens of text-only modality details; None without details."""
    if not details:
        return None
    total: int = sum(d["tokenCount"] for d in details)
    return total


def usage_dump(usage: Mapping[str, Any]) -> dict[str, Any]:
    """litellm's usage for a known ``usageMetadata``, as its ``ModelResponse`` dumps it."""
    prompt = usage.get("promptTokenCount", 0)
    candidates = usage.get("candidatesTokenCount", 0)
    total = usage.get("totalTokenCount", 0)
    cached = usage.get("cachedContentTokenCount")
    thoughts = usage.get("thoughtsTokenCount")
    prompt_text = _text_count(usage.get("promptTokensDetails"))
    if cached is not None and prompt_text is not None:
        prompt_text -= cached
    completion = candidates
    if thoughts and prompt + candidates != total:
        completion += thoughts
    completion_details: dict[str, Any] | None = None
    if thoughts is not None:
        completion_details = {"reasoning_tokens": thoughts}
    text = _text_count(usage.get("candidatesTokensDetails"))
    if text is None and candidates > 0:
        text = candidates
    if text is None and thoughts:  # litellm's ``Usage`` works the rest out
        text = max(0, completion - thoughts)
    if text is not None:
        completion_details = {**(completion_details or {}), "text_tokens": text}
    return {
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "total_tokens": total,
        "completion_tokens_details": completion_details,
        "prompt_tokens_details": {
            "audio_tokens": None,
            "cached_tokens": cached,
            "image_tokens": None,
            "initial_prompt_tokens": None,
            "text_tokens": prompt_text,
            "video_tokens": None,
        },
        "cache_creation_input_tokens": None,
        "cache_read_input_tokens": cached,
    }
