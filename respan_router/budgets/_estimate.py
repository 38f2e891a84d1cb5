"""What one try may cost a customer at worst, and what a finished try did cost.

Pure steps of the budget stage (no store I/O): the worst case held before a try is sent
(the billed input counted by the provider's tokenizer, the output cap, the price), and
the charge of its reported usage. Both take the price the try was reserved at, so an
attempt's price is looked up once.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from respan_router.budgets._billable import (
    BILLED_INPUT_NAMES,
    billed_input_text,
    clamped_tokens,
    output_cap,
)
from respan_router.budgets._cost import ModelPrice, marked_up, to_micro
from respan_router.budgets._customer import CustomerCall
from respan_router.errors import InvalidRequestError
from respan_router.providers import Provider
from respan_router.request import ChatRequest
from respan_router.routing import cached_prompt_tokens

if TYPE_CHECKING:
    from respan_router.responses import CompletionUsage

__all__ = ["charge", "markup_of", "prompt_tokens", "worst_case"]


@lru_cache(maxsize=256)
def markup_of(percentage: str) -> Decimal:
    """A stored markup percentage as a Decimal (parsed once per distinct value)."""
    return Decimal(percentage)


def prompt_tokens(provider: Provider, backend: str, request: ChatRequest) -> int:
    """The prompt's tokens: the messages and the definitions sent beside them (tools,
    ...), all billed input; without a tokenizer, every character a token (an upper
    bound for text)."""
    params = request.params
    extra = "" if params.keys().isdisjoint(BILLED_INPUT_NAMES) else billed_input_text(params)
    counted = provider.count_tokens(backend, request.messages, extra)
    if counted is not None:
        return counted[0] + counted[1]
    text = sum(len(json.dumps(m, ensure_ascii=False, default=str)) for m in request.messages)
    return text + len(extra) + 8


def worst_case(
    call: CustomerCall,
    request: ChatRequest,
    model: str,
    price: ModelPrice | None,
    provider: Provider,
    backend: str,
) -> int:
    """The worst-case marked-up micro-dollars of one try (0 without a budget).

    Raises:
        InvalidRequestError: the customer has a budget and the model's price, or a
            bound on its output, is unknown.
    """
    budget = call.budget
    if budget.period_budget is None and budget.total_budget is None:
        return 0  # no budget (CustomerBudget.has_budget)
    who = budget.customer_id
    if price is None:
        raise InvalidRequestError(
            f"the price of {model!r} is unknown, and customer {who!r} has a budget: "
            "set its prices in Router(budget_prices=...)",
            field="budget_prices",
        )
    params = request.params
    cap = output_cap(params)
    if cap is None:
        cap = price.max_output_tokens
    if cap is None:
        raise InvalidRequestError(
            f"the output of {model!r} has no known limit, and customer {who!r} has a "
            "budget: set max_tokens (or max_output_tokens in Router(budget_prices=...))",
            field="max_tokens",
        )
    n = params.get("n") or 1
    prompt, completion = prompt_tokens(provider, backend, request), int(cap) * int(n)
    markup = budget.markup_percentage
    rate = price.rate(markup)
    micro = None if rate is None else rate.marked(prompt, completion)
    if micro is not None:
        return micro
    return to_micro(marked_up(price.cost(prompt, completion), markup_of(markup)))


def charge(
    call: CustomerCall, held: int, price: ModelPrice | None, usage: CompletionUsage | None
) -> int:
    """What a finished try costs the customer (micro-dollars), recorded on ``call``.
    Without a usage or a price the try is charged its hold ``held`` in full (the worst
    case)."""
    prompt = completion = None
    if usage is not None:
        prompt = getattr(usage, "prompt_tokens", None)
        if type(prompt) is not int or prompt < 0:  # else the usual count, as it is
            prompt = clamped_tokens(prompt, "prompt_tokens")
        completion = getattr(usage, "completion_tokens", None)
        if type(completion) is not int or completion < 0:
            completion = clamped_tokens(completion, "completion_tokens")
    if prompt is None or completion is None or price is None:
        call.priced = False
        call.customer_cost_micro += held
        return held
    cached, markup = cached_prompt_tokens(usage), call.budget.markup_percentage
    rate = price.rate(markup)
    micro = None if rate is None else rate.cost(prompt, completion, cached)
    if micro is None:
        usd = price.cost(prompt, completion, cached)
        micro = to_micro(usd), to_micro(marked_up(usd, markup_of(markup)))
    call.cost_micro += micro[0]
    call.customer_cost_micro += micro[1]
    return micro[1]
