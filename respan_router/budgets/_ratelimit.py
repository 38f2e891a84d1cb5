"""Per-customer requests per minute: the ``limits`` package's moving (sliding) window.

The window is exact: a request is allowed when fewer than ``per_minute`` requests were
allowed in the 60 seconds before it. A refused request is not counted, and says how long
until the oldest counted one leaves the window (``retry_after``). Any ``limits`` storage
works: its memory storage for one process, its Redis storage for many.
"""

from __future__ import annotations

import time
from typing import Any

from respan_router.budgets._store import RateDecision

__all__ = ["AsyncMovingWindow", "MovingWindow"]

_NAMESPACE = "respan_router.customer"


def _item(per_minute: int) -> Any:
    from limits import RateLimitItemPerMinute

    return RateLimitItemPerMinute(per_minute)


def _decision(allowed: bool, per_minute: int, stats: Any) -> RateDecision:
    remaining = int(stats.remaining)
    if allowed:
        return RateDecision(True, per_minute, remaining)
    wait = max(float(stats.reset_time) - time.time(), 0.0)
    return RateDecision(False, per_minute, remaining, retry_after=round(wait, 3))


class MovingWindow:
    """A sync moving-window limiter over a ``limits`` storage."""

    def __init__(self, storage: Any) -> None:
        from limits.strategies import MovingWindowRateLimiter

        self._limiter = MovingWindowRateLimiter(storage)
        self._items: dict[int, Any] = {}

    def hit(self, customer_id: str, per_minute: int) -> RateDecision:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = _item(per_minute)
        allowed = self._limiter.hit(item, _NAMESPACE, customer_id)
        stats = self._limiter.get_window_stats(item, _NAMESPACE, customer_id)
        return _decision(allowed, per_minute, stats)


class AsyncMovingWindow:
    """The async twin, over a ``limits.aio`` storage (e.g. its Redis storage)."""

    def __init__(self, storage: Any) -> None:
        from limits.aio.strategies import MovingWindowRateLimiter

        self._limiter = MovingWindowRateLimiter(storage)
        self._items: dict[int, Any] = {}

    async def hit(self, customer_id: str, per_minute: int) -> RateDecision:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = _item(per_minute)
        allowed = await self._limiter.hit(item, _NAMESPACE, customer_id)
        stats = await self._limiter.get_window_stats(item, _NAMESPACE, customer_id)
        return _decision(allowed, per_minute, stats)
