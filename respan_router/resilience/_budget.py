"""A retry budget: retries may be at most a fraction of the requests.

During an outage every request fails and, unchecked, every request is retried, so the
failing providers see several times the usual traffic just when they can least take it.
A :class:`RetryBudget` caps the retries over a sliding window to ``ratio`` times the
requests of the same window, plus a small floor so that low traffic may still retry::

    retries_in_window <= ratio * requests_in_window + min_retries_per_second * window

The window is kept as a ring of counters (one per bucket, 1 s by default), so recording a
request or asking for a retry costs O(1) amortised, under a lock of the budget's own.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from math import floor

__all__ = ["RetryBudget", "RetryBudgetSnapshot"]


@dataclass(frozen=True, slots=True)
class RetryBudgetSnapshot:
    """The budget's counters at one moment, for telemetry.

    Attributes:
        requests: requests recorded in the window.
        retries: retries granted in the window.
        allowed: retries the window allows in all (``ratio * requests + floor``).
        denied_total: retries refused since the budget was made.
    """

    requests: int
    retries: int
    allowed: float
    denied_total: int


class RetryBudget:
    """Caps retries to a fraction of the requests over a sliding window.

    Args:
        ratio: retries allowed per request in the window (0.2: one retry per 5 requests).
        window: the length of the sliding window, in seconds.
        min_retries_per_second: the floor; ``min_retries_per_second * window`` retries are
            always allowed in a window, whatever the traffic.
        bucket: the width of one counter bucket, in seconds (the window's resolution).
        clock: a monotonic clock in seconds; inject one in tests.

    Thread-safe. One budget is meant to be shared by all the calls of one router.
    """

    def __init__(
        self,
        ratio: float = 0.2,
        window: float = 10.0,
        min_retries_per_second: float = 1.0,
        *,
        bucket: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0:
            raise ValueError(f"ratio must be >= 0, got {ratio}")
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window}")
        if min_retries_per_second < 0:
            raise ValueError(f"min_retries_per_second must be >= 0, got {min_retries_per_second}")
        if bucket <= 0 or bucket > window:
            raise ValueError(f"bucket must be in (0, window], got {bucket}")
        self.ratio = ratio
        self.window = window
        self.min_retries_per_second = min_retries_per_second
        self.floor = min_retries_per_second * window
        self._width = bucket
        self._size = math.ceil(window / bucket)
        self._clock = clock
        self._lock = threading.Lock()
        self._requests = [0] * self._size
        self._retries = [0] * self._size
        self._total_requests = 0
        self._total_retries = 0
        self._denied_total = 0
        self._head = self._bucket_of(clock())

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ratio={self.ratio}, window={self.window}, "
            f"min_retries_per_second={self.min_retries_per_second})"
        )

    def _bucket_of(self, now: float) -> int:
        return floor(now / self._width)

    def _advance(self) -> int:
        """Expire the buckets that left the window; return the current slot. Under lock."""
        current = self._bucket_of(self._clock())
        head = self._head
        if current > head:
            if current - head >= self._size:
                self._requests = [0] * self._size
                self._retries = [0] * self._size
                self._total_requests = 0
                self._total_retries = 0
            else:
                for number in range(head + 1, current + 1):
                    slot = number % self._size
                    self._total_requests -= self._requests[slot]
                    self._total_retries -= self._retries[slot]
                    self._requests[slot] = 0
                    self._retries[slot] = 0
            self._head = current
        # A clock that went back counts into the newest bucket.
        return self._head % self._size

    def record_request(self) -> None:
        """Record one request (a first attempt, not a retry)."""
        current = floor(self._clock() / self._width)  # _bucket_of, inline: once per call
        with self._lock:
            if current > self._head:
                self._advance()
            slot = self._head % self._size
            self._requests[slot] += 1
            self._total_requests += 1

    def try_acquire_retry(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        with self._lock:
            slot = self._advance()
            if self._total_retries + 1 > self.ratio * self._total_requests + self.floor:
                self._denied_total += 1
                return False
            self._retries[slot] += 1
            self._total_retries += 1
            return True

    def snapshot(self) -> RetryBudgetSnapshot:
        """The current counters."""
        with self._lock:
            self._advance()
            return RetryBudgetSnapshot(
                requests=self._total_requests,
                retries=self._total_retries,
                allowed=self.ratio * self._total_requests + self.floor,
                denied_total=self._denied_total,
            )
