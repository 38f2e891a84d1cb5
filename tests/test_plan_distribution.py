"""Over 20,000 plans, first choices follow the weights (chi-square, p > 0.001)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from respan_router import Router
from respan_router.request._request import build_request
from respan_router.routing._plan import Planner
from respan_router.testing import FakeProvider
from tests.helpers import MSG, assert_matches_weights

N = 20_000
WEIGHTS = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}


def planner_of(router: Router) -> Planner:
    return router._planner


def first_choices(router: Router, params: dict[str, Any], key: Any) -> Counter[Any]:
    # Planned straight from a validated request: the draw logic is that of every call.
    request = build_request({"messages": MSG, **params})
    planner = planner_of(router)
    return Counter(key(planner.plan(request)[0]) for _ in range(N))


def test_inline_load_balance_models() -> None:
    router = Router(provider=FakeProvider(), seed=11)
    lb = [{"model": m, "weight": w} for m, w in WEIGHTS.items()]
    counts = first_choices(router, {"load_balance_models": lb}, lambda a: a.model)
    assert_matches_weights(counts, WEIGHTS)


def test_inline_load_balance_models_after_exclusion() -> None:
    router = Router(provider=FakeProvider(), seed=12)
    lb = [{"model": m, "weight": w} for m, w in WEIGHTS.items()]
    params = {"load_balance_models": lb, "exclude_models": ["d"]}
    counts = first_choices(router, params, lambda a: a.model)
    assert_matches_weights(counts, {"a": 1.0, "b": 2.0, "c": 3.0})


def test_load_balance_group() -> None:
    groups = {"chat": [{"model": "x", "weight": 3}, {"model": "y", "weight": 1}]}
    router = Router(provider=FakeProvider(), load_balance_groups=groups, seed=13)
    params = {"load_balance_group": {"group_id": "chat"}}
    counts = first_choices(router, params, lambda a: a.model)
    assert_matches_weights(counts, {"x": 3.0, "y": 1.0})


def test_load_balance_group_with_models_from_the_request() -> None:
    groups = {"chat": [{"model": "x", "weight": 3}]}
    router = Router(provider=FakeProvider(), load_balance_groups=groups, seed=14)
    models = [{"model": m, "weight": w} for m, w in (("p", 5), ("q", 2), ("r", 1))]
    params = {"load_balance_group": {"group_id": "chat", "models": models}}
    counts = first_choices(router, params, lambda a: a.model)
    assert_matches_weights(counts, {"p": 5.0, "q": 2.0, "r": 1.0})


def test_weighted_customer_credentials() -> None:
    router = Router(provider=FakeProvider(), seed=15)
    weighted = [
        {"credentials": {"openai": {"api_key": f"sk-{k}"}}, "weight": w} for k, w in WEIGHTS.items()
    ]
    params = {"model": "openai/gpt-4o", "customer_credentials": weighted}
    counts = first_choices(router, params, lambda a: a.credentials["api_key"])
    assert_matches_weights(counts, {f"sk-{k}": w for k, w in WEIGHTS.items()})


def test_concurrent_plans_share_one_router_and_keep_the_weights() -> None:
    router = Router(provider=FakeProvider(), seed=16)
    lb = [{"model": m, "weight": w} for m, w in WEIGHTS.items()]
    request = build_request({"messages": MSG, "load_balance_models": lb})
    planner = planner_of(router)
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        local: Counter[str] = Counter()
        try:
            for _ in range(N // 8):
                local[planner.plan(request)[0].model] += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        with lock:
            counts.update(local)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(counts.values()) == N
    assert_matches_weights(counts, WEIGHTS)


def test_real_calls_follow_the_weights() -> None:
    fake = FakeProvider()
    router = Router(provider=fake, seed=17)
    lb = [{"model": m, "weight": w} for m, w in (("a", 1.0), ("b", 3.0))]
    for _ in range(4_000):
        router.complete(load_balance_models=lb, messages=MSG)
    counts = Counter(c.model for c in fake.calls)
    assert_matches_weights(counts, {"a": 1.0, "b": 3.0})
