"""What a deployment's circuit breaker is made of: its states, its configuration, a
snapshot of it and a change of its state (the breaker itself: ``_breaker``)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from respan_router.errors import ProviderError

__all__ = ["BreakerConfig", "BreakerSnapshot", "BreakerState", "Clock", "StateChange"]

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
