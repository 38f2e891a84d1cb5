"""The provider seam: one call in, one OpenAI-shaped completion (or chunks) out.

A :class:`Provider` performs one attempt, with no retries of its own, and raises only
:class:`~respan_router.errors.ProviderError` subclasses. The default is
:class:`~respan_router.providers._litellm.LiteLLMProvider`; tests use
:class:`~respan_router.testing.FakeProvider`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from respan_router._secrets import Credentials, masked_params, param_secrets

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["KindPrices", "PriceInfo", "Provider", "ProviderCall"]


@dataclass(slots=True)
class ProviderCall:
    """Everything one attempt sends to a provider.

    Attributes:
        model: the model name as requested (after routing), e.g. ``"fast"``.
        litellm_model: the model string the backend is called with, e.g.
            ``"openai/gpt-4o-mini"`` (after ``model_name_map``).
        provider: the provider's name, e.g. ``"openai"``.
        messages: the conversation.
        params: every other parameter for the backend (OpenAI parameters and
            pass-through options), without credentials, ``stream`` or ``timeout``.
        credentials: what authenticates the call; masked in repr.
        credential_source: where the credentials came from (never the secret).
        timeout: seconds this attempt may take, or None.
        first_chunk_timeout: a stream's ``first_token_timeout``: seconds its first chunk
            may take (a sync provider bounds that wait itself), or None.
        dispatch_path: set by the provider when it dispatches the attempt: which path
            sent it (``"lean"`` or ``"litellm"`` for the default provider), for telemetry;
            None when the provider does not say.
    """

    model: str
    litellm_model: str
    provider: str
    messages: list[dict[str, Any]]
    params: Mapping[str, Any] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials)
    credential_source: str = "environment"
    timeout: float | None = None
    first_chunk_timeout: float | None = None
    dispatch_path: str | None = None

    def secret_values(self) -> tuple[str, ...]:
        """Every secret of the attempt: its credentials' and any the caller passed in
        ``params`` (``api_key=``, an ``Authorization`` header). For redaction."""
        return self.credentials.secret_values() + param_secrets(self.params)

    def __repr__(self) -> str:
        return (
            f"ProviderCall(model={self.model!r}, litellm_model={self.litellm_model!r}, "
            f"provider={self.provider!r}, params={masked_params(self.params)!r}, "
            f"credentials={self.credentials!r}, credential_source={self.credential_source!r}, "
            f"timeout={self.timeout!r})"
        )


@runtime_checkable
class Provider(Protocol):
    """What the router dispatches through. Sync and async twins; streams are iterators.

    Optional: ``close()`` and ``async aclose()``, releasing what the provider holds
    (HTTP sessions, pools); a Router closes its provider with itself when it has them.
    """

    def provider_of(self, litellm_model: str) -> str:
        """The provider name of a model string (``"openai/gpt-4o"`` -> ``"openai"``)."""
        ...

    def price_per_token(self, litellm_model: str) -> tuple[float, float] | None:
        """USD per (input, output) token for a model string, or None when unknown."""
        ...

    def count_tokens(
        self, litellm_model: str, messages: list[dict[str, Any]], text: str
    ) -> tuple[int, int] | None:
        """(prompt, completion) tokens, for streams whose provider sent no usage."""
        ...

    def complete(self, call: ProviderCall) -> ChatCompletion: ...

    async def acomplete(self, call: ProviderCall) -> ChatCompletion: ...

    def stream(self, call: ProviderCall) -> Iterator[ChatCompletionChunk]:
        """Chunks of one streamed attempt. Closing the iterator releases the upstream."""
        ...

    def astream(self, call: ProviderCall) -> AsyncIterator[ChatCompletionChunk]: ...


@runtime_checkable
class PriceInfo(Protocol):
    """A provider that knows a model's price table (optional: the litellm adapter and the
    lean path do); budgets read the model's ``max_output_tokens`` from it."""

    def price_info(self, litellm_model: str) -> dict[str, Any] | None: ...


@runtime_checkable
class KindPrices(Protocol):
    """A provider that prices each kind of token (cached input, reasoning, ...) apart
    (optional); routing's cost and ``request_breakdown`` use it when there."""

    def prices_by_kind(self, litellm_model: str) -> dict[str, float] | None: ...
