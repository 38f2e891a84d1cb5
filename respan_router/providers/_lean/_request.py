"""One request's body and headers, built with the provider's litellm config.

The steps are litellm's own for these providers: its message normalisation
(:mod:`._messages`), ``map_openai_params`` (what
``get_optional_params`` does for a supported parameter), ``transform_request``, the
stream flag as litellm's HTTP handler (or, for openai-SDK-shaped providers, the SDK)
adds it, and ``extra_headers`` merged by ``validate_environment``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from respan_router._json import compact_encoder, loads
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._messages import litellm_messages

__all__ = [
    "BuiltRequest",
    "LeanUnsupported",
    "build_request",
    "request_headers",
    "with_extra_headers",
]

_encode = compact_encoder()


class LeanUnsupported(Exception):
    """The call needs something only litellm's full path does: hand it over."""


@dataclass(frozen=True, slots=True)
class BuiltRequest:
    url: str
    headers: Mapping[str, str] = field(repr=False)  # the key or token: never in a repr
    body: bytes
    data: dict[str, Any] | None  # None: the body's own JSON, decoded when asked for
    optional_params: dict[str, Any]

    def request_data(self) -> dict[str, Any]:
        """The body as a dictionary (what litellm's ``transform_response`` is given)."""
        if self.data is not None:
            return self.data
        data: dict[str, Any] = loads(self.body)
        return data


def build_request(
    deployment: Deployment,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
    *,
    stream: bool,
) -> BuiltRequest:
    """The request litellm would send for this call.

    Raises:
        LeanUnsupported: the config asked for something the lean path does not replay
            (a faked stream, ``extra_body``, ...), a parameter is NaN or infinite, or a
            message carries a ``cache_control`` mark.
    """
    if any(type(v) is float and not math.isfinite(v) for v in params.values()):
        # litellm writes NaN and infinity as ``NaN`` / ``Infinity`` (not JSON): its path.
        raise LeanUnsupported("a parameter is not a finite number")
    if any(_cache_marked(m) for m in messages):
        # Whether litellm keeps or strips a mark depends on what it knows of the endpoint
        # beyond the config's view: its path decides.
        raise LeanUnsupported("a message carries a cache_control mark")
    config = deployment.config
    model = deployment.model
    messages = litellm_messages(config, model, deployment.provider, deployment.api_base, messages)
    extra_headers = params.get("extra_headers")
    openai_params = {k: v for k, v in params.items() if k != "extra_headers"}
    mapped: dict[str, Any] = config.map_openai_params(
        non_default_params=openai_params,
        optional_params={},
        model=model,
        drop_params=False,
    )
    if "fake_stream" in mapped or "extra_body" in mapped:
        raise LeanUnsupported("the config maps a parameter outside the request body")
    if deployment.sdk_shaped:
        stream_options = mapped.pop("stream_options", None)
        data = config.transform_request(
            model=model, messages=messages, optional_params=mapped, litellm_params={}, headers={}
        )
        data.pop("stream", None)
        if stream:
            data["stream"] = True
            if stream_options is not None:
                data["stream_options"] = stream_options
            elif _openai_backed(deployment.api_base):
                data["stream_options"] = {"include_usage": True}
    else:
        optional = (
            {"stream": stream, **mapped}
            if stream or deployment.stream_false_in_body
            else dict(mapped)
        )
        data = config.transform_request(
            model=model,
            messages=messages,
            optional_params=optional,
            litellm_params={},
            headers={},
        )
        if stream and config.supports_stream_param_in_request_body:
            data["stream"] = True
    return BuiltRequest(
        url=deployment.url,
        headers=request_headers(deployment, extra_headers),
        body=_encode(data).encode(),
        data=data,
        optional_params=mapped,
    )


def request_headers(deployment: Deployment, extra_headers: Any) -> Mapping[str, str]:
    """A call's request headers: the deployment's, with its ``extra_headers`` if any."""
    if extra_headers:
        return with_extra_headers(deployment, dict(extra_headers))
    return deployment.headers


def with_extra_headers(deployment: Deployment, extra: dict[str, str]) -> dict[str, str]:
    """The deployment's headers with a call's ``extra_headers`` applied as litellm
    applies them (over the SDK's own, or through the config's ``validate_environment``)."""
    if deployment.sdk_shaped:
        # The openai SDK applies extra_headers over its own.
        merged = dict(deployment.headers)
        lowered = {k.lower(): k for k in merged}
        for name, value in extra.items():
            merged.pop(lowered.get(name.lower(), name), None)
            merged[name] = value
        return merged
    headers: dict[str, str] = deployment.config.validate_environment(
        headers=extra,
        model=deployment.model,
        messages=[],
        optional_params={},
        litellm_params={},
        api_key=deployment.api_key,
        api_base=deployment.api_base,
    )
    if not any(name.lower() == "accept" for name in headers):
        headers = {**headers, "Accept": "*/*"}
    return headers


def _cache_marked(message: Any) -> bool:
    """Whether a message, or one of its content parts, carries a ``cache_control`` mark."""
    if not isinstance(message, Mapping):
        return False
    if "cache_control" in message:
        return True
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(part, Mapping) and "cache_control" in part for part in content
    )


def _openai_backed(api_base: str) -> bool:
    from litellm.llms.openai.common_utils import is_openai_backed_api_base

    return bool(is_openai_backed_api_base(api_base))
