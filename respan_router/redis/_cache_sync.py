# Generated from _cache_async.py by scripts/unasync.py: edit that file, not this one.
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

__all__ = ["SyncCacheOps"]


class SyncCacheOps(CacheKeys):
    """A :class:`~respan_router.cache.LeasingBackend`'s reads and writes."""

    def get(self, key: str) -> bytes | None:
        rkey = self._key(key)
        value: bytes | None = self.redis.run(lambda c: c.get(rkey), None)
        return value

    def set(self, key: str, value: bytes, ttl: float) -> None:
        rkey = self._key(key)
        if not ttl > 0:
            self.redis.run(lambda c: c.delete(rkey), None)
            return
        ms = max(1, int(ttl * 1000))
        self.redis.run(lambda c: c.set(rkey, bytes(value), px=ms), None)

    def delete(self, key: str) -> None:
        rkey = self._key(key)
        self.redis.run(lambda c: c.delete(rkey), None)

    def get_or_lease(self, key: str) -> bytes | Lease:
        """The stored value, or whether this process now leads (one round trip)."""
        keys, args = self._lease_args(key)
        try:
            found = self.redis.run(
                lambda c: self.redis.eval(c, GET_OR_LEASE, keys, args), None
            )
        except BaseException:  # cancelled: the lease may be ours; our token releases it
            self._release_lease(key)
            raise
        return lease_outcome(found)

    def _release_lease(self, key: str) -> None:
        keys, args = self._fill_args(key, None, 0)
        self.redis.run(lambda c: self.redis.eval(c, FILL_AND_RELEASE, keys, args), None)

    def fill(self, key: str, value: bytes | None, ttl: float) -> None:
        """Store the leader's value (None: nothing to store) and release its lease.

        Inside a call's batch (:meth:`SharedRedis.batch`) it goes with the call's other
        writes, in one round trip at the call's end."""
        keys, args = self._fill_args(key, value, ttl)
        if self.redis.write_later(FILL_AND_RELEASE, keys, args):
            return
        self.redis.run(lambda c: self.redis.eval(c, FILL_AND_RELEASE, keys, args), None)
