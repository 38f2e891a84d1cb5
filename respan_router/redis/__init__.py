"""The Redis adapter: every Redis implementation of the stages' interfaces, in one package.

Only the assembly imports it, and only when a Router is given ``redis=...``; redis-py
itself loads on the first client made (``import respan_router`` never imports it). Inside
this package ``import redis`` is absolute: it names redis-py, never this package.

- :class:`SharedRedis`: the clients (one sync, one asyncio client per event loop), the
  key prefix, the per-call write batch, the scripts by SHA and the outage policy;
- :class:`RedisCacheBackend`: the cache stage's shared backend, with the leases of the
  cross-process single flight;
- :class:`RedisBudgetStore`: the budget stage's ledger and rate-limit windows;
- :class:`RedisHealthStore`: the resilience stage's health bus (pub/sub).
"""

from respan_router.redis._budget_store import UNRECORDED, RedisBudgetStore
from respan_router.redis._cache_backend import RedisCacheBackend
from respan_router.redis._connection import DEFAULT_PREFIX, hash_tag
from respan_router.redis._health_bus import RedisHealthStore
from respan_router.redis._shared import SharedRedis

__all__ = [
    "DEFAULT_PREFIX",
    "UNRECORDED",
    "RedisBudgetStore",
    "RedisCacheBackend",
    "RedisHealthStore",
    "SharedRedis",
    "hash_tag",
]
