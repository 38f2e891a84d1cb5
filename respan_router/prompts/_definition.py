"""A prompt definition, validated and compiled: its numbered versions, deployed one, draft.

The shape (one file per prompt, the same in the Router's configuration or in code)::

    id: support-reply           # in a file: defaults to the file's name without extension
    description: ...            # optional
    deployed_version: 2         # optional: the highest version by default
    versions:
      - version: 1
        model: gpt-4o-mini      # any configuration field (see CONFIG_FIELDS)
        messages:
          - {role: system, content: "You are {{ persona }}."}
      - version: 2
        ...
    draft:                      # optional: newer than every version, never deployed
      messages: [...]           # its number: the highest version + 1 unless given

A definition with ``messages`` and no ``versions`` is a single version 1. Everything is
checked: unknown fields, duplicate or non-positive versions, the messages' shape, every
configuration value (with the request's own validation) and every template's syntax.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from respan_router.errors import InvalidRequestError, PromptLoadError
from respan_router.prompts._templates import MessageTemplate, Templates, TemplateSyntaxProblem
from respan_router.request import OpenAIParams, RespanParams
from respan_router.request import check_messages as _check_messages
from respan_router.request import validated as _validated

__all__ = ["CONFIG_FIELDS", "Prompt", "PromptVersion", "build_prompt"]

# OpenAI parameters a prompt version may set (not messages: they are its own; not stream,
# which decides what the caller gets back; not user or echo, which belong to the caller).
OPENAI_CONFIG = frozenset(OpenAIParams.model_fields) - {
    "messages",
    "stream",
    "stream_options",
    "user",
    "echo",
}
# Respan parameters a prompt version may set: how it is routed, retried and cached.
RESPAN_CONFIG = frozenset(
    {
        "fallback_models",
        "models",
        "load_balance_models",
        "load_balance_group",
        "disable_fallback",
        "exclude_models",
        "exclude_providers",
        "routing_strategy",
        "retry_params",
        "retries",
        "total_timeout",
        "first_token_timeout",
        "cache_enabled",
        "cache_ttl",
        "cache_options",
    }
)
CONFIG_FIELDS = OPENAI_CONFIG | RESPAN_CONFIG
_VERSION_KEYS = frozenset({"version", "messages", "description"})
_PROMPT_KEYS = frozenset({"id", "description", "deployed_version", "versions", "draft"})
_PLACEHOLDER = [{"role": "user", "content": "-"}]


@dataclass(frozen=True, slots=True)
class PromptVersion:
    """One version of a prompt: compiled messages and the configuration it sets."""

    prompt_id: str
    version: int
    draft: bool
    messages: tuple[MessageTemplate, ...]
    config: Mapping[str, Any]
    description: str | None = None

    def render(self, variables: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The messages rendered with ``variables`` (Jinja errors propagate)."""
        return [message.render(variables) for message in self.messages]


@dataclass(frozen=True, slots=True)
class Prompt:
    """A prompt: its committed versions by number, the deployed one, an optional draft."""

    id: str
    source: str
    versions: Mapping[int, PromptVersion]
    deployed_version: int | None
    draft: PromptVersion | None = None
    description: str | None = None

    @property
    def latest(self) -> PromptVersion:
        """The newest version, the draft included."""
        if self.draft is not None:
            return self.draft
        return self.versions[max(self.versions)]

    def select(self, version: int | Literal["latest"] | None) -> PromptVersion:
        """The version a request names: None -> deployed, a number, ``"latest"``."""
        if version == "latest":
            return self.latest
        if version is None:
            if self.deployed_version is None:
                raise InvalidRequestError(
                    f"prompt '{self.id}' has no deployed version (only a draft): "
                    "ask for version 'latest' or a number",
                    field="prompt.version",
                )
            return self.versions[self.deployed_version]
        found = self.versions.get(version)
        if found is None and self.draft is not None and self.draft.version == version:
            found = self.draft
        if found is None:
            known = sorted(self.versions) + ([self.draft.version] if self.draft else [])
            raise InvalidRequestError(
                f"prompt '{self.id}' has no version {version} (versions: {known})",
                field="prompt.version",
            )
        return found


class _Problem(Exception):
    """A defect at ``where`` inside a definition; turned into a PromptLoadError."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason


def _check_keys(values: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in values:
        if key not in allowed:
            hint = ""
            if key == "stream":
                hint = " (stream is the caller's choice)"
            elif key in RespanParams.model_fields or key == "user":
                hint = " (a per-call parameter, not a prompt's configuration)"
            raise _Problem(f"{where}{key}", f"unknown field '{key}'{hint}")


def _validate_config(config: dict[str, Any], where: str) -> None:
    """Each value checked by the request's own schemas (a wrong type fails the load)."""
    openai = {k: v for k, v in config.items() if k in OPENAI_CONFIG}
    respan = {k: v for k, v in config.items() if k in RESPAN_CONFIG}
    error: InvalidRequestError | None = None
    try:
        _validated(OpenAIParams, {"messages": _PLACEHOLDER, **openai})
        _validated(RespanParams, respan)
    except InvalidRequestError as exc:
        error = exc
    if error is not None:
        raise _Problem(f"{where}{error.field or ''}", error.message)
    _refuse_credentials(config, where)


_NO_CREDENTIALS = (
    "a prompt carries no credentials: set them in Router(providers=...) or deployments, "
    "or per call with credential_override or customer_credentials"
)


def _refuse_credentials(config: Mapping[str, Any], where: str) -> None:
    """``credentials`` inside a load-balanced model is refused like every other credential
    field of a prompt file (a file may be shared and read by many; a key in it would be
    used for every caller of the prompt)."""
    lists: list[tuple[str, Any]] = [("load_balance_models", config.get("load_balance_models"))]
    group = config.get("load_balance_group")
    if isinstance(group, Mapping):
        lists.append(("load_balance_group.models", group.get("models")))
    for name, models in lists:
        for i, model in enumerate(models if isinstance(models, list) else ()):
            if isinstance(model, Mapping) and model.get("credentials") is not None:
                raise _Problem(f"{where}{name}[{i}].credentials", _NO_CREDENTIALS)


def _build_version(
    raw: Any, templates: Templates, prompt_id: str, where: str, *, draft: bool, number: int | None
) -> PromptVersion:
    if not isinstance(raw, Mapping):
        raise _Problem(where.rstrip("."), "must be an object")
    _check_keys(raw, _VERSION_KEYS | CONFIG_FIELDS, where)
    version = raw.get("version", number)
    if type(version) is not int or version < 1:
        raise _Problem(f"{where}version", "must be a whole number >= 1")
    if "messages" not in raw:
        raise _Problem(f"{where}messages", "is required")
    error: InvalidRequestError | None = None
    try:
        messages = _check_messages(raw["messages"])
    except InvalidRequestError as exc:
        error = exc
    if error is not None:
        raise _Problem(f"{where}{error.field}", error.message)
    compiled = []
    for i, message in enumerate(messages):
        try:
            compiled.append(MessageTemplate.build(message, templates))
        except TemplateSyntaxProblem as exc:
            raise _Problem(f"{where}messages[{i}].content", str(exc)) from None
    config = {k: v for k, v in raw.items() if k in CONFIG_FIELDS and v is not None}
    _validate_config(config, where)
    description = raw.get("description")
    return PromptVersion(
        prompt_id, version, draft, tuple(compiled), config, description=description
    )


def _normalised(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The single-version shorthand (``messages`` at the top) as a ``versions`` list."""
    if "versions" in raw or "messages" not in raw:
        return dict(raw)
    top = {k: v for k, v in raw.items() if k in _PROMPT_KEYS}
    top["versions"] = [{k: v for k, v in raw.items() if k not in _PROMPT_KEYS}]
    top["versions"][0].setdefault("version", 1)
    return top


def _build(raw: Mapping[str, Any], prompt_id: str, source: str, templates: Templates) -> Prompt:
    spec = _normalised(raw)
    _check_keys(spec, _PROMPT_KEYS, "")
    versions_raw = spec.get("versions", [])
    if not isinstance(versions_raw, list):
        raise _Problem("versions", "must be a list")
    if not versions_raw and spec.get("draft") is None:
        raise _Problem("versions", "a prompt needs at least one version or a draft")
    versions: dict[int, PromptVersion] = {}
    for i, item in enumerate(versions_raw):
        built = _build_version(item, templates, prompt_id, f"versions[{i}].", draft=False,
                               number=None)  # fmt: skip
        if built.version in versions:
            raise _Problem(f"versions[{i}].version", f"duplicate version {built.version}")
        versions[built.version] = built
    highest = max(versions, default=0)
    draft = None
    if spec.get("draft") is not None:
        draft = _build_version(spec["draft"], templates, prompt_id, "draft.", draft=True,
                               number=highest + 1)  # fmt: skip
        if draft.version <= highest:
            raise _Problem("draft.version", f"a draft must be newer than version {highest}")
    deployed = spec.get("deployed_version", highest or None)
    if deployed is not None and (type(deployed) is not int or deployed not in versions):
        raise _Problem("deployed_version", f"must be one of the versions {sorted(versions)}")
    description = spec.get("description")
    return Prompt(prompt_id, source, versions, deployed, draft, description)


def build_prompt(
    raw: Any, *, source: str, templates: Templates, default_id: str | None = None
) -> Prompt:
    """Validate and compile one prompt definition.

    Raises:
        PromptLoadError: naming the source, the prompt and the field at fault.
    """
    if not isinstance(raw, Mapping):
        raise PromptLoadError(f"{source}: a prompt definition must be an object", source=source)
    prompt_id = raw.get("id", default_id)
    if not isinstance(prompt_id, str) or not prompt_id:
        raise PromptLoadError(
            f"{source}: a prompt needs an 'id' (a non-empty string)", source=source, field="id"
        )
    try:
        return _build(raw, prompt_id, source, templates)
    except _Problem as exc:
        where, reason = exc.where, exc.reason
    raise PromptLoadError(
        f"{source}: prompt '{prompt_id}': {where}: {reason}",
        source=source,
        prompt_id=prompt_id,
        field=where,
    )
