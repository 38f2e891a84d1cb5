"""Stage 6: walk the plan's attempts with retries, breakers and a deadline.

For each candidate in order: retry it per the request's :class:`RetryPolicy` (tenacity),
then, on a provider error, fall back to the next. Candidates whose circuit breaker is open
go last and get a single try each: a call never fails only because breakers are open.

What one try does is the caller's ``send``: it takes the attempt's
:class:`~respan_router.providers.ProviderCall` and returns the result (a completion, or
an opened stream's first chunk). Everything around it -- counting tries, breakers,
latency, the retry budget, waits and failures -- is the walk's bookkeeping (``_walk``,
no I/O); the loop that sends and waits is written once, async (``_walk_async``), and its
sync form generated (``_walk_sync``). The call's :class:`AttemptHooks` go around each
try.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from respan_router.execution._hooked_async import awith_hooks
from respan_router.execution._hooked_sync import with_hooks
from respan_router.execution._hooks import AttemptHooks
from respan_router.execution._record import CallRecord
from respan_router.execution._walk import Walk
from respan_router.execution._walk_async import arun_plan
from respan_router.execution._walk_sync import run_plan
from respan_router.providers import ProviderCall
from respan_router.request import ChatRequest
from respan_router.resilience import HealthRegistry, RetryBudget, RetryPolicy
from respan_router.routing import Attempt, LatencyTracker

__all__ = ["AsyncSend", "Executor", "Send"]

T = TypeVar("T")
H = TypeVar("H")
_MAX_POLICIES = 256

#: One try of one candidate: the provider call in, the result out (or a ProviderError).
Send = Callable[[ProviderCall], T]
#: The async twin of :data:`Send`.
AsyncSend = Callable[[ProviderCall], Awaitable[T]]


def _router_policy(request: ChatRequest) -> bool:
    """The request sets no retry policy and no deadline of its own (a customer's call,
    say): the Router's policy applies, and with no Router deadline there is none."""
    respan = request.respan
    return respan.retry_params is None and respan.retries is None and not respan.total_timeout


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
        self.default_timeout = default_timeout
        self._default_total = default_total_timeout
        self._default_retry = default_retry or RetryPolicy()
        self._policies: dict[object, RetryPolicy] = {}  # the requests' own, by their values
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._clock = clock
        self.clock = clock  # now, on the executor's monotonic clock (deadlines)

    def run(
        self,
        request: ChatRequest,
        attempts: Sequence[Attempt],
        record: CallRecord,
        send: Send[T],
        hooks: AttemptHooks[H] | None = None,
    ) -> T:
        """Try each candidate (with its retries) until one succeeds; ``hooks`` (a
        customer's budget) are called around each try.

        Raises:
            ProviderError: the single candidate's error, or
            AllAttemptsFailedError: every candidate's, when there were several.
        """
        if self._default_total is None and (request.bare or _router_policy(request)):
            # the Router's policy, no deadline
            walk = Walk(self, request, record, self._default_retry, None)
        else:
            walk = Walk(self, request, record, self.policy(request), self.deadline(request))
        if hooks is not None:
            send = with_hooks(hooks, record, send)
        return run_plan(walk, attempts, send, self._sleep, self.budget, self._clock)

    def arun(
        self,
        request: ChatRequest,
        attempts: Sequence[Attempt],
        record: CallRecord,
        send: AsyncSend[T],
        hooks: AttemptHooks[H] | None = None,
    ) -> Coroutine[Any, Any, T]:
        """The async twin of :meth:`run` (the walk's own coroutine, to await)."""
        if self._default_total is None and (request.bare or _router_policy(request)):  # as run()
            walk = Walk(self, request, record, self._default_retry, None)
        else:
            walk = Walk(self, request, record, self.policy(request), self.deadline(request))
        if hooks is not None:
            send = awith_hooks(hooks, record, send)
        return arun_plan(walk, attempts, send, self._async_sleep, self.budget, self._clock)

    # -- decisions of one call -------------------------------------------------------
    def policy(self, request: ChatRequest) -> RetryPolicy:
        """The retry policy of a request: its own, else the Router's default."""
        respan = request.respan
        params, retries = respan.retry_params, respan.retries
        if params is None and retries is None:
            return self._default_retry
        # One policy per distinct setting (a frozen value): its validated values are its key
        # (retry_params wins over retries).
        key = retries if params is None else (params.retry_enabled, params.num_retries,
                                               params.retry_after)  # fmt: skip
        policy = self._policies.get(key)
        if policy is None:
            backoff = self._default_retry.backoff  # the Router's retry_backoff
            policy = RetryPolicy.from_params(params, retries, backoff=backoff)
            if len(self._policies) >= _MAX_POLICIES:
                self._policies.clear()
            self._policies[key] = policy
        return policy

    def patience(self, request: ChatRequest) -> float | None:
        """Seconds a call may wait for an identical call in flight (a single-flight
        follower makes no attempt of its own): its ``total_timeout``, else its
        ``timeout`` (the Router's defaults when it gives none), else None (no bound)."""
        deadline = self.deadline(request)
        if deadline is not None:
            return max(0.0, deadline - self._clock())
        return request.timeout if request.timeout is not None else self.default_timeout

    def deadline(self, request: ChatRequest) -> float | None:
        """The call's absolute deadline on the executor's clock, or None."""
        total = request.respan.total_timeout or self._default_total
        if total is None:
            return None
        # A prompt's render ran before the walk: its time counts against the call too.
        rendered = request.prompt.render_seconds if request.prompt is not None else 0.0
        return self._clock() + total - rendered
