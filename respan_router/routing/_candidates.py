"""Which models a call may try, in order. Pure: no I/O.

The first candidates come from the highest of these sources the request gives; the
lower ones are then ignored (except ``model`` next to ``models``)::

    load_balance_models   weighted choice of the first; the other items follow by
                          descending weight (ties keep list order)
    load_balance_group    the same, over a group configured on the Router (the request's
                          ``models`` inside it replace the configured list)
    models                the routing strategy picks the first, the rest follow in list
                          order; when ``model`` is given too, it goes first and ``models``
                          follow in list order
    model                 the model itself

``fallback_models`` follow in rank order, unless ``disable_fallback`` is set, which keeps
the first candidate only. ``exclude_models`` and ``exclude_providers`` apply to every
candidate, before any choice is drawn: a weighted or strategy choice is made among the
models that remain. ``exclude_models`` matches a model by its name as requested, its
backend string or its name after ``model_name_map``, with or without the provider prefix
(``gpt-4o`` excludes ``openai/gpt-4o`` and the other way round). Nothing left is a
:class:`~respan_router.errors.NoCandidateError`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from respan_router.config import RouterConfig
from respan_router.errors import InvalidRequestError, NoCandidateError
from respan_router.request import ChatRequest, LoadBalanceModel, RespanParams
from respan_router.routing._models import ModelResolver, ResolvedModel, apply_name_map
from respan_router.routing._selection import (
    LatencyTracker,
    PriceOf,
    Strategy,
    pick_first,
    weighted_index,
)

__all__ = ["Candidate", "CandidateBuilder", "Draw"]

_Allowed = tuple[ResolvedModel, str]  # a model that survived the exclusions, and its backend
_Allow = Callable[[str], _Allowed | None]
#: Picks the first of a load-balanced list: its weights in, an index out.
Draw = Callable[[Sequence[float]], int]


class Candidate(NamedTuple):
    """One model the call may try (a tuple: built several times per plan).

    Attributes:
        resolved: the model, resolved against the Router's configuration.
        litellm_model: the backend model string after ``model_name_map``.
        reason: why it is in the plan, for people reading it.
        credentials: the credentials of the load-balance item it came from, if any.
    """

    resolved: ResolvedModel
    litellm_model: str
    reason: str
    credentials: Mapping[str, Any] | None = None


def _names(resolved: ResolvedModel, litellm_model: str) -> set[str]:
    """Every name ``exclude_models`` matches a model by: as requested, its backend string
    and its name after ``model_name_map``, each with and without the provider prefix."""
    names: set[str] = set()
    for name in (resolved.name, resolved.backend, litellm_model):
        bare = name.partition("/")[2] if "/" in name else name
        names.update((name, bare, f"{resolved.provider}/{bare}"))
    return names


class _Exclusions:
    """The request's exclusions, and what they removed (for the error message)."""

    __slots__ = ("_models", "_providers", "removed")

    def __init__(self, respan: RespanParams) -> None:
        self._models = frozenset(respan.exclude_models or ())
        self._providers = frozenset(respan.exclude_providers or ())
        self.removed: dict[str, str] = {}

    def allows(self, resolved: ResolvedModel, litellm_model: str) -> bool:
        """Whether a model survives; its names are the requested, backend and mapped ones."""
        if self._providers and resolved.provider in self._providers:
            self.removed.setdefault(
                resolved.name, f"provider {resolved.provider!r} is in exclude_providers"
            )
            return False
        if self._models and not self._models.isdisjoint(_names(resolved, litellm_model)):
            self.removed.setdefault(resolved.name, "in exclude_models")
            return False
        return True

    def error(self) -> NoCandidateError:
        removed = ", ".join(f"{name!r} ({why})" for name, why in self.removed.items())
        return NoCandidateError(
            f"no model left to call: every candidate was excluded: {removed or 'none'}"
        )


class CandidateBuilder:
    """Builds the ordered candidate list of a request.

    Args:
        config: the Router's configuration (its load-balance groups).
        resolve: resolves model names.
        rng: the source of the weighted draws (the Router's, seeded).
        price_of: prices, for the ``cheapest`` strategy.
        latency: observed latencies, for the ``fastest`` strategy.
    """

    def __init__(
        self,
        config: RouterConfig,
        resolve: ModelResolver,
        rng: random.Random,
        *,
        price_of: PriceOf | None = None,
        latency: LatencyTracker | None = None,
    ) -> None:
        self._groups = config.load_balance_groups
        self._resolve = resolve
        self._rng = rng
        self._price_of = price_of
        self._latency = latency

    def build(
        self, request: ChatRequest, strategy: Strategy, draw: Draw | None = None
    ) -> list[Candidate]:
        """The candidates in the order they are tried; raises if none is left. ``draw``
        picks a load-balanced list's first model from its weights (default: the weighted
        draw from the Router's generator)."""
        respan = request.respan
        group_items = self._group_items(respan)
        name_map = respan.model_name_map
        exclusions = _Exclusions(respan)

        def allow(name: str) -> _Allowed | None:
            resolved = self._resolve(name)
            litellm_model = apply_name_map(resolved, name_map)
            if not exclusions.allows(resolved, litellm_model):
                return None
            return resolved, litellm_model

        out: list[Candidate]
        if respan.load_balance_models:
            out = self._balanced(respan.load_balance_models, "load_balance_models", allow, draw)
        elif respan.load_balance_group is not None and group_items is not None:
            label = f"load_balance_group {respan.load_balance_group.group_id!r}"
            out = self._balanced(group_items, label, allow, draw)
        elif respan.models:
            out = self._listed(request.model, respan.models, strategy, allow)
        elif request.model is not None:
            found = allow(request.model)
            out = [Candidate(*found, "model")] if found else []
        else:  # pragma: no cover - prevented by validation
            raise InvalidRequestError("model is required", field="model")
        if respan.disable_fallback:
            out = out[:1]
        elif respan.fallback_models:
            for i, name in enumerate(respan.fallback_models):
                found = allow(name)
                if found is not None:
                    out.append(Candidate(*found, f"fallback_models[{i}]"))
        if not out:
            raise exclusions.error()
        return out

    def _group_items(self, respan: RespanParams) -> Sequence[LoadBalanceModel] | None:
        group = respan.load_balance_group
        if group is None:
            return None
        configured = self._groups.get(group.group_id)
        if configured is None:
            known = ", ".join(repr(g) for g in sorted(self._groups)) or "none"
            raise InvalidRequestError(
                f"load_balance_group.group_id is not a group configured on the Router "
                f"(configured: {known})",
                field="load_balance_group.group_id",
            )
        return group.models or configured

    def _balanced(
        self, items: Sequence[LoadBalanceModel], label: str, allow: _Allow, draw: Draw | None
    ) -> list[Candidate]:
        """Weighted choice of the first among the allowed items; the rest by weight."""
        allowed: list[tuple[LoadBalanceModel, _Allowed]] = []
        for item in items:
            found = allow(item.model)
            if found is not None:
                allowed.append((item, found))
        if not allowed:
            return []
        weights = [item.weight for item, _ in allowed]
        first = weighted_index(self._rng, weights) if draw is None else draw(weights)
        total = math.fsum(weights)
        item, found = allowed[first]
        out = [
            Candidate(
                *found,
                f"{label}: weighted choice (weight {item.weight:g} of {total:g})",
                item.credentials,
            )
        ]
        # sorted() is stable: equal weights keep list order.
        for i in sorted(range(len(allowed)), key=lambda i: -weights[i]):
            if i != first:
                item, found = allowed[i]
                reason = f"{label}: fallback (weight {item.weight:g})"
                out.append(Candidate(*found, reason, item.credentials))
        return out

    def _listed(
        self, model: str | None, models: Sequence[str], strategy: Strategy, allow: _Allow
    ) -> list[Candidate]:
        """``models``: after ``model`` when given, else the strategy's pick first."""
        allowed: list[tuple[int, _Allowed]] = []
        for i, name in enumerate(models):
            found = allow(name)
            if found is not None:
                allowed.append((i, found))
        out: list[Candidate] = []
        if model is not None:
            head = allow(model)
            if head is not None:
                out.append(Candidate(*head, "model"))
            out.extend(Candidate(*found, f"models[{i}]: fallback") for i, found in allowed)
            return out
        if not allowed:
            return out
        first = pick_first(
            strategy,
            [(resolved.name, resolved.backend) for _, (resolved, _) in allowed],
            price_of=self._price_of,
            latency=self._latency,
        )
        index, found = allowed[first]
        out.append(Candidate(*found, f"models[{index}]: {strategy} choice"))
        out.extend(
            Candidate(*found, f"models[{i}]: fallback")
            for k, (i, found) in enumerate(allowed)
            if k != first
        )
        return out
