"""Provider replies into the router's responses, through ``responses.py``'s one converter
(the OpenAI SDK's types; ``model`` as the provider answered).

A reply whose shape is plain OpenAI (the provider's config translates responses with
OpenAI's own code, and every message holds only role, content, tool calls and refusal)
is read straight from its JSON, with litellm's finish-reason mapping. A deployment with
its own ``reply`` reader (Anthropic's, Bedrock Converse's, Gemini's: litellm's rules
written once; it is given the response's headers) writes litellm's ``model_dump()``
directly for the replies it covers, and no ``httpx.Response`` is built for them. Anything else goes
through the config's ``transform_response`` and litellm's ``model_dump()``, exactly the
dictionary the litellm path converts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._litellm_response import (
    keep_unknown_fields,
    restore_chunk,
    restore_completion,
)
from respan_router.responses import chunk_from_dict, completion_from_dict

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["ChunkDecoder", "completion_from"]

_PLAIN_MESSAGE_KEYS = frozenset({"role", "content", "tool_calls", "refusal"})
_EMPTY_OK = frozenset({"function_call", "audio", "annotations", "reasoning_content"})


def _plain_message(message: Any) -> bool:
    if not isinstance(message, dict):
        return False
    for key, value in message.items():
        if key in _PLAIN_MESSAGE_KEYS:
            continue
        if key in _EMPTY_OK and not value:
            continue
        return False
    content = message.get("content")
    return content is None or isinstance(content, str)


def _map_finish(choices: list[Any], finish: Callable[[str], str]) -> None:
    for choice in choices:
        reason = choice.get("finish_reason")
        if reason is not None:
            choice["finish_reason"] = finish(reason)


class _Logging:
    """What ``transform_response`` logs to: nothing (the router has its own telemetry)."""

    def post_call(self, *args: Any, **kwargs: Any) -> None:
        return None

    def record_native_bedrock_guardrail(self, *args: Any, **kwargs: Any) -> None:
        return None  # Bedrock's guardrail trace, for litellm's callbacks

    model_call_details: dict[str, Any] = {}


def completion_from(
    litellm: Any,
    deployment: Deployment,
    payload: Any,
    raw: bytes,
    *,
    headers: Mapping[str, str],
    request_data: dict[str, Any],
    messages: list[dict[str, Any]],
    optional_params: dict[str, Any],
    model: str,
    finish: Callable[[str], str],
) -> ChatCompletion:
    """The ChatCompletion for a 2xx reply (``payload`` is its parsed JSON)."""
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if (
        deployment.plain_response
        and isinstance(choices, list)
        and all(isinstance(c, dict) and _plain_message(c.get("message")) for c in choices)
    ):
        _map_finish(choices, finish)
        return completion_from_dict(payload)
    reader = deployment.reply
    dumped = reader(payload, optional_params, finish, messages, headers) if reader else None
    if dumped is None:
        dumped = _transformed(
            litellm, deployment, raw, headers, request_data, messages, optional_params
        )
    return completion_from_dict(restore_completion(dumped))


def _transformed(
    litellm: Any,
    deployment: Deployment,
    raw: bytes,
    headers: Mapping[str, str],
    request_data: dict[str, Any],
    messages: list[dict[str, Any]],
    optional_params: dict[str, Any],
) -> dict[str, Any]:
    import httpx

    # The body is decoded already: a Content-Encoding left in would have httpx decode it again.
    response = httpx.Response(
        200,
        headers={k: v for k, v in headers.items() if k.lower() != "content-encoding"},
        content=raw,
        request=httpx.Request("POST", deployment.url),
    )
    result = deployment.config.transform_response(
        model=deployment.model,
        raw_response=response,
        model_response=litellm.ModelResponse(),
        logging_obj=_Logging(),
        api_key=deployment.api_key,
        request_data=request_data,
        messages=messages,
        optional_params=optional_params,
        litellm_params={},
        encoding=None,
        json_mode=False,
    )
    dumped: dict[str, Any] = result.model_dump()
    return dumped


class ChunkDecoder:
    """Turns one stream's SSE ``data:`` payloads into chunks, as litellm decodes them."""

    __slots__ = ("_config", "_finish", "_model", "_parser", "_sdk_errors", "_usage")

    def __init__(
        self,
        deployment: Deployment,
        model: str,
        finish: Callable[[str], str],
        *,
        usage: bool,
    ) -> None:
        self._model = model
        self._finish = finish
        self._usage = usage
        # litellm reads these providers' streams through the openai SDK, which raises on an
        # ``error`` event (a server error, as the router maps it): so does the decoder.
        self._sdk_errors = deployment.sdk_shaped
        self._config = deployment.config
        self._parser: Callable[[dict[str, Any]], Any] | None = None
        if not deployment.plain_stream:
            iterator = deployment.config.get_model_response_iterator(
                streaming_response=iter(()), sync_stream=True, json_mode=False
            )
            self._parser = iterator.chunk_parser

    def decode(self, event: dict[str, Any]) -> ChatCompletionChunk | None:
        """The chunk of one event; None for an event litellm does not pass on (a usage-only
        chunk the caller did not ask for with ``stream_options.include_usage``)."""
        if self._sdk_errors and event.get("error"):
            raise self._config.get_error_class(
                error_message=json.dumps({"error": event["error"]}), status_code=500, headers={}
            )
        if self._parser is not None:
            had_choices = bool(event.get("choices"))
            parsed = self._parser(event)
            original = event
            if hasattr(parsed, "model_dump"):
                event = restore_chunk(parsed.model_dump())
            else:
                event = dict(parsed)
            # The fields the parser drops are kept, as on the litellm path (RawEvents).
            keep_unknown_fields(event, original)
            if not had_choices:  # litellm passes a usage-only chunk on without choices
                event["choices"] = []
        choices = event.get("choices")
        if not self._usage and event.get("usage") is not None:
            if not choices:
                return None
            event = {**event, "usage": None}
        if isinstance(choices, list):
            _map_finish(choices, self._finish)
        return chunk_from_dict(event)
