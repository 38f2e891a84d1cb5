"""The Redis cache backend's keys, scripts and leases' bounds (see ``_cache_backend``)."""

from __future__ import annotations

import os
from typing import Any

from respan_router.cache import BackendStats, Lease
from respan_router.redis._shared import SharedRedis

__all__ = ["FILL_AND_RELEASE", "GET_OR_LEASE", "CacheKeys", "lease_outcome"]

# KEYS[1] value, KEYS[2] lease; ARGV[1] token, ARGV[2] lease ms.
# -> {1, value} stored; {2} the lease is ours; {3} another process holds it.
GET_OR_LEASE = """
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {3}
"""

# KEYS[1] value, KEYS[2] lease; ARGV[1] token, ARGV[2] value, ARGV[3] ttl ms (0: no fill).
FILL_AND_RELEASE = """
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""


class CacheKeys:
    """What the Redis cache backend holds without I/O on a call's path: the key layout,
    the leases' token and bounds, the scripts' arguments (its I/O: ``_cache_async`` /
    ``_cache_sync``; ``clear`` and ``stats`` are for tests and operations, sync only).
    Its arguments: see ``RedisCacheBackend``.
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

    # -- the scripts' arguments ---------------------------------------------------------
    def _lease_args(self, key: str) -> tuple[list[str], list[Any]]:
        return [self._key(key), self._lease_key(key)], [
            self._token,
            max(1, int(self.lease_ttl * 1000)),
        ]

    def _fill_args(self, key: str, value: bytes | None, ttl: float) -> tuple[list[str], list[Any]]:
        ms = max(1, int(ttl * 1000)) if value is not None and ttl > 0 else 0
        return [self._key(key), self._lease_key(key)], [self._token, value or b"", ms]

    def __repr__(self) -> str:
        return f"RedisCacheBackend(prefix={self.redis.prefix!r}, lease_ttl={self.lease_ttl})"


def lease_outcome(found: Any) -> bytes | Lease:
    if found is None:
        return Lease.DOWN
    if int(found[0]) == 1:
        return bytes(found[1])
    return Lease.LEADER if int(found[0]) == 2 else Lease.WAIT
