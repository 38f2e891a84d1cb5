"""Stage 6: walk the plan's attempts with retries, breakers and a deadline.

For each candidate in order: retry it per the request's :class:`RetryPolicy` (tenacity),
then, on a provider error, fall back to the next. Candidates whose circuit breaker is open
go last and get a single try each: a call never fails only because breakers are open.
Only this module (and the providers) does I/O, once for sync and once for async; every
decision the two share lives in :class:`_ExecutorBase`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from respan_router.errors import (
    AllAttemptsFailedError,
    AttemptFailure,
    ProviderError,
    ProviderTimeoutError,
    RouterError,
)
from respan_router.execution._record import AttemptRecord, CallRecord, RetryWait
from respan_router.providers.base import Provider, ProviderCall
from respan_router.request._request import ChatRequest
from respan_router.resilience._budget import RetryBudget
from respan_router.resilience._health import HealthRegistry
from respan_router.resilience._retry import RetryPolicy
from respan_router.responses import ChatCompletion
from respan_router.routing._plan import Attempt
from respan_router.routing._selection import LatencyTracker

if TYPE_CHECKING:  # tenacity itself is imported on the first retry
    from tenacity import RetryCallState

__all__ = ["Executor", "health_key"]

T = TypeVar("T")


def health_key(attempt: Attempt) -> str:
    """The circuit-breaker key of an attempt (see :class:`~respan_router.plan.Attempt`)."""
    return attempt.health_key


class _ExecutorBase:
    def __init__(
        self,
        provider: Provider,
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
        self.provider = provider
        self.latency = latency if latency is not None else LatencyTracker()
        self.health = health
        self.budget = budget
        self._default_timeout = default_timeout
        self._default_total = default_total_timeout
        self._default_retry = default_retry or RetryPolicy()
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._clock = clock

    # -- decisions shared by sync and async ------------------------------------------------
    def policy(self, request: ChatRequest) -> RetryPolicy:
        respan = request.respan
        if respan.retry_params is None and respan.retries is None:
            return self._default_retry
        return RetryPolicy.from_params(respan.retry_params, respan.retries)

    def deadline(self, request: ChatRequest) -> float | None:
        total = request.respan.total_timeout or self._default_total
        return None if total is None else self._clock() + total

    def _ordered(self, attempts: Sequence[Attempt]) -> Iterator[tuple[Attempt, str, bool]]:
        """(attempt, breaker key, last resort?) in the order to try them.

        Candidates whose breaker lets them through come first, in plan order; the others
        follow as last resorts, in plan order too.
        """
        if self.health is None:
            for attempt in attempts:
                yield attempt, "", False
            return
        deferred: list[tuple[Attempt, str]] = []
        for attempt in attempts:
            key = attempt.health_key
            if self.health.allow(key):
                yield attempt, key, False
            else:
                deferred.append((attempt, key))
        for attempt, key in deferred:
            yield attempt, key, True

    def _remaining(self, deadline: float | None) -> float | None:
        return None if deadline is None else deadline - self._clock()

    def _call_for(
        self, attempt: Attempt, request: ChatRequest, deadline: float | None
    ) -> ProviderCall:
        params = request.params
        if request.headers:
            params = {**params, "extra_headers": request.headers}
        timeout = request.timeout if request.timeout is not None else self._default_timeout
        remaining = self._remaining(deadline)
        if remaining is not None:
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

    @staticmethod
    def _start(attempt: Attempt, record: CallRecord) -> AttemptRecord:
        arec = AttemptRecord(
            attempt.model,
            attempt.provider,
            attempt.litellm_model,
            attempt.credential_source,
            pricing_model=attempt.pricing_model,
        )
        record.attempts.append(arec)
        return arec

    @staticmethod
    def _on_wait(arec: AttemptRecord) -> Callable[[RetryCallState], None]:
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

    def _retrying_kwargs(self, arec: AttemptRecord, deadline: float | None) -> dict[str, Any]:
        return {
            "before_sleep": self._on_wait(arec),
            "deadline": deadline,
            "budget": self.budget,
            "clock": self._clock,
        }

    def _begin_try(self, arec: AttemptRecord) -> float:
        """Count a try; returns its start (perf counter) for :meth:`_end_try`."""
        arec.tries += 1
        return time.perf_counter()

    def _end_try(
        self, key: str, error: BaseException | None, arec: AttemptRecord, started: float
    ) -> None:
        """Report a try's outcome to the breakers and, on success, its latency."""
        if error is None:
            self.latency.observe(arec.model, time.perf_counter() - started)
        if self.health is None or not key:
            return
        if error is None:
            self.health.record_success(key)
        else:
            self.health.record_failure(key, error)

    def _first_try_done(self, policy: RetryPolicy, last_resort: bool, error: Any) -> bool:
        """After a candidate's first try (made without tenacity): is that the end of it?

        Yes when it succeeded (``error`` is None), or when no retry could follow (a
        single-try candidate, a non-retryable error). Then the try is counted as one
        request for the retry budget here. Otherwise tenacity takes over, replaying this
        failure as its first attempt (its own hook counts the request then).
        """
        if (
            error is None
            or last_resort
            or policy.max_attempts == 1
            or not isinstance(error, ProviderError)
            or not error.retryable
        ):
            if self.budget is not None:
                self.budget.record_request()
            return True
        return False

    @staticmethod
    def _failed(
        attempt: Attempt,
        arec: AttemptRecord,
        error: ProviderError,
        failures: list[AttemptFailure],
    ) -> None:
        arec.finish(error)
        failures.append(
            AttemptFailure(
                attempt.model,
                attempt.provider,
                error,
                attempt.credential_source,
                tries=arec.tries,
                waits=tuple(w.seconds for w in arec.waits),
            )
        )

    def _give_up(self, failures: list[AttemptFailure], deadline: float | None) -> RouterError:
        """The single attempt's own error, or every attempt's when there were several."""
        if not failures:
            return ProviderTimeoutError(
                "the call's total_timeout passed before any attempt could be made"
            )
        if len(failures) == 1:
            return failures[0].error
        error = AllAttemptsFailedError(failures)
        error.__cause__ = failures[-1].error
        return error

    def _expired(self, deadline: float | None) -> bool:
        return deadline is not None and self._clock() >= deadline

    def _release(self, key: str, last_resort: bool) -> None:
        """Hand back a breaker's probe that was granted but will not be used."""
        if key and not last_resort and self.health is not None:
            self.health.release(key)


Once = Callable[[Attempt, ChatRequest, "float | None", str, AttemptRecord], T]
AsyncOnce = Callable[[Attempt, ChatRequest, "float | None", str, AttemptRecord], Awaitable[T]]


class _Replay(Generic[T]):
    """A candidate's try function for tenacity whose first call re-raises the failure of
    the try already made outside tenacity; later calls make real tries."""

    __slots__ = ("_first", "_once")

    def __init__(self, first: BaseException, once: Once[T]) -> None:
        self._first: BaseException | None = first
        self._once = once

    def __call__(self, *args: Any) -> T:
        if self._first is not None:
            first, self._first = self._first, None
            raise first
        return self._once(*args)


class _AsyncReplay(Generic[T]):
    """The async twin of :class:`_Replay`."""

    __slots__ = ("_first", "_once")

    def __init__(self, first: BaseException, once: AsyncOnce[T]) -> None:
        self._first: BaseException | None = first
        self._once = once

    async def __call__(self, *args: Any) -> T:
        if self._first is not None:
            first, self._first = self._first, None
            raise first
        return await self._once(*args)


class Executor(_ExecutorBase):
    """Runs a plan against a provider, sync and async.

    :meth:`walk` / :meth:`awalk` are the fallback loop; what one try of one candidate
    does is the ``once`` function: a completion (:meth:`run`) or opening a stream up to
    its first chunk (see :mod:`respan_router.execution._streams`).
    """

    def _once(
        self,
        attempt: Attempt,
        request: ChatRequest,
        deadline: float | None,
        key: str,
        arec: AttemptRecord,
    ) -> ChatCompletion:
        started = self._begin_try(arec)
        try:
            response = self.provider.complete(self._call_for(attempt, request, deadline))
        except BaseException as exc:
            self._end_try(key, exc, arec, started)
            raise
        self._end_try(key, None, arec, started)
        return response

    async def _aonce(
        self,
        attempt: Attempt,
        request: ChatRequest,
        deadline: float | None,
        key: str,
        arec: AttemptRecord,
    ) -> ChatCompletion:
        started = self._begin_try(arec)
        try:
            response = await self.provider.acomplete(self._call_for(attempt, request, deadline))
        except BaseException as exc:
            self._end_try(key, exc, arec, started)
            raise
        self._end_try(key, None, arec, started)
        return response

    def run(
        self, request: ChatRequest, attempts: Sequence[Attempt], record: CallRecord
    ) -> ChatCompletion:
        return self.walk(request, attempts, record, self._once)

    async def arun(
        self, request: ChatRequest, attempts: Sequence[Attempt], record: CallRecord
    ) -> ChatCompletion:
        return await self.awalk(request, attempts, record, self._aonce)

    def walk(
        self,
        request: ChatRequest,
        attempts: Sequence[Attempt],
        record: CallRecord,
        once: Once[T],
    ) -> T:
        """Try each candidate (with its retries) until one succeeds."""
        policy, deadline = self.policy(request), self.deadline(request)
        failures: list[AttemptFailure] = []
        for attempt, key, last_resort in self._ordered(attempts):
            if self._expired(deadline):
                self._release(key, last_resort)
                break
            arec = self._start(attempt, record)
            try:
                try:
                    result = once(attempt, request, deadline, key, arec)
                except ProviderError as first:
                    if self._first_try_done(policy, last_resort, first):
                        raise
                    retrying = policy.retrying(
                        sleep=self._sleep, **self._retrying_kwargs(arec, deadline)
                    )
                    result = retrying(_Replay(first, once), attempt, request, deadline, key, arec)
                else:
                    self._first_try_done(policy, last_resort, None)
            except ProviderError as exc:
                self._failed(attempt, arec, exc, failures)
                continue
            arec.finish()
            return result
        raise self._give_up(failures, deadline)

    async def awalk(
        self,
        request: ChatRequest,
        attempts: Sequence[Attempt],
        record: CallRecord,
        once: AsyncOnce[T],
    ) -> T:
        """The async twin of :meth:`walk`."""
        policy, deadline = self.policy(request), self.deadline(request)
        failures: list[AttemptFailure] = []
        for attempt, key, last_resort in self._ordered(attempts):
            if self._expired(deadline):
                self._release(key, last_resort)
                break
            arec = self._start(attempt, record)
            try:
                try:
                    result = await once(attempt, request, deadline, key, arec)
                except ProviderError as first:
                    if self._first_try_done(policy, last_resort, first):
                        raise
                    retrying = policy.async_retrying(
                        sleep=self._async_sleep, **self._retrying_kwargs(arec, deadline)
                    )
                    replay = _AsyncReplay(first, once)
                    result = await retrying(replay, attempt, request, deadline, key, arec)
                else:
                    self._first_try_done(policy, last_resort, None)
            except ProviderError as exc:
                self._failed(attempt, arec, exc, failures)
                continue
            arec.finish()
            return result
        raise self._give_up(failures, deadline)
