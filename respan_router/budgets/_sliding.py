"""Per-customer requests per minute in one process: an exact sliding log, O(1) per call.

The same window as :class:`~respan_router.budgets.MovingWindow` (the ``limits``
package's moving window, which shared stores keep using): a request is allowed when
fewer than ``per_minute`` requests were allowed in the 60 seconds up to it (a request
exactly 60 seconds old still counts); a refused request is not counted and says how long
until enough counted ones leave the window (``retry_after``). Each customer's allowed
requests are a deque of times, oldest first: a hit drops the ones that left, then
appends, so each time is added and removed once (amortised O(1), no search, no storage
layer). Customers idle for a whole window are forgotten on a periodic sweep.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from respan_router.budgets._store import RateDecision

__all__ = ["SlidingLog"]

WINDOW = 60.0
_SWEEP_EVERY = 1024  # hits between sweeps of idle customers


class SlidingLog:
    """An exact moving window per customer, in memory; thread-safe.

    Args:
        clock: monotonic seconds (injectable in tests).
    """

    __slots__ = ("_clock", "_hits", "_lock", "_logs")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}
        self._hits = 0

    def hit(self, customer_id: str, per_minute: int) -> RateDecision:
        """Count one request of ``customer_id`` if its window allows it."""
        now = self._clock()
        edge = now - WINDOW
        with self._lock:
            log = self._logs.get(customer_id)
            if log is None:
                log = self._logs[customer_id] = deque()
            while log and log[0] < edge:
                log.popleft()
            counted = len(log)
            self._hits += 1
            if self._hits >= _SWEEP_EVERY:
                self._sweep(edge)
            if counted < per_minute:
                log.append(now)
                return RateDecision(True, per_minute, per_minute - counted - 1)
            # Allowed again once the (counted - per_minute + 1) oldest have left.
            leaves = log[counted - per_minute] + WINDOW
        return RateDecision(False, per_minute, 0, retry_after=round(max(leaves - now, 0.0), 3))

    def _sweep(self, edge: float) -> None:
        self._hits = 0
        idle = [cid for cid, log in self._logs.items() if not log or log[-1] < edge]
        for cid in idle:
            del self._logs[cid]

    def __len__(self) -> int:
        """Customers with a request in the window (or not swept yet)."""
        return len(self._logs)
