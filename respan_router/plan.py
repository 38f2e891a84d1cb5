"""Stage 5: the routing plan, an ordered list of attempts. Pure: no I/O.

Each :class:`Attempt` names the model as requested, its provider, the backend model
string and the credentials to use, with where they came from. The executor walks the
list in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from respan_router.config import RouterConfig
from respan_router.credentials import Credentials
from respan_router.request import ChatRequest

__all__ = ["Attempt", "Planner"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One candidate of a plan. Its repr shows where credentials came from, never them."""

    model: str
    provider: str
    litellm_model: str
    credential_source: str
    reason: str
    credentials: Credentials = field(default_factory=Credentials, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"Attempt(model={self.model!r}, provider={self.provider!r}, "
            f"litellm_model={self.litellm_model!r}, "
            f"credential_source={self.credential_source!r}, reason={self.reason!r})"
        )


class Planner:
    """Turns a validated request into attempts, from the Router's configuration."""

    def __init__(self, config: RouterConfig, provider_of: Callable[[str], str]) -> None:
        self._config = config
        self._provider_of = provider_of
        self._resolved: dict[str, tuple[str, str, Credentials, str]] = {}

    def resolve(self, model: str) -> tuple[str, str, Credentials, str]:
        """(litellm_model, provider, credentials, credential_source) for a model name."""
        hit = self._resolved.get(model)
        if hit is not None:
            return hit
        deployment = self._config.deployments.get(model)
        if deployment is not None:
            litellm_model = deployment.model
            provider = deployment.provider or self._provider_of(litellm_model)
            own = deployment.settings
        else:
            litellm_model = model
            provider = self._provider_of(model)
            own = {}
        defaults = self._config.providers.get(provider, {})
        if own:
            source = "deployment"
        elif defaults:
            source = "provider"
        else:
            source = "environment"
        resolved = (litellm_model, provider, Credentials({**defaults, **own}), source)
        self._resolved[model] = resolved
        return resolved

    def plan(self, request: ChatRequest) -> list[Attempt]:
        model = request.model
        assert model is not None  # validated: routing parameters are not built yet
        litellm_model, provider, credentials, source = self.resolve(model)
        return [Attempt(model, provider, litellm_model, source, "model", credentials)]
