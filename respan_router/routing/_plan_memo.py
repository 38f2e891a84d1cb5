"""Plans remembered for the validated parameters a routed call repeats.

The request stage hands out one validated :class:`RespanParams` object for routing
parameters it has seen with exactly these contents (``request._memo``). A plan built from
such an object and the same ``model`` is the same every time, but for the weighted draw
of a load-balanced list's first model: the plan of every possible first model is built
once, and each call only draws (from the Router's generator, exactly as a plan built
afresh draws: the same sequence of plans for a seed).

Remembered only when nothing else in the plan can change between calls: no ``models``
list (its ``cheapest`` and ``fastest`` strategies read prices and observed latency) and
no credentials of the request's own (a weighted ``customer_credentials`` list is drawn
too). An object is remembered the second time it is planned (a one-off costs a lookup).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from respan_router.request import ChatRequest, RespanParams
from respan_router.routing._candidates import Draw
from respan_router.routing._selection import weighted_index

__all__ = ["Build", "PlanMemo"]

_MAX_ENTRIES = 256
A = TypeVar("A")


@dataclass(frozen=True, slots=True)
class _Entry:
    respan: RespanParams  # held, so that its id names no other object while remembered
    model: str | None
    weights: Sequence[float] | None  # the draw's weights; None: no draw
    plans: list[list[Any]] | None  # by first model drawn; None: seen once; []: never


def _memorable(respan: RespanParams) -> bool:
    return (
        respan.models is None
        and respan.credential_override is None
        and respan.customer_credentials is None
    )


def _forced(index: int) -> Draw:
    def draw(_weights: Sequence[float]) -> int:
        return index

    return draw


class PlanMemo(Generic[A]):
    """Plans of repeated parameter objects, by the object and the requested model (see the
    module's note)."""

    __slots__ = ("_entries", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._entries: dict[tuple[int, str | None], _Entry] = {}

    def plan(self, request: ChatRequest, build: Build[A]) -> list[A]:
        """``build(request, None)``'s plan, remembered for a repeated parameter object."""
        respan, model = request.respan, request.model
        entry = self._entries.get((id(respan), model))
        if entry is None or entry.respan is not respan:
            self._store(_Entry(respan, model, None, None))
            return build(request, None)
        if entry.plans is None:
            entry = self._remember(request, build)
            self._store(entry)
        plans = entry.plans
        if not plans:
            return build(request, None)
        weights = entry.weights
        return list(plans[0 if weights is None else weighted_index(self._rng, weights)])

    def _remember(self, request: ChatRequest, build: Build[A]) -> _Entry:
        respan, model = request.respan, request.model
        never = _Entry(respan, model, None, [])
        if not _memorable(respan):
            return never
        drawn: list[Sequence[float]] = []

        def first(weights: Sequence[float]) -> int:
            drawn.append(tuple(weights))
            return 0

        try:
            plans = [build(request, first)]
        except Exception:  # the plan built afresh raises it again
            return never
        if not drawn:
            return _Entry(respan, model, None, plans)
        weights = drawn[0]
        plans += [build(request, _forced(i)) for i in range(1, len(weights))]
        return _Entry(respan, model, weights, plans)

    def _store(self, entry: _Entry) -> None:
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()
        self._entries[(id(entry.respan), entry.model)] = entry


#: Builds a request's plan; its ``Draw`` (when given) picks a load-balanced first model.
Build = Callable[[ChatRequest, Draw | None], list[A]]
