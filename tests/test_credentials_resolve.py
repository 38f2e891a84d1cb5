"""The credential precedence: one source for secrets, settings merged key by key."""

from __future__ import annotations

import random
from collections import Counter

from respan_router._secrets import Credentials, is_secret_name
from respan_router.request._params import RespanParams
from respan_router.routing._credentials import RequestCredentials, merge_credential_sources
from tests.helpers import assert_matches_weights


def test_secret_settings_are_recognised() -> None:
    secret = [
        "api_key",
        "aws_secret_access_key",
        "azure_ad_token",
        "organization",
        "vertex_credentials",
        "vertex_project",
        "aws_profile_name",
        "password",
    ]
    plain = ["api_base", "base_url", "api_version", "aws_region_name", "vertex_location"]
    assert all(is_secret_name(k) for k in secret)
    assert not any(is_secret_name(k) for k in plain)
    # One rule: what routing takes from one source is also what a repr masks.
    shown = repr(Credentials({k: f"value-of-{k}" for k in secret + plain}))
    assert not any(f"value-of-{k}" in shown for k in secret)
    assert all(f"value-of-{k}" in shown for k in plain)


def test_the_highest_source_with_a_secret_wins_and_settings_merge_under_it() -> None:
    creds, source = merge_credential_sources(
        [
            ("customer_credentials", {"api_key": "sk-cust"}),
            ("deployment", {"api_base": "https://dep", "api_version": "2024-06-01"}),
            ("provider", {"api_key": "sk-prov", "organization": "org-1", "api_base": "https://p"}),
        ]
    )
    assert source == "customer_credentials"
    # The deployment's endpoint survives; the provider's secrets (key and organization)
    # never mix with the customer's key.
    assert dict(creds) == {
        "api_key": "sk-cust",
        "api_base": "https://dep",
        "api_version": "2024-06-01",
    }


def test_a_higher_source_without_a_secret_contributes_settings_only() -> None:
    creds, source = merge_credential_sources(
        [
            ("credential_override", {"api_version": "2025-01-01"}),
            ("deployment", {"api_base": "https://dep"}),
            ("provider", {"api_key": "sk-prov"}),
        ]
    )
    assert source == "provider"
    assert dict(creds) == {
        "api_version": "2025-01-01",
        "api_base": "https://dep",
        "api_key": "sk-prov",
    }


def test_without_any_secret_the_highest_source_with_settings_is_named() -> None:
    creds, source = merge_credential_sources(
        [("load_balance", None), ("deployment", {"api_base": "http://localhost:11434"})]
    )
    assert (source, dict(creds)) == ("deployment", {"api_base": "http://localhost:11434"})
    creds, source = merge_credential_sources([("deployment", {}), ("provider", {"x": None})])
    assert (source, dict(creds)) == ("environment", {})


def test_request_credentials_none_when_the_request_brings_none() -> None:
    assert RequestCredentials.of(RespanParams(), random.Random(0)) is None


def test_override_by_model_then_backend_then_provider() -> None:
    rc = RequestCredentials(
        RespanParams(
            credential_override={
                "fast": {"api_key": "by-name"},
                "openai/gpt-4o": {"api_key": "by-backend"},
                "openai": {"api_key": "by-provider"},
            }
        ),
        random.Random(0),
    )
    assert rc.override("fast", "openai/gpt-4o-mini", "openai") == {"api_key": "by-name"}
    assert rc.override("smart", "openai/gpt-4o", "openai") == {"api_key": "by-backend"}
    assert rc.override("x", "openai/o3", "openai") == {"api_key": "by-provider"}
    assert rc.override("x", "anthropic/claude", "anthropic") is None


def test_plain_customer_credentials_by_provider() -> None:
    rc = RequestCredentials(
        RespanParams(customer_credentials={"openai": {"api_key": "c"}}), random.Random(0)
    )
    assert rc.customer("openai") == {"api_key": "c"}
    assert rc.customer("anthropic") is None


def test_weighted_customer_credentials_draw_once_per_provider_among_sets_for_it() -> None:
    respan = RespanParams(
        customer_credentials=[
            {"credentials": {"openai": {"api_key": "o1"}}, "weight": 1},
            {
                "credentials": {"openai": {"api_key": "o2"}, "anthropic": {"api_key": "a"}},
                "weight": 3,
            },
            {"credentials": {"azure": {"api_key": "z"}}, "weight": 5},
        ]
    )
    rng = random.Random(3)
    counts: Counter[str] = Counter()
    for _ in range(20_000):
        rc = RequestCredentials(respan, rng)
        first = rc.customer("openai")
        assert first is not None
        assert rc.customer("openai") is first  # once per plan
        counts[first["api_key"]] += 1
        assert rc.customer("anthropic") == {"api_key": "a"}  # the only set for it
        assert rc.customer("mistral") is None
    assert_matches_weights(counts, {"o1": 1, "o2": 3})
