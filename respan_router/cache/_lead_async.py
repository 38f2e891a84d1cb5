"""The single flight across processes, on a shared backend's leases.

Written once, async (``_lead_async``); the sync form (``_lead_sync``) is generated from it
by ``scripts/unasync.py``.

Within a process, :class:`~respan_router.cache.SingleFlight` already makes identical
concurrent misses wait for one leader. That leader then asks the shared store, in one
round trip, for the value or the key's lease:

- a value: a hit (another process filled it);
- the lease: this process calls the provider, then stores the answer and releases the
  lease in one round trip (after a failure, only releases it: errors are not cached);
- another process holds the lease: look again every ``poll_interval`` until its value
  appears, for at most ``lease_ttl``; then call without a lease. A leader that failed
  released its lease, so a waiting process takes it over and calls itself; a leader that
  died leaves its lease to expire after ``lease_ttl``;
- the store is down: call without a lease (a miss).

So across P processes, N identical concurrent misses make one provider call while the
leader lives, and at most one more per ``lease_ttl`` of a leader that hangs or dies.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from respan_router.cache._lease import Lease
from respan_router.cache._response_cache import ResponseCache
from respan_router.cache._singleflight import FollowerTimeout

if TYPE_CHECKING:
    from respan_router.responses import ChatCompletion

__all__ = ["alead_across"]


async def alead_across(
    cache: ResponseCache,
    key: str,
    ttl: float,
    fetch: Callable[[], Awaitable[ChatCompletion]],
    wait: float | None = None,
) -> tuple[ChatCompletion, bool]:
    """Return ``(response, fetched)``: the stored or awaited answer, or this call's.

    Waiting on another process's lease ends after ``lease_ttl`` (then this call fetches)
    or after ``wait``, the caller's own deadline, if sooner (then FollowerTimeout)."""
    import asyncio  # unasync: remove

    backend = cache.leasing
    started = time.monotonic()
    deadline = started + backend.lease_ttl
    mine = None if wait is None else started + wait
    while True:
        found = await cache.alease_completion(key)
        if not isinstance(found, Lease):
            cache.count(hit=True)
            return found, False
        if found is not Lease.WAIT:
            break
        now = time.monotonic()
        if mine is not None and now >= mine and mine < deadline:
            raise FollowerTimeout(f"waited {wait} s for an identical call in another process")
        if now < deadline:
            pause = (
                backend.poll_interval
                if mine is None
                else min(backend.poll_interval, max(0.0, mine - now))
            )
            await asyncio.sleep(pause)  # unasync: time.sleep(pause)
            continue
        break
    cache.count(hit=False)
    if found is not Lease.LEADER:
        response = await fetch()
        if found is Lease.WAIT:  # waited out a leader that never filled: store ours
            await cache.afill_completion(key, response, ttl)
        return response, True
    try:
        response = await fetch()
    except BaseException:
        await cache.afill_completion(key, None, ttl)
        raise
    await cache.afill_completion(key, response, ttl)
    return response, True
