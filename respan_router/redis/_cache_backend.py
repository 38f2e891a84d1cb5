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

import os
from typing import Any

from respan_router.cache import BackendStats, Lease
from respan_router.redis._shared import SharedRedis

__all__ = ["RedisCacheBackend"]

# KEYS[1] value, KEYS[2] lease; ARGV[1] token, ARGV[2] lease ms.
# -> {1, value} stored; {2} the lease is ours; {3} another process holds it.
_GET_OR_LEASE = """
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {3}
"""

# KEYS[1] value, KEYS[2] lease; ARGV[1] token, ARGV[2] value, ARGV[3] ttl ms (0: no fill).
_FILL_AND_RELEASE = """
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


class RedisCacheBackend:
    """Cache entries in Redis under ``<prefix>cache:{key}``.

    Args:
        redis: the Router's :class:`SharedRedis` (clients, prefix, outage state).
        lease_ttl: seconds a single-flight lease lives if its leader never releases it
            (the leader died); followers wait at most this long, then call themselves.
        poll_interval: seconds between a follower's looks for the leader's value.
    """

    shared = True  # one store for many processes: the single flight spans them

    def __init__(
        self, redis: SharedRedis, *, lease_ttl: float = 10.0, poll_interval: float = 0.02
    ) -> None:
        if not lease_ttl > 0 or not poll_interval > 0:
            raise ValueError("lease_ttl and poll_interval must be > 0")
        self.redis = redis
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self._token = os.urandom(8).hex()

    def _key(self, key: str) -> str:
        return self.redis.key("cache", key)

    def _lease_key(self, key: str) -> str:
        return self.redis.key("cache", key, "lease")

    # -- the CacheBackend protocol ---------------------------------------------------
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

    def clear(self) -> None:
        """Remove every entry under this router's prefix (a SCAN, not for hot paths)."""
        pattern = self.redis.prefix + "cache:*"

        def wipe(client: Any) -> None:
            batch: list[Any] = []
            for rkey in client.scan_iter(match=pattern, count=500):
                batch.append(rkey)
                if len(batch) >= 500:
                    client.delete(*batch)
                    batch.clear()
            if batch:
                client.delete(*batch)

        self.redis.run(wipe, None)

    def stats(self) -> BackendStats:
        """Entries and bytes under this router's prefix (a SCAN: for tests and ops)."""
        pattern = self.redis.prefix + "cache:*"

        def count(client: Any) -> BackendStats:
            entries = size = 0
            for rkey in client.scan_iter(match=pattern, count=500):
                if rkey.endswith(b":lease"):
                    continue
                entries += 1
                size += int(client.strlen(rkey))
            return {"entries": entries, "bytes": size}

        empty: BackendStats = {"entries": 0, "bytes": 0}
        return self.redis.run(count, empty)

    # -- async twins -------------------------------------------------------------------
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

    # -- cross-process single flight --------------------------------------------------
    def _lease_args(self, key: str) -> tuple[list[str], list[Any]]:
        return [self._key(key), self._lease_key(key)], [
            self._token,
            max(1, int(self.lease_ttl * 1000)),
        ]

    def get_or_lease(self, key: str) -> bytes | Lease:
        """The stored value, or whether this process now leads (one round trip)."""
        keys, args = self._lease_args(key)
        found = self.redis.run(lambda c: self.redis.eval(c, _GET_OR_LEASE, keys, args), None)
        return _lease_outcome(found)

    async def aget_or_lease(self, key: str) -> bytes | Lease:
        keys, args = self._lease_args(key)
        found = await self.redis.arun(
            lambda c: self.redis.aeval(c, _GET_OR_LEASE, keys, args), None
        )
        return _lease_outcome(found)

    def fill(self, key: str, value: bytes | None, ttl: float) -> None:
        """Store the leader's value (None: nothing to store) and release its lease.

        Inside a call's batch (:meth:`SharedRedis.batch`) it goes with the call's other
        writes, in one round trip at the call's end."""
        keys, args = self._fill_args(key, value, ttl)
        if self.redis.write_later(_FILL_AND_RELEASE, keys, args):
            return
        self.redis.run(lambda c: self.redis.eval(c, _FILL_AND_RELEASE, keys, args), None)

    async def afill(self, key: str, value: bytes | None, ttl: float) -> None:
        keys, args = self._fill_args(key, value, ttl)
        if self.redis.write_later(_FILL_AND_RELEASE, keys, args):
            return
        await self.redis.arun(lambda c: self.redis.aeval(c, _FILL_AND_RELEASE, keys, args), None)

    def _fill_args(self, key: str, value: bytes | None, ttl: float) -> tuple[list[str], list[Any]]:
        ms = max(1, int(ttl * 1000)) if value is not None and ttl > 0 else 0
        return [self._key(key), self._lease_key(key)], [self._token, value or b"", ms]

    def __repr__(self) -> str:
        return f"RedisCacheBackend(prefix={self.redis.prefix!r}, lease_ttl={self.lease_ttl})"


def _lease_outcome(found: Any) -> bytes | Lease:
    if found is None:
        return Lease.DOWN
    if int(found[0]) == 1:
        return bytes(found[1])
    return Lease.LEADER if int(found[0]) == 2 else Lease.WAIT
