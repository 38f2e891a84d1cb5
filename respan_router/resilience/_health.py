"""Deployment health: a circuit breaker per deployment.

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

:class:`HealthRegistry` holds the breakers of one router. :meth:`HealthRegistry.available`
is non-consuming (plans put the deployments that may not be called at the back);
:meth:`HealthRegistry.allow` is asked right before the call and hands out the probe; every
call that was let through must then report :meth:`~HealthRegistry.record_success` or
:meth:`~HealthRegistry.record_failure` once.
"""

from __future__ import annotations

import enum
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from respan_router.errors import ProviderError
from respan_router.resilience._strategies import retry_after_of

__all__ = [
    "BreakerConfig",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "HealthRegistry",
    "StateChange",
]

Clock = Callable[[], float]


class BreakerState(enum.StrEnum):
    """The state of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """When a breaker opens and for how long.

    Attributes:
        consecutive_failures: failures in a row that open the breaker.
        failure_rate: the share of failed calls, over the last ``window`` calls, that
            opens the breaker (once at least ``min_calls`` calls are known).
        window: how many recent calls the failure rate looks at.
        min_calls: the failure rate is not judged on fewer calls than this.
        cooldown: seconds an open breaker stays open (a longer Retry-After wins).
        probe_timeout: seconds after which a probe that never reported is forgotten and
            another probe may go.
        failure_statuses: statuses of non-retryable provider errors that count as failures
            too (401 and 403 by default: the credentials are broken for every call).
    """

    consecutive_failures: int = 5
    failure_rate: float = 0.5
    window: int = 20
    min_calls: int = 10
    cooldown: float = 30.0
    probe_timeout: float = 120.0
    failure_statuses: frozenset[int] = field(default_factory=lambda: frozenset({401, 403}))

    def __post_init__(self) -> None:
        if self.consecutive_failures < 1:
            raise ValueError("consecutive_failures must be >= 1")
        if not 0 < self.failure_rate <= 1:
            raise ValueError("failure_rate must be in (0, 1]")
        if self.window < 1:
            raise ValueError("window must be >= 1")
        if not 1 <= self.min_calls <= self.window:
            raise ValueError("min_calls must be in [1, window]")
        if self.cooldown < 0 or self.probe_timeout <= 0:
            raise ValueError("cooldown must be >= 0 and probe_timeout > 0")

    def counts_as_failure(self, error: BaseException) -> bool | None:
        """True: a health failure; False: the deployment answered; None: not its doing."""
        if not isinstance(error, ProviderError):
            return None
        status = error.status_code
        return error.retryable or status >= 500 or status in self.failure_statuses


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """One breaker at one moment, for telemetry.

    Attributes:
        key: the deployment key.
        state: closed, open or half-open (an open breaker whose cooldown is over).
        consecutive_failures: failures in a row so far.
        calls_in_window: calls the failure rate looks at.
        failures_in_window: failures among them.
        open_for: seconds until an open breaker becomes half-open (0 if not open).
        probe_in_flight: whether a half-open breaker's probe is out.
        times_opened: how often the breaker opened (or reopened) since it was made.
    """

    key: str
    state: BreakerState
    consecutive_failures: int
    calls_in_window: int
    failures_in_window: int
    open_for: float
    probe_in_flight: bool
    times_opened: int


@dataclass(frozen=True, slots=True)
class StateChange:
    """A breaker changed state (given to ``HealthRegistry(on_state_change=...)``)."""

    key: str
    old: BreakerState
    new: BreakerState
    error: BaseException | None = None


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
        self._consecutive = 0
        self._outcomes: deque[bool] = deque(maxlen=self.config.window)  # True = failure
        self._failures_in_window = 0
        self._times_opened = 0

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

    def allow(self) -> bool:
        """Whether a call may go now; in half-open, the one caller let through is the probe.

        A caller let through must report the outcome with :meth:`record_success` or
        :meth:`record_failure` (or :meth:`release` when the call never happened).
        """
        if not self._open:
            return True
        with self._lock:
            now = self._clock()
            state = self._state_at(now)
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.OPEN or not self._probe_free(now):
                return False
            self._probe_started = now
            # Shared health: one probe across processes. Refused, the probe is another
            # process's: its outcome arrives as an event (or the probe timeout frees it).
            return self._probe_gate is None or self._probe_gate(self.key)

    # -- reporting ------------------------------------------------------------------------

    def record_success(self) -> StateChange | None:
        """A call succeeded (or the deployment answered).

        In half-open this closes the breaker. While the cooldown runs a success changes
        nothing: it comes from a call that started before the breaker opened.
        """
        with self._lock:
            if not self._open:
                self._consecutive = 0
                self._push(False)
                return None
            old = self._state_at(self._clock())
            if old is BreakerState.OPEN:
                return None
            self._close()
            return StateChange(self.key, old, BreakerState.CLOSED)

    def record_failure(self, error: BaseException) -> StateChange | None:
        """A call failed with ``error``; errors that do not count change nothing else."""
        counts = self.config.counts_as_failure(error)
        if counts is None:
            self.release()
            return None
        if not counts:
            return self.record_success()
        retry_after = retry_after_of(error)
        with self._lock:
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

    def release(self) -> None:
        """The call let through did not reach the provider: free the probe, count nothing."""
        with self._lock:
            self._probe_started = None

    # -- another process's view (shared health) -------------------------------------------

    def open_until(self, until: float) -> None:
        """Open (or keep open) until ``until`` on this breaker's clock: another process
        opened it. No state change is reported (it was reported where it happened)."""
        with self._lock:
            if self._open:
                self._open_until = max(self._open_until, until)
            else:
                self._times_opened += 1
                self._open = True
                self._open_until = until
            self._probe_started = None

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


class HealthRegistry:
    """The circuit breakers of one router, made on first use per deployment key.

    Args:
        config: the configuration shared by every breaker (default :class:`BreakerConfig`).
        clock: a monotonic clock in seconds; inject one in tests.
        on_state_change: called (outside any lock) each time a breaker changes state.
        probe_gate: asked (with the key) before a half-open breaker lets its probe go;
            False means another process probes (shared health).
    """

    def __init__(
        self,
        config: BreakerConfig | None = None,
        clock: Clock = time.monotonic,
        *,
        on_state_change: Callable[[StateChange], None] | None = None,
        probe_gate: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config or BreakerConfig()
        self._clock = clock
        self._on_state_change = on_state_change
        self._probe_gate = probe_gate
        self._breakers: dict[str, CircuitBreaker] = {}
        self._create_lock = threading.Lock()

    @property
    def clock(self) -> Clock:
        """The monotonic clock the breakers' cooldowns are measured on."""
        return self._clock

    def breaker(self, key: str) -> CircuitBreaker:
        """The breaker of ``key``, made if needed."""
        breaker = self._breakers.get(key)
        if breaker is None:
            with self._create_lock:
                breaker = self._breakers.get(key)
                if breaker is None:
                    breaker = CircuitBreaker(key, self.config, self._clock, self._probe_gate)
                    self._breakers[key] = breaker
        return breaker

    def allow(self, key: str) -> bool:
        """Whether a call to ``key`` may go now (takes the probe of a half-open breaker)."""
        breaker = self._breakers.get(key)
        return True if breaker is None else breaker.allow()

    def available(self, key: str) -> bool:
        """Whether ``key`` would be allowed now, without taking a probe."""
        breaker = self._breakers.get(key)
        return True if breaker is None else breaker.available()

    def record_success(self, key: str) -> None:
        """A call to ``key`` succeeded."""
        self._notify(self.breaker(key).record_success())

    def record_failure(self, key: str, error: BaseException) -> None:
        """A call to ``key`` failed with ``error`` (only provider failures count)."""
        counts = self.config.counts_as_failure(error)
        if counts is None:
            self.release(key)
        elif not counts:
            self.record_success(key)
        else:
            self._notify(self.breaker(key).record_failure(error))

    def release(self, key: str) -> None:
        """A call let through by :meth:`allow` never reached the provider."""
        breaker = self._breakers.get(key)
        if breaker is not None:
            breaker.release()

    def snapshot(self) -> Mapping[str, BreakerSnapshot]:
        """A snapshot of every breaker, by key."""
        return {key: breaker.snapshot() for key, breaker in list(self._breakers.items())}

    def _notify(self, change: StateChange | None) -> None:
        if change is not None and self._on_state_change is not None:
            self._on_state_change(change)
