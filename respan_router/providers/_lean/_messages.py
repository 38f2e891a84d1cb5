"""The messages a lean request sends: normalised exactly as litellm's ``completion()``.

Before a provider's ``transform_request`` sees them, litellm's ``completion()``:

1. ``validate_and_fix_openai_messages``: a message without a role becomes the
   assistant's, tool calls become plain dicts, and every key set to ``None`` is dropped
   (``content`` beside tool calls, ``name``, the ``None`` fields of a previous answer
   added back with ``.model_dump()``);
2. the provider config's ``translate_developer_role_to_system_role``: the ``developer``
   role becomes ``system`` where litellm maps it for that provider and endpoint.

The lean path calls the same litellm functions (no copy of their rules), so each
provider gets the body litellm's own path would send.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["litellm_messages"]


def litellm_messages(
    config: Any, model: str, provider: str, api_base: str | None, messages: Sequence[Any]
) -> list[dict[str, Any]]:
    """``messages`` as litellm's ``completion()`` hands them to ``config``.

    Args:
        config: the provider's litellm config.
        model: the model without its provider prefix.
        provider: litellm's provider name.
        api_base: the base URL the call was given (None: the provider's default).
        messages: the request's messages (not mutated).
    """
    from litellm.utils import validate_and_fix_openai_messages

    # litellm fixes messages in place: work on copies, never on the caller's.
    fixed = validate_and_fix_openai_messages(messages=[dict(m) for m in messages])
    translate = config.translate_developer_role_to_system_role
    try:
        out = translate(
            messages=fixed,
            model=model,
            custom_llm_provider=provider,
            api_base=api_base,
            model_info=None,
        )
    except TypeError:  # litellm before 1.110 takes the messages only
        out = translate(messages=fixed)
    return [dict(m) for m in out]
