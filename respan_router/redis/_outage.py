"""Whether Redis is usable now: one warning per outage, a flag, a counter, recovery.

A failed Redis operation (an error or a timeout) starts an outage: it is logged once, the
flag :attr:`Outage.down` is set (the span attribute ``respan.redis.degraded``) and the
metric counter is told. For ``retry_interval`` seconds Redis is not tried at all (every
stage applies its failure policy at once, without waiting); then one operation tries
again, and the first success ends the outage. No restart is needed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["DEFAULT_RETRY_INTERVAL", "Outage", "is_redis_error", "is_rejection"]

logger = logging.getLogger("respan_router.redis")

#: Seconds after a Redis failure during which Redis is not tried again.
DEFAULT_RETRY_INTERVAL = 1.0


class Outage:
    """Whether Redis is usable now; logs, counts and recovers by itself.

    Args:
        retry_interval: seconds after a failure during which Redis is not tried.
        clock: a monotonic clock in seconds.
        on_error: called once per failed Redis operation (a metric counter).
    """

    def __init__(
        self,
        retry_interval: float = DEFAULT_RETRY_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.retry_interval = retry_interval
        self._clock = clock
        self._on_error = on_error
        self._lock = threading.Lock()
        self._down = False
        self._retry_at = 0.0
        self.errors = 0  # failed operations since creation
        self.outages = 0  # outages since creation (each logged once)

    @property
    def down(self) -> bool:
        """Whether Redis is in an outage (the span attribute ``respan.redis.degraded``)."""
        return self._down

    def usable(self) -> bool:
        """Whether to try Redis now: up, or down with the retry interval over."""
        return not self._down or self._clock() >= self._retry_at

    def failed(self, error: BaseException) -> None:
        """A Redis operation failed: start (or extend) the outage."""
        with self._lock:
            first = not self._down
            self._down = True
            self._retry_at = self._clock() + self.retry_interval
            self.errors += 1
            if first:
                self.outages += 1
        if first:
            logger.warning(
                "Redis unavailable (%s): shared state degraded to per-process policies; "
                "retrying every %.1f s",
                type(error).__name__,
                self.retry_interval,
            )
        if self._on_error is not None:
            self._on_error()

    def rejected(self, error: BaseException) -> None:
        """Redis answered with an error of the command itself: counted and logged, not an
        outage (what depends on the command applies its failure policy once)."""
        with self._lock:
            self.errors += 1
        logger.error("Redis rejected a command: %s", error)
        if self._on_error is not None:
            self._on_error()

    def succeeded(self) -> None:
        """A Redis operation succeeded: end the outage if one was on."""
        if not self._down:
            return
        with self._lock:
            was_down, self._down = self._down, False
        if was_down:
            logger.warning("Redis available again: shared state restored")


def is_redis_error(error: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(error, RedisError | OSError | TimeoutError)


_TRANSIENT = ("BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "LOADING", "READONLY")


def is_rejection(error: BaseException) -> bool:
    """Whether Redis answered and refused the command itself (a script's error, a wrong
    type): not an outage, and sending the same command again would fail the same way."""
    from redis.exceptions import ReadOnlyError, ResponseError

    if not isinstance(error, ResponseError) or isinstance(error, ReadOnlyError):
        return False
    return not str(error).startswith(_TRANSIENT)
