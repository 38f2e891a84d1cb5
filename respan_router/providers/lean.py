"""The lean provider: litellm's per-provider translations over the router's own HTTP.

``LeanProvider`` sends a call itself when the parity tests prove it equivalent to
litellm (see ``docs/lean-dispatch.md``), and through :class:`LiteLLMProvider` otherwise.
"""

from respan_router.providers._lean import LEAN, LITELLM, LeanProvider

__all__ = ["LEAN", "LITELLM", "LeanProvider"]
