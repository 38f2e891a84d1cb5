"""Vertex AI's Gemini models on the lean path, as litellm's Vertex handler sends them.

litellm sends a ``vertex_ai/gemini-...`` call through the same handler as Google AI Studio
(``VertexLLM``) with the provider ``vertex_ai``; so does this module, in the handler's
order: the project, location, credentials and base URL as litellm's ``main.py`` resolves
them (the call's ``vertex_project`` / ``vertex_location`` / ``vertex_credentials`` /
``api_base``, then ``litellm.vertex_project`` / ``litellm.vertex_location``, then
``VERTEXAI_PROJECT`` / ``VERTEXAI_LOCATION`` / ``VERTEXAI_CREDENTIALS`` /
``VERTEXAI_API_BASE``); the access token and the project it resolves to from the
credentials (:mod:`._google_token`, which loads them with litellm's own ``load_auth``);
the URL from the handler's ``_get_token_and_url``
(``{api_base}/v1/projects/{project}/locations/{location}/publishers/google/models/{model}``
``:generateContent``, or ``:streamGenerateContent?alt=sse``; the regional host when no base
is given); the headers of the config's ``validate_environment`` (``Content-Type``,
``Authorization: Bearer <token>``, then any extra headers); the body, reply, stream and
errors through the part shared with AI Studio (``_gemini_body``).

The token is had before the request is built: a sync call waits for it when there is no
usable one (one load or refresh for all callers), an async call awaits it from a worker
thread; a cached token costs no I/O. A failed load or refresh is the router error litellm
gives for it. Without google-auth, and for anything the parity tests do not cover (another
route than Gemini's, fine-tuned endpoints, the ``vertex_ai_*`` spellings, a secret
manager), the call goes through litellm.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final, NoReturn

from respan_router._json import compact_encoder
from respan_router.providers._base import ProviderCall
from respan_router.providers._lean._anthropic_template import Templates
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._errors import litellm_error, mapped
from respan_router.providers._lean._gemini import PARAMS, STREAM_ONLY_PARAMS
from respan_router.providers._lean._gemini_body import (
    GeminiConfig,
    build_body,
    templated,
    unsupported_messages,
)
from respan_router.providers._lean._gemini_reply import reply_reader
from respan_router.providers._lean._google_token import (
    GoogleTokens,
    TokenError,
    google_auth_installed,
)
from respan_router.providers._lean._request import BuiltRequest, LeanUnsupported
from respan_router.providers._lean._support import untested_key

__all__ = ["VertexDialect"]

_CACHE_LIMIT = 1024
CREDENTIAL_KEYS = frozenset({"api_base", "vertex_project", "vertex_location", "vertex_credentials"})
_PROVIDER: Final = "vertex_ai"
_LITELLM_SETTINGS = ("secret_manager_client", "disable_anthropic_gemini_context_caching_transform")
_encode = compact_encoder()


class VertexConfig(GeminiConfig):
    """The shared Gemini config, with the project and location the URL was built for
    (litellm's request body reads them too)."""

    def __init__(self, inner: Any, stream_url: str, project: str, location: str | None) -> None:
        super().__init__(inner, stream_url)
        self.project = project
        self.location = location


class VertexDialect:
    """Builds Vertex AI Gemini deployments (cached per project, location and base URL)
    and requests carrying the credentials' access token."""

    provider = _PROVIDER
    streams = True
    wrapped_streams = True  # litellm's stream wrapper shapes the chunks (``_wrapped_stream``)
    stream_only_params = STREAM_ONLY_PARAMS

    def __init__(self, litellm: Any) -> None:
        from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import VertexLLM

        self._litellm = litellm
        self._handler = VertexLLM()
        self._tokens = GoogleTokens()
        self._installed: bool | None = None
        self._by_key: dict[tuple[Any, ...], Deployment | None] = {}
        self._templates = Templates(self._built)

    # -- the guards -----------------------------------------------------------------------

    def unsupported(self, params: Mapping[str, Any], credentials: Mapping[str, Any]) -> str | None:
        """Why a call's parameters, credentials or environment keep it on litellm, or None."""
        if self._installed is None:
            self._installed = google_auth_installed()
        if not self._installed:
            return "google-auth is not installed"
        untested = untested_key(params, credentials, PARAMS, CREDENTIAL_KEYS)
        if untested is not None:
            return untested
        for key in ("api_base", "vertex_project", "vertex_location"):
            value = credentials.get(key)
            if value is not None and not isinstance(value, str):
                return f"{key} is not a string"
        given = credentials.get("vertex_credentials")
        if given is not None and not isinstance(given, str | Mapping):
            return "vertex_credentials is neither JSON, a path nor a mapping"
        if any(getattr(self._litellm, name, None) for name in _LITELLM_SETTINGS):
            return "a litellm-wide Vertex setting"
        return None

    # -- the token --------------------------------------------------------------------------

    def _auth_inputs(self, credentials: Mapping[str, Any]) -> tuple[Any, str | None]:
        """The credentials and project litellm's ``main.py`` hands its Vertex handler."""
        environ = os.environ
        given = credentials.get("vertex_credentials") or environ.get("VERTEXAI_CREDENTIALS")
        project = (
            credentials.get("vertex_project")
            or getattr(self._litellm, "vertex_project", None)
            or environ.get("VERTEXAI_PROJECT")
        )
        return given, project

    def ready(self, call: ProviderCall) -> bool:
        """Whether a usable token is at hand (no I/O)."""
        return self._tokens.peek(*self._auth_inputs(call.credentials)) is not None

    def authorize(self, call: ProviderCall) -> None:
        """Have a usable token (a sync call: waits for the one load or refresh).

        Raises:
            RouterError: the credentials gave no token (as litellm's error maps).
        """
        try:
            self._tokens.get(*self._auth_inputs(call.credentials))
        except TokenError as exc:
            self._token_failure(call, exc)

    async def aauthorize(self, call: ProviderCall) -> None:
        """:meth:`authorize` for an async call: the load or refresh runs off the loop."""
        try:
            await self._tokens.aget(*self._auth_inputs(call.credentials))
        except TokenError as exc:
            self._token_failure(call, exc)

    def _token_failure(self, call: ProviderCall, exc: TokenError) -> NoReturn:
        """Raise the router error of litellm's error for a token it could not have."""
        model = call.litellm_model.removeprefix(_PROVIDER + "/")
        error = litellm_error(self._litellm, model, _PROVIDER, exc)
        raise mapped(error, call) from error

    # -- the deployment and the request ------------------------------------------------------

    def deployment(self, litellm_model: str, credentials: Mapping[str, Any]) -> Deployment | None:
        """The deployment with the current token, or None (litellm) when there is no
        usable token at hand or the model is not one of Gemini's on Vertex."""
        found = self._tokens.peek(*self._auth_inputs(credentials))
        if found is None:
            return None
        token, project = found
        location = (
            credentials.get("vertex_location")
            or getattr(self._litellm, "vertex_location", None)
            or os.environ.get("VERTEXAI_LOCATION")
        )
        api_base = credentials.get("api_base") or os.environ.get("VERTEXAI_API_BASE")
        key = (litellm_model, project, location, api_base)
        base = self._by_key.get(key)
        if base is None and key not in self._by_key:
            base = self._build(litellm_model, project, location, api_base)
            if len(self._by_key) < _CACHE_LIMIT:
                self._by_key[key] = base
        return None if base is None else replace(base, api_key=token)

    def _url(
        self, model: str, project: str, location: str | None, api_base: str | None, *, stream: bool
    ) -> str:
        _, url = self._handler._get_token_and_url(
            model=model,
            auth_header=None,
            gemini_api_key=None,
            vertex_project=project,
            vertex_location=location,
            vertex_credentials=None,
            stream=stream,
            custom_llm_provider=_PROVIDER,
            api_base=api_base,
        )
        return str(url)

    def _build(
        self, litellm_model: str, project: str, location: str | None, api_base: str | None
    ) -> Deployment | None:
        from litellm.llms.vertex_ai.common_utils import (
            VertexAIModelRoute,
            get_vertex_ai_model_route,
        )

        model = litellm_model.removeprefix(_PROVIDER + "/")
        try:
            if get_vertex_ai_model_route(model, {}) != VertexAIModelRoute.GEMINI:
                return None
            if "/" in model or model.isdigit():
                return None  # fine-tuned models and endpoints: litellm's own URLs
            config = self._litellm.VertexGeminiConfig()
            supported = frozenset(config.get_supported_openai_params(model))
            url = self._url(model, project, location, api_base, stream=False)
            stream_url = self._url(model, project, location, api_base, stream=True)
        except Exception:
            return None
        return Deployment(
            provider=_PROVIDER,
            model=model,
            config=VertexConfig(config, stream_url, project, location),
            url=url,
            api_key=None,
            api_base=api_base or "",
            headers={"Content-Type": "application/json", "Accept": "*/*"},
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
        """The URL, headers and body litellm's Vertex handler sends for this call (the body
        built once per call shape, see :func:`~._gemini_body.templated`; the token is not
        part of it).

        Raises:
            LeanUnsupported: as for Gemini on AI Studio (``_gemini_body``).
        """
        token = deployment.api_key
        untokened = replace(deployment, api_key=None)
        built = templated(self._templates, self._built, untokened, messages, params, stream)
        # validate_environment's order: Content-Type, the token, then the extra headers.
        headers = {**deployment.headers, "Authorization": f"Bearer {token}"}
        extra_headers = params.get("extra_headers")
        if extra_headers:
            headers.update(extra_headers)
        return replace(built, headers=headers)

    def _built(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        stream: bool,
    ) -> BuiltRequest:
        """The body built through litellm's Gemini code (its context caching, the one step
        that reads the token, is never reached on the lean path)."""
        reason = unsupported_messages(messages)
        if reason is not None:
            raise LeanUnsupported(reason)
        if not stream and any(k in params for k in STREAM_ONLY_PARAMS):
            raise LeanUnsupported("stream options on a call that does not stream")
        config: VertexConfig = deployment.config
        data, mapped_params = build_body(
            config.inner,
            deployment.model,
            _PROVIDER,
            deployment.api_base or None,
            None,
            messages,
            params,
            vertex_project=config.project,
            vertex_location=config.location,
            vertex_auth_header=None,
        )
        return BuiltRequest(
            url=config.stream_url if stream else deployment.url,
            headers={},
            body=_encode(data).encode(),
            data=data,
            optional_params=mapped_params,
        )
