"""The outcome of asking a shared cache for a value or the single-flight lease of its key."""

from __future__ import annotations

import enum

__all__ = ["Lease"]


class Lease(enum.Enum):
    """What a shared backend's ``get_or_lease`` found when no value was stored."""

    LEADER = "leader"  # the lease is ours: call the provider, then fill
    WAIT = "wait"  # another process holds it: look again shortly
    DOWN = "down"  # the store is unavailable: call without a lease
