"""The bookkeeping of one call's walk through its plan, with no I/O (a sans-I/O core).

:class:`Walk` orders the candidates (breakers), counts tries, builds each try's
:class:`~respan_router.providers.ProviderCall`, reports outcomes to the breakers and the
latency tracker, and decides the call's error; ``_walk_async`` (and its generated sync
form ``_walk_sync``) only sends and waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from respan_router.errors import (
    AllAttemptsFailedError,
    AttemptFailure,
    ProviderError,
    ProviderTimeoutError,
    RouterError,
)
from respan_router.execution._record import AttemptRecord, CallRecord, RetryWait
from respan_router.providers import ProviderCall
from respan_router.request import ChatRequest
from respan_router.resilience import PASS, PROBE, REFUSED, HealthRegistry, RetryBudget, RetryPolicy
from respan_router.routing import Attempt, LatencyTracker

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["Candidate", "Walk", "WalkSettings", "on_wait"]


class WalkSettings(Protocol):
    """What a walk reads of its executor."""

    @property
    def health(self) -> HealthRegistry | None: ...
    @property
    def budget(self) -> RetryBudget | None: ...
    @property
    def latency(self) -> LatencyTracker: ...
    @property
    def default_timeout(self) -> float | None: ...
    @property
    def clock(self) -> Callable[[], float]: ...


@dataclass(slots=True)
class Candidate:
    """One attempt of the plan as the walk tries it."""

    attempt: Attempt
    key: str  # its circuit-breaker key; "" when breakers are off
    last_resort: bool  # its breaker is open: one try, after every other candidate
    record: AttemptRecord
    owner: object  # names this candidate to its breaker (only the probe's owner frees it;
    # None without breakers)
    claim: bool = False  # it holds its half-open probe: the shared claim is still to ask


class Walk:
    """The bookkeeping of one call's walk through its plan (no I/O)."""

    __slots__ = (
        "_at", "_ex", "_later", "deadline", "failures", "health", "policy", "record", "request",
    )  # fmt: skip

    def __init__(
        self,
        executor: WalkSettings,
        request: ChatRequest,
        record: CallRecord,
        policy: RetryPolicy,
        deadline: float | None,
    ) -> None:
        self._ex = executor
        self.health = executor.health
        self.request = request
        self.record = record
        self.policy = policy
        self.deadline = deadline
        # Made on first use: a call in flight keeps no empty lists alive (each is one
        # more object for the garbage collector to promote while 1,000 calls wait).
        self.failures: list[AttemptFailure] | None = None
        self._later: list[tuple[Attempt, str]] | None = None  # last resorts, tried last
        self._at = 0  # the next candidate: an index into the plan, then into the last resorts

    def next_candidate(self, attempts: Sequence[Attempt]) -> Candidate | None:
        """The next candidate to try, or None when there is none left or the deadline has
        passed (the walk is over: ask no more).

        Those whose breaker lets them through come first, in plan order; the others
        follow as last resorts, in plan order too. This is the one place where health
        orders a plan. (A cursor, not a generator: no generator and list iterator stay
        alive per call in flight.)
        """
        health = self.health
        deadline = self.deadline
        planned = len(attempts)
        while self._at < planned:
            attempt = attempts[self._at]
            self._at += 1
            if health is None:
                key, owner, taken = "", None, PASS
            else:
                key, owner = attempt.health_key, object()
                taken = health.admit(key, owner)
                if taken == REFUSED:
                    self._defer(attempt, key)
                    continue
            if deadline is not None and self._ex.clock() >= deadline:
                if key:
                    health.release(key, owner)  # type: ignore[union-attr]  # key implies health
                return None
            return self._start(attempt, key, False, owner, taken == PROBE)
        later, at = self._later, self._at - planned
        if later is None or at >= len(later):
            return None
        if deadline is not None and self._ex.clock() >= deadline:
            return None
        self._at += 1
        attempt, key = later[at]
        return self._start(attempt, key, True, object(), False)

    def claim_refused(self, candidate: Candidate) -> None:
        """Another process sends this candidate's probe: it goes to the last resorts
        (its breaker keeps its probe taken until that probe's outcome or timeout)."""
        self.record.attempts.remove(candidate.record)
        self._defer(candidate.attempt, candidate.key)

    def _defer(self, attempt: Attempt, key: str) -> None:
        if self._later is None:
            self._later = []
        self._later.append((attempt, key))

    def _start(
        self, attempt: Attempt, key: str, last_resort: bool, owner: object, claim: bool
    ) -> Candidate:
        arec = AttemptRecord(  # model, provider, litellm_model, credential_source,
            # start_ns, end_ns, tries, waits, error, outcome, pricing_model: positional
            attempt.model,
            attempt.provider,
            attempt.litellm_model,
            attempt.credential_source,
            time.time_ns(),
            0,
            0,
            (),
            None,
            "pending",
            attempt.pricing_model,
        )
        self.record.attempts.append(arec)
        return Candidate(attempt, key, last_resort, arec, owner, claim)

    def single_try(self, candidate: Candidate) -> bool:
        """No retry can follow this candidate's first try (tenacity is not needed)."""
        return candidate.last_resort or self.policy.max_attempts == 1

    # -- one try ---------------------------------------------------------------------
    def begin(self, candidate: Candidate) -> tuple[ProviderCall, float]:
        """A try starts: counted on the attempt's record, and a candidate's first try as
        one request for the retry budget (this is the one place that counts them; the
        retry policy's stop asks the budget for each retry). Returns its call."""
        arec = candidate.record
        arec.tries += 1
        if arec.tries == 1 and self._ex.budget is not None:
            self._ex.budget.record_request()
        # The try's provider call (built here, once per try: its timeout is what remains).
        attempt, request = candidate.attempt, self.request
        params = request.params
        if request.headers:
            params = {**params, "extra_headers": request.headers}
        timeout = request.timeout if request.timeout is not None else self._ex.default_timeout
        if self.deadline is not None:
            remaining = self.deadline - self._ex.clock()
            timeout = remaining if timeout is None else min(timeout, remaining)
        call = ProviderCall(  # model, litellm_model, provider, messages, params,
            # credentials, credential_source, timeout
            attempt.model,
            attempt.litellm_model,
            attempt.provider,
            request.messages,
            params,
            attempt.credentials,
            attempt.credential_source,
            timeout,
        )
        return call, time.perf_counter()

    def end(
        self,
        candidate: Candidate,
        call: ProviderCall,
        error: BaseException | None,
        started: float,
    ) -> None:
        """A try ended: its outcome goes to the breakers and, on success, its latency;
        the dispatch path the provider took goes on the attempt's record."""
        candidate.record.dispatch_path = call.dispatch_path
        if error is None:
            self._ex.latency.observe(candidate.record.model, time.perf_counter() - started)
        health, key = self.health, candidate.key
        if health is None or not key:
            return
        if error is None:
            health.record_success(key)
        else:
            health.record_failure(key, error, candidate.owner)

    # -- outcomes ----------------------------------------------------------------------
    def failed(self, candidate: Candidate, error: ProviderError) -> None:
        arec = candidate.record
        arec.finish(error)
        attempt = candidate.attempt
        if self.failures is None:
            self.failures = []
        self.failures.append(
            AttemptFailure(
                attempt.model,
                attempt.provider,
                error,
                attempt.credential_source,
                tries=arec.tries,
                waits=tuple(w.seconds for w in arec.waits),
            )
        )

    def give_up(self) -> RouterError:
        """The single attempt's own error, or every attempt's when there were several."""
        failures = self.failures
        if not failures:
            return ProviderTimeoutError(
                "the call's total_timeout passed before any attempt could be made"
            )
        if len(failures) == 1:
            return failures[0].error
        error = AllAttemptsFailedError(failures)
        error.__cause__ = failures[-1].error
        return error


def on_wait(arec: AttemptRecord) -> Callable[[RetryCallState], None]:
    """tenacity's ``before_sleep``: the wait goes on the attempt's record (a span event)."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = RetryWait(
            at_ns=time.time_ns(),
            seconds=float(state.upcoming_sleep),
            try_number=state.attempt_number,
            error_type=type(error).__name__,
        )
        arec.waits = (*arec.waits, wait)

    return before_sleep
