"""Which credentials an attempt uses, and where they came from. Pure: no I/O.

Sources, highest first::

    credential_override   the request's, keyed by model (as requested or backend string),
                          else by provider
    customer_credentials  the request's {provider: {...}}, or one set drawn from a weighted
                          list [{credentials: {provider: {...}}, weight}]
    load_balance          the credentials of the load-balance item the model came from
    deployment            the Router's deployment settings for the model
    provider              the Router's defaults for the provider
    environment           nothing given: the backend reads its own environment variables

How they combine:

- **Secrets come from one source only.** The highest source that supplies a secret
  (``api_key``, a token, a password, an organization or project, ...) wins, and every
  secret of the attempt comes from it; secrets of different sources are never mixed, so
  a customer's key is never sent with the Router's organization.
- **Other settings merge key by key**, higher sources first: a deployment's ``api_base``
  and ``api_version`` survive under a customer's ``api_key``, unless the customer gives
  an ``api_base`` of their own.
- ``credential_source`` names the source of the secrets; when no source supplies one, the
  highest source supplying any setting, else ``"environment"``.

Settings of a higher source apply even when the secret comes from a lower one: a request
that sets only ``api_base`` sends the configured key there. Build request-level
credentials from trusted input only.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from respan_router._secrets import Credentials, is_secret_name
from respan_router.request import RespanParams, WeightedCredentials
from respan_router.routing._selection import weighted_index


class Resolved(Protocol):
    """What credentials are chosen from: a model resolved against the configuration
    (:class:`respan_router.resolve.ResolvedModel`)."""

    @property
    def name(self) -> str: ...
    @property
    def backend(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def deployment(self) -> Mapping[str, Any]: ...
    @property
    def defaults(self) -> Mapping[str, Any]: ...
    @property
    def credentials(self) -> Credentials: ...
    @property
    def source(self) -> str: ...


__all__ = [
    "RequestCredentials",
    "credentials_for",
    "merge_credential_sources",
]

_EMPTY: Mapping[str, Any] = {}

Source = tuple[str, Mapping[str, Any] | None]


def merge_credential_sources(sources: Iterable[Source]) -> tuple[Credentials, str]:
    """Combine credential sources, highest first, into (credentials, source name)."""
    secrets: Mapping[str, Any] | None = None
    winner: str | None = None
    first: str | None = None
    settings: dict[str, Any] = {}
    for name, values in sources:
        if not values:
            continue
        supplies_secret = False
        for key, value in values.items():
            if value is None:
                continue
            if first is None:
                first = name
            if is_secret_name(key):
                supplies_secret = True
            elif key not in settings:
                settings[key] = value
        if supplies_secret and winner is None:
            winner, secrets = name, values
    if secrets is not None:
        settings.update((k, v) for k, v in secrets.items() if is_secret_name(k))
    return Credentials(settings), winner or first or "environment"


class RequestCredentials:
    """The request-level credential sources of one plan.

    A weighted ``customer_credentials`` list is drawn from lazily, once per provider and
    plan, among the sets that hold credentials for that provider: every attempt of a
    plan on one provider uses the same set.
    """

    __slots__ = ("_drawn", "_override", "_plain", "_rng", "_weighted")

    def __init__(self, respan: RespanParams, rng: random.Random) -> None:
        self._override = respan.credential_override or _EMPTY
        customer = respan.customer_credentials
        self._plain: Mapping[str, Mapping[str, Any]] = (
            customer if isinstance(customer, Mapping) else _EMPTY
        )
        self._weighted: list[WeightedCredentials] = customer if isinstance(customer, list) else []
        self._rng = rng
        self._drawn: dict[str, Mapping[str, Any] | None] = {}

    @staticmethod
    def of(respan: RespanParams, rng: random.Random) -> RequestCredentials | None:
        """The request's sources, or None when it brings no credentials of its own."""
        if respan.credential_override is None and respan.customer_credentials is None:
            return None
        return RequestCredentials(respan, rng)

    def override(self, name: str, backend: str, provider: str) -> Mapping[str, Any] | None:
        """``credential_override`` for a model: by name, by backend string, by provider."""
        for key in (name, backend, provider):
            values = self._override.get(key)
            if values is not None:
                return values
        return None

    def customer(self, provider: str) -> Mapping[str, Any] | None:
        """``customer_credentials`` for a provider (a weighted set drawn once per plan)."""
        if not self._weighted:
            return self._plain.get(provider)
        if provider in self._drawn:
            return self._drawn[provider]
        sets = [w for w in self._weighted if provider in w.credentials]
        chosen = (
            sets[weighted_index(self._rng, [w.weight for w in sets])].credentials[provider]
            if sets
            else None
        )
        self._drawn[provider] = chosen
        return chosen


def credentials_for(
    resolved: Resolved,
    request: RequestCredentials | None,
    item_credentials: Mapping[str, Any] | None,
) -> tuple[Credentials, str]:
    """The credentials of one attempt and the name of their source."""
    if request is None and not item_credentials:
        return resolved.credentials, resolved.source  # configuration alone: precomputed
    sources: list[Source] = []
    if request is not None:
        override = request.override(resolved.name, resolved.backend, resolved.provider)
        sources.append(("credential_override", override))
        sources.append(("customer_credentials", request.customer(resolved.provider)))
    sources.append(("load_balance", item_credentials))
    sources.append(("deployment", resolved.deployment))
    sources.append(("provider", resolved.defaults))
    return merge_credential_sources(sources)
