"""The response cache: keys, stores, encoding and single flight.

- :func:`key_fields` picks what a request's key covers (everything sent to the provider
  but a short deny-list) and :func:`cache_key` turns it into a hashed key;
- :class:`ResponseCache` stores completions and streamed chunks under such keys, in a
  :class:`CacheBackend` (:class:`MemoryCacheBackend` by default), counting hits;
- :class:`SingleFlight` / :class:`AsyncSingleFlight` make concurrent identical misses
  share one provider call.
"""

from respan_router.cache._backend import BackendStats, CacheBackend, MemoryCacheBackend
from respan_router.cache._codec import (
    CodecError,
    decode_chunks,
    decode_completion,
    encode_chunks,
    encode_completion,
)
from respan_router.cache._keys import HEADERS_EXCLUDED, KEY_EXCLUDED, cache_key, key_fields
from respan_router.cache._lease import Lease, LeasingBackend
from respan_router.cache._response_cache import DEFAULT_TTL, CacheStats, ResponseCache
from respan_router.cache._singleflight import AsyncSingleFlight, FollowerTimeout, SingleFlight
from respan_router.cache._stage import CacheStage

__all__ = [
    "DEFAULT_TTL",
    "HEADERS_EXCLUDED",
    "KEY_EXCLUDED",
    "AsyncSingleFlight",
    "BackendStats",
    "CacheBackend",
    "CacheStage",
    "CacheStats",
    "CodecError",
    "FollowerTimeout",
    "Lease",
    "LeasingBackend",
    "MemoryCacheBackend",
    "ResponseCache",
    "SingleFlight",
    "cache_key",
    "decode_chunks",
    "decode_completion",
    "encode_chunks",
    "encode_completion",
    "key_fields",
]
