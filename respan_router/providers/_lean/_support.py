"""When the lean path applies: the proven providers, parameters and litellm versions.

Everything here is a guard. A call takes the lean path only when all of it holds; anything
else goes through litellm unchanged. The lists name exactly what the parity tests cover
(``tests/test_lean_parity.py``): widen them only together with those tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = [
    "LITELLM_RANGE",
    "PROVIDERS",
    "SDK_SHAPED",
    "TESTED_PARAMS",
    "litellm_version_supported",
    "unsupported_reason",
    "untested_key",
]

# The litellm versions the parity suite ran on, inclusive lower, exclusive upper bound.
LITELLM_RANGE: tuple[tuple[int, int, int], tuple[int, int, int]] = ((1, 108, 0), (1, 111, 0))

# Providers whose requests litellm sends through the openai SDK (its own headers, no
# ``"stream": false`` in the body); the others go through litellm's HTTP handler.
SDK_SHAPED = frozenset({"openai", "deepinfra"})

# Not on the list: deepinfra (litellm's path sends up to three requests for one attempt on a
# 408/429/5xx or a dropped connection, whatever ``max_retries`` says), perplexity (headers
# added outside its config), vertex, cohere, openrouter. Azure, Anthropic, Bedrock (Converse,
# bearer key) and Gemini (AI Studio) take the lean path through their own request builders
# (``_dialects.py``), with their own guards and parity tests.

# Provider -> covered by the parity tests (request, response, errors, streams).
PROVIDERS = frozenset(
    {
        "openai",
        "hosted_vllm",
        "groq",
        "mistral",
        "deepseek",
        "together_ai",
        "fireworks_ai",
        "xai",
    }
)

# OpenAI parameters the parity tests send; each must also be one the provider's config
# supports for the model (``get_supported_openai_params``).
TESTED_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "n",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "stream_options",
    }
)

# Credentials the lean path reads; any other (api_version, organization, ssl_verify,
# aws_*, ...) sends the call through litellm.
CREDENTIAL_KEYS = frozenset({"api_key", "api_base"})

# litellm globals that change what a call does; when any is set, litellm handles it.
_LITELLM_GLOBALS = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "input_callback",
    "service_callback",
)
# litellm's internal callback names that do nothing without ``litellm.cache``.
_INERT_CALLBACKS = ("cache",)
_LITELLM_SETTINGS = (
    "api_key",
    "api_base",
    "openai_key",
    "headers",
    "drop_params",
    "modify_params",
    "disable_aiohttp_trust_env",
    "force_ipv4",
)


def _parse(text: str) -> tuple[int, int, int] | None:
    parts: list[int] = []
    for piece in text.split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            return None
        parts.append(int(digits))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


def litellm_version_supported(installed: str | None = None) -> bool:
    """Whether the installed litellm (or ``installed``) is inside :data:`LITELLM_RANGE`."""
    if installed is None:
        try:
            installed = version("litellm")
        except PackageNotFoundError:
            return False
    parsed = _parse(installed)
    if parsed is None:
        return False
    low, high = LITELLM_RANGE
    return low <= parsed < high


def litellm_globals_set(litellm: Any) -> bool:
    """Whether a process-wide litellm setting the lean path does not replay is in force.

    litellm's own ``"cache"`` callback counts only with a ``litellm.cache`` set: importing
    litellm's Gemini / Vertex context caching registers it (for a cache object used only
    to make keys), and without ``litellm.cache`` it does nothing.
    """
    inert = () if getattr(litellm, "cache", None) is not None else _INERT_CALLBACKS
    for name in _LITELLM_GLOBALS:
        value = getattr(litellm, name, None)
        if value and any(callback not in inert for callback in value):
            return True
    return any(getattr(litellm, name, None) for name in _LITELLM_SETTINGS)


def unsupported_reason(
    provider: str, params: Mapping[str, Any], credentials: Mapping[str, Any], supported: Any
) -> str | None:
    """Why a call cannot take the lean path (for debugging), or None when it can.

    ``supported`` is the set of OpenAI parameters the provider's config accepts for the
    model. ``extra_headers`` is allowed (litellm merges it into the request headers).
    """
    if provider not in PROVIDERS:
        return f"provider {provider!r} is not on the lean allow-list"
    for key in credentials:
        if key not in CREDENTIAL_KEYS:
            return f"credential {key!r}"
    for key, value in params.items():
        if key == "extra_headers":
            if value is not None and not isinstance(value, Mapping):
                return "extra_headers is not a mapping"
            continue
        if key not in TESTED_PARAMS or key not in supported:
            return f"parameter {key!r}"
    return None


def untested_key(
    params: Mapping[str, Any],
    credentials: Mapping[str, Any],
    tested_params: frozenset[str] | set[str],
    credential_keys: frozenset[str] | set[str] | tuple[str, ...],
) -> str | None:
    """Why a call keeps to litellm for a parameter or credential its dialect's parity
    tests do not cover (``extra_headers`` must be a mapping), or None."""
    for key, value in params.items():
        if key == "extra_headers":
            if value is not None and not isinstance(value, Mapping):
                return "extra_headers is not a mapping"
        elif key not in tested_params:
            return f"parameter {key!r}"
    for key in credentials:
        if key not in credential_keys:
            return f"credential {key!r}"
    return None
