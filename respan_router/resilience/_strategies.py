"""The tenacity strategies of a :class:`~respan_router.retry.RetryPolicy`.

Kept apart from :mod:`respan_router.resilience._retry` so that tenacity is imported on a
call's first retry, not with the package: most calls never retry.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tenacity import RetryCallState
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

from respan_router.errors import ProviderError
from respan_router.resilience._base import last_error, retry_after_of, waits_zeroed

if TYPE_CHECKING:
    from respan_router.resilience._base import Clock, RetryBudgetLike

__all__ = [
    "RetryAfterWait",
    "retry_if_retryable",
    "stop_before_deadline",
    "stop_if_retry_after_exceeds",
    "stop_when_budget_denies",
]


class _RetryIfRetryable(retry_base):
    """Retry a :class:`ProviderError` whose ``retryable`` is true, and nothing else."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = last_error(retry_state)
        return isinstance(error, ProviderError) and error.retryable

    def __repr__(self) -> str:
        return "retry_if_retryable"


#: The retry predicate: only retryable provider errors.
retry_if_retryable = _RetryIfRetryable()


class RetryAfterWait(wait_base):
    """Exponential backoff with jitter, or the provider's Retry-After if that is longer.

    Args:
        initial: the first backoff wait, in seconds (doubles on each retry).
        max: the cap of the backoff (a Retry-After is not capped: it is a minimum).
        jitter: up to this many random seconds are added to each backoff wait.
    """

    def __init__(self, initial: float, max: float, jitter: float) -> None:
        self.initial = initial
        self.max = max
        self.jitter = jitter
        # ``multiplier`` is the first wait; tenacity 9.2 deprecates the ``initial`` alias.
        self._backoff = wait_exponential_jitter(multiplier=initial, max=max, jitter=jitter)

    def __call__(self, retry_state: RetryCallState) -> float:
        if waits_zeroed():
            return 0.0
        backoff = self._backoff(retry_state)
        retry_after = retry_after_of(last_error(retry_state))
        if retry_after is None:
            return backoff
        return max(backoff, retry_after)


class stop_before_deadline(stop_base):
    """Stop when the coming wait (or a Retry-After) would reach an absolute deadline.

    Args:
        deadline: the deadline, on ``clock``'s scale (monotonic seconds by default).
        clock: the clock the deadline is measured with.
    """

    def __init__(self, deadline: float, clock: Clock = time.monotonic) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        wait = retry_state.upcoming_sleep
        # A Retry-After decides even when zero_waits() has removed the sleep itself.
        retry_after = retry_after_of(last_error(retry_state))
        if retry_after is not None:
            wait = max(wait, retry_after)
        return self.clock() + wait >= self.deadline


class stop_if_retry_after_exceeds(stop_base):
    """Stop at once when the provider asks to wait longer than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        retry_after = retry_after_of(last_error(retry_state))
        return retry_after is not None and retry_after > self.limit


class stop_when_budget_denies(stop_base):
    """Stop when the retry budget refuses the coming retry.

    Asking takes a retry from the budget, so this strategy must come last in a
    ``stop_any`` (which asks its strategies in order and stops at the first yes): the
    budget is only asked about a retry that will otherwise happen.
    """

    def __init__(self, budget: RetryBudgetLike) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self.budget.try_acquire_retry()
