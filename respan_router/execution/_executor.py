"""Stage 6: walk the plan's attempts with retries, breakers and a deadline.

For each candidate in order: retry it per the request's :class:`RetryPolicy` (tenacity),
then, on a provider error, fall back to the next. Candidates whose circuit breaker is open
go last and get a single try each: a call never fails only because breakers are open.

What one try does is the caller's ``send``: it takes the attempt's
:class:`~respan_router.providers.ProviderCall` and returns the result (a completion, or
an opened stream's first chunk). Everything around it -- counting tries, breakers,
latency, the retry budget, waits and failures -- is this module's bookkeeping, shared by
:meth:`Executor.run` and :meth:`Executor.arun`, which differ only in awaiting ``send``
and the sleep between tries.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

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
from respan_router.resilience import HealthRegistry, RetryBudget, RetryPolicy
from respan_router.routing import Attempt, LatencyTracker

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = ["AsyncSend", "Executor", "Send"]

T = TypeVar("T")

#: One try of one candidate: the provider call in, the result out (or a ProviderError).
Send = Callable[[ProviderCall], T]
#: The async twin of :data:`Send`.
AsyncSend = Callable[[ProviderCall], Awaitable[T]]


@dataclass(slots=True)
class _Candidate:
    """One attempt of the plan as the walk tries it."""

    attempt: Attempt
    key: str  # its circuit-breaker key; "" when breakers are off
    last_resort: bool  # its breaker is open: one try, after every other candidate
    record: AttemptRecord


class Executor:
    """Runs a plan, sync and async; owns every per-try bookkeeping.

    Args:
        default_timeout: seconds one attempt may take when the request gives none.
        default_total_timeout: seconds a whole call may take when the request gives none.
        default_retry: the policy of requests that give no ``retry_params``/``retries``.
        health: the Router's circuit breakers, or None.
        budget: the Router's retry budget, or None.
        sleep: how sync retries wait (default: tenacity's, :func:`time.sleep`).
        async_sleep: how async retries wait (default: :func:`asyncio.sleep`).
        clock: the monotonic clock of deadlines.
        latency: observed latencies of successful tries (for ``fastest``).
    """

    def __init__(
        self,
        *,
        default_timeout: float | None = None,
        default_total_timeout: float | None = None,
        default_retry: RetryPolicy | None = None,
        health: HealthRegistry | None = None,
        budget: RetryBudget | None = None,
        sleep: Callable[[float], None] | None = None,
        async_sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        latency: LatencyTracker | None = None,
    ) -> None:
        self.latency = latency if latency is not None else LatencyTracker()
        self.health = health
        self.budget = budget
        self._default_timeout = default_timeout
        self._default_total = default_total_timeout
        self._default_retry = default_retry or RetryPolicy()
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._clock = clock

    def run(
        self,
        request: ChatRequest,
        attempts: Sequence[Attempt],
        record: CallRecord,
        send: Send[T],
    ) -> T:
        """Try each candidate (with its retries) until one succeeds.

        Raises:
            ProviderError: the single candidate's error, or
            AllAttemptsFailedError: every candidate's, when there were several.
        """
        walk = _Walk(self, request, record)
        for candidate in walk.candidates(attempts):

            def once(candidate: _Candidate = candidate) -> T:
                call, started = walk.begin(candidate)
                try:
                    result = send(call)
                except BaseException as exc:
                    walk.end(candidate, call, exc, started)
                    raise
                walk.end(candidate, call, None, started)
                return result

            try:
                if walk.single_try(candidate):
                    result = once()
                else:
                    retrying = walk.policy.retrying(
                        sleep=self._sleep,
                        before_sleep=_on_wait(candidate.record),
                        deadline=walk.deadline,
                        budget=self.budget,
                        clock=self._clock,
                    )
                    result = retrying(once)
            except ProviderError as exc:
                walk.failed(candidate, exc)
                continue
            candidate.record.finish()
            return result
        raise walk.give_up()

    async def arun(
        self,
        request: ChatRequest,
        attempts: Sequence[Attempt],
        record: CallRecord,
        send: AsyncSend[T],
    ) -> T:
        """The async twin of :meth:`run`."""
        walk = _Walk(self, request, record)
        for candidate in walk.candidates(attempts):

            async def once(candidate: _Candidate = candidate) -> T:
                call, started = walk.begin(candidate)
                try:
                    result = await send(call)
                except BaseException as exc:
                    walk.end(candidate, call, exc, started)
                    raise
                walk.end(candidate, call, None, started)
                return result

            try:
                if walk.single_try(candidate):
                    result = await once()
                else:
                    retrying = walk.policy.async_retrying(
                        sleep=self._async_sleep,
                        before_sleep=_on_wait(candidate.record),
                        deadline=walk.deadline,
                        budget=self.budget,
                        clock=self._clock,
                    )
                    result = await retrying(once)
            except ProviderError as exc:
                walk.failed(candidate, exc)
                continue
            candidate.record.finish()
            return result
        raise walk.give_up()

    # -- decisions of one call -------------------------------------------------------
    def policy(self, request: ChatRequest) -> RetryPolicy:
        """The retry policy of a request: its own, else the Router's default."""
        respan = request.respan
        if respan.retry_params is None and respan.retries is None:
            return self._default_retry
        backoff = self._default_retry.backoff  # the Router's retry_backoff
        return RetryPolicy.from_params(respan.retry_params, respan.retries, backoff=backoff)

    def deadline(self, request: ChatRequest) -> float | None:
        """The call's absolute deadline on the executor's clock, or None."""
        total = request.respan.total_timeout or self._default_total
        if total is None:
            return None
        # A prompt's render ran before the walk: its time counts against the call too.
        rendered = request.prompt.render_seconds if request.prompt is not None else 0.0
        return self._clock() + total - rendered


class _Walk:
    """The bookkeeping of one call's walk through its plan (no I/O)."""

    __slots__ = ("_ex", "deadline", "failures", "policy", "record", "request")

    def __init__(self, executor: Executor, request: ChatRequest, record: CallRecord) -> None:
        self._ex = executor
        self.request = request
        self.record = record
        self.policy = executor.policy(request)
        self.deadline = executor.deadline(request)
        self.failures: list[AttemptFailure] = []

    def candidates(self, attempts: Sequence[Attempt]) -> Iterator[_Candidate]:
        """The candidates in the order to try them, until the deadline passes.

        Those whose breaker lets them through come first, in plan order; the others
        follow as last resorts, in plan order too. This is the one place where health
        orders a plan.
        """
        health = self._ex.health
        deferred: list[tuple[Attempt, str]] = []
        for attempt in attempts:
            key = attempt.health_key if health is not None else ""
            if health is None or health.allow(key):
                if self._expired():
                    if key:
                        health.release(key)  # type: ignore[union-attr]  # key implies health
                    return
                yield self._start(attempt, key, False)
            else:
                deferred.append((attempt, key))
        for attempt, key in deferred:
            if self._expired():
                return
            yield self._start(attempt, key, True)

    def _start(self, attempt: Attempt, key: str, last_resort: bool) -> _Candidate:
        arec = AttemptRecord(
            attempt.model,
            attempt.provider,
            attempt.litellm_model,
            attempt.credential_source,
            pricing_model=attempt.pricing_model,
        )
        self.record.attempts.append(arec)
        return _Candidate(attempt, key, last_resort, arec)

    def _expired(self) -> bool:
        return self.deadline is not None and self._ex._clock() >= self.deadline

    def single_try(self, candidate: _Candidate) -> bool:
        """No retry can follow this candidate's first try (tenacity is not needed)."""
        return candidate.last_resort or self.policy.max_attempts == 1

    # -- one try ---------------------------------------------------------------------
    def begin(self, candidate: _Candidate) -> tuple[ProviderCall, float]:
        """A try starts: counted on the attempt's record, and a candidate's first try as
        one request for the retry budget (this is the one place that counts them; the
        retry policy's stop asks the budget for each retry). Returns its call."""
        candidate.record.tries += 1
        if candidate.record.tries == 1 and self._ex.budget is not None:
            self._ex.budget.record_request()
        return self._call_for(candidate.attempt), time.perf_counter()

    def end(
        self,
        candidate: _Candidate,
        call: ProviderCall,
        error: BaseException | None,
        started: float,
    ) -> None:
        """A try ended: its outcome goes to the breakers and, on success, its latency;
        the dispatch path the provider took goes on the attempt's record."""
        candidate.record.dispatch_path = call.dispatch_path
        if error is None:
            self._ex.latency.observe(candidate.record.model, time.perf_counter() - started)
        health, key = self._ex.health, candidate.key
        if health is None or not key:
            return
        if error is None:
            health.record_success(key)
        else:
            health.record_failure(key, error)

    def _call_for(self, attempt: Attempt) -> ProviderCall:
        request = self.request
        params = request.params
        if request.headers:
            params = {**params, "extra_headers": request.headers}
        timeout = request.timeout if request.timeout is not None else self._ex._default_timeout
        if self.deadline is not None:
            remaining = self.deadline - self._ex._clock()
            timeout = remaining if timeout is None else min(timeout, remaining)
        return ProviderCall(
            model=attempt.model,
            litellm_model=attempt.litellm_model,
            provider=attempt.provider,
            messages=request.messages,
            params=params,
            credentials=attempt.credentials,
            credential_source=attempt.credential_source,
            timeout=timeout,
        )

    # -- outcomes ----------------------------------------------------------------------
    def failed(self, candidate: _Candidate, error: ProviderError) -> None:
        arec = candidate.record
        arec.finish(error)
        attempt = candidate.attempt
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


def _on_wait(arec: AttemptRecord) -> Callable[[RetryCallState], None]:
    """tenacity's ``before_sleep``: the wait goes on the attempt's record (a span event)."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        arec.waits.append(
            RetryWait(
                at_ns=time.time_ns(),
                seconds=float(state.upcoming_sleep),
                try_number=state.attempt_number,
                error_type=type(error).__name__,
            )
        )

    return before_sleep
