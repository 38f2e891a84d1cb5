"""Bedrock's Converse API on the lean path: non-streamed calls with a bearer API key.

litellm's Converse handler builds such a call in this order, and so does this module: the
route litellm picks for the model (only ``converse`` is taken), the config's
``map_openai_params`` and ``_transform_request``, the URL ``{api_base}/model/{id}/converse``
with the model id percent-encoded as litellm encodes it, and the headers
``Content-Type``, any extra headers (through litellm's beta-header filter) and
``Authorization: Bearer``. The reply goes through the config's ``transform_response`` and
an error status through its ``get_error_class``.

Two of litellm's per-call steps are replaced by their results where their rules are
written once in the router, parity-tested: the body of a plain-text conversation
(``_converse_request``: litellm's frame for the parameters remembered per deployment)
and the reading of a reply (``_converse_reply``); anything they do not cover takes
litellm's ``_transform_request`` or ``transform_response``, per call.

On litellm: streams (ConverseStream's binary event stream), SigV4 (AWS credentials, which
need botocore), a call without ``api_base`` (litellm derives the regional endpoint), a
runtime endpoint from the environment, models litellm routes elsewhere (invoke, region
paths, ARNs, Nova prefixes), and any parameter outside the tested set (JSON mode, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from typing import Any

from respan_router._json import compact_encoder
from respan_router.providers._lean._converse_reply import converse_reply
from respan_router.providers._lean._converse_request import ConverseBodies
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._messages import litellm_messages
from respan_router.providers._lean._request import BuiltRequest, LeanUnsupported
from respan_router.providers._lean._support import untested_key

__all__ = ["BedrockDialect"]

_encode = compact_encoder()
_CACHE_LIMIT = 1024
CREDENTIAL_KEYS = frozenset({"api_key", "api_base"})
PARAMS = frozenset(
    {"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "tools", "tool_choice"}
)
_ENVIRONMENT = ("AWS_BEDROCK_RUNTIME_ENDPOINT",)


class BedrockDialect:
    """Builds Bedrock Converse deployments (cached) and non-streamed bearer-key requests."""

    provider = "bedrock"
    streams = False

    def __init__(self, litellm: Any) -> None:
        self._litellm = litellm
        self._by_key: dict[tuple[Any, ...], Deployment | None] = {}
        self._bodies: dict[str, ConverseBodies] = {}  # by model

    def unsupported(self, params: Mapping[str, Any], credentials: Mapping[str, Any]) -> str | None:
        """Why a call's parameters, credentials or environment keep it on litellm, or None."""
        untested = untested_key(params, credentials, PARAMS, CREDENTIAL_KEYS)
        if untested is not None:
            return untested
        if not isinstance(credentials.get("api_key"), str) or not credentials.get("api_key"):
            return "no bearer key (SigV4 goes through litellm)"
        if not isinstance(credentials.get("api_base"), str):
            return "no api_base (litellm derives the regional endpoint)"
        if any(name in os.environ for name in _ENVIRONMENT):
            return "a Bedrock endpoint in the environment"
        return None

    def deployment(self, litellm_model: str, credentials: Mapping[str, Any]) -> Deployment | None:
        key = (litellm_model, credentials.get("api_key"), credentials.get("api_base"))
        if key in self._by_key:
            return self._by_key[key]
        found = self._build(litellm_model, str(key[1]), str(key[2]))
        if len(self._by_key) < _CACHE_LIMIT:
            self._by_key[key] = found
        return found

    def _build(self, litellm_model: str, api_key: str, api_base: str) -> Deployment | None:
        from litellm.litellm_core_utils.url_utils import join_api_base
        from litellm.llms.bedrock.base_aws_llm import BaseAWSLLM
        from litellm.llms.bedrock.common_utils import (
            BedrockModelInfo,
            without_bedrock_route_prefix,
        )

        model = litellm_model.removeprefix("bedrock/")
        try:
            if BedrockModelInfo.get_bedrock_route(model, {}) != "converse":
                return None
            model = without_bedrock_route_prefix(model)
            if "/" in model or model.startswith("arn:"):
                return None  # region paths, ARNs, Nova prefixes: litellm's own parsing
            config = self._litellm.AmazonConverseConfig()
            supported = frozenset(config.get_supported_openai_params(model))
            url = join_api_base(api_base, f"model/{BaseAWSLLM.encode_model_id(model)}/converse")
            if model not in self._bodies and len(self._bodies) < _CACHE_LIMIT:
                self._bodies[model] = ConverseBodies(config, model)
        except Exception:
            return None
        return Deployment(
            provider="bedrock",
            model=model,
            config=config,
            url=str(url),
            api_key=api_key,
            api_base=api_base,
            headers={},
            sdk_shaped=False,
            supported=supported,
            plain_response=False,
            plain_stream=False,
            stream_false_in_body=False,
            reply=partial(converse_reply, config, model),
        )

    def build_request(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool,
    ) -> BuiltRequest:
        """The headers and body litellm's Converse handler sends for this call.

        Raises:
            LeanUnsupported: a stream.
        """
        from litellm.anthropic_beta_headers_manager import update_headers_with_filtered_beta

        if stream:
            raise LeanUnsupported("Bedrock streams go through litellm")
        config, model = deployment.config, deployment.model
        extra_headers = params.get("extra_headers")
        openai_params = {k: v for k, v in params.items() if k != "extra_headers"}
        messages = litellm_messages(
            config, model, deployment.provider, deployment.api_base, messages
        )
        bodies = self._bodies.get(model)
        data: dict[str, Any] | None = None
        if bodies is not None:
            mapped, data = bodies.request(messages, openai_params, extra_headers)
        else:
            mapped = config.map_openai_params(
                non_default_params=openai_params, optional_params={}, model=model, drop_params=False
            )
        if data is None:
            data = config._transform_request(
                model=model,
                messages=messages,
                optional_params=dict(mapped),
                litellm_params={},
                headers=dict(extra_headers) if extra_headers else None,
            )
        headers: dict[str, str] = {"Content-Type": "application/json"}
        if extra_headers is not None:
            headers = {"Content-Type": "application/json", **extra_headers}
        headers = update_headers_with_filtered_beta(headers=headers, provider="bedrock_converse")
        headers["Authorization"] = f"Bearer {deployment.api_key}"
        headers.setdefault("Accept", "*/*")  # what litellm's transport (httpx) sends
        return BuiltRequest(
            url=deployment.url,
            headers=headers,
            body=_encode(data).encode(),
            data=data,
            optional_params=mapped,
        )
