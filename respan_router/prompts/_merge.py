"""How a rendered prompt and the request's own parameters combine (Respan's two schemas).

schema_version 1 (the default):
    ``override=false`` (default): the request's parameters win over the prompt's
    configuration where both set one; ``override=true``: the prompt's configuration wins.
    ``override_params`` apply on top of either. Messages: the prompt's, then the
    request's (``override_config.messages_override_mode="append"``, the default), or the
    request's alone (``"override"``).
schema_version 2:
    the prompt's configuration always wins; the request's messages come after the
    prompt's; ``patch`` applies on top (it may not hold ``messages`` or ``input``; that is
    checked with the rest of the ``prompt`` parameter in stage 1).

Pure: the result is a new plain parameter dict, validated again like any request.
"""

from __future__ import annotations

from typing import Any

from respan_router.errors import InvalidRequestError
from respan_router.prompts._definition import PromptVersion
from respan_router.request import ChatRequest, PromptParam

__all__ = ["caller_params", "merge"]


def caller_params(request: ChatRequest) -> dict[str, Any]:
    """The parameters the caller set (not messages, stream or the prompt itself)."""
    params = dict(request.params)
    if request.model is not None:
        params["model"] = request.model
    if request.timeout is not None:
        params["timeout"] = request.timeout
    params.update(request.respan.model_dump(exclude_unset=True, exclude={"prompt"}))
    return params


def merge(
    request: ChatRequest,
    param: PromptParam,
    version: PromptVersion,
    rendered: list[dict[str, Any]],
) -> dict[str, Any]:
    """The call's parameters with the prompt applied, as one plain dict."""
    caller = caller_params(request)
    config = version.config
    if param.schema_version == 2:
        params = {**caller, **config}
        messages = rendered + request.messages
        params.update(param.patch or {})
    else:
        params = {**caller, **config} if param.override else {**config, **caller}
        params.update(param.override_params or {})
        config_ = param.override_config
        if config_ is not None and config_.messages_override_mode == "override":
            if not request.messages:
                raise InvalidRequestError(
                    "messages_override_mode 'override' replaces the prompt's messages with "
                    "the request's, but the request has no messages",
                    field="prompt.override_config.messages_override_mode",
                )
            messages = list(request.messages)
        else:
            messages = rendered + request.messages
    params["messages"] = messages
    if request.stream:
        params["stream"] = True
    if request.headers:
        params["headers"] = request.headers
    return params
