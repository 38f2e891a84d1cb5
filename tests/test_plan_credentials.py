"""Credentials per attempt: each source winning in turn, the merge rule, no secret shown."""

from __future__ import annotations

from typing import Any

import pytest

from respan_router import Router
from respan_router.testing import Failure, FakeProvider
from tests.helpers import MSG

PROVIDERS = {
    "openai": {"api_key": "sk-provider", "organization": "org-router", "api_base": "https://prov"}
}
DEPLOYMENTS = {"fast": {"model": "openai/gpt-4o-mini", "api_key": "sk-deploy", "api_version": "v1"}}

OVERRIDE_MODEL = {"fast": {"api_key": "sk-override-model"}}
OVERRIDE_PROVIDER = {"openai": {"api_key": "sk-override-provider"}}
CUSTOMER = {"openai": {"api_key": "sk-customer"}}
CUSTOMER_WEIGHTED = [{"credentials": {"openai": {"api_key": "sk-weighted"}}, "weight": 2}]
LB = [{"model": "fast", "credentials": {"api_key": "sk-lb"}}]


def make() -> tuple[Router, FakeProvider]:
    fake = FakeProvider()
    return Router(provider=fake, providers=PROVIDERS, deployments=DEPLOYMENTS, seed=0), fake


# (request parameters, expected source, expected api_key, expected credential keys)
CASES: list[tuple[dict[str, Any], str, str | None, tuple[str, ...]]] = [
    (
        {
            "credential_override": {**OVERRIDE_MODEL, **OVERRIDE_PROVIDER},
            "customer_credentials": CUSTOMER,
            "load_balance_models": LB,
        },
        "credential_override",
        "sk-override-model",
        ("api_base", "api_key", "api_version"),
    ),
    (
        {
            "credential_override": OVERRIDE_PROVIDER,
            "customer_credentials": CUSTOMER,
            "load_balance_models": LB,
        },
        "credential_override",
        "sk-override-provider",
        ("api_base", "api_key", "api_version"),
    ),
    (
        {"customer_credentials": CUSTOMER, "load_balance_models": LB},
        "customer_credentials",
        "sk-customer",
        ("api_base", "api_key", "api_version"),
    ),
    (
        {"customer_credentials": CUSTOMER_WEIGHTED, "load_balance_models": LB},
        "customer_credentials",
        "sk-weighted",
        ("api_base", "api_key", "api_version"),
    ),
    (
        {"load_balance_models": LB},
        "load_balance",
        "sk-lb",
        ("api_base", "api_key", "api_version"),
    ),
    ({"model": "fast"}, "deployment", "sk-deploy", ("api_base", "api_key", "api_version")),
    (
        {"model": "openai/gpt-4o"},
        "provider",
        "sk-provider",
        ("api_base", "api_key", "organization"),
    ),
    ({"model": "anthropic/claude-3-5-sonnet"}, "environment", None, ()),
]


@pytest.mark.parametrize(("params", "source", "key", "keys"), CASES)
def test_each_credential_source_wins_in_turn(
    params: dict[str, Any], source: str, key: str | None, keys: tuple[str, ...]
) -> None:
    router, fake = make()
    attempt = router.plan(messages=MSG, **params)[0]
    assert attempt.credential_source == source
    assert attempt.credentials.get("api_key") == key
    assert tuple(sorted(attempt.credentials)) == keys
    router.complete(messages=MSG, **params)
    call = fake.calls[0]
    assert (call.credential_source, call.credential_keys) == (source, keys)


def test_secrets_come_from_one_source_and_endpoint_settings_survive() -> None:
    router, _ = make()
    attempt = router.plan(model="openai/gpt-4o", customer_credentials=CUSTOMER, messages=MSG)[0]
    # The router's api_base survives under the customer's key; its organization does not.
    assert dict(attempt.credentials) == {"api_key": "sk-customer", "api_base": "https://prov"}
    attempt = router.plan(
        model="fast",
        customer_credentials={"openai": {"api_key": "sk-c", "api_base": "https://customer"}},
        messages=MSG,
    )[0]
    assert dict(attempt.credentials) == {
        "api_key": "sk-c",
        "api_base": "https://customer",
        "api_version": "v1",
    }


def test_an_override_without_a_secret_adjusts_settings_only() -> None:
    router, _ = make()
    attempt = router.plan(
        model="fast", credential_override={"fast": {"api_version": "v2"}}, messages=MSG
    )[0]
    assert attempt.credential_source == "deployment"
    assert dict(attempt.credentials) == {
        "api_key": "sk-deploy",
        "api_version": "v2",
        "api_base": "https://prov",
    }


def test_credentials_are_resolved_per_attempt_along_the_fallbacks() -> None:
    router, fake = make()
    fake.set_default("fast", Failure(500))
    fake.set_default("openai/gpt-4o", Failure(500))
    params: dict[str, Any] = {
        "load_balance_models": LB,
        "fallback_models": ["fast", "openai/gpt-4o", "anthropic/claude"],
        "credential_override": {"anthropic": {"api_key": "sk-anthropic"}},
    }
    plan = router.plan(messages=MSG, **params)
    assert [(a.model, a.credential_source) for a in plan] == [
        ("fast", "load_balance"),
        ("fast", "deployment"),  # the same model with other credentials: kept
        ("openai/gpt-4o", "provider"),
        ("anthropic/claude", "credential_override"),
    ]
    router.complete(messages=MSG, **params)
    assert [c.credential_source for c in fake.calls] == [a.credential_source for a in plan]


def test_customer_credentials_for_another_provider_fall_through() -> None:
    router, _ = make()
    attempt = router.plan(
        model="fast", customer_credentials={"anthropic": {"api_key": "sk-a"}}, messages=MSG
    )[0]
    assert attempt.credential_source == "deployment"


def test_weighted_customer_credentials_draw_once_per_plan() -> None:
    router, fake = make()
    fake.set_default("openai/gpt-4o", Failure(500))
    weighted = [{"credentials": {"openai": {"api_key": f"sk-{i}"}}, "weight": 1} for i in range(5)]
    for _ in range(30):
        plan = router.plan(
            model="openai/gpt-4o",
            fallback_models=["openai/gpt-4o-mini", "fast"],
            customer_credentials=weighted,
            messages=MSG,
        )
        assert len({a.credentials["api_key"] for a in plan}) == 1
    router.complete(
        model="openai/gpt-4o",
        fallback_models=["openai/gpt-4o-mini"],
        customer_credentials=weighted,
        messages=MSG,
    )
    assert [c.credential_source for c in fake.calls] == ["customer_credentials"] * 2


def test_no_secret_in_any_repr_of_a_plan() -> None:
    router, _ = make()
    secrets = ["sk-override-model", "sk-customer", "sk-lb", "sk-deploy", "sk-provider"]
    plans = [router.plan(messages=MSG, **params) for params, *_ in CASES]
    text = repr(plans) + str(plans) + "".join(repr(a.credentials) for p in plans for a in p)
    for secret in secrets:
        assert secret not in text
    assert "org-router" not in repr(plans)  # an Attempt shows no credential value at all
    assert "credential_source='customer_credentials'" in text
