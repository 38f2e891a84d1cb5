"""Bedrock's Converse and ConverseStream APIs on the lean path: a bearer API key or SigV4.

litellm's Converse handler builds such a call in this order, and so does this module: the
route litellm picks for the model (only ``converse`` is taken), the config's
``map_openai_params`` and ``_transform_request``, the URL ``{api_base}/model/{id}/converse``
with the model id percent-encoded as litellm encodes it, and the headers
``Content-Type``, any extra headers (through litellm's beta-header filter) and
``Authorization: Bearer``. The reply goes through the config's ``transform_response`` and
an error status through its ``get_error_class``.

A stream goes to ``/converse-stream``; its binary event stream is read by the router's
own rules for the events they know (``_converse_events``), else by litellm's own decoder
(``_bedrock_stream``). Without an API key, a call with AWS keys (access key,
secret key, region, optional session token) is signed with SigV4 by litellm's own signing
through botocore (``_sigv4``). On litellm: streams litellm fakes (one non-streamed call),
AWS credentials from anywhere else (environment, profile, role, web identity), a call
without ``api_base`` (litellm derives the regional endpoint), a runtime endpoint from the
environment, models litellm routes elsewhere (invoke, region paths, ARNs, Nova prefixes),
and any parameter outside the tested set (JSON mode, ...).

Two of litellm's per-call steps are replaced by their results where their rules are
written once in the router, parity-tested: the body of a plain-text conversation
(``_converse_request``: litellm's frame for the parameters remembered per deployment)
and the reading of a reply (``_converse_reply``); anything they do not cover takes
litellm's ``_transform_request`` or ``transform_response``, per call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from respan_router._json import compact_encoder
from respan_router.providers._lean._bedrock_stream import decodable
from respan_router.providers._lean._converse_reply import converse_reply
from respan_router.providers._lean._converse_request import ConverseBodies
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._messages import litellm_messages
from respan_router.providers._lean._request import BuiltRequest, LeanUnsupported
from respan_router.providers._lean._sigv4 import AWS_KEYS, signed, unsigned_reason
from respan_router.providers._lean._support import untested_key

__all__ = ["BedrockDialect"]

_encode = compact_encoder()
_CACHE_LIMIT = 1024
CREDENTIAL_KEYS = frozenset({"api_key", "api_base", *AWS_KEYS})
# Read by litellm's stream wrapper (the usage chunk), never sent upstream.
STREAM_ONLY_PARAMS = frozenset({"stream_options"})
PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "tools",
        "tool_choice",
        *STREAM_ONLY_PARAMS,
    }
)
_ENVIRONMENT = ("AWS_BEDROCK_RUNTIME_ENDPOINT",)


class BedrockDialect:
    """Builds Bedrock Converse deployments (cached) and their requests (bearer key or SigV4)."""

    provider = "bedrock"
    streams = True  # ConverseStream (``_bedrock_stream``)
    wrapped_streams = True  # litellm's stream wrapper shapes the chunks
    stream_only_params = STREAM_ONLY_PARAMS

    def __init__(self, litellm: Any) -> None:
        self._litellm = litellm
        self._by_key: dict[tuple[Any, ...], Deployment | None] = {}
        self._bodies: dict[str, ConverseBodies] = {}  # by model

    def unsupported(self, params: Mapping[str, Any], credentials: Mapping[str, Any]) -> str | None:
        """Why a call's parameters, credentials or environment keep it on litellm, or None."""
        untested = untested_key(params, credentials, PARAMS, CREDENTIAL_KEYS)
        if untested is not None:
            return untested
        api_key = credentials.get("api_key")
        if api_key is None:  # SigV4 (``_sigv4``)
            unsigned = unsigned_reason(credentials)
            if unsigned is not None:
                return unsigned
            if getattr(self._litellm, "secret_manager_client", None) is not None:
                return "a secret manager litellm asks for a bearer token"
        elif not isinstance(api_key, str) or not api_key:
            return "api_key is empty or not a string"
        elif any(key in credentials for key in AWS_KEYS):
            return "both an API key and AWS keys"
        if not isinstance(credentials.get("api_base"), str):
            return "no api_base (litellm derives the regional endpoint)"
        if any(name in os.environ for name in _ENVIRONMENT):
            return "a Bedrock endpoint in the environment"
        return None

    def deployment(self, litellm_model: str, credentials: Mapping[str, Any]) -> Deployment | None:
        aws = tuple(credentials.get(k) for k in AWS_KEYS)
        key = (litellm_model, credentials.get("api_key"), credentials.get("api_base"), *aws)
        if key in self._by_key:
            return self._by_key[key]
        found = self._build(litellm_model, str(key[1]), str(key[2]))
        if found is not None and key[1] is None:
            found = signed(found, credentials)
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
            reply=lambda payload, params, _finish, _messages, _headers: converse_reply(
                config, model, payload, params
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
        """The headers and body litellm's Converse handler sends for this call.

        Raises:
            LeanUnsupported: a stream litellm would fake (one non-streamed call) or
                without botocore (the event stream's decoder), or stream options without
                a stream.
        """
        from litellm.anthropic_beta_headers_manager import update_headers_with_filtered_beta

        config, model = deployment.config, deployment.model
        if stream and (not decodable() or config.should_fake_stream(model=model, stream=True)):
            raise LeanUnsupported("litellm fakes this model's stream, or botocore is missing")
        if not stream and any(k in params for k in STREAM_ONLY_PARAMS):
            raise LeanUnsupported("stream options on a call that does not stream")
        extra_headers = params.get("extra_headers")
        skip = STREAM_ONLY_PARAMS | {"extra_headers"}
        openai_params = {k: v for k, v in params.items() if k not in skip}
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
        url = deployment.url + "-stream" if stream else deployment.url
        body = _encode(data).encode()
        signer = getattr(deployment, "signer", None)
        if signer is None:
            headers["Authorization"] = f"Bearer {deployment.api_key}"
        elif any(name.lower() == "authorization" for name in extra_headers or ()):
            raise LeanUnsupported("an Authorization header with SigV4 (litellm's own rule)")
        else:
            headers = signer.sign(url, headers, body)
        headers.setdefault("Accept", "*/*")  # what litellm's transport (httpx) sends
        return BuiltRequest(
            url=url,
            headers=headers,
            body=body,
            data=data,
            optional_params=mapped,
        )
