"""Google AI Studio's Gemini API on the lean path, as litellm's Gemini handler sends it.

litellm sends a ``gemini/...`` call through its Vertex/Gemini handler (``VertexLLM``) with
the provider ``gemini``; so does this module, in the handler's order: the key and base URL
as ``main.py`` resolves them, the URL from the handler's own ``_get_token_and_url``
(``{api_base}/models/{model}:generateContent``, or ``:streamGenerateContent?alt=sse``;
Google's host when no base is given), the headers from the config's
``validate_environment`` (``Content-Type``, ``x-goog-api-key``, then any extra headers), and
the body, reply, stream and errors through the part shared with Vertex AI
(``_gemini_body``).

On litellm: a parameter or credential outside the tested set, media and ``cache_control``
in the messages, output caps (``max_tokens``: litellm may continue a cut answer with more
requests), thought signatures in the history, and litellm-wide Gemini settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from respan_router._json import compact_encoder
from respan_router.providers._lean._anthropic_template import Templates
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._gemini_body import (
    GeminiConfig,
    build_body,
    templated,
    unsupported_messages,
)
from respan_router.providers._lean._gemini_reply import reply_reader
from respan_router.providers._lean._request import BuiltRequest
from respan_router.providers._lean._support import untested_key

__all__ = ["GeminiDialect"]

_encode = compact_encoder()
_CACHE_LIMIT = 1024
CREDENTIAL_KEYS = frozenset({"api_key", "api_base"})
# The OpenAI parameters the parity tests send. ``max_tokens`` / ``max_completion_tokens``
# are read so that a test can show they stay on litellm (an output cap).
PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "stop",
        "seed",
        "n",
        "tools",
        "tool_choice",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
    }
)
# Read by litellm's stream wrapper (the usage chunk), never sent upstream.
STREAM_ONLY_PARAMS = frozenset({"stream_options"})
# Where litellm's ``main.py`` finds a key or base the credentials do not give.
_KEY_ENVIRONMENT = ("GOOGLE_API_KEY", "GEMINI_API_KEY", "PALM_API_KEY")
_BASE_ENVIRONMENT = ("GEMINI_API_BASE",)
_LITELLM_SETTINGS = (
    "secret_manager_client",
    "disable_anthropic_gemini_context_caching_transform",
    "vertex_project",
    "vertex_location",
)


class GeminiDialect:
    """Builds Gemini (AI Studio) deployments (cached) and requests for the lean path."""

    provider = "gemini"
    streams = True
    wrapped_streams = True  # litellm's stream wrapper shapes the chunks (``_wrapped_stream``)
    stream_only_params = STREAM_ONLY_PARAMS

    def __init__(self, litellm: Any) -> None:
        from litellm.llms.gemini.chat.transformation import GoogleAIStudioGeminiConfig
        from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import VertexLLM

        self._litellm = litellm
        self._config_class = GoogleAIStudioGeminiConfig
        self._handler = VertexLLM()
        self._by_key: dict[tuple[Any, ...], Deployment | None] = {}
        self._templates = Templates(self._built)

    def unsupported(self, params: Mapping[str, Any], credentials: Mapping[str, Any]) -> str | None:
        """Why a call's parameters, credentials or environment keep it on litellm, or None."""
        untested = untested_key(params, credentials, PARAMS, CREDENTIAL_KEYS)
        if untested is not None:
            return untested
        for key in CREDENTIAL_KEYS:
            value = credentials.get(key)
            if value is not None and not isinstance(value, str):
                return f"{key} is not a string"
        if any(getattr(self._litellm, name, None) for name in _LITELLM_SETTINGS):
            return "a litellm-wide Gemini setting"
        return None

    def deployment(self, litellm_model: str, credentials: Mapping[str, Any]) -> Deployment | None:
        """The deployment, with the key and base URL litellm would use (the environment is
        read on every call, as litellm reads it); None without a key."""
        environ = os.environ
        api_key = credentials.get("api_key") or next(
            (environ[name] for name in _KEY_ENVIRONMENT if environ.get(name)), None
        )
        api_base = credentials.get("api_base") or next(
            (environ[name] for name in _BASE_ENVIRONMENT if environ.get(name)), None
        )
        if not api_key:
            return None  # litellm raises its own error
        key = (litellm_model, api_key, api_base)
        if key in self._by_key:
            return self._by_key[key]
        found = self._build(litellm_model, api_key, api_base)
        if len(self._by_key) < _CACHE_LIMIT:
            self._by_key[key] = found
        return found

    def _url(self, model: str, api_key: str, api_base: str | None, *, stream: bool) -> str:
        _, url = self._handler._get_token_and_url(
            model=model,
            auth_header=None,
            gemini_api_key=api_key,
            vertex_project=None,
            vertex_location=None,
            vertex_credentials=None,
            stream=stream,
            custom_llm_provider="gemini",
            api_base=api_base,
        )
        return str(url)

    def _build(self, litellm_model: str, api_key: str, api_base: str | None) -> Deployment | None:
        model = litellm_model.removeprefix("gemini/")
        try:
            config = self._config_class()
            supported = frozenset(config.get_supported_openai_params(model))
            url = self._url(model, api_key, api_base, stream=False)
            stream_url = self._url(model, api_key, api_base, stream=True)
            # The auth header litellm's handler gives ``validate_environment``.
            headers: dict[str, str] = config.validate_environment(
                api_key={"x-goog-api-key": api_key},
                headers=None,
                model=model,
                messages=[],
                optional_params={},
                litellm_params={},
            )
        except Exception:
            return None
        return Deployment(
            provider="gemini",
            model=model,
            config=GeminiConfig(config, stream_url),
            url=url,
            api_key=api_key,
            api_base=api_base or "",
            headers={**headers, "Accept": "*/*"},  # Accept: what litellm's transport sends
            sdk_shaped=False,
            supported=supported,
            plain_response=False,
            plain_stream=False,
            stream_false_in_body=False,
            reply=reply_reader(model),
        )

    def build_request(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool,
    ) -> BuiltRequest:
        """The URL, headers and body litellm's Gemini handler sends for this call (built
        once per call shape, see :func:`~._gemini_body.templated`).

        Raises:
            LeanUnsupported: see :func:`~._gemini_body.build_body`; media or
                ``cache_control`` in the messages.
        """
        return templated(self._templates, self._built, deployment, messages, params, stream)

    def _built(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        stream: bool,
    ) -> BuiltRequest:
        """The request built through litellm's Gemini code, step by step."""
        from respan_router.providers._lean._request import LeanUnsupported

        reason = unsupported_messages(messages)
        if reason is not None:
            raise LeanUnsupported(reason)
        if not stream and any(k in params for k in STREAM_ONLY_PARAMS):
            raise LeanUnsupported("stream options on a call that does not stream")
        config: GeminiConfig = deployment.config
        data, mapped = build_body(
            config.inner,
            deployment.model,
            "gemini",
            deployment.api_base or None,
            deployment.api_key,
            messages,
            params,
        )
        headers: Mapping[str, str] = deployment.headers
        extra_headers = params.get("extra_headers")
        if extra_headers:  # litellm hands them to validate_environment after the key
            headers = {**headers, **extra_headers}
        return BuiltRequest(
            url=config.stream_url if stream else deployment.url,
            headers=headers,
            body=_encode(data).encode(),
            data=data,
            optional_params=mapped,
        )
