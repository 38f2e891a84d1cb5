"""Stage 4: the response cache of a call. A hit returns before planning or dispatch.

The key hashes everything sent to the provider (messages, every parameter, forwarded
headers) but a short deny-list of fields that cannot change the answer
(:func:`~respan_router.cache.key_fields`), plus the requested model unless
``is_cached_by_model`` is false, plus the customer when ``cache_by_customer`` is true.
Never credentials, metadata, properties or other logging-only fields. Concurrent
identical misses share one provider call; errors are never cached.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from respan_router.cache._codec import decode_completion, encode_completion
from respan_router.cache._keys import cache_key, key_fields, messages_key
from respan_router.cache._lead_async import alead_across
from respan_router.cache._lead_sync import lead_across
from respan_router.cache._response_cache import DEFAULT_TTL, ResponseCache
from respan_router.cache._singleflight import AsyncSingleFlight, FollowerTimeout, SingleFlight
from respan_router.errors import ProviderTimeoutError
from respan_router.request import ChatRequest

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion, ChatCompletionChunk

__all__ = ["CacheStage"]

T = TypeVar("T")


class CacheStage:
    """Decides whether and under which key a request is cached; stores and shares answers.

    Args:
        cache: the response cache (and its backend).
        enabled: whether calls are cached when they do not say (``cache_enabled``).
        ttl: seconds an entry lives when the call gives no ``cache_ttl``.
    """

    def __init__(
        self, cache: ResponseCache, *, enabled: bool = False, ttl: float = DEFAULT_TTL
    ) -> None:
        self.cache = cache
        self._enabled = enabled
        self._ttl = ttl
        self._flight = SingleFlight()
        self._aflight = AsyncSingleFlight()

    def key(self, request: ChatRequest) -> str | None:
        """The request's cache key, or None when the request is not cached."""
        respan = request.respan
        enabled = respan.cache_enabled if respan.cache_enabled is not None else self._enabled
        if not enabled:
            return None
        if request.bare and not request.params and not request.headers and request.model:
            # No Respan parameter (no option, no customer) and nothing sent but the messages.
            return messages_key(request.messages, request.model)
        options = respan.cache_options
        by_model = options is None or options.is_cached_by_model is not False
        by_customer = options is not None and options.cache_by_customer is True
        return cache_key(
            key_fields(request.messages, request.params, request.headers),
            model=_requested_model(request) if by_model else None,
            customer=respan.customer_identifier if by_customer else None,
        )

    def ttl(self, request: ChatRequest) -> float:
        return request.respan.cache_ttl or self._ttl

    # -- streams ---------------------------------------------------------------------------
    def chunks(self, key: str) -> list[ChatCompletionChunk] | None:
        """The stored chunks of a completed stream (counted as a hit when found)."""
        return self.cache.get_chunks(key) or None

    async def achunks(self, key: str) -> list[ChatCompletionChunk] | None:
        """:meth:`chunks`, reading a shared store with its async client."""
        return await self.cache.aget_chunks(key) or None

    def store_chunks(
        self, key: str, request: ChatRequest, chunks: list[ChatCompletionChunk]
    ) -> None:
        """Store a completed stream's chunks for replay."""
        self.cache.set_chunks(key, chunks, self.ttl(request))

    async def astore_chunks(
        self, key: str, request: ChatRequest, chunks: list[ChatCompletionChunk]
    ) -> None:
        """:meth:`store_chunks`, writing a shared store with its async client."""
        await self.cache.aset_chunks(key, chunks, self.ttl(request))

    # -- completions -----------------------------------------------------------------------
    def lookup(self, key: str) -> ChatCompletion | None:
        """The stored answer (counted as a hit), or None: then :meth:`shared` or
        :meth:`ashared` follows and counts the call once its outcome is known.

        A shared backend is not looked at here: the single flight's leader reads the
        value and takes the lease in one round trip (:mod:`respan_router.cache._lead_async`).
        """
        if self.cache.shared:
            return None
        found = self.cache.peek_completion(key)
        if found is not None:
            self.cache.count(hit=True)
        return found

    def _settle(self, key: str) -> ChatCompletion | None:
        """A leader's look before it fetches, counted: a thread whose lookup missed just
        before the previous leader stored its answer is served from the cache."""
        stored = self.cache.peek_completion(key)
        self.cache.count(hit=stored is not None)
        return stored

    def _followed(self, response: ChatCompletion) -> tuple[ChatCompletion, bool]:
        """A caller answered by waiting for an identical call in flight: a hit, as on its
        span; its own copy of the leader's answer."""
        self.cache.count(hit=True)
        return _copy(response), False

    def shared(
        self,
        key: str,
        request: ChatRequest,
        fetch: Callable[[], ChatCompletion],
        wait: float | None = None,
    ) -> tuple[ChatCompletion, bool]:
        """Fetch and store under single flight: (response, whether this caller fetched).

        A caller that waits for another's fetch (in this process or another) waits at
        most ``wait`` seconds (its own deadline), then raises ProviderTimeoutError."""

        def leader() -> tuple[ChatCompletion, bool]:
            if self.cache.shared:
                return lead_across(self.cache, key, self.ttl(request), fetch, wait)
            stored = self._settle(key)
            if stored is not None:
                return stored, False
            response = fetch()
            self.cache.set_completion(key, response, self.ttl(request))
            return response, True

        try:
            (response, fetched), led = self._flight.do(key, leader, wait)
        except FollowerTimeout as exc:
            raise _timed_out(request, wait) from exc
        return (response, fetched) if led else self._followed(response)

    async def ashared(
        self,
        key: str,
        request: ChatRequest,
        fetch: Callable[[], Awaitable[ChatCompletion]],
        wait: float | None = None,
    ) -> tuple[ChatCompletion, bool]:
        """The async twin of :meth:`shared`."""

        async def leader() -> tuple[ChatCompletion, bool]:
            if self.cache.shared:
                return await alead_across(self.cache, key, self.ttl(request), fetch, wait)
            stored = self._settle(key)
            if stored is not None:
                return stored, False
            response = await fetch()
            self.cache.set_completion(key, response, self.ttl(request))
            return response, True

        try:
            (response, fetched), led = await self._aflight.do(key, leader, wait)
        except FollowerTimeout as exc:
            raise _timed_out(request, wait) from exc
        return (response, fetched) if led else self._followed(response)


def _timed_out(request: ChatRequest, wait: float | None) -> ProviderTimeoutError:
    return ProviderTimeoutError(
        f"the call's timeout ({wait} s) passed while it waited for an identical call in "
        "flight (single flight)",
        model=request.model,
    )


def _copy(response: ChatCompletion) -> ChatCompletion:
    """A follower's own copy of the leader's answer (callers may mutate theirs)."""
    return decode_completion(encode_completion(response))


def _requested_model(request: ChatRequest) -> str:
    """What the caller asked for: the model, or the routing choice that stands for it."""
    respan = request.respan
    if respan.load_balance_models:
        return "lb:" + json.dumps(sorted((m.model, m.weight) for m in respan.load_balance_models))
    if respan.load_balance_group:
        models = respan.load_balance_group.models
        listed = sorted(m.model for m in models) if models else []
        return f"group:{respan.load_balance_group.group_id}:{json.dumps(listed)}"
    if request.model is not None:
        return request.model
    return "models:" + json.dumps(respan.models or [])
