"""Choosing among candidates: weighted draws, the ``models`` strategies, observed latency.

Pure helpers for the planner, plus :class:`LatencyTracker`, the one piece of state the
``fastest`` strategy reads and the executor writes.

Strategies (``routing_strategy``) pick the *first* model of a ``models`` list; the others
follow in list order:

- ``ordered``: the first of the list.
- ``cheapest``: the lowest input + output price per token; models without a known price
  count as dearer than any priced one (ties keep list order).
- ``fastest``: the lowest observed latency (an exponentially weighted moving average of
  successful attempts). A model never observed is tried first, in list order: the
  strategy learns only from the models it calls, and a model never chosen would never be
  measured.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Literal

__all__ = ["STRATEGIES", "LatencyTracker", "Strategy", "pick_first", "weighted_index"]

Strategy = Literal["ordered", "cheapest", "fastest"]
STRATEGIES: tuple[Strategy, ...] = ("ordered", "cheapest", "fastest")

PriceOf = Callable[[str, str | None], tuple[float, float] | None]


def weighted_index(rng: random.Random, weights: Sequence[float]) -> int:
    """An index drawn with probability proportional to its weight (weights > 0).

    One ``rng.random()`` per draw, so a seeded generator gives the same sequence of draws.
    """
    if len(weights) == 1:
        return 0
    total = math.fsum(weights)
    target = rng.random() * total
    running = 0.0
    for i, weight in enumerate(weights):
        running += weight
        if target < running:
            return i
    return len(weights) - 1  # float rounding at the very top of the range


class LatencyTracker:
    """Exponentially weighted latency per model name, for the ``fastest`` strategy.

    Thread-safe without a lock: each update is one dict read and one dict write, both
    atomic. Two updates of the same model racing can lose one sample, which an average
    of this kind shrugs off; a reader never sees a torn value.

    Args:
        alpha: weight of the newest sample (0 < alpha <= 1).
        max_models: models tracked at most; samples of further models are ignored, so
            arbitrary model names in requests cannot grow it without bound.
    """

    __slots__ = ("_alpha", "_ewma", "_max_models")

    def __init__(self, alpha: float = 0.2, *, max_models: int = 10_000) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self._alpha = alpha
        self._max_models = max_models
        self._ewma: dict[str, float] = {}

    def observe(self, model: str, seconds: float) -> None:
        """Record one successful attempt of ``model`` that took ``seconds``."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            return
        old = self._ewma.get(model)
        if old is None:
            if len(self._ewma) >= self._max_models:
                return
            self._ewma[model] = seconds
        else:
            self._ewma[model] = old + self._alpha * (seconds - old)

    def get(self, model: str) -> float | None:
        """The model's average latency in seconds, or None when never observed."""
        return self._ewma.get(model)

    def snapshot(self) -> dict[str, float]:
        """A copy of every average, by model name."""
        return dict(self._ewma)

    def __repr__(self) -> str:
        return f"LatencyTracker(alpha={self._alpha}, models={len(self._ewma)})"


def pick_first(
    strategy: Strategy,
    models: Sequence[tuple[str, str]],
    *,
    price_of: PriceOf | None,
    latency: LatencyTracker | None,
) -> int:
    """The index of the model a strategy chooses first.

    Args:
        strategy: ``ordered``, ``cheapest`` or ``fastest``.
        models: (model name, backend model string) pairs, in list order; not empty.
        price_of: (name, backend) -> USD per (input, output) token, or None when unknown.
        latency: the observed latencies.
    """
    if strategy == "ordered" or len(models) == 1:
        return 0
    if strategy == "cheapest":
        best, best_price = 0, math.inf
        for i, (name, backend) in enumerate(models):
            price = price_of(name, backend) if price_of is not None else None
            total = math.inf if price is None else price[0] + price[1]
            if total < best_price:
                best, best_price = i, total
        return best
    if strategy == "fastest":
        best, best_seconds = 0, math.inf
        for i, (name, _) in enumerate(models):
            seconds = latency.get(name) if latency is not None else None
            if seconds is None:
                return i  # never observed: try it first
            if seconds < best_seconds:
                best, best_seconds = i, seconds
        return best
    raise ValueError(f"unknown routing strategy {strategy!r}")
