"""Stage 2: prompt templates.

- :class:`PromptRegistry` holds a Router's prompts (``router.prompts``): versioned
  definitions from prompt files, the configuration or code, compiled once;
- :class:`PromptStage` turns a request naming a ``prompt`` into the plain request it
  renders to (Jinja2 sandbox, child prompts, the schema 1 / 2 merge), validated again.
"""

from respan_router.prompts._definition import CONFIG_FIELDS, Prompt, PromptVersion
from respan_router.prompts._registry import PromptRegistry
from respan_router.prompts._stage import MAX_CHILD_DEPTH, PromptStage, echo_prompt

__all__ = [
    "CONFIG_FIELDS",
    "MAX_CHILD_DEPTH",
    "Prompt",
    "PromptRegistry",
    "PromptStage",
    "PromptVersion",
    "echo_prompt",
]
