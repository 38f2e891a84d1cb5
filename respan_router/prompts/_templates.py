"""Message templates: Jinja2 in a sandbox, compiled once, rendered per call.

Every message's ``content`` (a string, or the ``text`` of its text parts) is a Jinja2
template rendered in a :class:`jinja2.sandbox.SandboxedEnvironment` with
:class:`jinja2.StrictUndefined`: a missing variable is an error naming it, never an empty
string, and a template cannot reach Python internals (``__class__``, ``__globals__``,
...). Templates are compiled when a prompt is loaded (so bad syntax fails the load) and
kept; a text without any Jinja syntax is kept as it is and costs nothing to render.

Jinja2 is imported when the first prompt is loaded, never by ``import respan_router``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from respan_router.errors import InvalidRequestError
from respan_router.prompts._bounds import RenderBoundExceeded, bounded_environment

__all__ = ["MessageTemplate", "TemplateSyntaxProblem", "Templates", "render_error"]

_JINJA_MARKERS = ("{{", "{%", "{#")
_UNDEFINED = re.compile(r"^'([^']+)' is undefined$")

# A compiled piece of text: a constant string, or a render function over variables.
Text = str | Callable[[Mapping[str, Any]], str]


class TemplateSyntaxProblem(ValueError):
    """A template does not compile; the message says where (``line N``) and why."""


class Templates:
    """One sandboxed Jinja2 environment (per registry: two Routers share nothing)."""

    def __init__(self) -> None:
        # Renders count their steps and watch their deadline (see prompts._bounds).
        self._env = bounded_environment()

    def compile(self, text: str) -> Text:
        """The text itself when it holds no Jinja syntax, else its compiled template."""
        if not any(marker in text for marker in _JINJA_MARKERS):
            return text
        from jinja2 import TemplateSyntaxError

        problem: str | None = None
        try:
            template = self._env.compile_bounded(text)
        except TemplateSyntaxError as exc:
            problem = f"template syntax error on line {exc.lineno}: {exc.message}"
        if problem is not None:
            raise TemplateSyntaxProblem(problem)
        # Template.render copies the globals (a ChainMap) into a new dict on every call;
        # here they are copied once, and each call's context is built over one plain dict.
        # Exceptions propagate as raised (the stage types them), without Jinja rewriting
        # their traceback.
        base = dict(template.globals)
        new_context = template.new_context
        root = template.root_render_func
        concat = self._env.concat

        def render(variables: Mapping[str, Any]) -> str:
            text: str = concat(root(new_context({**base, **variables}, shared=True)))
            return text

        return render


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """One message of a prompt version: its compiled content and its other keys as given.

    ``content`` is compiled text, a list of parts whose ``text`` is compiled text, or None
    (an assistant message with tool calls).
    """

    fixed: Mapping[str, Any]  # role, name, tool_calls, ...: copied as they are
    content: Text | list[tuple[Mapping[str, Any], Text | None]] | None

    @classmethod
    def build(cls, message: Mapping[str, Any], templates: Templates) -> MessageTemplate:
        content = message.get("content")
        templated = isinstance(content, str | list)
        fixed = {k: v for k, v in message.items() if k != "content" or not templated}
        if isinstance(content, str):
            return cls(fixed, templates.compile(content))
        if isinstance(content, list):
            parts: list[tuple[Mapping[str, Any], Text | None]] = []
            for part in content:
                text = part.get("text") if part.get("type") == "text" else None
                compiled = templates.compile(text) if isinstance(text, str) else None
                parts.append((part, compiled))
            return cls(fixed, parts)
        return cls(fixed, None)

    def render(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(self.fixed)
        content = self.content
        if content is None:
            return out
        if isinstance(content, list):
            out["content"] = [
                part if text is None else {**part, "text": _text(text, variables)}
                for part, text in content
            ]
        else:
            out["content"] = _text(content, variables)
        return out


def _text(text: Text, variables: Mapping[str, Any]) -> str:
    if isinstance(text, str):
        return text
    return text(variables)


def render_error(exc: Exception) -> InvalidRequestError:
    """The typed error for a failure while rendering a template.

    A missing variable names the variable (``field="prompt.variables.<name>"``); an
    attempt to reach what the sandbox forbids says so without quoting the template.
    """
    from jinja2.exceptions import SecurityError, TemplateError, UndefinedError

    if isinstance(exc, RenderBoundExceeded):
        return InvalidRequestError(f"the template was stopped: {exc}", field="prompt")
    if isinstance(exc, RecursionError):
        return InvalidRequestError("the template recursed too deeply", field="prompt")
    if isinstance(exc, UndefinedError):
        match = _UNDEFINED.match(exc.message or "")
        if match is not None:
            name = match.group(1)
            return InvalidRequestError(
                f"variable '{name}' is missing", field=f"prompt.variables.{name}"
            )
        return InvalidRequestError(
            f"a variable lacks what the template reads: {exc.message}", field="prompt.variables"
        )
    if isinstance(exc, SecurityError):
        return InvalidRequestError(
            "the template tried an operation the sandbox forbids", field="prompt"
        )
    if isinstance(exc, TemplateError):
        return InvalidRequestError(f"the template failed: {exc.message}", field="prompt")
    # e.g. a TypeError from an expression over a variable of an unexpected type
    return InvalidRequestError(
        f"the template failed on its variables: {type(exc).__name__}", field="prompt.variables"
    )
