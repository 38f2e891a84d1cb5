"""Remembered routing parameters and plans give exactly what validating and planning
afresh gives: a mutated list is seen, other types are validated as usual, and a seeded
Router draws the same sequence of plans."""

from __future__ import annotations

from typing import Any

import pytest

from respan_router import Router
from respan_router.errors import InvalidRequestError
from respan_router.request import _memo
from respan_router.request._request import _validate_respan, build_request
from respan_router.testing import FakeProvider
from tests.helpers import MSG

ROUTED: dict[str, Any] = {
    "load_balance_models": [{"model": "a", "weight": 3}, {"model": "b", "weight": 1}],
    "fallback_models": ["c"],
    "retry_params": {"num_retries": 2, "retry_after": 0.1},
}


class Text(str):
    """A str subclass whose repr passes for its value."""


class Number(int):
    pass


def _respan(params: dict[str, Any]) -> Any:
    return build_request({"messages": MSG, **params}).respan


def _fresh(params: dict[str, Any]) -> Any:
    """What validation gives without the memo (or the error it raises)."""
    try:
        return _validate_respan(params)
    except InvalidRequestError as exc:
        return type(exc), exc.field


def _through_memo(params: dict[str, Any]) -> Any:
    try:
        return _respan(params)
    except InvalidRequestError as exc:
        return type(exc), exc.field


def test_repeated_parameters_are_one_validated_object_equal_to_a_fresh_one() -> None:
    first, second = _respan(ROUTED), _respan(ROUTED)
    assert first is second
    assert first == _validate_respan(ROUTED)


def test_a_mutated_list_is_validated_again_never_served_stale() -> None:
    fallbacks = ["c"]
    params = {**ROUTED, "fallback_models": fallbacks}
    assert _respan(params).fallback_models == ["c"]
    fallbacks.append("d")
    assert _respan(params).fallback_models == ["c", "d"]
    fallbacks[0] = ""
    with pytest.raises(InvalidRequestError) as caught:
        _respan(params)
    assert caught.value.field == "fallback_models[0]"


@pytest.mark.parametrize(
    "variant",
    [
        {"fallback_models": [Text("c")]},
        {"fallback_models": ("c",)},
        {"load_balance_models": [{"model": "a", "weight": True}]},
        {"load_balance_models": [{"model": "a", "weight": Number(3)}]},
        {"load_balance_models": [{"model": "a", "weight": 3.0}]},
        {"retry_params": {"num_retries": 2.0}},
        {"retry_params": {"num_retries": True}},
        {"retry_params": {"num_retries": 2, "retry_after": float("nan")}},
        {"fallback_models": ["c\ud800"]},
    ],
)
def test_values_of_other_types_give_what_fresh_validation_gives(variant: dict[str, Any]) -> None:
    look_alike = {**ROUTED, **variant}
    _respan(ROUTED)  # remembered, with values equal to some of the variants'
    assert _through_memo(look_alike) == _through_memo(look_alike)  # and again, remembered
    expected = _fresh(look_alike)
    if isinstance(expected, tuple):  # an error: the same typed error, each time
        assert _through_memo(look_alike)[0] is InvalidRequestError
    else:
        assert _through_memo(look_alike) == expected


def test_credentials_and_per_call_parameters_are_never_remembered() -> None:
    with_credentials = {
        "load_balance_models": [{"model": "a", "credentials": {"api_key": "sk-secret"}}]
    }
    assert _memo.memo_key(with_credentials) is None
    assert _memo.memo_key({**ROUTED, "metadata": {"trace": "t1"}}) is None
    assert _memo.memo_key(ROUTED) is not None
    assert _respan(with_credentials) is not _respan(with_credentials)


def test_a_seeded_router_draws_the_same_plans_as_planning_afresh() -> None:
    lb = [{"model": m, "weight": w} for m, w in {"a": 1, "b": 2, "c": 3}.items()]
    params = {"messages": MSG, "load_balance_models": lb, "fallback_models": ["d"]}
    remembered = Router(provider=FakeProvider(), seed=5)
    afresh = Router(provider=FakeProvider(), seed=5)
    request = build_request(params)
    got = [remembered.plan(**params) for _ in range(200)]
    want = [afresh._planner._routed(request) for _ in range(200)]
    assert got == want
    assert [[a.reason for a in p] for p in got] == [[a.reason for a in p] for p in want]
    assert len({p[0].model for p in got}) == 3


def test_a_returned_plan_is_the_callers_own() -> None:
    router = Router(provider=FakeProvider(), seed=1)
    params = {"messages": MSG, **ROUTED}
    for _ in range(3):
        plan = router.plan(**params)
        assert len(plan) == 3
        plan.clear()


def test_a_plain_models_attempts_are_shared_and_its_plan_still_the_callers_own() -> None:
    router = Router(provider=FakeProvider())
    request = build_request({"messages": MSG, "model": "p/a"})
    shared = router._planner.attempts(request)
    assert isinstance(shared, tuple) and router._planner.attempts(request) is shared
    assert [a.model for a in shared] == ["p/a"]
    plan = router.plan(model="p/a", messages=MSG)
    assert isinstance(plan, list) and plan == list(shared)
    plan.clear()
    assert router.plan(model="p/a", messages=MSG) == list(shared)  # the shared one untouched
    # A routed call's plan is its own list still (its copy of the remembered plan).
    routed = build_request({"messages": MSG, **ROUTED})
    assert router._planner.attempts(routed) is not router._planner.attempts(routed)


def test_models_lists_and_request_credentials_are_planned_afresh() -> None:
    # One request object planned again and again: its parameters object repeats.
    router = Router(provider=FakeProvider(), seed=3)
    lb = [{"model": "gpt-4o", "weight": 1}, {"model": "gpt-4o-mini", "weight": 1}]
    weighted = [
        {"credentials": {"fake": "k1"}, "weight": 1},
        {"credentials": {"fake": "k2"}, "weight": 1},
    ]
    request = build_request(
        {"messages": MSG, "load_balance_models": lb, "customer_credentials": weighted}
    )
    keys = {router._planner.plan(request)[0].credentials.as_kwargs()["api_key"] for _ in range(60)}
    assert keys == {"k1", "k2"}  # drawn per plan, not remembered
    fastest = build_request({"messages": MSG, "models": ["a", "b"], "routing_strategy": "fastest"})
    assert [a.model for a in router._planner.plan(fastest)] == ["a", "b"]
    assert [a.model for a in router._planner.plan(fastest)] == ["a", "b"]
    router._executor.latency.observe("a", 5.0)
    router._executor.latency.observe("b", 1.0)
    assert router._planner.plan(fastest)[0].model == "b"


def test_one_parameters_object_with_several_models_plans_each_model() -> None:
    router = Router(provider=FakeProvider(), seed=2)
    for _ in range(3):
        for model in ("a", "b"):
            plan = router.plan(messages=MSG, model=model, fallback_models=["c"])
            assert [a.model for a in plan] == [model, "c"]


def test_retry_policies_are_one_per_distinct_setting() -> None:
    executor = Router(provider=FakeProvider())._executor

    def policy(**respan: Any) -> Any:
        return executor.policy(build_request({"messages": MSG, "model": "m", **respan}))

    one = policy(retry_params={"num_retries": 1})
    assert policy(retry_params={"num_retries": 1}) is one
    assert policy(retry_params={"num_retries": 4}).num_retries == 4
    assert policy(retry_params={"num_retries": 1, "retry_after": 2}).wait == 2
    assert policy(retry_params={"num_retries": 1, "retry_enabled": False}).max_attempts == 1
    assert policy(retries=3).num_retries == 3
    assert policy(retries=3, retry_params={"num_retries": 1}) is one  # retry_params wins
    assert policy(retry_params={"num_retries": 1}).num_retries == 1
