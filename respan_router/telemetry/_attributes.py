"""Span attributes of a call, as plain dicts. Pure functions: no OpenTelemetry import.

Names follow the OpenTelemetry GenAI semantic conventions (``gen_ai.*``), plus the
legacy ``gen_ai.usage.prompt_tokens`` / ``completion_tokens`` that Respan's pipeline still
reads, plus Respan's own ``respan.*`` attributes. :mod:`respan_router.telemetry._sink` calls
these builders only when a span is recording. Nothing here reads credentials or headers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from respan_router._json import compact_encoder, stringify
from respan_router.budgets import span_attributes as budget_attributes
from respan_router.errors import error_type
from respan_router.execution import AttemptRecord, CallRecord
from respan_router.request import ChatRequest, RenderedPrompt
from respan_router.telemetry._caller import (
    add_respan,
    metadata_attributes,
    property_attributes,
    respan_attributes,
)
from respan_router.telemetry._messages import input_messages, output_messages

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, CompletionUsage

__all__ = [
    "attempt_attributes",
    "call_attributes",
    "metadata_attributes",
    "prompt_attributes",
    "property_attributes",
    "respan_attributes",
    "stringify",
]

Attributes = dict[str, Any]

OPERATION = "chat"

# OpenAI request parameter -> GenAI attribute; the value is recorded as given.
_REQUEST_PARAMS: tuple[tuple[str, str], ...] = (
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
    ("seed", "gen_ai.request.seed"),
)

# One encoder for every call: json.dumps with options builds a new encoder each time.
_json = compact_encoder(default=str)


def prompt_attributes(prompt: RenderedPrompt, *, content: bool) -> Attributes:
    """``respan.prompt.*``: the prompt a request was rendered from; its variables are
    content (recorded only with ``content``)."""
    out: Attributes = {
        "respan.prompt.id": prompt.prompt_id,
        "respan.prompt.version": prompt.version,
    }
    if prompt.children:
        out["respan.prompt.child_ids"] = prompt.children
    if content:
        out["respan.prompt.variables"] = _json(prompt.variables)
    return out


def request_attributes(request: ChatRequest) -> Attributes:
    """``gen_ai.request.*`` from the OpenAI parameters the caller gave."""
    out: Attributes = {}
    if request.params:
        _add_request(request.params, out)
    return out


def _add_request(params: Mapping[str, Any], out: Attributes) -> None:
    for name, attr in _REQUEST_PARAMS:
        value = params.get(name)
        if value is not None:
            out[attr] = value
    max_tokens = params.get("max_tokens", params.get("max_completion_tokens"))
    if max_tokens is not None:
        out["gen_ai.request.max_tokens"] = max_tokens
    stop = params.get("stop")
    if stop is not None:
        out["gen_ai.request.stop_sequences"] = (stop,) if isinstance(stop, str) else tuple(stop)
    n = params.get("n")
    if n is not None and n != 1:
        out["gen_ai.request.choice.count"] = n


def usage_attributes(usage: CompletionUsage | None) -> Attributes:
    """Token counts under the current GenAI names and the legacy ones Respan reads."""
    out: Attributes = {}
    if usage is not None:
        _add_usage(usage, out)
    return out


def _add_usage(usage: CompletionUsage, out: Attributes) -> None:
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    out["gen_ai.usage.input_tokens"] = prompt
    out["gen_ai.usage.output_tokens"] = completion
    out["gen_ai.usage.prompt_tokens"] = prompt
    out["gen_ai.usage.completion_tokens"] = completion


def token_breakdown_attributes(kinds: Mapping[str, Any]) -> Attributes:
    """``respan.usage.<side>.<kind>_tokens`` and ``respan.cost.<side>.<kind>`` (USD) of the
    token-breakdown beta; no cost attributes when the price is unknown."""
    out: Attributes = {}
    for side, counts in kinds["tokens"].items():
        for kind, count in counts.items():
            out[f"respan.usage.{side}.{kind}_tokens"] = count
    cost = kinds["cost"]
    if cost is not None:
        for side in ("input", "output"):
            for kind, amount in cost[side].items():
                out[f"respan.cost.{side}.{kind}"] = amount
    return out


def response_attributes(response: ChatCompletion) -> Attributes:
    out: Attributes = {}
    _add_response(response, out)
    return out


def _add_response(response: ChatCompletion, out: Attributes) -> None:
    out["gen_ai.response.model"] = response.model
    out["gen_ai.response.id"] = response.id
    choices = response.choices
    if len(choices) == 1:  # the common case
        reason = choices[0].finish_reason
        if reason:
            out["gen_ai.response.finish_reasons"] = (reason,)
    else:
        reasons = tuple(c.finish_reason for c in choices if c.finish_reason)
        if reasons:
            out["gen_ai.response.finish_reasons"] = reasons
    usage = response.usage
    if usage is not None:
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        out["gen_ai.usage.input_tokens"] = prompt
        out["gen_ai.usage.output_tokens"] = completion
        out["gen_ai.usage.prompt_tokens"] = prompt
        out["gen_ai.usage.completion_tokens"] = completion


# -- content ----------------------------------------------------------------------------
def requested_model(request: ChatRequest, record: CallRecord) -> str | None:
    """The model the caller asked for, or the first candidate routing chose."""
    if request.model is not None:
        return request.model
    return record.attempts[0].model if record.attempts else None


def call_attributes(
    record: CallRecord,
    request: ChatRequest,
    response: ChatCompletion | None,
    error: BaseException | None,
    *,
    cost: float | None,
    record_content: bool,
    record_customer_email: bool = False,
) -> Attributes:
    """Every attribute of the call span (the INTERNAL span covering the whole call),
    written into one dict in one pass over the call's record; the conversation is
    encoded as JSON only when content is recorded."""
    attempts = record.attempts
    model = request.model
    provider: str | None = None
    retries = 0
    if attempts:
        if model is None:
            model = attempts[0].model
        provider = attempts[-1].provider
        if len(attempts) > 1:
            retries = record.retries
        elif attempts[0].tries > 1:
            retries = attempts[0].tries - 1
    end = record.end_ns or time.time_ns()
    # What every call span has, in one literal (the two a call may lack dropped after).
    out: Attributes = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "respan.cache.hit": record.cache_hit,
        "respan.fallback.attempts": len(attempts) - 1 if attempts else 0,
        "respan.retries": retries,
        "respan.latency": (end - record.start_ns) / 1e9,
        "respan.routing_time": record.routing_seconds,
    }
    if provider is None:  # no candidate was tried
        del out["gen_ai.provider.name"]
    if model is None:
        del out["gen_ai.request.model"]
    if request.params:
        _add_request(request.params, out)
    if response is not None:
        _add_response(response, out)
    if error is not None:
        out["error.type"] = error_type(error)
    respan = request.respan
    if not request.bare:  # a call without Respan parameters names no caller
        add_respan(respan, record_customer_email, out)
    customer = record.customer
    if customer is not None:
        out.update(budget_attributes(customer, record_email=record_customer_email))
    if cost is not None:
        out["respan.cost"] = cost
    if record.redis_degraded:
        out["respan.redis.degraded"] = True  # shared state on per-process policies
    if record.first_chunk_ns:
        first = (record.first_chunk_ns - record.start_ns) / 1e9
        out["gen_ai.response.time_to_first_chunk"] = first
    if record_content and not respan.disable_log:
        if request.prompt is not None:
            out.update(prompt_attributes(request.prompt, content=True))
        out["gen_ai.input.messages"] = input_messages(request.messages)
        if response is not None:
            out["gen_ai.output.messages"] = output_messages(response)
    elif request.prompt is not None:
        out.update(prompt_attributes(request.prompt, content=False))
    return out


def attempt_attributes(attempt: AttemptRecord) -> Attributes:
    """The attributes of one candidate's CLIENT span: provider, model, outcome."""
    # "pending": the call was interrupted (cancelled) during this attempt.
    outcome = "interrupted" if attempt.outcome == "pending" else attempt.outcome
    out: Attributes = {
        "gen_ai.operation.name": OPERATION,
        "gen_ai.provider.name": attempt.provider,
        "gen_ai.request.model": attempt.model,
        "respan.attempt.outcome": outcome,
        "respan.attempt.tries": attempt.tries,
    }
    if attempt.dispatch_path is not None:
        out["respan.attempt.dispatch_path"] = attempt.dispatch_path
    if attempt.error is not None:
        out["error.type"] = error_type(attempt.error)
    return out
