"""What a request rendered from a prompt template carries along (set by stage 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["RenderedPrompt"]


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    """The prompt a request was rendered from: for the response's echo and telemetry.

    Attributes:
        prompt_id: the prompt's id.
        version: the version rendered (a draft's number when the draft was used).
        variables: the variables as the request gave them (child prompts included).
        children: the ids of the child prompts rendered into it, in order.
        messages: the messages sent: the rendered ones merged with the request's.
        echo: whether the response carries ``prompt_message``.
        schema_version: the merge schema used (1 or 2).
        render_seconds: the time rendering took (taken from the call's deadline).
    """

    prompt_id: str
    version: int
    variables: dict[str, Any]
    children: tuple[str, ...]
    messages: list[dict[str, Any]]
    echo: bool = True
    schema_version: int = 1
    render_seconds: float = 0.0

    def __repr__(self) -> str:
        # Variables may hold personal data: never in a repr.
        return (
            f"RenderedPrompt(prompt_id={self.prompt_id!r}, version={self.version}, "
            f"variables=[{', '.join(sorted(self.variables))}], children={self.children})"
        )
