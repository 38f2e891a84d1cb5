"""Providers whose wire format litellm does not translate through its config alone.

For these (Azure OpenAI, ...), a dialect module builds the deployment and the request the
way litellm's own handler for the provider does; sending, decoding and error mapping are
the shared lean code's. A provider takes its dialect only when the parity tests cover it
(``tests/test_lean_parity_azure.py``, ...); otherwise litellm handles the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._request import BuiltRequest

__all__ = ["Dialect", "Dialects"]


class Dialect(Protocol):
    provider: str
    streams: bool  # False: its streamed calls go through litellm

    def unsupported(
        self, params: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> str | None: ...

    def deployment(
        self, litellm_model: str, credentials: Mapping[str, Any]
    ) -> Deployment | None: ...

    def build_request(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool,
    ) -> BuiltRequest: ...


class Dialects:
    """The dialects for one lean provider instance, made when litellm is loaded."""

    def __init__(self, litellm: Any) -> None:
        from respan_router.providers._lean._anthropic import AnthropicDialect
        from respan_router.providers._lean._azure import AzureDialect
        from respan_router.providers._lean._bedrock import BedrockDialect
        from respan_router.providers._lean._gemini import GeminiDialect
        from respan_router.providers._lean._vertex import VertexDialect

        found: list[Dialect] = [
            AzureDialect(litellm),
            AnthropicDialect(litellm),
            BedrockDialect(litellm),
            GeminiDialect(litellm),
            VertexDialect(litellm),
        ]
        self._by_provider = {d.provider: d for d in found}

    def get(self, provider: str) -> Dialect | None:
        return self._by_provider.get(provider)

    def authorizer(self, call: Any) -> Any | None:
        """The dialect that needs a token before it builds ``call``'s request (Vertex AI:
        ``ready`` / ``authorize`` / ``aauthorize``), when it covers the call; else None."""
        dialect = self._by_provider.get(call.provider)
        if dialect is None or not hasattr(dialect, "authorize"):
            return None
        if dialect.unsupported(call.params, call.credentials) is not None:
            return None
        return dialect

    def prepare(
        self, provider: str, call: Any, *, stream: bool
    ) -> tuple[Deployment, BuiltRequest] | None:
        """The deployment and request of a call this dialect covers, or None (litellm)."""
        dialect = self._by_provider[provider]
        if stream and not dialect.streams:
            return None
        credentials = call.credentials
        if dialect.unsupported(call.params, credentials) is not None:
            return None
        deployment = dialect.deployment(call.litellm_model, credentials)
        if deployment is None:
            return None
        supported = deployment.supported
        if stream:  # parameters the stream wrapper reads, not the provider
            supported = supported | getattr(dialect, "stream_only_params", frozenset())
        if any(k not in supported for k in call.params if k != "extra_headers"):
            return None
        try:
            request = dialect.build_request(deployment, call.messages, call.params, stream=stream)
        except Exception:  # the config rejects something: litellm reports it its own way
            return None
        return deployment, request
