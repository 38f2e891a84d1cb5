"""What one try may bill, and what a finished try did bill, as the budget counts them.

- Input: the provider bills the messages *and* the definitions sent beside them
  (``tools``, ``functions``, ``response_format``, ``tool_choice``...). Those are counted
  as their JSON text with the same tokenizer as the messages (litellm's counter on the
  litellm path), so a large ``tools`` list cannot slip past a budget.
- Output: the larger of ``max_tokens`` and ``max_completion_tokens`` when both are given
  (a provider honours one of them; the budget assumes the dearer).
- Usage: a provider's usage is data from the outside. Token counts that are negative,
  fractional, non-finite or not numbers are clamped (a fraction rounds up, a negative
  counts 0) or, when unreadable, the try is charged its full hold; a warning is logged.
  A settle never raises over a usage, so the paid answer is never lost and no hold stays
  open.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BILLED_INPUT_NAMES",
    "BILLED_INPUT_PARAMS",
    "billed_input_text",
    "clamped_tokens",
    "output_cap",
]

log = logging.getLogger("respan_router.budgets")

#: Parameters a provider turns into prompt tokens beside the messages.
BILLED_INPUT_PARAMS = ("tools", "functions", "response_format", "tool_choice", "function_call")
#: The same names as a set: ``params.keys().isdisjoint`` walks the smaller side (the
#: request's few parameters) only when given a set.
BILLED_INPUT_NAMES = frozenset(BILLED_INPUT_PARAMS)


def billed_input_text(params: Mapping[str, Any]) -> str:
    """The JSON text of the billed non-message parameters ("" when there are none)."""
    if params.keys().isdisjoint(BILLED_INPUT_NAMES):
        return ""  # the common case
    parts = [
        json.dumps(params[name], ensure_ascii=False, default=str)
        for name in BILLED_INPUT_PARAMS
        if params.get(name) is not None
    ]
    return "\n".join(parts)


def output_cap(params: Mapping[str, Any]) -> int | None:
    """The largest output the request allows (per choice), or None when it sets none."""
    cap: int | None = params.get("max_tokens")
    if type(cap) is int and cap > 0 and "max_completion_tokens" not in params:
        return cap  # the usual request: one int cap
    cap = None
    for name in ("max_tokens", "max_completion_tokens"):
        value = params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            cap = int(value) if cap is None else max(cap, int(value))
    return cap


def clamped_tokens(value: Any, name: str) -> int | None:
    """A usage's token count as a non-negative int; None when it is not a number."""
    if type(value) is int and value >= 0:
        return value  # the usual count
    if isinstance(value, bool) or not isinstance(value, int | float):
        log.warning("usage.%s is not a number; the try is charged its full hold", name)
        return None
    if isinstance(value, float) and not math.isfinite(value):
        log.warning("usage.%s is not finite; the try is charged its full hold", name)
        return None
    if value < 0:
        log.warning("usage.%s is negative; counted as 0", name)
        return 0
    if isinstance(value, float):
        if not value.is_integer():
            log.warning("usage.%s is fractional; rounded up", name)
        return math.ceil(value)
    return int(value)
