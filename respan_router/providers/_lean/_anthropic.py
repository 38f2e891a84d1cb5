"""Anthropic's Messages API on the lean path, as litellm's handler sends it.

litellm's Anthropic handler builds a call in this order, and so does this module: the
config's ``map_openai_params``, ``validate_environment`` with the call's messages and
parameters (the ``x-api-key``, ``anthropic-version`` and any ``anthropic-beta`` headers the
request needs), ``transform_request``, then the beta-header filter and the beta-gated body
strip; the URL is the base with ``/v1/messages`` ensured. That build runs once per call
shape and deployment; each call of the shape gets it with its own texts
(``_anthropic_template``). A reply is translated by the router's own code following
litellm's ``transform_response`` rules (``_anthropic_reply``: text, tool use, thinking
blocks, cache read and creation tokens in the usage); a reply it does not know goes
through the config's ``transform_response``, an error status through its
``get_error_class``.

A stream's body gets ``"stream": true``; its events are read by the router's own code
following litellm's stream iterator and wrapper (``_anthropic_events``); an event it does
not know hands the stream to litellm's own reader (``_wrapped_stream``), replayed from its
first line. On litellm: JSON mode (``response_format`` becomes a tool), tool names litellm
rewrites, images by URL (litellm fetches them), a base URL from the environment. Without
a key in the credentials, ``ANTHROPIC_API_KEY`` is read on every call, as litellm reads it;
without a base URL, litellm's default is used.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any

from respan_router._json import compact_encoder
from respan_router.providers._lean._anthropic_reply import reply_dump
from respan_router.providers._lean._anthropic_template import Templates
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._messages import litellm_messages
from respan_router.providers._lean._request import BuiltRequest, LeanUnsupported
from respan_router.providers._lean._support import TESTED_PARAMS, untested_key

__all__ = ["AnthropicDialect"]

_encode = compact_encoder()
_CACHE_LIMIT = 1024
CREDENTIAL_KEYS = frozenset({"api_key", "api_base"})
# The OpenAI parameters the parity tests send, and Anthropic's extended thinking.
PARAMS = TESTED_PARAMS | {"thinking", "reasoning_effort", "stream_options"}
# Read by litellm's stream wrapper (the usage chunk), never sent upstream.
STREAM_ONLY_PARAMS = frozenset({"stream_options"})
_ENVIRONMENT = ("LITELLM_ANTHROPIC_DISABLE_URL_SUFFIX",)
_BASE_ENVIRONMENT = ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL")
_LITELLM_SETTINGS = ("anthropic_key", "custom_prompt_dict", "secret_manager_client")
# litellm's Anthropic URL when no base is given (``main.py``).
DEFAULT_URL = "https://api.anthropic.com/v1/messages"
_REMOTE = ("http://", "https://", "file-", "gs://", "s3://")


def _remote_media(messages: list[dict[str, Any]]) -> bool:
    """Whether a message points at an image or file by URL (litellm would fetch it)."""
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for part in content:
            if not isinstance(part, dict) or part.get("type") == "text":
                continue
            for value in part.values():
                if isinstance(value, dict):
                    value = value.get("url") or value.get("file_data") or value.get("file_id")
                if isinstance(value, str) and value.startswith(_REMOTE):
                    return True
    return False


class AnthropicDialect:
    """Builds Anthropic deployments (cached) and non-streamed requests for the lean path."""

    provider = "anthropic"
    streams = True
    wrapped_streams = True  # litellm's wrapper's rules shape the chunks (``_wrapped_calls``)
    stream_only_params = STREAM_ONLY_PARAMS

    def __init__(self, litellm: Any) -> None:
        from litellm.llms.anthropic.chat.transformation import AnthropicConfig

        self._litellm = litellm
        self._config_class = AnthropicConfig
        self._by_key: dict[tuple[Any, ...], Deployment | None] = {}
        self._templates = Templates(self._built)

    def unsupported(self, params: Mapping[str, Any], credentials: Mapping[str, Any]) -> str | None:
        """Why a call's parameters, credentials or environment keep it on litellm, or None."""
        untested = untested_key(params, credentials, PARAMS, CREDENTIAL_KEYS)
        if untested is not None:
            return untested
        api_key, api_base = credentials.get("api_key"), credentials.get("api_base")
        if api_key is not None and not isinstance(api_key, str):
            return "api_key is not a string"
        if api_base is not None and not isinstance(api_base, str):
            return "api_base is not a string"
        if any(name in os.environ for name in _ENVIRONMENT):
            return "an Anthropic setting in the environment"
        if any(getattr(self._litellm, name, None) for name in _LITELLM_SETTINGS):
            return "a litellm-wide Anthropic setting"
        return None

    def deployment(self, litellm_model: str, credentials: Mapping[str, Any]) -> Deployment | None:
        """The deployment, with the key and base URL litellm would use; None when litellm
        would take either from somewhere the lean path does not read."""
        environ = os.environ
        api_key = credentials.get("api_key") or environ.get("ANTHROPIC_API_KEY")
        api_base = credentials.get("api_base")
        if api_base is None:
            if any(name in environ for name in _BASE_ENVIRONMENT):
                return None
            api_base = DEFAULT_URL
        if not api_key:
            return None  # litellm looks further (an auth token, workload identity)
        key = (litellm_model, api_key, api_base)
        if key in self._by_key:
            return self._by_key[key]
        found = self._build(litellm_model, api_key, api_base)
        if len(self._by_key) < _CACHE_LIMIT:
            self._by_key[key] = found
        return found

    def _build(self, litellm_model: str, api_key: str, api_base: str) -> Deployment | None:
        from litellm.litellm_core_utils.url_utils import ensure_api_route

        model = litellm_model.removeprefix("anthropic/")
        try:
            config = self._config_class()
            supported = frozenset(config.get_supported_openai_params(model))
            url = ensure_api_route(api_base, "v1/messages")
        except Exception:
            return None
        return Deployment(
            provider="anthropic",
            model=model,
            config=config,
            url=str(url),
            api_key=api_key,
            api_base=str(url),
            headers={},
            sdk_shaped=False,
            supported=supported,
            plain_response=False,
            plain_stream=False,
            stream_false_in_body=False,
            reply=lambda payload, _params, finish, messages, _headers: reply_dump(
                payload, finish, messages
            ),
        )

    def build_request(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool,
    ) -> BuiltRequest:
        """The headers and body litellm's Anthropic handler sends for this call (built
        once per call shape, see ``_anthropic_template``).

        Raises:
            LeanUnsupported: JSON mode, rewritten tool names, remote media, or stream
                options without a stream.
        """
        return self._templates.request(deployment, messages, params, stream=stream)

    def _built(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        stream: bool,
    ) -> BuiltRequest:
        """The request built through litellm's config, step by step."""
        from litellm.anthropic_beta_gated_fields import strip_beta_gated_request_body
        from litellm.anthropic_beta_headers_manager import update_request_with_filtered_beta

        if _remote_media(messages):
            raise LeanUnsupported("media by URL: litellm fetches it")
        config, model = deployment.config, deployment.model
        extra_headers = params.get("extra_headers")
        if not stream and any(k in params for k in STREAM_ONLY_PARAMS):
            raise LeanUnsupported("stream options on a call that does not stream")
        skip = STREAM_ONLY_PARAMS | {"extra_headers"}
        openai_params = {k: v for k, v in params.items() if k not in skip}
        mapped: dict[str, Any] = config.map_openai_params(
            non_default_params=openai_params, optional_params={}, model=model, drop_params=False
        )
        if "json_mode" in mapped or "fake_stream" in mapped:
            raise LeanUnsupported("JSON mode is translated by litellm's handler")
        messages = litellm_messages(
            config, model, deployment.provider, deployment.api_base, messages
        )
        messages = copy.deepcopy(messages)
        optional = {**mapped, "is_vertex_request": False}
        litellm_params: dict[str, Any] = {}
        headers = config.validate_environment(
            api_key=deployment.api_key,
            headers=dict(extra_headers) if extra_headers else {},
            model=model,
            messages=messages,
            optional_params=optional,
            litellm_params=litellm_params,
            api_base=deployment.api_base,
        )
        data = config.transform_request(
            model=model,
            messages=messages,
            optional_params=optional,
            litellm_params=litellm_params,
            headers=headers,
        )
        if litellm_params:
            raise LeanUnsupported("tool names rewritten: the reply needs litellm's map")
        headers, data = update_request_with_filtered_beta(
            headers=headers, request_data=data, provider="anthropic", api_base=deployment.api_base
        )
        data = dict(
            strip_beta_gated_request_body(
                data, headers, drop_params=None, model=model, provider="anthropic"
            )
        )
        if stream:
            data["stream"] = True  # litellm's handler sets it on the finished body
        return BuiltRequest(
            url=deployment.url,
            headers=headers,
            body=_encode(data).encode(),
            data=data,
            optional_params=mapped,
        )
