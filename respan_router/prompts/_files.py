"""Reading a prompts directory: one JSON or YAML file per prompt.

``*.json`` needs nothing; ``*.yaml`` / ``*.yml`` need PyYAML (``respan-router[yaml]``).
Other files are ignored. Subdirectories are not read. A file that cannot be read or
parsed is a :class:`~respan_router.errors.PromptLoadError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from respan_router.errors import PromptLoadError

__all__ = ["PROMPT_SUFFIXES", "prompt_files", "read_prompt_file"]

PROMPT_SUFFIXES = (".json", ".yaml", ".yml")


def prompt_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The prompt files of a directory, sorted by name."""
    path = Path(directory)
    if not path.is_dir():
        raise PromptLoadError(f"{path}: the prompts directory does not exist", source=str(path))
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in PROMPT_SUFFIXES)


def read_prompt_file(path: Path) -> Any:
    """The parsed content of one prompt file (not validated yet)."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptLoadError(
            f"{source}: cannot be read ({type(exc).__name__})", source=source
        ) from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            reason = f"not valid JSON: {exc}"
    else:
        try:
            import yaml
        except ImportError:
            raise PromptLoadError(
                f"{source}: reading YAML prompts needs PyYAML: "
                "pip install 'respan-router[yaml]' (or write the prompt as JSON)",
                source=source,
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            reason = f"not valid YAML: {exc}"
    raise PromptLoadError(f"{source}: {reason}", source=source)
