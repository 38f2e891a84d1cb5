"""Model names -> what to call: backend model string, provider, configured credentials.

A name used in a request is either a deployment configured on the Router (``"fast"`` ->
``openai/gpt-4o-mini`` with its settings) or a backend model string itself
(``"anthropic/claude-3-5-sonnet"``), whose provider the dispatch backend infers. The
result depends only on the Router's configuration, so it is computed once per name.

``model_name_map`` (Azure deployment names) is applied per request by
:func:`apply_name_map`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from respan_router._secrets import Credentials
from respan_router.config import RouterConfig
from respan_router.routing._credentials import merge_credential_sources

__all__ = ["ModelResolver", "ResolvedModel", "apply_name_map"]

# Providers that address a model by the name of a deployment the customer created.
_DEPLOYMENT_NAMED = frozenset({"azure", "azure_ai"})
_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """One model name, resolved against the Router's configuration.

    Attributes:
        name: the name as requested (``"fast"``).
        backend: the backend model string (``"openai/gpt-4o-mini"``).
        provider: the provider's name (``"openai"``).
        deployment: the deployment's own settings, or empty.
        defaults: the Router's defaults for the provider, or empty.
        credentials: the credentials from configuration alone (deployment over provider).
        source: where those came from: ``"deployment"``, ``"provider"`` or
            ``"environment"``.
    """

    name: str
    backend: str
    provider: str
    deployment: Mapping[str, Any]
    defaults: Mapping[str, Any]
    credentials: Credentials
    source: str


class ModelResolver:
    """Resolves model names, memoised. Safe to share between threads.

    Args:
        config: the Router's configuration.
        provider_of: backend model string -> provider name (the dispatch backend's
            inference, e.g. litellm's).
        max_entries: names remembered at most; the memo is cleared when full, so
            arbitrary names in requests cannot grow it without bound.
    """

    def __init__(
        self,
        config: RouterConfig,
        provider_of: Callable[[str], str],
        *,
        max_entries: int = 4096,
    ) -> None:
        self._config = config
        self._provider_of = provider_of
        self._max_entries = max_entries
        self._memo: dict[str, ResolvedModel] = {}

    def __call__(self, name: str) -> ResolvedModel:
        hit = self._memo.get(name)
        if hit is not None:
            return hit
        resolved = self._resolve(name)
        if len(self._memo) >= self._max_entries:
            self._memo.clear()
        self._memo[name] = resolved
        return resolved

    def _resolve(self, name: str) -> ResolvedModel:
        deployment = self._config.deployments.get(name)
        if deployment is not None:
            backend = deployment.model
            provider = deployment.provider or self._provider_of(backend)
            own: Mapping[str, Any] = deployment.settings
        else:
            backend = name
            provider = self._provider_of(name)
            own = _EMPTY
        defaults = self._config.providers.get(provider, _EMPTY)
        sources = (("deployment", own), ("provider", defaults))
        credentials, source = merge_credential_sources(sources)
        return ResolvedModel(name, backend, provider, own, defaults, credentials, source)


def apply_name_map(resolved: ResolvedModel, name_map: Mapping[str, str] | None) -> str:
    """The backend model string after ``model_name_map``.

    A key with a provider prefix (``"azure/gpt-4o"``) matches a model whose name as
    requested or backend string equals it. A bare key (``"gpt-4o"``) matches Azure models
    only (``azure/gpt-4o``, or a deployment whose backend is), since only Azure addresses
    models by deployment name; an OpenAI ``gpt-4o`` in the same plan keeps its name.
    The value replaces the name after the provider prefix (``"azure/" + value``), or the
    whole string when it has a prefix of its own.
    """
    if not name_map:
        return resolved.backend
    target = None
    for key in (resolved.name, resolved.backend):
        if "/" in key and key in name_map:
            target = name_map[key]
            break
    if target is None and resolved.provider in _DEPLOYMENT_NAMED:
        bare = resolved.backend.partition("/")[2] or resolved.backend
        target = name_map.get(resolved.name) or name_map.get(bare)
    if target is None:
        return resolved.backend
    if "/" in target:
        return target
    prefix, slash, _ = resolved.backend.partition("/")
    return f"{prefix}/{target}" if slash else target
