"""The prompt registry of one Router (``router.prompts``).

Prompts come from three places: directories of prompt files (``prompts_dir``), the
Router's configuration (``prompts``), and code (``router.prompts.add(...)``). An id is
defined once: the same id from two places is an error naming both. ``reload()`` reads
the directories again; prompts from the configuration and from code stay. A load or
reload that fails leaves the registry as it was.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from respan_router.errors import InvalidRequestError, PromptLoadError
from respan_router.prompts._definition import Prompt, PromptVersion, build_prompt
from respan_router.prompts._files import prompt_files, read_prompt_file
from respan_router.prompts._templates import Templates

__all__ = ["PromptRegistry"]

CONFIG_SOURCE = "config"
CODE_SOURCE = "code"


class PromptRegistry:
    """Versioned prompt templates, by id. Thread-safe; reads never wait for a reload.

    Args:
        directory: a directory of prompt files (one JSON or YAML file per prompt).
        prompts: prompt id -> definition (as in a file), e.g. from the configuration.
    """

    def __init__(
        self,
        *,
        directory: str | os.PathLike[str] | None = None,
        prompts: Mapping[str, Any] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._templates: Templates | None = None  # Jinja2 is imported with the first prompt
        self._directories: list[Path] = []
        self._fixed: dict[str, Prompt] = {}  # from the configuration and from code
        self._table: dict[str, Prompt] = {}  # every prompt; replaced whole, never mutated
        if prompts:
            if not isinstance(prompts, Mapping):
                raise PromptLoadError(
                    "prompts must map prompt ids to definitions", source=CONFIG_SOURCE
                )
            for prompt_id, raw in prompts.items():
                self._fix(self._build_fixed(raw, CONFIG_SOURCE, str(prompt_id)))
        if directory is not None:
            self.load_directory(directory)
        else:
            self._table = dict(self._fixed)

    # -- reading -------------------------------------------------------------------------
    def get(self, prompt_id: str) -> Prompt:
        """The prompt with this id; an unknown id is an :class:`InvalidRequestError`."""
        prompt = self._table.get(prompt_id)
        if prompt is None:
            raise InvalidRequestError(f"unknown prompt '{prompt_id}'", field="prompt.prompt_id")
        return prompt

    def select(
        self, prompt_id: str, version: int | Literal["latest"] | None = None
    ) -> PromptVersion:
        """A version of a prompt: None -> the deployed one, a number, or ``"latest"``."""
        return self.get(prompt_id).select(version)

    def ids(self) -> list[str]:
        return sorted(self._table)

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._table

    def __iter__(self) -> Iterator[Prompt]:
        table = self._table
        return iter([table[k] for k in sorted(table)])

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"PromptRegistry({len(self._table)} prompt(s))"

    # -- loading -------------------------------------------------------------------------
    def add(
        self, definition: Mapping[str, Any] | None = None, /, *, replace: bool = False,
        **fields: Any,
    ) -> Prompt:  # fmt: skip
        """Register a prompt defined in code (the shape of a prompt file).

        ``add({"id": "greet", "versions": [...]})`` or ``add(id="greet", messages=[...],
        model="gpt-4o")`` (a single version 1). An id already defined is an error unless
        ``replace=True`` and it was defined in code.
        """
        raw = {**(definition or {}), **fields}
        with self._lock:
            prompt = self._build_fixed(raw, CODE_SOURCE, None)
            existing = self._table.get(prompt.id)
            if existing is not None and not (replace and existing.source == CODE_SOURCE):
                raise PromptLoadError(
                    f"{CODE_SOURCE}: prompt '{prompt.id}' is already defined in {existing.source}",
                    source=CODE_SOURCE,
                    prompt_id=prompt.id,
                )
            self._fixed[prompt.id] = prompt
            self._table = {**self._table, prompt.id: prompt}
        return prompt

    def load_directory(self, directory: str | os.PathLike[str]) -> list[str]:
        """Read a directory of prompt files (kept for :meth:`reload`); their ids."""
        path = Path(directory)
        with self._lock:
            directories = [*self._directories, path]
            table = self._read(directories)
            self._directories = directories
            self._table = table
        return sorted(p.id for p in table.values() if Path(p.source).parent == path)

    def reload(self) -> None:
        """Read the directories again (new, changed and removed files).

        All or nothing: when a file is invalid the error is raised and the registry keeps
        the prompts it had.
        """
        with self._lock:
            self._table = self._read(self._directories)

    # -- internals -----------------------------------------------------------------------
    def _env(self) -> Templates:
        if self._templates is None:
            self._templates = Templates()
        return self._templates

    def _build_fixed(self, raw: Any, source: str, default_id: str | None) -> Prompt:
        return build_prompt(raw, source=source, templates=self._env(), default_id=default_id)

    def _fix(self, prompt: Prompt) -> None:
        if prompt.id in self._fixed:
            raise PromptLoadError(
                f"{prompt.source}: prompt '{prompt.id}' is defined twice",
                source=prompt.source,
                prompt_id=prompt.id,
            )
        self._fixed[prompt.id] = prompt

    def _read(self, directories: list[Path]) -> dict[str, Prompt]:
        table = dict(self._fixed)
        for directory in directories:
            for file in prompt_files(directory):
                prompt = build_prompt(
                    read_prompt_file(file),
                    source=str(file),
                    templates=self._env(),
                    default_id=file.stem,
                )
                other = table.get(prompt.id)
                if other is not None:
                    raise PromptLoadError(
                        f"{file}: prompt '{prompt.id}' is already defined in {other.source}",
                        source=str(file),
                        prompt_id=prompt.id,
                    )
                table[prompt.id] = prompt
        return table
