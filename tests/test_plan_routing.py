"""The routing plan: precedence, fallbacks, exclusions, strategies, model_name_map.

Each rule is shown through ``router.plan()`` and through real calls on FakeProvider.
"""

from __future__ import annotations

from typing import Any

import pytest

from respan_router import (
    AllAttemptsFailedError,
    InvalidRequestError,
    NoCandidateError,
    Router,
)
from respan_router.routing._plan import Attempt
from respan_router.testing import Failure, FakeProvider, Reply
from tests.helpers import MSG

GROUPS = {
    "chat": [
        {"model": "group-a", "weight": 3},
        {"model": "group-b", "weight": 1},
    ]
}


def make(**kwargs: Any) -> tuple[Router, FakeProvider]:
    fake = kwargs.pop("fake", None) or FakeProvider()
    kwargs.setdefault("seed", 1)
    return Router(provider=fake, load_balance_groups=GROUPS, **kwargs), fake


def models(attempts: list[Attempt]) -> list[str]:
    return [a.model for a in attempts]


def reasons(attempts: list[Attempt]) -> list[str]:
    return [a.reason for a in attempts]


# -- precedence ------------------------------------------------------------------------


ALL_SOURCES: dict[str, Any] = {
    "model": "plain",
    "models": ["listed-1", "listed-2"],
    "load_balance_group": {"group_id": "chat"},
    "load_balance_models": [{"model": "inline", "weight": 1}],
}


@pytest.mark.parametrize(
    ("drop", "first", "reason"),
    [
        ((), "inline", "load_balance_models: weighted choice (weight 1 of 1)"),
        (("load_balance_models",), "group-a", "load_balance_group 'chat': weighted choice"),
        (("load_balance_models", "load_balance_group"), "plain", "model"),
        (("load_balance_models", "load_balance_group", "model"), "listed-1", "models[0]"),
        (("load_balance_models", "load_balance_group", "models"), "plain", "model"),
    ],
)
def test_precedence_of_the_sources_of_the_first_model(
    drop: tuple[str, ...], first: str, reason: str
) -> None:
    params = {k: v for k, v in ALL_SOURCES.items() if k not in drop}
    attempts = make()[0].plan(messages=MSG, **params)
    assert attempts[0].model == first
    assert attempts[0].reason.startswith(reason)
    router, fake = make()  # the same seed: the same draw as the plan above
    fake.set_default(first, Reply("from the first"))
    out = router.complete(messages=MSG, **params)
    assert out.choices[0].message.content == "from the first"
    assert [c.model for c in fake.calls] == [first]


def test_load_balancing_overrides_model_and_models_entirely() -> None:
    router, _ = make()
    plan = router.plan(messages=MSG, **ALL_SOURCES)
    assert models(plan) == ["inline"]
    plan = router.plan(
        messages=MSG, **{k: v for k, v in ALL_SOURCES.items() if k != "load_balance_models"}
    )
    assert models(plan) == ["group-a", "group-b"]


def test_model_goes_first_and_models_follow_in_list_order() -> None:
    router, fake = make(routing_strategy="cheapest")
    plan = router.plan(model="m", models=["x", "y", "m"], messages=MSG)
    assert models(plan) == ["m", "x", "y"]  # m once: same model, same credentials
    assert reasons(plan) == ["model", "models[0]: fallback", "models[1]: fallback"]
    fake.set_default("m", Failure(503))
    fake.set_default("x", Failure(500))
    out = router.complete(model="m", models=["x", "y", "m"], messages=MSG)
    assert out.model == "y"
    assert [c.model for c in fake.calls] == ["m", "x", "y"]


def test_models_alone_the_strategy_picks_the_first_and_the_rest_keep_list_order() -> None:
    fake = FakeProvider(prices={"p/a": (3e-6, 3e-6), "p/b": (2e-6, 2e-6), "p/c": (1e-6, 1e-6)})
    router, _ = make(fake=fake, routing_strategy="cheapest")
    plan = router.plan(models=["p/a", "p/b", "p/c"], messages=MSG)
    assert models(plan) == ["p/c", "p/a", "p/b"]
    assert reasons(plan) == [
        "models[2]: cheapest choice",
        "models[0]: fallback",
        "models[1]: fallback",
    ]


def test_per_call_strategy_overrides_the_routers_default() -> None:
    fake = FakeProvider(prices={"p/a": (3e-6, 3e-6), "p/b": (1e-6, 1e-6)})
    ordered, _ = make(fake=fake)
    cheapest, _ = make(fake=fake, routing_strategy="cheapest")
    listed = ["p/a", "p/b"]
    assert ordered.plan(models=listed, messages=MSG)[0].model == "p/a"
    assert ordered.plan(models=listed, routing_strategy="cheapest", messages=MSG)[0].model == "p/b"
    assert cheapest.plan(models=listed, messages=MSG)[0].model == "p/b"
    assert cheapest.plan(models=listed, routing_strategy="ordered", messages=MSG)[0].model == "p/a"


def test_cheapest_prices_deployments_and_standard_names() -> None:
    fake = FakeProvider(prices={"azure/gpt-4o": (1e-6, 1e-6), "openai/gpt-4o": (5e-6, 5e-6)})
    router, _ = make(
        fake=fake,
        routing_strategy="cheapest",
        deployments={"priced": {"model": "openai/o3", "input_cost_per_token": 1e-9}},
    )
    plan = router.plan(models=["openai/gpt-4o", "azure/gpt-4o"], messages=MSG)
    assert plan[0].model == "azure/gpt-4o"
    # model_name_map renames the deployment, but prices stay those of the standard name.
    plan = router.plan(
        models=["openai/gpt-4o", "azure/gpt-4o"], model_name_map={"gpt-4o": "prod"}, messages=MSG
    )
    assert (plan[0].model, plan[0].litellm_model) == ("azure/gpt-4o", "azure/prod")
    plan = router.plan(models=["azure/gpt-4o", "priced"], messages=MSG)
    assert plan[0].model == "priced"


def test_fastest_tries_unobserved_models_then_the_lowest_observed_latency() -> None:
    fake = FakeProvider()
    fake.set_default("slow", Reply("slow", latency=0.05))
    fake.set_default("quick", Reply("quick"))
    router, _ = make(fake=fake, routing_strategy="fastest")
    listed = ["slow", "quick"]
    firsts = []
    for _ in range(4):
        firsts.append(router.plan(models=listed, messages=MSG)[0].model)
        router.complete(models=listed, messages=MSG)
    # Unobserved first in list order (slow, then quick), then the faster one.
    assert firsts == ["slow", "quick", "quick", "quick"]
    assert [c.model for c in fake.calls] == firsts


async def test_fastest_learns_from_async_calls_too() -> None:
    fake = FakeProvider()
    fake.set_default("slow", Reply("slow", latency=0.05))
    router, _ = make(fake=fake, routing_strategy="fastest")
    for _ in range(3):
        await router.acomplete(models=["slow", "quick"], messages=MSG)
    assert [c.model for c in fake.calls] == ["slow", "quick", "quick"]


# -- load balancing ----------------------------------------------------------------------


def test_load_balance_rest_follows_by_descending_weight_before_fallback_models() -> None:
    lb = [
        {"model": "w1", "weight": 1},
        {"model": "w5", "weight": 5},
        {"model": "w3", "weight": 3},
        {"model": "w3b", "weight": 3},
    ]
    for seed in range(20):
        router, fake = make(seed=seed)
        plan = router.plan(load_balance_models=lb, fallback_models=["fb"], messages=MSG)
        rest = [m for m in ["w5", "w3", "w3b", "w1"] if m != plan[0].model]
        assert models(plan) == [plan[0].model, *rest, "fb"]
        assert plan[1].reason.startswith("load_balance_models: fallback (weight ")
        assert plan[-1].reason == "fallback_models[0]"
    for name in ("w1", "w5", "w3", "w3b"):
        fake.set_default(name, Failure(500))
    out = router.complete(load_balance_models=lb, fallback_models=["fb"], messages=MSG)
    assert out.model == "fb"
    assert len(fake.calls) == 5


def test_group_models_in_the_request_replace_the_configured_list() -> None:
    router, fake = make()
    group = {"group_id": "chat", "models": [{"model": "mine", "weight": 2}]}
    assert models(router.plan(load_balance_group=group, messages=MSG)) == ["mine"]
    router.complete(load_balance_group=group, messages=MSG)
    assert fake.calls[0].model == "mine"


def test_unknown_group_is_an_invalid_request_before_any_call() -> None:
    router, fake = make()
    with pytest.raises(InvalidRequestError) as info:
        router.complete(load_balance_group={"group_id": "nope"}, messages=MSG)
    assert info.value.field == "load_balance_group.group_id"
    assert "'chat'" in str(info.value)
    with pytest.raises(InvalidRequestError):
        router.plan(
            model="m",
            load_balance_group={"group_id": "nope", "models": [{"model": "x"}]},
            messages=MSG,
        )
    assert fake.calls == []


def test_router_groups_may_name_deployments() -> None:
    router, _ = make(
        deployments={
            "group-a": {"model": "openai/gpt-4o-mini", "api_key": "sk-a"},
            "group-b": {"model": "anthropic/claude-3-5-haiku", "api_key": "sk-b"},
        }
    )
    plan = router.plan(load_balance_group={"group_id": "chat"}, messages=MSG)
    assert {(a.model, a.litellm_model, a.provider) for a in plan} == {
        ("group-a", "openai/gpt-4o-mini", "openai"),
        ("group-b", "anthropic/claude-3-5-haiku", "anthropic"),
    }


# -- fallbacks, disable_fallback, repeats ---------------------------------------------------


def test_fallback_models_in_rank_order_after_the_primary_fails() -> None:
    router, fake = make()
    fake.set_default("main", Failure(503))
    fake.set_default("fb1", Failure(429))
    plan = router.plan(model="main", fallback_models=["fb1", "fb2", "fb3"], messages=MSG)
    assert models(plan) == ["main", "fb1", "fb2", "fb3"]
    out = router.complete(model="main", fallback_models=["fb1", "fb2", "fb3"], messages=MSG)
    assert out.model == "fb2"
    assert [c.model for c in fake.calls] == ["main", "fb1", "fb2"]


async def test_async_fallback_follows_the_plan() -> None:
    router, fake = make()
    fake.set_default("main", Failure(500))
    out = await router.acomplete(model="main", fallback_models=["fb"], messages=MSG)
    assert out.model == "fb"


def test_disable_fallback_keeps_only_the_first_candidate() -> None:
    router, fake = make()
    fake.set_default("main", Failure(503))
    params: dict[str, Any] = {"model": "main", "models": ["x"], "fallback_models": ["fb"]}
    assert models(router.plan(messages=MSG, disable_fallback=True, **params)) == ["main"]
    lb = [{"model": "a", "weight": 1}, {"model": "b", "weight": 1}]
    assert len(router.plan(messages=MSG, disable_fallback=True, load_balance_models=lb)) == 1
    with pytest.raises(Exception) as info:
        router.complete(messages=MSG, disable_fallback=True, **params)
    assert not isinstance(info.value, AllAttemptsFailedError)
    assert [c.model for c in fake.calls] == ["main"]


def test_a_model_never_appears_twice_with_the_same_credentials() -> None:
    router, _ = make()
    plan = router.plan(
        model="a", models=["a", "b"], fallback_models=["b", "a", "c", "c"], messages=MSG
    )
    assert models(plan) == ["a", "b", "c"]


def test_the_same_model_with_other_credentials_is_another_attempt() -> None:
    router, fake = make()
    lb = [
        {"model": "gpt", "weight": 1, "credentials": {"api_key": "sk-one"}},
        {"model": "gpt", "weight": 1, "credentials": {"api_key": "sk-two"}},
        {"model": "gpt", "weight": 1, "credentials": {"api_key": "sk-one"}},
    ]
    plan = router.plan(load_balance_models=lb, fallback_models=["gpt"], messages=MSG)
    assert models(plan) == ["gpt", "gpt", "gpt"]  # sk-one, sk-two, then the plain one
    assert {a.credentials.get("api_key") for a in plan} == {"sk-one", "sk-two", None}
    fake.set_default("gpt", Failure(429))
    with pytest.raises(AllAttemptsFailedError) as info:
        router.complete(load_balance_models=lb, fallback_models=["gpt"], messages=MSG)
    assert len(info.value.attempts) == 3
    assert [c.credential_source for c in fake.calls].count("load_balance") == 2


# -- exclusions ------------------------------------------------------------------------------


def test_excluding_the_primary_model_leaves_the_fallbacks() -> None:
    router, fake = make()
    params = {"model": "main", "fallback_models": ["fb1", "fb2"], "exclude_models": ["main"]}
    assert models(router.plan(messages=MSG, **params)) == ["fb1", "fb2"]
    router.complete(messages=MSG, **params)
    assert [c.model for c in fake.calls] == ["fb1"]


def test_excluded_load_balanced_models_are_never_chosen_nor_tried() -> None:
    lb = [{"model": "a", "weight": 100}, {"model": "b", "weight": 1}, {"model": "c", "weight": 1}]
    router, fake = make()
    for _ in range(200):
        plan = router.plan(load_balance_models=lb, exclude_models=["a"], messages=MSG)
        assert sorted(models(plan)) == ["b", "c"]
        assert plan[0].reason.endswith("(weight 1 of 2)")
    fake.set_default("b", Failure(500))
    fake.set_default("c", Failure(500))
    with pytest.raises(AllAttemptsFailedError):
        router.complete(load_balance_models=lb, exclude_models=["a"], messages=MSG)
    assert sorted(c.model for c in fake.calls) == ["b", "c"]


def test_excluded_fallbacks_and_models_are_skipped() -> None:
    router, fake = make()
    fake.set_default("main", Failure(500))
    params = {
        "model": "main",
        "models": ["x", "y"],
        "fallback_models": ["fb1", "fb2"],
        "exclude_models": ["fb1", "y"],
    }
    assert models(router.plan(messages=MSG, **params)) == ["main", "x", "fb2"]
    fake.set_default("x", Failure(500))
    router.complete(messages=MSG, **params)
    assert [c.model for c in fake.calls] == ["main", "x", "fb2"]


def test_exclude_providers_uses_deployments_and_inference() -> None:
    router, fake = make(
        deployments={"smart": {"model": "gpt-4o", "provider": "azure"}},
    )
    params = {
        "model": "smart",
        "fallback_models": ["openai/gpt-4o", "gpt-4o", "anthropic/claude"],
        "exclude_providers": ["azure", "fake"],
    }
    plan = router.plan(messages=MSG, **params)
    # smart is azure by configuration; bare gpt-4o is the fake's own provider.
    assert [(a.model, a.provider) for a in plan] == [
        ("openai/gpt-4o", "openai"),
        ("anthropic/claude", "anthropic"),
    ]
    router.complete(messages=MSG, **params)
    assert fake.calls[0].provider == "openai"


def test_exclude_models_matches_the_backend_name_of_a_deployment() -> None:
    router, _ = make(deployments={"fast": {"model": "openai/gpt-4o-mini"}})
    plan = router.plan(
        model="fast", fallback_models=["b"], exclude_models=["openai/gpt-4o-mini"], messages=MSG
    )
    assert models(plan) == ["b"]


def test_nothing_left_is_no_candidate_error_naming_the_exclusions_before_any_call() -> None:
    router, fake = make()
    with pytest.raises(NoCandidateError) as info:
        router.complete(
            model="openai/gpt-4o",
            fallback_models=["anthropic/claude", "b"],
            exclude_providers=["openai"],
            exclude_models=["anthropic/claude", "b"],
            messages=MSG,
        )
    text = str(info.value)
    assert "'openai/gpt-4o' (provider 'openai' is in exclude_providers)" in text
    assert "'anthropic/claude' (provider" not in text
    assert "'anthropic/claude' (in exclude_models)" in text
    assert "'b' (in exclude_models)" in text
    assert info.value.status_code == 400
    assert fake.calls == []
    with pytest.raises(NoCandidateError):
        router.plan(load_balance_models=[{"model": "a"}], exclude_models=["a"], messages=MSG)
    with pytest.raises(NoCandidateError):  # the primary excluded, fallback disabled
        router.plan(
            model="a",
            fallback_models=["b"],
            exclude_models=["a"],
            disable_fallback=True,
            messages=MSG,
        )


# -- model_name_map --------------------------------------------------------------------------


def test_model_name_map_renames_azure_deployments_only() -> None:
    router, fake = make(
        deployments={"smart": {"model": "azure/gpt-4o", "api_base": "https://x.azure.com"}}
    )
    params = {
        "model": "azure/gpt-4o",
        "fallback_models": ["openai/gpt-4o", "smart", "azure/gpt-4o-mini"],
        "model_name_map": {"gpt-4o": "prod-4o", "azure/gpt-4o-mini": "prod-mini"},
    }
    plan = router.plan(messages=MSG, **params)
    assert [(a.model, a.litellm_model, a.standard_model) for a in plan] == [
        ("azure/gpt-4o", "azure/prod-4o", "azure/gpt-4o"),
        ("openai/gpt-4o", "openai/gpt-4o", None),  # a bare key leaves other providers alone
        ("smart", "azure/prod-4o", "azure/gpt-4o"),  # another endpoint: another attempt
        ("azure/gpt-4o-mini", "azure/prod-mini", "azure/gpt-4o-mini"),
    ]
    assert plan[0].pricing_model == "azure/gpt-4o"
    assert "standard_model='azure/gpt-4o'" in repr(plan[0])
    fake.set_default("azure/gpt-4o", Failure(500))  # scripts match the name as requested
    out = router.complete(messages=MSG, **params)
    assert out.model == "openai/gpt-4o"  # the response names the model as requested
    assert [(c.model, c.litellm_model) for c in fake.calls] == [
        ("azure/gpt-4o", "azure/prod-4o"),
        ("openai/gpt-4o", "openai/gpt-4o"),
    ]


def test_model_name_map_keys_with_a_prefix_match_any_provider_and_full_values() -> None:
    router, _ = make()
    plan = router.plan(
        model="openai/gpt-4o",
        fallback_models=["azure/gpt-4o"],
        model_name_map={"openai/gpt-4o": "ft:gpt-4o:acme", "azure/gpt-4o": "azure/eu-4o"},
        messages=MSG,
    )
    assert [a.litellm_model for a in plan] == ["openai/ft:gpt-4o:acme", "azure/eu-4o"]


# -- plain model, determinism, the order seam --------------------------------------------------


def test_plain_model_plan_is_memoised_and_unchanged() -> None:
    router, _ = make(deployments={"fast": {"model": "openai/gpt-4o-mini", "api_key": "k"}})
    first = router.plan(model="fast", messages=MSG, customer_identifier="c")
    assert first == [Attempt("fast", "openai", "openai/gpt-4o-mini", "deployment", "model")]
    assert router.plan(model="fast", messages=MSG)[0] is first[0]


def test_same_seed_same_plans_and_plan_draws_like_a_call() -> None:
    lb = [{"model": m, "weight": w} for m, w in (("a", 1), ("b", 2), ("c", 3))]

    def firsts(router: Router) -> list[str]:
        return [router.plan(load_balance_models=lb, messages=MSG)[0].model for _ in range(50)]

    assert firsts(make(seed=42)[0]) == firsts(make(seed=42)[0])
    assert firsts(make(seed=42)[0]) != firsts(make(seed=43)[0])
    router, fake = make(seed=42)
    for _ in range(50):
        router.complete(load_balance_models=lb, messages=MSG)
    assert [c.model for c in fake.calls] == firsts(make(seed=42)[0])


def test_routing_parameters_are_accepted_in_every_source() -> None:
    from tests.helpers import header

    router, fake = make()
    router.complete(
        model="m",
        messages=MSG,
        respan_params={"fallback_models": ["x"], "exclude_models": ["m"]},
    )
    router.complete(
        model="m",
        messages=MSG,
        extra_headers={"X-Data-Respan-Params": header({"models": ["h"], "exclude_models": ["m"]})},
    )
    assert [c.model for c in fake.calls] == ["x", "h"]
