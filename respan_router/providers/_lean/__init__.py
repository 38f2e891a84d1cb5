"""The lean dispatch path (private): see :class:`respan_router.providers.LeanProvider`."""

from respan_router.providers._lean._provider import LEAN, LITELLM, LeanProvider

__all__ = ["LEAN", "LITELLM", "LeanProvider"]
