"""Stage 5: the routing plan, an ordered list of attempts. Pure: no I/O.

Each :class:`Attempt` names the model as requested, its provider, the backend model
string and the credentials to use, with where they came from. The executor walks the
list in order. The stage is split by concern:

- :mod:`respan_router.routing._candidates`: which models, in which order (load balancing,
  ``models`` and its strategy, fallbacks, exclusions);
- :mod:`respan_router.routing._models`: a model name -> backend string, provider, configured
  credentials (memoised), and ``model_name_map``;
- :mod:`respan_router.routing._credentials`: the credential precedence per attempt;
- :mod:`respan_router.routing._selection`: weighted draws, strategies, observed latency.

This module puts them together and drops repeats: a model never appears twice in one
plan with the same credentials.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from respan_router._secrets import Credentials
from respan_router.config import RouterConfig
from respan_router.request import ChatRequest, RespanParams
from respan_router.routing._candidates import CandidateBuilder, Draw
from respan_router.routing._credentials import RequestCredentials, credentials_for
from respan_router.routing._models import ModelResolver
from respan_router.routing._plan_memo import PlanMemo
from respan_router.routing._selection import LatencyTracker, PriceOf

__all__ = ["Attempt", "Planner"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate of a plan. Its repr shows where credentials came from, never them.

    Attributes:
        model: the model name as requested (``"fast"``, ``"azure/gpt-4o"``).
        provider: the provider's name (``"openai"``).
        litellm_model: the model string the backend is called with (after
            ``model_name_map``).
        credential_source: where the credentials came from: ``"credential_override"``,
            ``"customer_credentials"``, ``"load_balance"``, ``"deployment"``,
            ``"provider"`` or ``"environment"``.
        reason: why the model is in the plan, e.g. ``"fallback_models[0]"``.
        credentials: the credentials themselves (masked in repr).
        standard_model: the backend model string before ``model_name_map`` when the map
            changed it (what prices are looked up by), else None.
    """

    model: str
    provider: str
    litellm_model: str
    credential_source: str
    reason: str
    credentials: Credentials = field(default_factory=Credentials, repr=False, compare=False)
    standard_model: str | None = None
    health_key: str = field(init=False, repr=False, compare=False)
    #: The backend model string prices are looked up by (the standard name).
    pricing_model: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "health_key", _health_key(self))
        object.__setattr__(self, "pricing_model", self.standard_model or self.litellm_model)

    def __repr__(self) -> str:
        mapped = f", standard_model={self.standard_model!r}" if self.standard_model else ""
        return (
            f"Attempt(model={self.model!r}, provider={self.provider!r}, "
            f"litellm_model={self.litellm_model!r}{mapped}, "
            f"credential_source={self.credential_source!r}, reason={self.reason!r})"
        )


# Sources whose credentials the caller brings per request: their breakers are per key set.
_CALLER_SOURCES = frozenset({"customer_credentials", "credential_override"})


def _health_key(attempt: Attempt) -> str:
    """The circuit-breaker key of an attempt: model and credential source (and, for
    credentials the caller brings, a one-way fingerprint of them, so that one customer's
    bad key never opens the breaker of another's)."""
    key = f"{attempt.model}|{attempt.credential_source}"
    if attempt.credential_source in _CALLER_SOURCES:
        secrets = "\x00".join(sorted(map(str, attempt.credentials.as_kwargs().values())))
        key += "|" + hashlib.sha256(secrets.encode()).hexdigest()[:12]
    return key


_MAX_PLAIN = 4096


# Parameters that change a plan beyond ``model`` (routing_strategy and disable_fallback
# change nothing for a single model).
_ROUTING_FIELDS = frozenset(
    {
        "load_balance_models",
        "load_balance_group",
        "models",
        "fallback_models",
        "exclude_models",
        "exclude_providers",
        "customer_credentials",
        "credential_override",
        "model_name_map",
    }
)


def _is_plain(r: RespanParams) -> bool:
    """Whether only ``model`` routes the request (the common case, planned from a memo)."""
    # One set operation: reading nine pydantic attributes costs more than the plan.
    return _ROUTING_FIELDS.isdisjoint(r.model_fields_set)


class Planner:
    """Turns a validated request into attempts, from the Router's configuration.

    Thread-safe: it keeps only memos of the configuration and draws from ``rng``, whose
    methods are safe to call from several threads (with a seed, one thread's sequence of
    plans is reproducible; concurrent plans interleave their draws).

    Args:
        config: the Router's configuration.
        provider_of: backend model string -> provider name.
        rng: the source of the weighted draws; default ``random.Random(config.seed)``.
        price_of: (name, backend) -> USD per (input, output) token, for ``cheapest``.
        latency: observed latencies, for ``fastest``.

    Deployment health does not reorder the plan here: the executor tries candidates whose
    breaker is open last, at the moment it walks the plan.
    """

    def __init__(
        self,
        config: RouterConfig,
        provider_of: Callable[[str], str],
        *,
        rng: random.Random | None = None,
        price_of: PriceOf | None = None,
        latency: LatencyTracker | None = None,
    ) -> None:
        self._strategy = config.routing_strategy
        self._rng = rng if rng is not None else random.Random(config.seed)
        self._resolve = ModelResolver(config, provider_of)
        self._candidates = CandidateBuilder(
            config, self._resolve, self._rng, price_of=price_of, latency=latency
        )
        self._plain: dict[str, tuple[Attempt]] = {}
        self._memo: PlanMemo[Attempt] = PlanMemo(self._rng)

    def plan(self, request: ChatRequest) -> list[Attempt]:
        """The attempts for a request, in order, in a list of the caller's own; raises
        before any call if there is none."""
        attempts = self.attempts(request)
        return attempts if isinstance(attempts, list) else list(attempts)

    def attempts(self, request: ChatRequest) -> Sequence[Attempt]:
        """:meth:`plan`'s attempts, to read only: a plain model's one attempt is one tuple
        shared by its calls (no list of its own per call in flight)."""
        model = request.model
        if model is not None and (request.bare or _is_plain(request.respan)):
            hit = self._plain.get(model)  # a plain model's attempts, remembered
            return hit if hit is not None else self._plain_attempts(model)
        return self._memo.plan(request, self._routed)

    def _plain_attempts(self, model: str) -> tuple[Attempt]:
        r = self._resolve(model)
        attempts = (Attempt(model, r.provider, r.backend, r.source, "model", r.credentials),)
        if len(self._plain) >= _MAX_PLAIN:
            self._plain.clear()
        self._plain[model] = attempts
        return attempts

    def _routed(self, request: ChatRequest, draw: Draw | None = None) -> list[Attempt]:
        respan = request.respan
        strategy = respan.routing_strategy or self._strategy
        candidates = self._candidates.build(request, strategy, draw)
        request_credentials = RequestCredentials.of(respan, self._rng)
        # Credentials by backend model already planned: compared only on a repeat.
        seen: dict[tuple[str, str], list[Credentials]] = {}
        attempts: list[Attempt] = []
        for c in candidates:
            credentials, source = credentials_for(c.resolved, request_credentials, c.credentials)
            planned = seen.setdefault((c.litellm_model, c.resolved.provider), [])
            if credentials in planned:
                continue
            planned.append(credentials)
            backend = c.resolved.backend
            attempts.append(
                Attempt(
                    c.resolved.name,
                    c.resolved.provider,
                    c.litellm_model,
                    source,
                    c.reason,
                    credentials,
                    backend if backend != c.litellm_model else None,
                )
            )
        return attempts
