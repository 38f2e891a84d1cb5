"""Budgets over real HTTP through litellm: the charge equals litellm's own cost x markup."""

from __future__ import annotations

import os
from decimal import ROUND_HALF_UP, Decimal

import pytest

from respan_router import BudgetExceededError, Router
from tests.helpers import MSG
from tests.upstream import FakeUpstream, Reply

KEY = "sk-budgets-http-test-key-0001"
MODEL = "openai/gpt-4o-mini"  # priced in litellm's table, with a cached-input price
USAGE = {
    "prompt_tokens": 1000,
    "completion_tokens": 200,
    "total_tokens": 1200,
    "prompt_tokens_details": {"cached_tokens": 800},
}


def _router(upstream: FakeUpstream, **kw: object) -> Router:
    return Router(
        providers={"openai": {"api_key": KEY, "api_base": upstream.base_url}},
        **kw,  # type: ignore[arg-type]
    )


def _litellm_cost() -> Decimal:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from litellm.types.utils import PromptTokensDetailsWrapper
    from litellm.types.utils import Usage as LiteUsage

    usage = LiteUsage(
        prompt_tokens=1000,
        completion_tokens=200,
        total_tokens=1200,
        prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=800),
    )
    cost_in, cost_out = litellm.cost_per_token(
        model=MODEL, prompt_tokens=1000, completion_tokens=200, usage_object=usage
    )
    return Decimal(repr(cost_in)) + Decimal(repr(cost_out))


def _micro(usd: Decimal) -> Decimal:
    return (usd * 1_000_000).to_integral_value(rounding=ROUND_HALF_UP) / Decimal(1_000_000)


@pytest.mark.parametrize("stream", [False, True])
def test_the_charge_is_litellms_cost_times_markup(upstream: FakeUpstream, stream: bool) -> None:
    upstream.set_default(Reply("priced over http", usage=USAGE))  # type: ignore[arg-type]
    router = _router(upstream, customers={"acme": {"total_budget": 1, "markup_percentage": 20}})
    kwargs: dict[str, object] = {"model": MODEL, "messages": MSG, "max_tokens": 300,
                                 "customer_identifier": "acme"}  # fmt: skip
    if stream:
        chunks = router.complete(**kwargs, stream=True, stream_options={"include_usage": True})
        list(chunks)
    else:
        router.complete(**kwargs)
    expected = _litellm_cost()
    # 200 x 0.15 + 800 x 0.075 + 200 x 0.6 per million (litellm sums floats)
    assert abs(expected - Decimal("0.00021")) < Decimal("1e-15")
    usage = router.budgets.usage("acme")
    assert usage.total_spent == _micro(expected * Decimal("1.2")) == Decimal("0.000252")
    assert (usage.total_reserved, usage.open_reservations) == (0, 0)


def test_a_refused_call_sends_no_http_request(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("never", usage=USAGE))  # type: ignore[arg-type]
    router = _router(upstream, customers={"acme": {"total_budget": 0.0001}})
    with pytest.raises(BudgetExceededError):
        router.complete(model=MODEL, messages=MSG, max_tokens=1000, customer_identifier="acme")
    assert upstream.requests == []


def test_without_max_tokens_the_models_max_output_bounds_the_hold(upstream: FakeUpstream) -> None:
    upstream.set_default(Reply("ok", usage=USAGE))  # type: ignore[arg-type]
    # gpt-4o-mini: 16,384 output tokens x $0.6/M = $0.0098304 worst case
    router = _router(upstream, customers={"acme": {"total_budget": 0.009}})
    with pytest.raises(BudgetExceededError) as info:
        router.complete(model=MODEL, messages=MSG, customer_identifier="acme")
    assert info.value.estimate_usd > Decimal("0.0098304")
    assert upstream.requests == []
