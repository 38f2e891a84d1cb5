"""The Redis cache backend's commands on a call's path: values, and the leases of the
cross-process single flight (one round trip each).

Written once, async (``_cache_async``); the sync form (``_cache_sync``) is generated from
it by ``scripts/unasync.py``.
"""

from __future__ import annotations

from respan_router.cache import Lease
from respan_router.redis._cache_keys import (
    FILL_AND_RELEASE,
    GET_OR_LEASE,
    CacheKeys,
    lease_outcome,
)

__all__ = ["AsyncCacheOps"]


class AsyncCacheOps(CacheKeys):
    """A :class:`~respan_router.cache.LeasingBackend`'s reads and writes."""

    async def aget(self, key: str) -> bytes | None:
        rkey = self._key(key)
        value: bytes | None = await self.redis.arun(lambda c: c.get(rkey), None)
        return value

    async def aset(self, key: str, value: bytes, ttl: float) -> None:
        rkey = self._key(key)
        if not ttl > 0:
            await self.redis.arun(lambda c: c.delete(rkey), None)
            return
        ms = max(1, int(ttl * 1000))
        await self.redis.arun(lambda c: c.set(rkey, bytes(value), px=ms), None)

    async def adelete(self, key: str) -> None:
        rkey = self._key(key)
        await self.redis.arun(lambda c: c.delete(rkey), None)

    async def aget_or_lease(self, key: str) -> bytes | Lease:
        """The stored value, or whether this process now leads (one round trip)."""
        keys, args = self._lease_args(key)
        try:
            found = await self.redis.arun(
                lambda c: self.redis.aeval(c, GET_OR_LEASE, keys, args), None
            )
        except BaseException:  # cancelled: the lease may be ours; our token releases it
            await self.redis.shielded(self._arelease_lease(key))
            raise
        return lease_outcome(found)

    async def _arelease_lease(self, key: str) -> None:
        keys, args = self._fill_args(key, None, 0)
        await self.redis.arun(lambda c: self.redis.aeval(c, FILL_AND_RELEASE, keys, args), None)

    async def afill(self, key: str, value: bytes | None, ttl: float) -> None:
        """Store the leader's value (None: nothing to store) and release its lease.

        Inside a call's batch (:meth:`SharedRedis.batch`) it goes with the call's other
        writes, in one round trip at the call's end."""
        keys, args = self._fill_args(key, value, ttl)
        if self.redis.write_later(FILL_AND_RELEASE, keys, args):
            return
        await self.redis.arun(lambda c: self.redis.aeval(c, FILL_AND_RELEASE, keys, args), None)
