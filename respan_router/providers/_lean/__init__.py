"""The lean dispatch path (private): see :mod:`respan_router.providers.lean`."""

from respan_router.providers._lean._provider import LEAN, LITELLM, LeanProvider

__all__ = ["LEAN", "LITELLM", "LeanProvider"]
