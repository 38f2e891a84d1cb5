"""Azure OpenAI on the lean path: the request litellm's Azure handler sends, without it.

litellm sends Azure calls through the openai SDK's ``AzureOpenAI`` client: the body is
``AzureOpenAIConfig.transform_request`` (with ``"stream"`` always in it), the URL is
``{api_base}/openai/deployments/{deployment}/chat/completions?api-version=...``, the key
goes in ``api-key`` (an Entra ID token as ``Authorization: Bearer``), and the reply is
OpenAI's JSON with Azure's content-filter fields, read by
``convert_to_model_response_object``. An error status becomes ``AzureOpenAIError`` with the
SDK's message, then litellm's ``exception_type``.

Only what the parity tests cover takes this path: an ``api_base`` (no path), an
``api_version`` and either a key or an ``azure_ad_token`` (not an ``oidc/`` one), each given
or found in the environment as litellm finds it (``AZURE_API_BASE``, ``AZURE_API_VERSION``
else litellm's default version, ``AZURE_OPENAI_API_KEY`` / ``AZURE_API_KEY``), a model
litellm does not route to its o-series or GPT-5 handlers, and no Entra ID setting in the
environment. Anything else goes through litellm.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from respan_router._json import compact_encoder
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._messages import litellm_messages
from respan_router.providers._lean._request import BuiltRequest, with_extra_headers
from respan_router.providers._lean._support import TESTED_PARAMS, untested_key

__all__ = ["AzureDialect"]

_encode = compact_encoder()
_CACHE_LIMIT = 1024
CREDENTIAL_KEYS = frozenset({"api_key", "api_base", "api_version", "azure_ad_token"})
# Environment litellm reads for an Azure call even when the credentials are given: a token
# here would replace the key; Entra ID settings would mint one.
_ENVIRONMENT = (
    "AZURE_AD_TOKEN",
    "AZURE_API_TYPE",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
)
_LITELLM_SETTINGS = (
    "api_version",
    "azure_key",
    "enable_azure_ad_token_refresh",
    "secret_manager_client",
)


class _AzureConfig:
    """What the shared lean code asks of a config, answered as litellm's Azure handler does."""

    # litellm's Azure streams pass on a usage chunk the upstream sends, asked for or not.
    passes_usage_on = True

    def __init__(self, inner: Any, api_version: str) -> None:
        self.inner = inner
        self.api_version = api_version

    def get_error_class(
        self, error_message: str, status_code: int, headers: Mapping[str, str]
    ) -> BaseException:
        """``AzureOpenAIError`` with the message and body the openai SDK would give it."""
        message = f"Error code: {status_code}"
        body: Any = error_message.strip()
        try:
            body = json.loads(body)
        except ValueError:
            pass
        else:
            error = body.get("error", body) if isinstance(body, dict) else None
            text = error.get("message") if isinstance(error, dict) else None
            if isinstance(text, str) and text:
                message += f" - {text}"
        data = body.get("error", body) if isinstance(body, dict) else body
        error_class: BaseException = self.inner.get_error_class(
            error_message=message, status_code=status_code, headers=dict(headers)
        )
        if isinstance(data, dict):
            error_class.body = data  # type: ignore[attr-defined]
        return error_class

    def transform_response(self, *, raw_response: Any, model_response: Any, **_: Any) -> Any:
        from litellm.litellm_core_utils.llm_response_utils.convert_dict_to_response import (
            convert_to_model_response_object,
        )

        return convert_to_model_response_object(
            response_object=raw_response.json(),
            model_response_object=model_response,
            convert_tool_call_to_json_mode=False,
            _response_headers=dict(raw_response.headers),
        )


class AzureDialect:
    """Builds Azure deployments (cached) and requests for the lean path."""

    provider = "azure"
    streams = True

    def __init__(self, litellm: Any) -> None:
        from litellm.llms.azure.chat.gpt_transformation import AzureOpenAIConfig

        self._litellm = litellm
        self._config_class = AzureOpenAIConfig
        self._by_key: dict[tuple[Any, ...], Deployment | None] = {}

    def unsupported(self, params: Mapping[str, Any], credentials: Mapping[str, Any]) -> str | None:
        """Why a call's parameters, credentials or environment keep it on litellm, or None."""
        untested = untested_key(params, credentials, TESTED_PARAMS, CREDENTIAL_KEYS)
        if untested is not None:
            return untested
        for key in CREDENTIAL_KEYS:
            value = credentials.get(key)
            if value is not None and not isinstance(value, str):
                return "a credential that is not a string"
        token = credentials.get("azure_ad_token")
        if isinstance(token, str) and token.startswith("oidc/"):
            return "an OIDC token is exchanged by litellm"
        environ = os.environ
        if any(name in environ for name in _ENVIRONMENT):
            return "Azure settings in the environment"
        litellm = self._litellm
        if any(getattr(litellm, name, None) for name in _LITELLM_SETTINGS):
            return "a litellm-wide Azure setting"
        return None

    def deployment(self, litellm_model: str, credentials: Mapping[str, Any]) -> Deployment | None:
        """The deployment, with what litellm would resolve from the environment (read on
        every call); None when the result is not one the parity tests cover."""
        environ = os.environ
        token = credentials.get("azure_ad_token")
        api_key = (
            credentials.get("api_key")
            or environ.get("AZURE_OPENAI_API_KEY")
            or environ.get("AZURE_API_KEY")
        )
        if (api_key is None) == (token is None):
            return None  # neither (litellm mints a token) or both (the SDK picks)
        api_base = credentials.get("api_base") or environ.get("AZURE_API_BASE")
        api_version = (
            credentials.get("api_version")
            or environ.get("AZURE_API_VERSION")
            or self._litellm.AZURE_DEFAULT_API_VERSION
        )
        if not api_base or not api_version:
            return None
        key = (litellm_model, api_key, token, api_base, api_version)
        if key in self._by_key:
            return self._by_key[key]
        found = self._build(litellm_model, api_key, token, str(api_base), str(api_version))
        if len(self._by_key) < _CACHE_LIMIT:
            self._by_key[key] = found
        return found

    def _build(
        self,
        litellm_model: str,
        api_key: str | None,
        token: str | None,
        api_base: str,
        api_version: str,
    ) -> Deployment | None:
        litellm = self._litellm
        model = litellm_model.removeprefix("azure/")
        parts = urllib.parse.urlsplit(api_base)
        if parts.scheme not in ("http", "https") or parts.path.strip("/") or parts.query:
            return None  # a base URL with a path (a gateway, a deployment URL): litellm's
        if "gateway.ai.cloudflare.com" in api_base or not model or "/" in model:
            return None
        try:
            if litellm.AzureOpenAIGPT5Config.is_model_gpt_5_model(model=model):
                return None
            if litellm.AzureOpenAIO1Config().is_o_series_model(model=model):
                return None
            config = self._config_class()
            supported = frozenset(config.get_supported_openai_params(model))
        except Exception:
            return None
        url = (
            f"{api_base.rstrip('/')}/openai/deployments/{urllib.parse.quote(model, safe='')}"
            f"/chat/completions?{urllib.parse.urlencode({'api-version': api_version})}"
        )
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        else:
            headers["api-key"] = str(api_key)
        return Deployment(
            provider="azure",
            model=model,
            config=_AzureConfig(config, api_version),
            url=url,
            api_key=None if token is not None else api_key,
            api_base=api_base,
            headers=headers,
            sdk_shaped=True,
            supported=supported,
            plain_response=True,
            plain_stream=True,
            stream_false_in_body=True,
        )

    def build_request(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool,
    ) -> BuiltRequest:
        """The body and headers the ``AzureOpenAI`` client sends for this call."""
        config = deployment.config.inner
        extra_headers = params.get("extra_headers")
        openai_params = {k: v for k, v in params.items() if k != "extra_headers"}
        mapped: dict[str, Any] = config.map_openai_params(
            non_default_params=openai_params,
            optional_params={},
            model=deployment.model,
            drop_params=False,
            api_version=deployment.config.api_version,
        )
        messages = litellm_messages(
            config, deployment.model, deployment.provider, deployment.api_base, messages
        )
        data: dict[str, Any] = config.transform_request(
            model=deployment.model,
            messages=messages,
            optional_params={"stream": stream, **mapped},
            litellm_params={},
            headers={},
        )
        headers: Mapping[str, str] = deployment.headers
        if extra_headers:  # an Azure deployment is SDK-shaped: applied over its headers
            headers = with_extra_headers(deployment, dict(extra_headers))
        return BuiltRequest(
            url=deployment.url,
            headers=headers,
            body=_encode(data).encode(),
            data=data,
            optional_params=mapped,
        )
