"""What the cache needs of a store shared by processes: a value or the key's lease.

The cache stage declares it; the Redis adapter implements it
(``respan_router.redis.RedisCacheBackend``).
"""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable

from respan_router.cache._backend import CacheBackend

__all__ = ["Lease", "LeasingBackend"]


class Lease(enum.Enum):
    """What a shared backend's ``get_or_lease`` found when no value was stored."""

    LEADER = "leader"  # the lease is ours: call the provider, then fill
    WAIT = "wait"  # another process holds it: look again shortly
    DOWN = "down"  # the store is unavailable: call without a lease


@runtime_checkable
class LeasingBackend(CacheBackend, Protocol):
    """A :class:`CacheBackend` shared by processes, leading a single flight across them.

    ``lease_ttl``: seconds a lease lives if its leader never releases it; followers wait
    at most this long. ``poll_interval``: seconds between a follower's looks.
    """

    shared: bool
    lease_ttl: float
    poll_interval: float

    async def aget(self, key: str) -> bytes | None:
        """:meth:`get` with the async client (the async API never blocks on the store)."""
        ...

    async def adelete(self, key: str) -> None: ...

    def get_or_lease(self, key: str) -> bytes | Lease:
        """The stored value, or whether this process now leads (one round trip)."""
        ...

    async def aget_or_lease(self, key: str) -> bytes | Lease: ...

    def fill(self, key: str, value: bytes | None, ttl: float) -> None:
        """Store the leader's value (None: nothing to store) and release its lease."""
        ...

    async def afill(self, key: str, value: bytes | None, ttl: float) -> None: ...
