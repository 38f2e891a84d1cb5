"""Deployment health: the circuit breakers of one router, one per deployment.

:class:`HealthRegistry` holds the breakers of one router. :meth:`HealthRegistry.available`
is non-consuming (plans put the deployments that may not be called at the back);
:meth:`HealthRegistry.allow` is asked right before the call and hands out the probe; every
call that was let through must then report :meth:`~HealthRegistry.record_success` or
:meth:`~HealthRegistry.record_failure` once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from respan_router.resilience._breaker import PASS, CircuitBreaker
from respan_router.resilience._breaker_config import (
    BreakerConfig,
    BreakerSnapshot,
    Clock,
    StateChange,
)

__all__ = ["HealthRegistry"]


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

    def allow(self, key: str, owner: object | None = None) -> bool:
        """Whether a call to ``key`` may go now (takes the probe of a half-open breaker)."""
        breaker = self._breakers.get(key)
        return True if breaker is None else breaker.allow(owner)

    def admit(self, key: str, owner: object) -> int:
        """As :meth:`allow`, without asking the shared probe claim: ``PASS``, ``PROBE``
        (ask :meth:`claim` / :meth:`aclaim` before sending) or ``REFUSED``."""
        breaker = self._breakers.get(key)
        return PASS if breaker is None else breaker.admit(owner)

    def claim(self, key: str) -> bool:
        """Whether this process may send the probe it took (shared health: one probe
        across processes; True without one)."""
        return self._probe_gate is None or self._probe_gate(key)

    async def aclaim(self, key: str) -> bool:
        return self.claim(key)

    def available(self, key: str) -> bool:
        """Whether ``key`` would be allowed now, without taking a probe."""
        breaker = self._breakers.get(key)
        return True if breaker is None else breaker.available()

    def record_success(self, key: str) -> None:
        """A call to ``key`` succeeded."""
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self.breaker(key)
        change = breaker.record_success()
        if change is not None:
            self._notify(change)

    def record_failure(self, key: str, error: BaseException, owner: object | None = None) -> None:
        """A call to ``key`` failed with ``error`` (only provider failures count)."""
        counts = self.config.counts_as_failure(error)
        if counts is None:
            self.release(key, owner)
        elif not counts:
            self.record_success(key)
        else:
            self._notify(self.breaker(key).record_failure(error))

    def release(self, key: str, owner: object | None = None) -> bool:
        """A call let through by :meth:`allow` never reached the provider (or was
        cancelled): its probe, if it holds it, is free again. Returns whether it was."""
        breaker = self._breakers.get(key)
        return breaker is not None and breaker.release(owner)

    def snapshot(self) -> Mapping[str, BreakerSnapshot]:
        """A snapshot of every breaker, by key."""
        return {key: breaker.snapshot() for key, breaker in list(self._breakers.items())}

    def _notify(self, change: StateChange | None) -> None:
        if change is not None and self._on_state_change is not None:
            self._on_state_change(change)
