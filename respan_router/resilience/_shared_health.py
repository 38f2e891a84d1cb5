"""Deployment health shared by processes: each one's breakers, told what the others see.

Every process keeps its own :class:`~respan_router.resilience.HealthRegistry` (the local
view, read on every call without any I/O). A :class:`HealthStore` (the health bus this
stage needs; the Redis one lives in the Redis adapter) carries events between processes:

- ``failure``: a counted provider failure; the other processes count it in their breaker
  of that deployment too (so N processes trip on the failures of all of them);
- ``open``: a breaker opened, until a wall-clock time; the others open theirs until then;
- ``close``: a probe succeeded; the others close theirs.

Half-open probes are not duplicated: the process whose breaker would let its probe go
first claims the deployment's probe in the store; the others keep waiting for its outcome
(an ``open`` or ``close`` event) or for ``probe_timeout``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from respan_router.errors import ProviderError
from respan_router.resilience._breaker_config import BreakerConfig, BreakerState, StateChange
from respan_router.resilience._health import HealthRegistry

__all__ = ["HealthEvent", "HealthStore", "SharedHealthRegistry", "share_health"]

Kind = Literal["failure", "open", "close", "release"]  # release: never sent to others


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """One change of a deployment's health, as another process should apply it.

    ``until`` (epoch seconds) is when an ``open`` breaker's cooldown ends.
    """

    kind: Kind
    key: str
    origin: str
    until: float = 0.0


class HealthStore(Protocol):
    """Carries health events between processes (the shared half of deployment health)."""

    origin: str  # this process's (this registry's) id: its own events are not applied

    def publish(self, event: HealthEvent) -> None:
        """Send ``event`` to the other processes; never blocks the caller."""
        ...

    def claim_probe(self, key: str, ttl: float) -> bool:
        """Whether this process may send the half-open probe of ``key`` (held ``ttl`` s)."""
        ...

    def open_breakers(self) -> list[HealthEvent]:
        """The breakers open now in the other processes (one read, no wait past the
        store's timeout; empty when the store cannot answer)."""
        ...

    async def aclaim_probe(self, key: str, ttl: float) -> bool:
        """:meth:`claim_probe`, awaited (the event loop never waits on the store)."""
        ...

    def release_probe(self, key: str) -> None:
        """Give up this process's claim of ``key``'s probe (its probe never went, or was
        cancelled); never blocks the caller."""
        ...

    def listen(self, apply: Callable[[HealthEvent], None]) -> None:
        """Start delivering the other processes' events (and the open breakers) to ``apply``."""
        ...

    def stop(self) -> None:
        """Ask the carrier to stop, without waiting for it."""
        ...

    def close(self) -> None: ...


class _Failure(ProviderError):
    """Another process's counted failure, replayed into this process's breaker."""

    default_status = 503


def share_health(registry: HealthRegistry, store: HealthStore, origin: str) -> None:
    """Connect ``registry`` to ``store``: its state changes and failures go out, the
    others' come in (applied without reporting them as this process's changes)."""
    ref = weakref.ref(registry)
    clock_offset = time.time() - registry.clock()
    first = store.origin

    def apply(event: HealthEvent) -> None:
        target = ref()
        own = store.origin if origin == first else origin  # a forked child has its own
        if target is None or event.origin == own:
            return
        breaker = target.breaker(event.key)
        if event.kind == "failure":
            breaker.record_failure(_Failure("failure seen by another process"))
        elif event.kind == "open":
            breaker.open_until(event.until - clock_offset)
        elif event.kind == "close":
            breaker.close_remote()

    for event in store.open_breakers():  # before the first call, not when a thread runs
        apply(event)
    store.listen(apply)


class SharedHealthRegistry(HealthRegistry):
    """A :class:`HealthRegistry` whose failures, opens and closes reach other processes
    through ``store``, and whose half-open probes are claimed in it.

    Args:
        store: the events' carrier (the Redis adapter's ``RedisHealthStore``).
        config, clock, on_state_change: as for :class:`HealthRegistry`.
    """

    def __init__(
        self,
        store: HealthStore,
        config: BreakerConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        on_state_change: Callable[[StateChange], None] | None = None,
    ) -> None:
        super().__init__(config, clock, on_state_change=self._changed, probe_gate=self._claim)
        self.store = store
        self._then = on_state_change
        share_health(self, store, store.origin)
        # A Router dropped without close(): its threads stop with it.
        weakref.finalize(self, store.stop)

    def _claim(self, key: str) -> bool:
        return self.store.claim_probe(key, self.config.probe_timeout)

    async def aclaim(self, key: str) -> bool:
        return await self.store.aclaim_probe(key, self.config.probe_timeout)

    def release(self, key: str, owner: object | None = None) -> bool:
        freed = super().release(key, owner)
        if freed:  # the shared claim goes too: another process may probe at once
            self.store.release_probe(key)
        return freed

    def _changed(self, change: StateChange) -> None:
        store = self.store
        if change.new is BreakerState.OPEN:
            cooldown = self.breaker(change.key).snapshot().open_for
            store.publish(HealthEvent("open", change.key, store.origin, time.time() + cooldown))
        elif change.new is BreakerState.CLOSED:
            store.publish(HealthEvent("close", change.key, store.origin))
        if self._then is not None:
            self._then(change)

    def record_failure(self, key: str, error: BaseException, owner: object | None = None) -> None:
        super().record_failure(key, error, owner)
        if self.config.counts_as_failure(error):
            self.store.publish(HealthEvent("failure", key, self.store.origin))

    def close(self) -> None:
        """Stop sharing (the store's threads)."""
        self.store.close()
