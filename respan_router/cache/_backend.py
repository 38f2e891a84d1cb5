"""Where cache entries live: a small bytes-in, bytes-out interface and its in-memory store.

Values are opaque bytes (see :mod:`respan_router.cache._codec`), so a store shared by many
processes (Redis) fits the same interface.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypedDict, runtime_checkable

from cachetools import TLRUCache

__all__ = ["BackendStats", "CacheBackend", "MemoryCacheBackend"]


class BackendStats(TypedDict):
    """What a store holds: ``entries`` live entries, ``bytes`` bytes of stored values."""

    entries: int
    bytes: int


@runtime_checkable
class CacheBackend(Protocol):
    """A key-value store of bytes with a time to live per entry.

    Implementations are safe to call from several threads at once.
    """

    def get(self, key: str) -> bytes | None:
        """Return the value stored under ``key``, or None if absent or expired."""
        ...

    def set(self, key: str, value: bytes, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any older value.

        A store may decline to keep a value (``ttl <= 0``, too large); the older value
        under ``key`` is then gone too, never left behind to be served instead.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; no error if it is absent."""
        ...

    def clear(self) -> None:
        """Remove every entry."""
        ...

    def stats(self) -> BackendStats:
        """Return how many entries and bytes the store holds."""
        ...


# A stored entry: the value and its time to live, which the TLRU cache's ttu reads.
_Entry = tuple[bytes, float]


def _expires_at(_key: str, entry: _Entry, now: float) -> float:
    return now + entry[1]


def _entry_size(entry: _Entry) -> int:
    return len(entry[0])


def _discard(cache: TLRUCache[str, _Entry], key: str) -> None:
    # KeyError: absent, or present but expired (and removed all the same).
    with contextlib.suppress(KeyError):
        del cache[key]


class MemoryCacheBackend:
    """An in-process store: LRU with a time to live per entry, bounded in entries and bytes.

    Built on :class:`cachetools.TLRUCache`, guarded by a lock (cachetools caches are not
    thread-safe). Expired entries are never returned and are dropped before any live
    entry is evicted.

    Both bounds share cachetools' own LRU order and bookkeeping: the cache's size unit is
    the byte (``getsizeof`` is the value's length, ``maxsize`` is ``max_bytes``, or
    infinite), so cachetools keeps the byte count exact through every insert, overwrite,
    eviction and expiry, and evicts least recently used entries to make room; the entry
    bound is a length check before inserting a new key, evicting with the cache's own
    ``popitem`` (expired entries first, then the least recently used one). Nothing is
    counted twice, so nothing can drift.

    Args:
        maxsize: the most entries held at once.
        max_bytes: the most value bytes held at once (keys and per-entry overhead, a
            few hundred bytes each, are bounded by ``maxsize``); None for no byte bound.
            A value larger than this is not stored.
        timer: the clock for expiry, in seconds; inject a fake one in tests.
    """

    def __init__(
        self,
        maxsize: int = 10_000,
        max_bytes: int | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1 or None, not {max_bytes}")
        self._maxsize = maxsize
        self._max_bytes: float = math.inf if max_bytes is None else max_bytes
        self._timer = timer
        self._lock = threading.Lock()
        self._cache = self._new_cache()

    def _new_cache(self) -> TLRUCache[str, _Entry]:
        return TLRUCache(
            maxsize=self._max_bytes, ttu=_expires_at, timer=self._timer, getsizeof=_entry_size
        )

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @property
    def max_bytes(self) -> int | None:
        return None if self._max_bytes == math.inf else int(self._max_bytes)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            try:
                # One lookup that checks expiry and refreshes the LRU order. (cachetools'
                # get() checks expiry twice, with a clock that may move in between.)
                entry: _Entry = self._cache[key]
            except KeyError:
                return None
        return entry[0]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        value = bytes(value)
        with self._lock:
            cache = self._cache
            _discard(cache, key)
            if not ttl > 0 or len(value) > self._max_bytes:  # `not >` also catches NaN
                return
            # len() drops expired entries first; then evict the least recently used.
            if len(cache) >= self._maxsize:
                cache.popitem()
            cache[key] = (value, float(ttl))

    def delete(self, key: str) -> None:
        with self._lock:
            _discard(self._cache, key)

    def clear(self) -> None:
        cache = self._new_cache()
        with self._lock:
            self._cache = cache

    def stats(self) -> BackendStats:
        with self._lock:
            entries = len(self._cache)  # drops expired entries first
            size = self._cache.currsize
        return {"entries": entries, "bytes": int(size)}

    def __len__(self) -> int:
        with self._lock:
            return len(self._cache)

    def __repr__(self) -> str:
        stats = self.stats()
        return (
            f"MemoryCacheBackend(entries={stats['entries']}, bytes={stats['bytes']}, "
            f"maxsize={self._maxsize}, max_bytes={self.max_bytes})"
        )
