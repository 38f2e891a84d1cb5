"""Gemini's ``generateContent`` body and answers, as litellm's Gemini handler makes and reads them.

Shared by the Google AI Studio dialect (``_gemini``) and a Vertex AI one: litellm sends
both through one handler (``VertexLLM`` in ``litellm.llms.vertex_ai.gemini``), which differs
between them only in the URL (``_get_token_and_url``), the auth header (AI Studio's
``x-goog-api-key``, Vertex's ``Authorization: Bearer``) and the ``custom_llm_provider``
its functions are given. Everything else is here, in the handler's order:

1. :func:`build_body`: the config's ``map_openai_params`` (what ``get_optional_params``
   does), litellm's message normalisation (``_messages``), then
   ``sync_transform_request_body`` (context caching is skipped: a cached message keeps
   the call on litellm; system instruction, contents, tools, ``generationConfig``, the
   default output budget); :func:`templated` builds it once per call shape.
2. :class:`GeminiConfig`, the deployment's config for the shared lean code: a reply is
   read by the router's own code (``_gemini_reply.reply_reader``, the deployment's
   ``reply``, given the response's headers) when it knows every field, else goes
   through ``parse_body`` and ``_transform_long_decode_hops`` (one hop: the lean path never
   asks for continuation hops); a stream is read by the router's own code
   (``_gemini_events``), else by litellm's Gemini ``ModelResponseIterator`` under
   litellm's stream wrapper (with the handler's wrapper provider, ``vertex_ai_beta``); an
   error status goes through the config's ``get_error_class`` (``VertexAIError``) with
   the message the handler gives it.

What litellm's handler does with more than one request stays with litellm: messages with
``cache_control`` (it creates a cached content first), a body carrying thought signatures
(it resends on a rejected one), a body with an output cap (``max_output_tokens``, from
``max_tokens`` or litellm's default budget: it may ask for continuation hops), and any
non-text content part (it may fetch media).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean._gemini_events import GeminiEvents
from respan_router.providers._lean._messages import litellm_messages
from respan_router.providers._lean._request import LeanUnsupported

if TYPE_CHECKING:
    from respan_router.providers._lean._anthropic_template import Templates
    from respan_router.providers._lean._deployment import Deployment
    from respan_router.providers._lean._request import BuiltRequest

__all__ = ["GeminiConfig", "GeminiLogging", "build_body", "templated", "unsupported_messages"]

# litellm's handler hands its stream wrapper this provider, whatever the call's.
STREAM_PROVIDER = "vertex_ai_beta"


class GeminiLogging:
    """The logging object litellm's Gemini code reads the call's parameters from; it
    records nothing (the router has its own telemetry)."""

    def __init__(self, optional_params: Mapping[str, Any] | None = None) -> None:
        self.optional_params: dict[str, Any] = dict(optional_params or {})
        self.litellm_params: dict[str, Any] = {}
        self.model_call_details: dict[str, Any] = {}

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    pre_call = post_call = _nothing


def unsupported_messages(messages: list[dict[str, Any]]) -> str | None:
    """Why these messages keep a call on litellm (media, context caching), or None."""
    from litellm.utils import is_cached_message

    for message in messages:
        if not isinstance(message, Mapping):
            return "a message that is not a mapping"
        content = message.get("content")
        if isinstance(content, list) and any(
            not isinstance(part, Mapping) or part.get("type") != "text" for part in content
        ):
            return "a content part that is not text"
        if is_cached_message(message):  # type: ignore[arg-type]
            return "cache_control: litellm creates a cached content first"
    return None


# litellm reads a tool result's text (JSON, a data URI) into the body: not a slot.
_READ_ROLES = frozenset({"tool", "function"})


def templated(
    templates: Templates,
    build: Callable[[Deployment, list[dict[str, Any]], Mapping[str, Any], bool], BuiltRequest],
    deployment: Deployment,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
    stream: bool,
) -> BuiltRequest:
    """The request litellm's handler builds for this call, built once per call shape.

    Building the body through litellm costs more than the rest of a lean call: its
    message conversion, parameter mapping and a model-table lookup (system-message
    support) run per call, and depend on the deployment and the call's shape, not on
    what its texts say. The shape's request is built once with each text in a slot and
    filled in with each call's texts (``_anthropic_template``: a text goes into a slot
    only when litellm passes it through as it is; the built body is checked). litellm
    reads a tool result's text into the body, so a call with one is built in full.
    """
    if any(isinstance(m, Mapping) and m.get("role") in _READ_ROLES for m in messages):
        return build(deployment, messages, params, stream)
    return templates.request(deployment, messages, params, stream=stream)


def build_body(
    config: Any,
    model: str,
    provider: str,
    api_base: str | None,
    api_key: str | None,
    messages: list[dict[str, Any]],
    params: Mapping[str, Any],
    *,
    vertex_project: str | None = None,
    vertex_location: str | None = None,
    vertex_auth_header: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``generateContent`` body litellm sends for this call, and the mapped parameters.

    Args:
        config: litellm's Gemini config for ``provider`` (``GoogleAIStudioGeminiConfig``,
            ``VertexGeminiConfig``).
        provider: ``"gemini"`` or a Vertex provider name, as litellm's handler is given it.
        params: the call's OpenAI parameters (``extra_headers`` is not read here).

    Raises:
        LeanUnsupported: a body litellm's handler may send more than once (thought
            signatures, an output cap, a cached content).
    """
    from litellm.llms.vertex_ai.gemini.long_decode import continuation_cap_of
    from litellm.llms.vertex_ai.gemini.rejected_thought_signature_retry import (
        with_placeholder_thought_signatures,
    )
    from litellm.llms.vertex_ai.gemini.transformation import sync_transform_request_body

    skip = ("extra_headers", "stream_options")
    openai_params = {k: v for k, v in params.items() if k not in skip}
    mapped: dict[str, Any] = config.map_openai_params(
        non_default_params=openai_params, optional_params={}, model=model, drop_params=False
    )
    messages = litellm_messages(config, model, provider, api_base, messages)
    data: dict[str, Any] = sync_transform_request_body(
        gemini_api_key=api_key,
        messages=copy.deepcopy(messages),  # type: ignore[arg-type]
        api_base=api_base,
        model=model,
        client=None,
        timeout=None,
        extra_headers=None,
        optional_params=copy.deepcopy(mapped),
        logging_obj=GeminiLogging(),  # type: ignore[arg-type]
        custom_llm_provider=provider,  # type: ignore[arg-type]
        litellm_params={},
        vertex_project=vertex_project,
        vertex_location=vertex_location,
        vertex_auth_header=vertex_auth_header,
    )  # type: ignore[assignment]
    if "cachedContent" in data or "continuationToken" in data:
        raise LeanUnsupported("a cached content or a continuation: litellm's handler")
    if continuation_cap_of(data) is not None:  # type: ignore[arg-type]
        raise LeanUnsupported("an output cap: litellm may ask for continuation hops")
    if with_placeholder_thought_signatures(data) is not None:  # type: ignore[arg-type]
        raise LeanUnsupported("thought signatures: litellm resends when one is rejected")
    return dict(data), mapped


class GeminiConfig:
    """What the shared lean code asks of a deployment's config, answered as litellm's
    Gemini handler does (see the module docstring).

    Attributes:
        inner: litellm's Gemini config.
        stream_url: the deployment's ``streamGenerateContent`` URL.
    """

    stream_provider = STREAM_PROVIDER
    # litellm's handler opens the stream inside its wrapper (``make_call``): the router's
    # litellm path sees no raw events, so no chunk keeps their unknown fields.
    keeps_raw_fields = False

    def __init__(self, inner: Any, stream_url: str) -> None:
        self.inner = inner
        self.stream_url = stream_url

    def get_error_class(
        self, error_message: str, status_code: int, headers: Mapping[str, str]
    ) -> BaseException:
        """``VertexAIError`` for an error status of a call that does not stream."""
        error: BaseException = self.inner.get_error_class(
            error_message=error_message, status_code=status_code, headers=dict(headers)
        )
        return error

    def stream_status_error(
        self, status: int, raw: bytes, headers: Mapping[str, str], *, sync: bool
    ) -> BaseException:
        """The ``VertexAIError`` litellm's handler raises for a stream's error status: the
        body's bytes as ``str(bytes)``; the async driver also runs it through the config's
        ``translate_exception_str``."""
        message = str(raw)
        if not sync:
            message = self.inner.translate_exception_str(message)
        return self.get_error_class(message, status, headers)

    def transform_response(
        self,
        *,
        model: str,
        raw_response: Any,
        model_response: Any,
        request_data: dict[str, Any],
        messages: list[dict[str, Any]],
        optional_params: dict[str, Any],
        **_: Any,
    ) -> Any:
        """litellm's completion of a reply the deployment's own reader
        (``_gemini_reply.reply_reader``) left to it: ``parse_body`` and its one-hop
        ``_transform_long_decode_hops`` (what the handler returns)."""
        return self.litellm_response(
            model=model,
            raw_response=raw_response,
            model_response=model_response,
            request_data=request_data,
            messages=messages,
            optional_params=optional_params,
        )

    def litellm_response(
        self,
        *,
        model: str,
        raw_response: Any,
        model_response: Any,
        request_data: dict[str, Any],
        messages: list[dict[str, Any]],
        optional_params: dict[str, Any],
    ) -> Any:
        """litellm's ``ModelResponse`` of a reply."""
        from litellm.llms.vertex_ai.gemini.long_decode import parse_body
        from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import (
            _transform_long_decode_hops,
        )

        return _transform_long_decode_hops(
            model=model,
            hops=(parse_body(raw_response),),
            first_response=raw_response,
            model_response=model_response,
            logging_obj=GeminiLogging(optional_params),  # type: ignore[arg-type]
            request_body=request_data,  # type: ignore[arg-type]
            messages=messages,  # type: ignore[arg-type]
        )

    def events(self, model: str, usage: bool, headers: Mapping[str, str]) -> GeminiEvents:
        """The router's own reading of a stream's events (``_gemini_events``) for the
        model called, whether the caller asked for the usage chunk, and the response's
        headers."""
        tier = headers.get("x-gemini-service-tier")
        return GeminiEvents(model, usage=usage, service_tier=tier)

    def stream_iterator(
        self,
        lines: Any,
        headers: Mapping[str, str],
        *,
        sync: bool,
        optional_params: dict[str, Any],
    ) -> Any:
        """litellm's Gemini stream iterator over a stream's SSE lines (no continuation);
        ``headers`` are the response's (a service tier is read from them)."""
        from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import (
            ModelResponseIterator,
        )

        iterator = ModelResponseIterator(
            streaming_response=lines,
            sync_stream=sync,
            logging_obj=GeminiLogging(optional_params),  # type: ignore[arg-type]
            response_headers={k.lower(): v for k, v in headers.items()},
        )
        # litellm's wrapper starts it so once its handler hands it over (``fetch_stream``).
        return iterator.__iter__() if sync else iterator.__aiter__()  # type: ignore[no-untyped-call]
