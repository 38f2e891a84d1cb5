"""litellm's Anthropic request, built once per call shape and filled in with each call's texts.

Building a request through litellm's Anthropic config costs about as much as the rest of a
lean call: most of it asks litellm's model table, several times per call, about the model
(adaptive thinking, the default ``max_tokens``, mid-conversation system prompts), which
does not change from call to call. The answers depend on the deployment and the call's
shape, not on what its texts say. So a call's messages are split into a shape (every
message as it is, with each text replaced by a slot: a marker no caller writes) and its
texts; the first call of a shape builds the request through litellm with the slots in
place, and every call of that shape gets that request with its own texts put back.

A text goes into a slot only when litellm passes it through as it is: a non-empty
``content`` string or ``text`` part with no surrounding whitespace (litellm strips a final
assistant text's trailing whitespace). The built request is checked: each slot must
appear exactly once, as a whole string, in the body and nowhere in the headers; else
the shape is remembered as one to build in full every time. Everything else (the
parameters, tools, images, roles, ``cache_control``) is part of the shape as it is; a
shape holding a long string (an image's data) is not remembered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from respan_router._json import compact_encoder
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._request import BuiltRequest

__all__ = ["Templates"]

_encode = compact_encoder()
_LIMIT = 1024  # shapes remembered per dialect
_LONGEST = 512  # a shape holding a longer string than this is not remembered
_MARK = f"respan-slot-{uuid.uuid4().hex}-"

Build = Callable[[Deployment, list[dict[str, Any]], Mapping[str, Any], bool], BuiltRequest]


def _fits(text: Any) -> bool:
    return isinstance(text, str) and text != "" and text == text.strip()


def _slotted(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]] | None:
    """The messages with each text in a slot, and the texts; None for messages that are
    not plain dictionaries of JSON values."""
    texts: list[str] = []

    def slot(text: str) -> str:
        texts.append(text)
        return f"{_MARK}{len(texts) - 1}"

    shaped: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            return None
        copy = dict(message)
        content = copy.get("content")
        if isinstance(content, str) and _fits(content):
            copy["content"] = slot(content)
        elif isinstance(content, list):
            parts = []
            for part in content:
                if (
                    isinstance(part, dict)
                    and part.get("type") == "text"
                    and _fits(part.get("text"))
                ):
                    part = {**part, "text": slot(part["text"])}
                parts.append(part)
            copy["content"] = parts
        shaped.append(copy)
    return shaped, texts


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def _checked(request: BuiltRequest, slots: int) -> bool:
    """Whether each slot appears once, whole, in the body, and nowhere else."""
    strings: list[str] = []
    _strings(request.request_data(), strings)
    found = [s for s in strings if _MARK in s]
    expected = {f"{_MARK}{i}" for i in range(slots)}
    if len(found) != slots or set(found) != expected:
        return False
    return not any(_MARK in k or _MARK in v for k, v in request.headers.items())


def _filled(value: Any, texts: list[str]) -> Any:
    """A fresh copy of ``value`` with each slot replaced by its text."""
    if isinstance(value, str):
        return texts[int(value[len(_MARK) :])] if value.startswith(_MARK) else value
    if isinstance(value, dict):
        return {k: _filled(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, texts) for v in value]
    return value


class Templates:
    """The requests of one dialect, by deployment and call shape.

    Args:
        build: the full build through litellm (raises ``LeanUnsupported`` as it does).
    """

    def __init__(self, build: Build) -> None:
        self._build = build
        self._by_shape: dict[tuple[Any, ...], BuiltRequest | None] = {}

    def request(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool,
    ) -> BuiltRequest:
        """The request litellm builds for this call."""
        shaped = _slotted(messages)
        key: tuple[Any, ...] | None = None
        if shaped is not None:
            try:
                text = _encode([shaped[0], params])
            except (TypeError, ValueError):
                text = None
            if text is not None and not any(len(s) > _LONGEST for s in _long_strings(text)):
                key = (deployment.model, deployment.api_key, deployment.url, stream, text)
        if key is None or shaped is None:
            return self._build(deployment, messages, params, stream)
        if key in self._by_shape:
            template = self._by_shape[key]
        else:
            template = self._build(deployment, shaped[0], params, stream)
            if not _checked(template, len(shaped[1])):
                template = None
            if len(self._by_shape) < _LIMIT:
                self._by_shape[key] = template
        if template is None:
            return self._build(deployment, messages, params, stream)
        data = _filled(template.data, shaped[1])
        return replace(
            template,
            headers=dict(template.headers),
            body=_encode(data).encode(),
            data=data,
            optional_params=dict(template.optional_params),
        )


def _long_strings(text: str) -> list[str]:
    """The encoded shape's pieces between quotes longer than the limit (cheap, no parse)."""
    if len(text) <= _LONGEST:
        return []
    return [piece for piece in text.split('"') if len(piece) > _LONGEST]
