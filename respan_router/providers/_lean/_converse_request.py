"""A Bedrock Converse request body, as litellm's ``AmazonConverseConfig._transform_request``
builds it, without its per-call model-table look-ups.

The body is the call's ``messages`` (and ``system``) beside a frame built from the call's
parameters: ``inferenceConfig``, and what litellm adds for the model
(``additionalModelResponseFieldPaths`` for a model that thinks by default, ...). litellm
builds the frame in ``_transform_request_helper``, asking its model table several times
per call; it depends only on the model, the parameters and the extra headers, so
:class:`ConverseBodies` asks litellm once per deployment and parameter set and remembers
the answer.

The messages of a plain-text conversation are converted here with litellm's rules
(``_transform_system_message`` and ``_bedrock_converse_messages_pt``): the leading
system messages become ``system`` text blocks (empty ones dropped); each user or
assistant message becomes ``{"text": ...}`` blocks, and consecutive messages of one role
are merged into one turn. Covered: messages with only ``role`` and ``content``, a user's
or system's content a string or a list of text parts, an assistant's a string; every user
and assistant text non-blank. Anything else (tools and tool results, images, documents,
cache control, a system message after the first turn, thinking blocks, blank texts) and
any frame litellm would rewrite per call returns None: the caller then runs litellm's
``_transform_request``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from respan_router._json import compact_encoder

__all__ = ["ConverseBodies", "plain_text_messages"]

_encode = compact_encoder()
_MEMO_LIMIT = 256
_MESSAGE_KEYS = frozenset({"role", "content"})
_PART_KEYS = frozenset({"type", "text"})
# The frame's keys litellm sets before ``system`` (``_transform_request_helper``).
_BEFORE_SYSTEM = frozenset(
    {"inferenceConfig", "additionalModelRequestFields", "additionalModelResponseFieldPaths"}
)
# Parameters whose frame depends on the messages, or that litellm rewrites per call.
_PER_CALL = frozenset({"thinking", "guardrailConfig", "requestMetadata"})


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _text_parts(content: Any, *, blank_ok: bool) -> list[dict[str, str]] | None:
    """The text blocks of a string or a list of text parts; None for anything else."""
    if isinstance(content, str):
        if not blank_ok and not content.strip():
            return None
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        return None
    blocks = []
    for part in content:
        if not isinstance(part, dict) or not _PART_KEYS.issuperset(part):
            return None
        text = part.get("text")
        if part.get("type") != "text" or not isinstance(text, str):
            return None
        if not blank_ok and not text.strip():
            return None
        if text:
            blocks.append({"text": text})
    return blocks


def plain_text_messages(
    messages: Sequence[Mapping[str, Any]],
) -> tuple[list[dict[str, str]], list[dict[str, Any]]] | None:
    """The ``system`` blocks and Converse ``messages`` of a plain-text conversation (as
    litellm normalised it), or None when litellm's own conversion is needed."""
    system: list[dict[str, str]] = []
    start = 0
    for message in messages:
        if message.get("role") != "system":
            break
        if not _MESSAGE_KEYS.issuperset(message):
            return None
        blocks = _text_parts(message.get("content"), blank_ok=True)
        if blocks is None:
            return None
        system.extend(blocks)
        start += 1
    turns: list[dict[str, Any]] = []
    for message in messages[start:]:
        role = message.get("role")
        if role not in ("user", "assistant") or not _MESSAGE_KEYS.issuperset(message):
            return None
        content = message.get("content")
        if role == "assistant" and not isinstance(content, str):
            return None
        blocks = _text_parts(content, blank_ok=False)
        if not blocks:
            return None
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        return None
    return system, turns


class ConverseBodies:
    """One deployment's requests: litellm's mapped parameters and frame, remembered per
    parameter set (and extra headers); the messages converted per call."""

    def __init__(self, config: Any, model: str) -> None:
        from litellm.llms.bedrock.common_utils import bedrock_capability_model

        self._config = config
        self._model = model
        self._capability = bedrock_capability_model(model, None)
        self._memo: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}

    def request(
        self,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        headers: Mapping[str, str] | None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The config's ``map_openai_params`` of ``params``, and the body litellm's
        ``_transform_request`` builds (None: litellm must build it)."""
        mapped, frame = self._remembered(params, headers)
        converted = plain_text_messages(messages) if frame is not None else None
        if frame is None or converted is None:
            return mapped, None
        system, turns = converted
        data: dict[str, Any] = {"messages": turns}
        for key, value in frame.items():
            if system and key not in _BEFORE_SYSTEM and "system" not in data:
                data["system"] = system
            data[key] = _copy(value)
        if system and "system" not in data:
            data["system"] = system
        return mapped, data

    def _remembered(
        self, params: Mapping[str, Any], headers: Mapping[str, str] | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        try:
            key: str | None = _encode([params, headers])
        except (TypeError, ValueError):
            key = None
        found = self._memo.get(key) if key is not None else None
        if found is None:
            found = self._build(params, headers)
            if key is not None and len(self._memo) < _MEMO_LIMIT:
                self._memo[key] = found
        mapped, frame = found
        return _copy(mapped), frame

    def _build(
        self, params: Mapping[str, Any], headers: Mapping[str, str] | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        config = self._config
        mapped: dict[str, Any] = config.map_openai_params(
            non_default_params=dict(params),
            optional_params={},
            model=self._model,
            drop_params=False,
        )
        if any(key in _PER_CALL for key in mapped):
            return mapped, None
        frame: dict[str, Any] | None = config._transform_request_helper(
            model=self._capability,
            deployment_model=self._model,
            model_info=None,
            system_content_blocks=[],
            optional_params=_copy(mapped),
            messages=None,
            headers=dict(headers) if headers else None,
            drop_params=False,
            litellm_params={},
        )
        if frame is not None and any(key in _PER_CALL or key == "system" for key in frame):
            frame = None
        return mapped, frame
