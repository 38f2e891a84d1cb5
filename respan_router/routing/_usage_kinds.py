"""A call's tokens by kind, and its cost by kind (the ``token-breakdown`` beta).

Tokens come from the answer's usage: the OpenAI details (``prompt_tokens_details``,
``completion_tokens_details``) and the fields litellm adds for providers with prompt
caching (``cache_read_input_tokens``, ``cache_creation_input_tokens``). Prices per kind
come from the provider's price table (litellm's ``cache_read_input_token_cost``, ...); a
kind without its own price is priced as plain input or output. Money is summed as
:class:`~decimal.Decimal`, then reported in USD.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = [
    "INPUT_KINDS",
    "OUTPUT_KINDS",
    "PRICE_KEYS",
    "cached_prompt_tokens",
    "cost_by_kind",
    "tokens_by_kind",
]

INPUT_KINDS = ("uncached", "cached", "cache_creation", "audio")
OUTPUT_KINDS = ("text", "reasoning", "audio")

#: The price of each (side, kind), by litellm's name; the first is the side's base price.
PRICE_KEYS: dict[tuple[str, str], str] = {
    ("input", "uncached"): "input_cost_per_token",
    ("input", "cached"): "cache_read_input_token_cost",
    ("input", "cache_creation"): "cache_creation_input_token_cost",
    ("input", "audio"): "input_cost_per_audio_token",
    ("output", "text"): "output_cost_per_token",
    ("output", "reasoning"): "output_cost_per_reasoning_token",
    ("output", "audio"): "output_cost_per_audio_token",
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _detail(usage: Any, section: str, name: str) -> int:
    details = getattr(usage, section, None)
    return _int(getattr(details, name, None)) if details is not None else 0


def _extra(usage: Any, name: str) -> int:
    extra = getattr(usage, "__pydantic_extra__", None) or {}
    return _int(extra.get(name))


def cached_prompt_tokens(usage: Any) -> int:
    """Prompt tokens read from the provider's prompt cache: the OpenAI detail, else
    litellm's ``cache_read_input_tokens``."""
    details = getattr(usage, "prompt_tokens_details", None)  # one flat step: per settle
    if details is not None:
        cached = _int(getattr(details, "cached_tokens", None))
        if cached:
            return cached
    extra = getattr(usage, "__pydantic_extra__", None)
    return _int(extra.get("cache_read_input_tokens")) if extra else 0


def tokens_by_kind(usage: Any) -> dict[str, dict[str, int]]:
    """``{"input": {uncached, cached, cache_creation, audio}, "output": {text, reasoning,
    audio}}``; each side sums to the usage's prompt / completion tokens."""
    prompt, completion = _int(usage.prompt_tokens), _int(usage.completion_tokens)
    cached = cached_prompt_tokens(usage)
    creation = _extra(usage, "cache_creation_input_tokens") or _detail(
        usage, "prompt_tokens_details", "cache_write_tokens"
    )
    audio_in = _detail(usage, "prompt_tokens_details", "audio_tokens")
    reasoning = _detail(usage, "completion_tokens_details", "reasoning_tokens")
    audio_out = _detail(usage, "completion_tokens_details", "audio_tokens")
    return {
        "input": {
            "uncached": max(prompt - cached - creation - audio_in, 0),
            "cached": cached,
            "cache_creation": creation,
            "audio": audio_in,
        },
        "output": {
            "text": max(completion - reasoning - audio_out, 0),
            "reasoning": reasoning,
            "audio": audio_out,
        },
    }


def cost_by_kind(
    tokens: Mapping[str, Mapping[str, int]], prices: Mapping[str, float]
) -> dict[str, Any]:
    """USD per (side, kind) and in total, from per-token prices by litellm's names."""
    out: dict[str, Any] = {"input": {}, "output": {}}
    total = Decimal(0)
    for (side, kind), key in PRICE_KEYS.items():
        base = PRICE_KEYS[(side, "uncached" if side == "input" else "text")]
        price = prices.get(key)
        if price is None:
            price = prices.get(base, 0.0)
        amount = Decimal(str(price)) * tokens[side][kind]
        total += amount
        out[side][kind] = float(amount)
    out["total"] = float(total)
    return out
