"""Weighted draws, the models strategies and the latency tracker."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter

import pytest

from respan_router.routing._selection import LatencyTracker, pick_first, weighted_index
from tests.helpers import assert_matches_weights, chi_square


def test_weighted_index_follows_the_weights() -> None:
    rng = random.Random(1)
    weights = [1.0, 2.0, 7.0]
    counts = Counter(weighted_index(rng, weights) for _ in range(20_000))
    assert_matches_weights(counts, dict(enumerate(weights)))


def test_chi_square_rejects_a_wrong_distribution() -> None:
    # The test statistic itself must be able to fail: a uniform draw against 1:2:7.
    rng = random.Random(1)
    counts = Counter(rng.randrange(3) for _ in range(20_000))
    stat, df = chi_square(counts, {0: 1.0, 1: 2.0, 2: 7.0})
    assert df == 2 and stat > 1000


def test_weighted_index_is_reproducible_and_skips_the_draw_for_one_item() -> None:
    a, b = random.Random(5), random.Random(5)
    assert [weighted_index(a, [1, 1, 1]) for _ in range(50)] == [
        weighted_index(b, [1, 1, 1]) for _ in range(50)
    ]
    state = a.getstate()
    assert weighted_index(a, [3.0]) == 0
    assert a.getstate() == state


def test_latency_tracker_is_an_exponentially_weighted_average() -> None:
    t = LatencyTracker(alpha=0.5)
    assert t.get("m") is None
    t.observe("m", 1.0)
    assert t.get("m") == 1.0
    t.observe("m", 3.0)
    assert t.get("m") == 2.0
    t.observe("m", 0.0)
    assert t.get("m") == 1.0
    for bad in (-1.0, math.nan, math.inf):
        t.observe("m", bad)
    assert t.snapshot() == {"m": 1.0}


def test_latency_tracker_is_bounded_and_validates_alpha() -> None:
    t = LatencyTracker(max_models=2)
    for name in "abc":
        t.observe(name, 1.0)
    assert sorted(t.snapshot()) == ["a", "b"]
    t.observe("a", 0.0)  # known models still update
    assert t.get("a") == pytest.approx(0.8)
    with pytest.raises(ValueError):
        LatencyTracker(alpha=0)


def test_latency_tracker_under_concurrent_updates() -> None:
    t = LatencyTracker()

    def work(k: int) -> None:
        for i in range(2_000):
            t.observe(f"m{i % 5}", 0.1 * (k + 1))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    snap = t.snapshot()
    assert sorted(snap) == [f"m{i}" for i in range(5)]
    assert all(0.1 <= v <= 0.8 for v in snap.values())


MODELS = [("a", "p/a"), ("b", "p/b"), ("c", "p/c")]


def test_ordered_picks_the_first() -> None:
    assert pick_first("ordered", MODELS, price_of=None, latency=None) == 0


def test_cheapest_picks_the_lowest_total_price_and_unknown_prices_last() -> None:
    prices = {"p/a": (3.0, 3.0), "p/b": (1.0, 4.0), "p/c": (2.0, 2.0)}
    assert pick_first("cheapest", MODELS, price_of=lambda n, b: prices[b], latency=None) == 2
    # Unknown prices lose to any known one; among unknown ones the list order holds.
    assert pick_first("cheapest", MODELS, price_of=lambda n, b: None, latency=None) == 0
    only_c = {"p/c": (9.0, 9.0)}
    assert pick_first("cheapest", MODELS, price_of=lambda n, b: only_c.get(b), latency=None) == 2
    ties = {"p/a": (2.0, 2.0), "p/b": (1.0, 1.0), "p/c": (1.0, 1.0)}
    assert pick_first("cheapest", MODELS, price_of=lambda n, b: ties[b], latency=None) == 1


def test_fastest_tries_unobserved_models_first_then_the_lowest_average() -> None:
    t = LatencyTracker()
    assert pick_first("fastest", MODELS, price_of=None, latency=t) == 0
    t.observe("a", 0.5)
    assert pick_first("fastest", MODELS, price_of=None, latency=t) == 1
    t.observe("b", 0.9)
    t.observe("c", 0.2)
    assert pick_first("fastest", MODELS, price_of=None, latency=t) == 2


def test_unknown_strategy_is_an_error() -> None:
    with pytest.raises(ValueError):
        pick_first("random", MODELS, price_of=None, latency=None)  # type: ignore[arg-type]
