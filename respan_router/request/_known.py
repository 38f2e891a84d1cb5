"""Names a top-level parameter is checked against: the OpenAI / litellm chat parameters,
and the Respan names a typo is measured from.

:data:`KNOWN_CHAT_PARAMS` is computed once from the libraries and stored here (importing
them costs seconds); a test checks it still covers what they declare: the keys of
``openai.types.chat.completion_create_params.CompletionCreateParams*``,
``litellm.OPENAI_CHAT_COMPLETION_PARAMS`` and the named parameters of
``litellm.completion``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["KNOWN_CHAT_PARAMS", "did_you_mean"]

KNOWN_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        # openai.types.chat.completion_create_params
        "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
        "max_completion_tokens", "max_tokens", "messages", "metadata", "modalities", "model",
        "moderation", "n", "parallel_tool_calls", "prediction", "presence_penalty",
        "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention",
        "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier",
        "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
        "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
        # litellm.OPENAI_CHAT_COMPLETION_PARAMS and litellm.completion's named parameters
        "api_base", "api_key", "api_version", "base_url", "default_headers", "deployment_id",
        "enable_json_schema_validation", "extra_headers", "include_server_side_tool_invocations",
        "max_retries", "model_list", "organization", "request_timeout", "shared_session",
        "thinking", "timeout",
        # the OpenAI SDK's request options and litellm pass-through names the router knows
        "extra_body", "extra_query", "headers", "echo", "top_k", "mock_response",
    }
)  # fmt: skip


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance of ``a`` and ``b`` (``limit + 1`` once above it)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate ``name`` is most likely a misspelling of, or None.

    Close means an edit distance (insertions, deletions, substitutions, swaps) of 1, or
    2 for names of 8 characters or more; case, ``-`` and ``_`` are ignored.
    """
    folded = name.lower().replace("-", "_")
    best: tuple[int, str] | None = None
    for candidate in candidates:
        limit = 2 if len(candidate) >= 8 else 1
        d = _distance(folded, candidate, limit)
        if d <= limit and (best is None or d < best[0]):
            best = (d, candidate)
    return best[1] if best else None
