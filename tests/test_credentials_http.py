"""Credentials over real HTTP: the key each source resolves to is the one the upstream
receives in its Authorization header, attempt by attempt."""

from __future__ import annotations

from typing import Any

import pytest

from respan_router import Router
from tests.helpers import MSG
from tests.upstream import Error, FakeUpstream, Reply


def _router(upstream: FakeUpstream, **kw: Any) -> Router:
    return Router(
        providers={
            "openai": {
                "api_key": "sk-router",
                "organization": "org-router",
                "api_base": upstream.base_url,
            }
        },
        deployments={
            "a": {"model": "openai/a", "api_key": "sk-deploy-a"},
            "b": {"model": "openai/b", "api_key": "sk-deploy-b"},
        },
        sleep=lambda s: None,
        seed=1,
        **kw,
    )


def _keys(upstream: FakeUpstream) -> list[str]:
    return [r.headers.get("authorization", "") for r in upstream.requests]


CUSTOMER = {"openai": {"api_key": "sk-customer"}}

# (request parameters, the key the upstream must see, the plan's credential_source)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("provider", {"model": "openai/m"}, "sk-router", "provider"),
    ("deployment", {"model": "a"}, "sk-deploy-a", "deployment"),
    (
        "load-balance-item",
        {"load_balance_models": [{"model": "a", "weight": 1, "credentials": {"api_key": "sk-lb"}}]},
        "sk-lb",
        "load_balance",
    ),
    (
        "customer-credentials",
        {
            "load_balance_models": [
                {"model": "a", "weight": 1, "credentials": {"api_key": "sk-lb"}}
            ],
            "customer_credentials": CUSTOMER,
        },
        "sk-customer",
        "customer_credentials",
    ),
    (
        "customer-credentials-weighted",
        {
            "model": "a",
            "customer_credentials": [
                {"credentials": {"openai": {"api_key": "sk-weighted"}}, "weight": 3}
            ],
        },
        "sk-weighted",
        "customer_credentials",
    ),
    (
        "override-by-provider",
        {
            "model": "a",
            "customer_credentials": CUSTOMER,
            "credential_override": {"openai": {"api_key": "sk-override-openai"}},
        },
        "sk-override-openai",
        "credential_override",
    ),
    (
        "override-by-model",
        {
            "model": "a",
            "customer_credentials": CUSTOMER,
            "credential_override": {
                "a": {"api_key": "sk-override-a"},
                "openai": {"api_key": "sk-override-openai"},
            },
        },
        "sk-override-a",
        "credential_override",
    ),
]


@pytest.mark.parametrize(("name", "params", "expected", "source"), CASES, ids=[c[0] for c in CASES])
def test_the_upstream_receives_the_winning_key(
    upstream: FakeUpstream, name: str, params: dict[str, Any], expected: str, source: str
) -> None:
    router = _router(upstream)
    [attempt] = router.plan(messages=MSG, **params)
    assert attempt.credential_source == source
    assert expected not in repr(attempt)
    out = router.complete(messages=MSG, **params)
    assert out.choices[0].message.content
    assert _keys(upstream) == [f"Bearer {expected}"]
    # Secrets come from one source: the Router's organization goes only with its own key.
    organization = upstream.requests[0].headers.get("openai-organization")
    assert organization == ("org-router" if source == "provider" else None)


async def test_the_upstream_receives_the_customer_key_async(upstream: FakeUpstream) -> None:
    await _router(upstream).acomplete(model="a", messages=MSG, customer_credentials=CUSTOMER)
    assert _keys(upstream) == ["Bearer sk-customer"]


def test_fallback_from_deployment_a_to_b_sends_key_1_then_key_2(upstream: FakeUpstream) -> None:
    upstream.set_default(Error(503), model="a")
    upstream.set_default(Reply("from b"), model="b")
    out = _router(upstream).complete(model="a", fallback_models=["b"], messages=MSG, retries=1)
    assert out.model == "b"
    assert [r.body["model"] for r in upstream.requests] == ["a", "a", "b"]
    assert _keys(upstream) == ["Bearer sk-deploy-a", "Bearer sk-deploy-a", "Bearer sk-deploy-b"]


async def test_fallback_between_load_balance_items_uses_each_items_key(
    upstream: FakeUpstream,
) -> None:
    upstream.enqueue(Error(500))  # whichever item is drawn first fails once
    items = [
        {"model": "openai/x", "weight": 1, "credentials": {"api_key": "sk-item-x"}},
        {"model": "openai/y", "weight": 1, "credentials": {"api_key": "sk-item-y"}},
    ]
    await _router(upstream).acomplete(messages=MSG, load_balance_models=items)
    sent = [(r.body["model"], r.headers["authorization"]) for r in upstream.requests]
    assert len(sent) == 2 and sent[0][0] != sent[1][0]
    assert all(key == f"Bearer sk-item-{model}" for model, key in sent)


def test_a_weighted_customer_credential_set_is_kept_across_fallbacks(
    upstream: FakeUpstream,
) -> None:
    customer = [
        {"credentials": {"openai": {"api_key": "sk-set-1"}}, "weight": 1},
        {"credentials": {"openai": {"api_key": "sk-set-2"}}, "weight": 1},
    ]
    router = _router(upstream)
    for _ in range(4):  # fewer failures than open a circuit breaker
        upstream.reset()
        upstream.set_default(Error(401), model="a")
        upstream.set_default(Reply("from b"), model="b")
        router.complete(
            model="a", fallback_models=["b"], messages=MSG, customer_credentials=customer
        )
        first, second = _keys(upstream)
        assert first == second and first in ("Bearer sk-set-1", "Bearer sk-set-2")
