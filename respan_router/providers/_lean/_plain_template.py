"""litellm's request for a plain call, built once per call shape and filled in with its texts.

For the OpenAI-compatible providers, litellm's per-call translation (its message
normalisation, the developer-role and cache-mark checks, ``map_openai_params``, the config's
``transform_request``) costs several times what the rest of a lean call's set-up does. For
a plain call its output depends on the deployment, whether the call streams, the roles of
its messages and its parameters, not on what its texts say. A call is plain when:

- every message is a dictionary holding exactly ``role`` then ``content``; the role is
  ``system``, ``user`` or ``assistant``; the content is a non-empty string that neither
  starts nor ends with whitespace (some transforms strip or drop such texts);
- every parameter is a sampling scalar of a plain type (``temperature``, ``max_tokens``,
  ...), ``stop`` (a string or a list of strings), ``stream_options`` (names to booleans)
  or ``extra_headers`` (headers only: they never reach the body).

Anything else (the developer role, content parts, images, tool calls and results, names,
``cache_control`` marks, tools, response formats, other parameters) is built in full
through litellm on every call (:func:`~._request.build_request`).

The first call of a shape (the deployment, the stream flag, the roles, the parameters in
order with their types and values) builds the request through litellm with a slot in each
text's place (a marker no caller writes). The built body is checked: litellm must send the
messages exactly as given, each slot whole in its own message, and the marker nowhere else;
otherwise the shape is remembered as one built in full every time. Every later call of the
shape gets that body with its own messages in place.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from respan_router._json import compact_encoder
from respan_router.providers._lean._deployment import Deployment
from respan_router.providers._lean._request import BuiltRequest, build_request, request_headers

__all__ = ["PlainTemplates"]

_encode = compact_encoder()
_LIMIT = 1024  # shapes remembered per provider instance
_MARK = f"respan-text-{uuid.uuid4().hex}-"
_ROLES = frozenset({"system", "user", "assistant"})
_MESSAGE_KEYS = ("role", "content")
# Parameters whose value is one number, flag or string.
_SCALAR_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logprobs",
        "top_logprobs",
    }
)
_SCALAR_TYPES = (int, float, bool, str)


@dataclass(frozen=True, slots=True)
class _Template:
    data: dict[str, Any]  # the body litellm built for the shape, slots in its messages
    nested: tuple[str, ...]  # the body's keys (but messages) holding lists or dictionaries
    optional_params: dict[str, Any]


def _roles(messages: Any) -> tuple[str, ...] | None:
    """The roles of plain messages, in order; None when any message is not plain."""
    roles: list[str] = []
    for message in messages:
        if type(message) is not dict or tuple(message) != _MESSAGE_KEYS:
            return None
        role, content = message["role"], message["content"]
        if role not in _ROLES or type(content) is not str or not content:
            return None
        if content[0].isspace() or content[-1].isspace():
            return None
        roles.append(role)
    return tuple(roles)


def _param_key(name: str, value: Any) -> tuple[Any, ...] | None:
    """A parameter as part of a shape's key (its type kept: ``1`` is not ``1.0``); None
    when its value is not a plain one."""
    kind = type(value)
    if name in _SCALAR_PARAMS:
        if kind not in _SCALAR_TYPES:
            return None
        if kind is float:  # NaN never equals itself; -0.0 equals 0.0 but is written apart
            return (name, kind, value.hex()) if math.isfinite(value) else None
        return (name, kind, value)
    if name == "stop":
        if kind is str:
            return (name, kind, value)
        if kind is list and all(type(item) is str for item in value):
            return (name, kind, tuple(value))
        return None
    if name == "stream_options":
        if kind is dict and all(
            type(k) is str and type(v) is bool for k, v in value.items()
        ):
            return (name, kind, tuple(value.items()))
        return None
    return None


def _params_key(params: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The parameters as part of a shape's key, in their order; None when any is not plain."""
    key: list[Any] = []
    for name, value in params.items():
        if name == "extra_headers":
            continue
        part = _param_key(name, value)
        if part is None:
            return None
        key.append(part)
    return tuple(key)


def _mentions(value: Any) -> bool:
    """Whether the marker is in any string (or key) of ``value``."""
    if isinstance(value, str):
        return _MARK in value
    if isinstance(value, dict):
        return any(_mentions(k) or _mentions(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_mentions(item) for item in value)
    return False


def _checked(data: dict[str, Any], roles: tuple[str, ...]) -> bool:
    """Whether litellm sends the slotted messages exactly as given, and the marker nowhere
    else in the body."""
    sent = data.get("messages")
    if type(sent) is not list or len(sent) != len(roles):
        return False
    for index, (message, role) in enumerate(zip(sent, roles, strict=True)):
        if type(message) is not dict:
            return False
        if list(message.items()) != [("role", role), ("content", f"{_MARK}{index}")]:
            return False
    return not _mentions({k: v for k, v in data.items() if k != "messages"})


def _copy(value: Any) -> Any:
    """A fresh copy of a body value's lists and dictionaries."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class PlainTemplates:
    """The requests of plain calls, by deployment and call shape (see the module docstring).

    Not bound to a loop or thread: two threads may build the same shape at once, and both
    builds are litellm's.
    """

    def __init__(self) -> None:
        self._by_shape: dict[tuple[Any, ...], _Template | None] = {}

    def request(
        self,
        deployment: Deployment,
        messages: list[dict[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool,
    ) -> BuiltRequest:
        """The request litellm builds for this call.

        Raises:
            LeanUnsupported: as :func:`~._request.build_request` does (and any error of the
                provider's config, which that raises too).
        """
        roles = _roles(messages)
        params_key = _params_key(params) if roles is not None else None
        if roles is None or params_key is None:
            return build_request(deployment, messages, params, stream=stream)
        key = (
            deployment.provider,
            deployment.model,
            deployment.api_base,
            deployment.url,
            stream,
            roles,
            params_key,
        )
        try:
            template = self._by_shape[key]
        except KeyError:
            if len(self._by_shape) >= _LIMIT:
                return build_request(deployment, messages, params, stream=stream)
            template = self._build(deployment, roles, params, stream)
            self._by_shape[key] = template
        if template is None:
            return build_request(deployment, messages, params, stream=stream)
        data = dict(template.data)
        data["messages"] = [dict(message) for message in messages]
        for name in template.nested:
            data[name] = _copy(data[name])
        return BuiltRequest(
            url=deployment.url,
            headers=request_headers(deployment, params.get("extra_headers")),
            body=_encode(data).encode(),
            data=None,  # not held while the call is in flight: decoded from the body if asked
            optional_params=_copy(template.optional_params),
        )

    @staticmethod
    def _build(
        deployment: Deployment, roles: tuple[str, ...], params: Mapping[str, Any], stream: bool
    ) -> _Template | None:
        """The shape's template, or None when litellm's build of it is not one to fill in
        (or raises: then each call's own build raises as it does)."""
        shaped = [{"role": role, "content": f"{_MARK}{i}"} for i, role in enumerate(roles)]
        try:
            built = build_request(deployment, shaped, params, stream=stream)
        except Exception:
            return None
        data = built.request_data()
        if not _checked(data, roles):
            return None
        nested = tuple(
            name
            for name, value in data.items()
            if name != "messages" and isinstance(value, dict | list)
        )
        # Copies: the built body may hold the first caller's own lists and dictionaries.
        return _Template(_copy(data), nested, _copy(built.optional_params))
