"""Whether a span started now will record, when the tracer's sampler lets us know first.

The call span's attributes are cheapest passed to ``start_span`` (the SDK cleans them
once, with the span), but building them is wasted on a span the sampler drops. The SDK's
stock samplers decide without reading the span's attributes: ``ALWAYS_ON`` always
records, and the SDK's default ``ParentBased(ALWAYS_ON)`` records unless the span in the
current context is a valid, unsampled parent. For those the decision is known before the
span starts; for any other sampler it is not (``UNKNOWN``: start the span, then ask it).
No OpenTelemetry module is imported here: the SDK's is read only when the tracer is one.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Literal

__all__ = ["ALWAYS", "PARENT", "UNKNOWN", "Rule", "records_now", "rule_of"]

Rule = Literal["always", "parent", "unknown"]
ALWAYS: Rule = "always"
PARENT: Rule = "parent"
UNKNOWN: Rule = "unknown"

_SAMPLING = "opentelemetry.sdk.trace.sampling"


def rule_of(tracer: Any) -> Rule:
    """How to know, before a span of ``tracer`` starts, whether it will record."""
    sampling = sys.modules.get(_SAMPLING)
    sampler = getattr(tracer, "sampler", None)
    if sampling is None or sampler is None:
        return UNKNOWN
    try:
        if type(sampler) is sampling.StaticSampler and _same(sampler, sampling.ALWAYS_ON):
            return ALWAYS
        if type(sampler) is sampling.ParentBased and _same(sampler, sampling.DEFAULT_ON):
            return PARENT
    except Exception:  # an SDK that changed shape: ask each span instead
        return UNKNOWN
    return UNKNOWN


def _same(sampler: Any, stock: Any) -> bool:
    return bool(sampler.get_description() == stock.get_description())


def records_now(rule: Rule, trace: ModuleType, context: Any) -> bool | None:
    """Whether a span started now in ``context`` (the current one, read by the caller)
    will record; None when only the span can tell."""
    if rule == ALWAYS:
        return True
    if rule == PARENT:
        current = trace.get_current_span(context)
        if current is trace.INVALID_SPAN:  # no span in the context: a root, recorded
            return True
        parent = current.get_span_context()
        return bool(not parent.is_valid or parent.trace_flags.sampled)
    return None
