"""A deployment's circuit breaker (the registry of a router's breakers: ``_health``).

A deployment is one model behind one set of credentials, keyed by a string such as
``"openai/gpt-4o|customer"``. Its :class:`CircuitBreaker` moves between three states::

    closed ──(5 failures in a row, or >= 50% of the last 20 calls failed)──> open
    open ──(cooldown, or the provider's Retry-After if longer, has passed)──> half-open
    half-open: exactly one probe call is let through; the other callers see it open
    half-open ──probe succeeds──> closed        half-open ──probe fails──> open

While the cooldown runs, outcomes of calls that started before the breaker opened change
nothing (only a longer Retry-After extends the cooldown).

Only provider failures count: retryable ones (408, 409, 429, 5xx, timeouts, lost
connections), any 5xx (a stream cut mid-way too) and, by default, 401 and 403. Another
provider error (a 400, a 404, a context-window error) is the deployment answering, so it
counts as a success; an error that is not a provider's (our validation errors,
cancellation) counts as nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from respan_router.resilience._breaker_config import (
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    Clock,
    StateChange,
)
from respan_router.resilience._strategies import retry_after_of

__all__ = ["PASS", "PROBE", "REFUSED", "CircuitBreaker"]

#: What :meth:`CircuitBreaker.admit` answers.
REFUSED, PASS, PROBE = 0, 1, 2


class CircuitBreaker:
    """The circuit breaker of one deployment. Thread-safe (a lock of its own).

    Args:
        key: the deployment key (for snapshots).
        config: thresholds and cooldown.
        clock: a monotonic clock in seconds; inject one in tests.
    """

    def __init__(
        self,
        key: str,
        config: BreakerConfig | None = None,
        clock: Clock = time.monotonic,
        probe_gate: Callable[[str], bool] | None = None,
    ) -> None:
        self.key = key
        self.config = config or BreakerConfig()
        self._clock = clock
        self._probe_gate = probe_gate
        self._lock = threading.Lock()
        self._open = False  # open or half-open; which one depends on the clock
        self._open_until = 0.0
        self._probe_started: float | None = None
        self._probe_owner: object | None = None  # who holds the probe (None: anyone)
        self._consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=self.config.window)  # True = failure
        self._failures_in_window = 0
        self._times_opened = 0
        # Closed, no failure in a full window: a success then changes nothing, so it is
        # answered without the lock. Set under the lock only; one attribute, read atomically.
        self._quiet = False

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.key!r}, state={self.state.value})"

    # -- reading ------------------------------------------------------------------------

    def _state_at(self, now: float) -> BreakerState:
        if not self._open:
            return BreakerState.CLOSED
        return BreakerState.OPEN if now < self._open_until else BreakerState.HALF_OPEN

    def _probe_free(self, now: float) -> bool:
        started = self._probe_started
        return started is None or now - started >= self.config.probe_timeout

    @property
    def state(self) -> BreakerState:
        """Closed, open, or half-open (open with the cooldown over)."""
        with self._lock:
            return self._state_at(self._clock())

    def available(self) -> bool:
        """Whether :meth:`allow` would let a call through now, without taking the probe."""
        if not self._open:  # the hot path: a closed breaker needs no lock
            return True
        with self._lock:
            now = self._clock()
            return self._state_at(now) is BreakerState.HALF_OPEN and self._probe_free(now)

    def allow(self, owner: object | None = None) -> bool:
        """Whether a call may go now; in half-open, the one caller let through is the probe.

        A caller let through must report the outcome with :meth:`record_success` or
        :meth:`record_failure` (or :meth:`release` when the call never happened).
        ``owner`` names the caller (see :meth:`release`).
        """
        taken = self.admit(owner)
        if taken != PROBE or self._probe_gate is None:
            return taken != REFUSED
        # Shared health: one probe across processes (asked outside the lock). Refused,
        # the probe is another process's: its outcome arrives as an event (or the probe
        # timeout frees it).
        return self._probe_gate(self.key)

    def admit(self, owner: object | None = None) -> int:
        """:data:`PASS` (closed), :data:`PROBE` (this caller holds the half-open probe,
        the shared claim, if any, still to ask) or :data:`REFUSED`."""
        if not self._open:
            return PASS
        with self._lock:
            now = self._clock()
            state = self._state_at(now)
            if state is BreakerState.CLOSED:
                return PASS
            if state is BreakerState.OPEN or not self._probe_free(now):
                return REFUSED
            self._probe_started = now
            self._probe_owner = owner
            return PROBE

    # -- reporting ------------------------------------------------------------------------

    def record_success(self) -> StateChange | None:
        """A call succeeded (or the deployment answered).

        In half-open this closes the breaker. While the cooldown runs a success changes
        nothing: it comes from a call that started before the breaker opened.
        """
        if self._quiet:  # a success in a quiet window is a no-op: no lock needed
            return None
        with self._lock:
            if not self._open:
                self._consecutive = 0
                self._push(False)
                outcomes = self._outcomes
                self._quiet = self._failures_in_window == 0 and len(outcomes) == outcomes.maxlen
                return None
            old = self._state_at(self._clock())
            if old is BreakerState.OPEN:
                return None
            self._close()
            return StateChange(self.key, old, BreakerState.CLOSED)

    def record_failure(
        self, error: BaseException, owner: object | None = None
    ) -> StateChange | None:
        """A call failed with ``error``; errors that do not count change nothing else
        (a probe is freed only by its ``owner``, see :meth:`release`)."""
        counts = self.config.counts_as_failure(error)
        if counts is None:
            self.release(owner)
            return None
        if not counts:
            return self.record_success()
        retry_after = retry_after_of(error)
        with self._lock:
            self._quiet = False
            now = self._clock()
            if not self._open:
                self._consecutive += 1
                self._push(True)
                if self._should_open():
                    self._trip(now, retry_after)
                    return StateChange(self.key, BreakerState.CLOSED, BreakerState.OPEN, error)
                return None
            old = self._state_at(now)
            if old is BreakerState.HALF_OPEN:
                # The probe (or a last-resort call) failed: open again for a full cooldown.
                self._trip(now, retry_after)
                return StateChange(self.key, old, BreakerState.OPEN, error)
            # Already open: a call that started earlier; only a longer Retry-After matters.
            if retry_after is not None:
                self._open_until = max(self._open_until, now + retry_after)
            return None

    def release(self, owner: object | None = None) -> bool:
        """The call let through did not reach the provider: free the probe, count nothing.

        Given an ``owner``, only the caller that holds the probe frees it (a call that is
        not the probe ends without freeing it). Returns whether a probe was freed."""
        with self._lock:
            if self._probe_started is None:
                return False
            if owner is not None and owner is not self._probe_owner:
                return False
            self._probe_started = None
            self._probe_owner = None
            return True

    # -- another process's view (shared health) -------------------------------------------

    def open_until(self, until: float) -> None:
        """Open (or keep open) until ``until`` on this breaker's clock: another process
        opened it. No state change is reported (it was reported where it happened)."""
        with self._lock:
            self._quiet = False
            if self._open:
                self._open_until = max(self._open_until, until)
            else:
                self._times_opened += 1
                self._open = True
                self._open_until = until
            self._probe_started = None
            self._probe_owner = None

    def close_remote(self) -> None:
        """Close: another process's probe succeeded."""
        with self._lock:
            if self._open:
                self._close()

    # -- internals (under the lock) -------------------------------------------------------

    def _push(self, failed: bool) -> None:
        outcomes = self._outcomes
        if len(outcomes) == outcomes.maxlen and outcomes[0]:
            self._failures_in_window -= 1
        outcomes.append(failed)
        if failed:
            self._failures_in_window += 1

    def _should_open(self) -> bool:
        config = self.config
        if self._consecutive >= config.consecutive_failures:
            return True
        calls = len(self._outcomes)
        return calls >= config.min_calls and self._failures_in_window >= config.failure_rate * calls

    def _trip(self, now: float, retry_after: float | None) -> None:
        cooldown = self.config.cooldown
        if retry_after is not None:
            cooldown = max(cooldown, retry_after)
        self._open = True
        self._open_until = now + cooldown
        self._probe_started = None
        self._times_opened += 1

    def _close(self) -> None:
        self._quiet = False
        self._open = False
        self._probe_started = None
        self._consecutive = 0
        self._outcomes.clear()
        self._failures_in_window = 0

    def snapshot(self) -> BreakerSnapshot:
        """The breaker's state and counters."""
        with self._lock:
            now = self._clock()
            state = self._state_at(now)
            return BreakerSnapshot(
                key=self.key,
                state=state,
                consecutive_failures=self._consecutive,
                calls_in_window=len(self._outcomes),
                failures_in_window=self._failures_in_window,
                open_for=max(0.0, self._open_until - now) if state is BreakerState.OPEN else 0.0,
                probe_in_flight=self._open and not self._probe_free(now),
                times_opened=self._times_opened,
            )
