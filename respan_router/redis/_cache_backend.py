"""A :class:`~respan_router.cache.CacheBackend` on Redis, shared by every process.

Values are the same bytes as in memory, each under its own key with its own time to live
(``SET ... PX``). Besides the sync interface it has async twins (``aget``, ``aset``) used
by the async API, and the leases of the cross-process single flight
(:meth:`RedisCacheBackend.get_or_lease`): the first process to miss a key takes a short
lease (``SET NX PX``) and calls the provider; the others poll for its value, bounded by
the lease, then call themselves. A leader that fails releases its lease; one that dies
leaves it to expire.

When Redis is down or slow, every read is a miss and every write is dropped: the call
goes on as if uncached (see :class:`respan_router.redis.SharedRedis`).
"""

from __future__ import annotations

from respan_router.redis._cache_async import AsyncCacheOps
from respan_router.redis._cache_sync import SyncCacheOps

__all__ = ["RedisCacheBackend"]


class RedisCacheBackend(SyncCacheOps, AsyncCacheOps):
    """Cache entries in Redis under ``<prefix>cache:{key}``.

    Args:
        redis: the Router's :class:`SharedRedis` (clients, prefix, outage state).
        lease_ttl: seconds a single-flight lease lives if its leader never releases it
            (the leader died); followers wait at most this long, then call themselves.
        poll_interval: seconds between a follower's looks for the leader's value.
    """
