"""The cache the router talks to: responses in, responses out, hits and misses counted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from respan_router.cache._backend import CacheBackend, MemoryCacheBackend
from respan_router.cache._codec import (
    CodecError,
    decode_chunks,
    decode_completion,
    encode_chunks,
    encode_completion,
)
from respan_router.cache._copies import StoredCopies
from respan_router.cache._lease import Lease, LeasingBackend
from respan_router.config import DEFAULT_CACHE_TTL

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["DEFAULT_TTL", "CacheStats", "ResponseCache"]

#: The gateway's default ``cache_ttl``: 30 days, in seconds (the Router's setting's default).
DEFAULT_TTL: float = DEFAULT_CACHE_TTL

# A streamed answer and a whole one are stored apart: a request asked with stream=True
# replays chunks, one without gets a completion. The suffix decides the space, so the
# two spaces never share a stored key, whatever keys the caller uses.
_COMPLETION_SUFFIX = ":completion"
_CHUNKS_SUFFIX = ":chunks"

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Lookups since creation (or the last :meth:`ResponseCache.clear`), and contents.

    ``entries`` and ``bytes`` are what the backend holds now (for a shared backend,
    what every process stored); ``hits`` and ``misses`` count this cache's lookups.
    """

    hits: int
    misses: int
    entries: int
    bytes: int


class ResponseCache:
    """Stores completions and streamed chunks under cache keys, in a :class:`CacheBackend`.

    Safe to share between threads. Every ``get_*`` returns new objects: a caller may
    change what it got without touching the stored answer.

    Args:
        backend: where entries live; a fresh :class:`MemoryCacheBackend` by default.
        default_ttl: seconds an entry lives when ``set_*`` is given no ``ttl``.
    """

    def __init__(
        self, backend: CacheBackend | None = None, default_ttl: float = DEFAULT_TTL
    ) -> None:
        self.backend: CacheBackend = MemoryCacheBackend() if backend is None else backend
        self.default_ttl = default_ttl
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        # Whether the backend takes leases, asked once per backend: an isinstance of a
        # runtime-checkable protocol that fails costs tens of µs (typing walks its members).
        self._leasing_of: tuple[object, bool] = (None, False)
        # Stored completions already decoded, copied for each hit (no validation again).
        self._copies = StoredCopies()

    def peek_completion(self, key: str) -> ChatCompletion | None:
        """The completion stored under ``key``, or None, without counting a hit or a miss
        (the caller counts the outcome once it knows it, with :meth:`count`).

        Each call returns a new object: the entry's first decoding is kept as a template
        and copied (see :mod:`respan_router.cache._copies`) while the backend holds the
        same bytes."""
        stored_key = key + _COMPLETION_SUFFIX  # _peek, written out (once per hit)
        data = self.backend.get(stored_key)
        if data is None:
            return None
        try:
            return self._copies.completion(stored_key, data)
        except CodecError:
            self.backend.delete(stored_key)  # as _peek: never served again
            return None

    def count(self, *, hit: bool) -> None:
        """Count one lookup's outcome in :attr:`stats`."""
        with self._lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    # -- cross-process single flight (a shared backend's leases) ---------------------------
    @property
    def shared(self) -> bool:
        """Whether the backend is shared by processes and leads a single flight across them."""
        checked, leasing = self._leasing_of  # _takes_leases(), its answer read in place
        if checked is not self.backend:
            leasing = self._takes_leases()
        return leasing and bool(self.leasing.shared)

    def _takes_leases(self) -> bool:
        backend = self.backend
        checked, leasing = self._leasing_of
        if checked is not backend:
            leasing = isinstance(backend, LeasingBackend)
            self._leasing_of = (backend, leasing)
        return leasing

    @property
    def leasing(self) -> LeasingBackend:
        """The backend as a shared one (only when :attr:`shared`)."""
        backend = self.backend
        if not self._takes_leases():
            raise TypeError(f"{backend!r} takes no leases")
        return cast("LeasingBackend", backend)

    def lease_completion(self, key: str) -> ChatCompletion | Lease:
        """The stored completion, or the lease outcome (shared backends only)."""
        return self._leased(key, self.leasing.get_or_lease(key + _COMPLETION_SUFFIX))

    async def alease_completion(self, key: str) -> ChatCompletion | Lease:
        return self._leased(key, await self.leasing.aget_or_lease(key + _COMPLETION_SUFFIX))

    def _leased(self, key: str, found: bytes | Lease) -> ChatCompletion | Lease:
        if isinstance(found, Lease):
            return found
        try:
            return decode_completion(found)
        except CodecError:
            self.backend.delete(key + _COMPLETION_SUFFIX)
            return Lease.DOWN

    def fill_completion(self, key: str, resp: ChatCompletion | None, ttl: float) -> None:
        """Store a leader's answer (None after a failure) and release its lease."""
        data = None if resp is None else encode_completion(resp)
        self.leasing.fill(key + _COMPLETION_SUFFIX, data, ttl)

    async def afill_completion(self, key: str, resp: ChatCompletion | None, ttl: float) -> None:
        data = None if resp is None else encode_completion(resp)
        await self.leasing.afill(key + _COMPLETION_SUFFIX, data, ttl)

    def set_completion(self, key: str, resp: ChatCompletion, ttl: float | None = None) -> None:
        """Store ``resp`` under ``key`` for ``ttl`` seconds (default: ``default_ttl``)."""
        self._set(key + _COMPLETION_SUFFIX, encode_completion(resp), ttl)

    def get_chunks(self, key: str) -> list[ChatCompletionChunk] | None:
        """Return the chunks of the stream stored under ``key``, or None (a miss)."""
        return self._get(key + _CHUNKS_SUFFIX, _chunks)

    async def aget_chunks(self, key: str) -> list[ChatCompletionChunk] | None:
        """:meth:`get_chunks`; a shared backend is read with its async client."""
        backend = self.backend
        if not self._takes_leases():
            return self.get_chunks(key)
        backend = self.leasing
        stored_key = key + _CHUNKS_SUFFIX
        data = await backend.aget(stored_key)
        value = None
        if data is not None:
            try:
                value = decode_chunks(data)
            except CodecError:  # as _peek: never served again
                await backend.adelete(stored_key)
        self.count(hit=value is not None)
        return value

    def set_chunks(
        self, key: str, chunks: list[ChatCompletionChunk], ttl: float | None = None
    ) -> None:
        """Store a whole stream's chunks under ``key`` for ``ttl`` seconds."""
        self._set(key + _CHUNKS_SUFFIX, encode_chunks(chunks), ttl)

    async def aset_chunks(
        self, key: str, chunks: list[ChatCompletionChunk], ttl: float | None = None
    ) -> None:
        """:meth:`set_chunks`; a shared backend is written with its async client."""
        backend = self.backend
        if not isinstance(backend, LeasingBackend):
            self.set_chunks(key, chunks, ttl)
            return
        stored_key, data = key + _CHUNKS_SUFFIX, encode_chunks(chunks)
        ttl = self.default_ttl if ttl is None else ttl
        aset = getattr(backend, "aset", None)
        if aset is not None:
            await aset(stored_key, data, ttl)
        else:  # the protocol's async write: stores, releases a lease there is none of
            await backend.afill(stored_key, data, ttl)

    @property
    def stats(self) -> CacheStats:
        backend = self.backend.stats()
        with self._lock:
            hits, misses = self._hits, self._misses
        return CacheStats(hits, misses, backend["entries"], backend["bytes"])

    def clear(self) -> None:
        """Remove every entry from the backend and reset the hit and miss counts."""
        self.backend.clear()
        self._copies.clear()
        with self._lock:
            self._hits = self._misses = 0

    def _get(self, stored_key: str, decode: Callable[[str, bytes], R]) -> R | None:
        value = self._peek(stored_key, decode)
        self.count(hit=value is not None)
        return value

    def _peek(self, stored_key: str, decode: Callable[[str, bytes], R]) -> R | None:
        data = self.backend.get(stored_key)
        if data is None:
            return None
        try:
            return decode(stored_key, data)
        except CodecError:
            # Corrupt, or written by another format version: never served again.
            self.backend.delete(stored_key)
            return None

    def _set(self, stored_key: str, data: bytes, ttl: float | None) -> None:
        self.backend.set(stored_key, data, self.default_ttl if ttl is None else ttl)

    def __repr__(self) -> str:
        return f"ResponseCache(backend={self.backend!r}, default_ttl={self.default_ttl})"


def _chunks(stored_key: str, data: bytes) -> list[ChatCompletionChunk]:
    return decode_chunks(data)
