"""Stage 2: a request that names a prompt becomes the plain request it renders to.

Stage 1 validated the ``prompt`` parameter; here its version is selected, child prompts
are rendered into their variables, the messages are rendered, the prompt's configuration
and the request's parameters are merged (schema 1 or 2), and the result is validated
again by stage 1 like any request. What follows (cache key, plan, telemetry) sees only
the rendered request; its ``prompt`` attribute says where it came from.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from respan_router.errors import InvalidRequestError
from respan_router.prompts._bounds import MAX_RENDER_SECONDS, RenderBound, activate, deactivate
from respan_router.prompts._merge import merge
from respan_router.prompts._registry import PromptRegistry
from respan_router.prompts._templates import render_error
from respan_router.request import ChatRequest, RenderedPrompt, build_request

__all__ = ["MAX_CHILD_DEPTH", "PromptStage"]

MAX_CHILD_DEPTH = 2  # a prompt's children (1) may have children (2), no deeper
_CHILD_KEYS = frozenset({"_type", "prompt_id", "version", "variables"})


def is_child(value: Any) -> bool:
    """Whether a variable's value asks for a child prompt."""
    return type(value) is dict and value.get("_type") == "prompt"


class PromptStage:
    """Renders requests that name a prompt of ``registry``."""

    def __init__(
        self, registry: PromptRegistry, *, default_total_timeout: float | None = None
    ) -> None:
        self.registry = registry
        self._default_total = default_total_timeout

    def apply(self, request: ChatRequest) -> ChatRequest:
        """The request itself when it names no prompt, else the request it renders to."""
        param = request.respan.prompt
        if param is None:
            return request
        children: list[str] = []
        variables = param.variables or {}
        total = request.respan.total_timeout or self._default_total
        seconds = MAX_RENDER_SECONDS if total is None else min(MAX_RENDER_SECONDS, total)
        started = time.monotonic()
        token = activate(RenderBound(seconds))
        try:
            version, rendered = self._render(
                param.prompt_id, param.version, variables, (), children, "prompt"
            )
        finally:
            deactivate(token)
        render_seconds = time.monotonic() - started
        params = merge(request, param, version, rendered)
        out = build_request(params)
        out.prompt = RenderedPrompt(
            prompt_id=param.prompt_id,
            version=version.version,
            variables=variables,
            children=tuple(children),
            messages=out.messages,
            echo=param.echo,
            schema_version=param.schema_version,
            render_seconds=render_seconds,
        )
        return out

    def _render(
        self,
        prompt_id: str,
        version: Any,
        variables: Mapping[str, Any],
        chain: tuple[str, ...],
        children: list[str],
        where: str,
    ) -> tuple[Any, list[dict[str, Any]]]:
        if prompt_id in chain:
            path = " -> ".join((*chain, prompt_id))
            raise InvalidRequestError(f"child prompts form a cycle: {path}", field=where)
        if len(chain) > MAX_CHILD_DEPTH:
            raise InvalidRequestError(
                f"child prompts nest at most {MAX_CHILD_DEPTH} levels deep: "
                f"{' -> '.join((*chain, prompt_id))}",
                field=where,
            )
        error: InvalidRequestError | None = None
        try:
            selected = self.registry.select(prompt_id, version)
        except InvalidRequestError as exc:
            if not chain:
                raise
            leaf = (exc.field or "prompt_id").rsplit(".", 1)[-1]
            error = InvalidRequestError(f"child prompt: {exc.message}", field=f"{where}.{leaf}")
        if error is not None:
            raise error
        values = dict(variables)
        for name, value in variables.items():
            if is_child(value):
                child_where = f"{where}.variables.{name}"
                child_id, child_version, child_variables = _child(value, child_where)
                children.append(child_id)
                _, messages = self._render(
                    child_id, child_version, child_variables, (*chain, prompt_id), children,
                    child_where,
                )  # fmt: skip
                values[name] = text_of(messages)
        problem: InvalidRequestError | None = None
        try:
            return selected, selected.render(values)
        except Exception as exc:  # Jinja's and the template's own errors, typed below
            problem = render_error(exc)
        field = problem.field or where
        if chain:  # name the child's variable under the parent's
            field = where + field.removeprefix("prompt")
        raise InvalidRequestError(
            f"prompt '{prompt_id}' version {selected.version}: {problem.message}", field=field
        )


def _child(value: dict[str, Any], where: str) -> tuple[str, Any, Mapping[str, Any]]:
    """A child prompt's id, version and variables, checked."""
    unknown = sorted(set(value) - _CHILD_KEYS)
    if unknown:
        raise InvalidRequestError(
            f"a child prompt has unknown field '{unknown[0]}'", field=f"{where}.{unknown[0]}"
        )
    prompt_id = value.get("prompt_id")
    if not isinstance(prompt_id, str) or not prompt_id:
        raise InvalidRequestError(
            "a child prompt needs a prompt_id (a non-empty string)", field=f"{where}.prompt_id"
        )
    version = value.get("version")
    if not (version is None or version == "latest" or (type(version) is int and version >= 1)):
        raise InvalidRequestError(
            "a child prompt's version is a number >= 1 or 'latest'", field=f"{where}.version"
        )
    variables = value.get("variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise InvalidRequestError(
            "a child prompt's variables must be an object", field=f"{where}.variables"
        )
    return prompt_id, version, variables


def text_of(messages: list[dict[str, Any]]) -> str:
    """A rendered child prompt as text: its messages' text, one paragraph each."""
    texts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p["text"] for p in content if p.get("type") == "text" and "text" in p)
    return "\n\n".join(texts)


def echo_prompt(result: object, request: ChatRequest) -> None:
    """``prompt_message``: the messages a prompt rendered to, on the call's answer (a
    completion or a stream), when the request asks to echo them."""
    prompt = request.prompt
    if prompt is not None and prompt.echo:
        setattr(result, "prompt_message", prompt.messages)  # noqa: B010  an extra field of a completion
