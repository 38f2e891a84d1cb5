"""Per-deployment work, done once: the provider's config, URL, key and static headers.

A :class:`Deployment` is keyed by (provider, model, api_key, api_base) and cached on the
provider instance (bounded). What comes from the environment (a key in
``OPENAI_API_KEY``, ...) is resolved as litellm resolves it, on every call that relies on
it, so a changed environment is seen as litellm would see it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from respan_router.providers._lean._support import SDK_SHAPED

__all__ = ["Deployment", "DeploymentCache", "ReplyReader"]

_CACHE_LIMIT = 1024
# A provider's own reading of a 2xx reply: (parsed JSON, mapped parameters, finish-reason
# map, the call's messages, the response's headers) -> litellm's dump of its completion,
# or None.
ReplyReader = Callable[
    [Any, Mapping[str, Any], Callable[[str], str], list[dict[str, Any]], Mapping[str, str]],
    dict[str, Any] | None,
]
_OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class Deployment:
    """Everything about one deployment that does not change from call to call.

    Attributes:
        provider: litellm's provider name.
        model: the model as the provider's config sees it (no provider prefix).
        config: litellm's ``BaseConfig`` for the provider and model.
        url: the complete chat-completions URL.
        api_key: the key sent (never logged).
        api_base: the base URL the config was given.
        headers: request headers from the config (auth included), without extra headers.
        sdk_shaped: litellm sends this provider's requests through the openai SDK.
        supported: the OpenAI parameters the config supports for the model.
        plain_response: the config's response translation is OpenAI's own.
        plain_stream: the config's stream decoding is OpenAI's own.
        stream_false_in_body: litellm sends ``"stream": false`` on a non-streamed call
            (its ``get_optional_params`` keeps it for this provider).
        reply: the router's own reading of a 2xx reply (its parsed JSON, the call's mapped
            parameters, litellm's finish-reason map, the call's messages, the response's
            headers, case-insensitive) into the ``model_dump()`` of litellm's
            ``transform_response`` (Anthropic's, Bedrock Converse's, Gemini's and Vertex
            AI's), or None for a reply it does not cover (then the config's
            ``transform_response`` runs on an ``httpx.Response`` of the reply).
    """

    provider: str
    model: str
    config: Any
    url: str
    api_key: str | None
    api_base: str
    headers: Mapping[str, str]
    sdk_shaped: bool
    supported: frozenset[str]
    plain_response: bool
    plain_stream: bool
    stream_false_in_body: bool
    reply: ReplyReader | None = None

    def __repr__(self) -> str:
        return (
            f"Deployment(provider={self.provider!r}, model={self.model!r}, url={self.url!r}, "
            f"config={type(self.config).__name__})"
        )


def _bare_model(litellm_model: str, provider: str) -> str:
    prefix = provider + "/"
    return litellm_model[len(prefix) :] if litellm_model.startswith(prefix) else litellm_model


class DeploymentCache:
    """Builds and remembers :class:`Deployment` objects for one provider instance."""

    def __init__(self, litellm: Any) -> None:
        self._litellm = litellm
        self._by_key: dict[tuple[str, str, str | None, str | None], Deployment | None] = {}
        from litellm.llms.openai.chat.gpt_transformation import OpenAIGPTConfig
        from litellm.utils import ProviderConfigManager

        self._manager = ProviderConfigManager
        self._plain_transform = OpenAIGPTConfig.transform_response
        self._plain_iterator = OpenAIGPTConfig.get_model_response_iterator

    def get(
        self, litellm_model: str, provider: str, credentials: Mapping[str, Any]
    ) -> Deployment | None:
        """The deployment of a call, or None when its key or base URL cannot be resolved."""
        api_key = credentials.get("api_key")
        api_base = credentials.get("api_base")
        key = (provider, litellm_model, api_key, api_base)
        if api_key is not None and api_base is not None and key in self._by_key:
            return self._by_key[key]
        resolved_key, resolved_base = self._resolve(litellm_model, provider, api_key, api_base)
        full = (provider, litellm_model, resolved_key, resolved_base)
        found = self._by_key.get(full)
        if found is None and full not in self._by_key:
            found = self._build(litellm_model, provider, resolved_key, resolved_base)
            if len(self._by_key) < _CACHE_LIMIT:
                self._by_key[full] = found
        if api_key is not None and api_base is not None and len(self._by_key) < _CACHE_LIMIT:
            self._by_key[key] = found
        return found

    def _resolve(
        self, litellm_model: str, provider: str, api_key: str | None, api_base: str | None
    ) -> tuple[str | None, str | None]:
        """The key and base URL litellm would use: given, else its per-provider defaults.

        A given base goes through litellm's ``get_llm_provider`` too, as in litellm's
        ``completion()``: some providers rewrite it (mistral appends ``/v1``)."""
        if provider == "openai":
            if api_key is not None and api_base is not None:
                return api_key, api_base
            env = os.environ
            base = (
                api_base
                or env.get("OPENAI_BASE_URL")
                or env.get("OPENAI_API_BASE")
                or _OPENAI_DEFAULT_BASE
            )
            return api_key or env.get("OPENAI_API_KEY"), base
        try:
            _, _, dynamic_key, dynamic_base = self._litellm.get_llm_provider(
                model=litellm_model,
                custom_llm_provider=provider,
                api_base=api_base,
                api_key=api_key,
            )
        except Exception:
            return api_key, api_base
        return api_key or dynamic_key, dynamic_base or api_base

    def _build(
        self, litellm_model: str, provider: str, api_key: str | None, api_base: str | None
    ) -> Deployment | None:
        if api_key is None or api_base is None:
            return None
        model = _bare_model(litellm_model, provider)
        try:
            config = self._manager.get_provider_chat_config(
                model=model, provider=self._litellm.LlmProviders(provider)
            )
            if config is None:
                return None
            headers = config.validate_environment(
                headers={},
                model=model,
                messages=[],
                optional_params={},
                litellm_params={},
                api_key=api_key,
                api_base=api_base,
            )
            url = config.get_complete_url(
                api_base=api_base,
                api_key=api_key,
                model=model,
                optional_params={},
                litellm_params={},
                stream=False,
            )
            supported = frozenset(config.get_supported_openai_params(model))
            defaults = self._litellm.get_optional_params(
                model=model, custom_llm_provider=provider, stream=False
            )
        except Exception:
            return None
        cls = type(config)
        sdk_shaped = provider in SDK_SHAPED
        # The Accept header of the client litellm sends with: the openai SDK's, or httpx's.
        accept = "application/json" if sdk_shaped else "*/*"
        if not any(name.lower() == "accept" for name in headers):
            headers = {**headers, "Accept": accept}
        return Deployment(
            provider=provider,
            model=model,
            config=config,
            url=url,
            api_key=api_key,
            api_base=api_base,
            headers=dict(headers),
            sdk_shaped=sdk_shaped,
            supported=supported,
            plain_response=cls.transform_response is self._plain_transform,
            plain_stream=cls.get_model_response_iterator is self._plain_iterator,
            stream_false_in_body="stream" in defaults,
        )
