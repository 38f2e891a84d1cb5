"""What a retry reads and decides, as the strategies of a tenacity ``Retrying``: the
provider's Retry-After, the testing switch that zeroes waits, what a retry budget offers,
and the retry / wait / stop strategies of a :class:`~respan_router.resilience._retry.RetryPolicy`.

The strategies are plain callables of tenacity's ``RetryCallState`` (tenacity accepts
any), so this module does not import tenacity: deployment health reads Retry-After
here, and tenacity is loaded on a call's first retry, not with the package.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from respan_router.errors import ProviderError

if TYPE_CHECKING:
    from tenacity import RetryCallState

__all__ = [
    "Clock",
    "RetryAfterWait",
    "RetryBudgetLike",
    "last_error",
    "retry_after_of",
    "retry_if_retryable",
    "stop_before_deadline",
    "stop_if_retry_after_exceeds",
    "stop_when_budget_denies",
    "waits_zeroed",
    "zero_waits",
]

Clock = Callable[[], float]


# --- the testing switch (the one module-level state of this module) -----------------------

_zero_waits_depth = 0
_zero_waits_lock = threading.Lock()


@contextmanager
def zero_waits() -> Iterator[None]:
    """Make every retry wait 0 while active, for tests.

    Retries still happen, and still stop where they would (attempts, deadline, a too long
    Retry-After, the budget); only the sleeping is removed. Nesting is safe, and the switch
    applies to every thread and event loop of the process. On exit the previous state
    comes back.

    Example::

        with zero_waits():
            router.complete(model="gpt-4o", messages=[...])
    """
    global _zero_waits_depth
    with _zero_waits_lock:
        _zero_waits_depth += 1
    try:
        yield
    finally:
        with _zero_waits_lock:
            _zero_waits_depth -= 1


def waits_zeroed() -> bool:
    """Whether :func:`zero_waits` is active."""
    return _zero_waits_depth > 0


# --- what the strategies read ------------------------------------------------------------------


def retry_after_of(error: BaseException | None) -> float | None:
    """The Retry-After (seconds) a provider error carries, or None."""
    if not isinstance(error, ProviderError):
        return None
    value = getattr(error, "retry_after", None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


@runtime_checkable
class RetryBudgetLike(Protocol):
    """What a retry budget offers (see :class:`respan_router.resilience._budget.RetryBudget`)."""

    def record_request(self) -> None: ...

    def try_acquire_retry(self) -> bool: ...


def last_error(retry_state: RetryCallState) -> BaseException | None:
    """The error of the try tenacity just made, or None after a success."""
    outcome = retry_state.outcome
    if outcome is None or not outcome.failed:
        return None
    return outcome.exception()


# --- retry -----------------------------------------------------------------------------------


def retry_if_retryable(retry_state: RetryCallState) -> bool:
    """Retry a :class:`ProviderError` whose ``retryable`` is true, and nothing else."""
    error = last_error(retry_state)
    return isinstance(error, ProviderError) and error.retryable


# --- wait ------------------------------------------------------------------------------------


class RetryAfterWait:
    """The wait before a retry: the policy's, or the provider's Retry-After if longer.

    Args:
        wait: seconds between tries (``"constant"``), or the first wait, doubling on each
            retry (``"exponential"``, with jitter, capped at ``max``).
        backoff: ``"constant"`` (Respan's ``retry_after``) or ``"exponential"``.
        max: the cap of an exponential wait (a Retry-After is not capped: it is a minimum).
        jitter: up to this many random seconds added to each exponential wait.
    """

    def __init__(
        self,
        wait: float,
        backoff: Literal["constant", "exponential"] = "constant",
        max: float = 8.0,
        jitter: float = 0.0,
    ) -> None:
        self.wait = wait
        self.backoff = backoff
        self.max = max
        self.jitter = jitter
        self._exponential: Callable[[RetryCallState], float] | None = None
        if backoff == "exponential":
            from tenacity.wait import wait_exponential_jitter

            # ``multiplier`` is the first wait; tenacity 9.2 deprecates the ``initial`` alias.
            self._exponential = wait_exponential_jitter(multiplier=wait, max=max, jitter=jitter)

    def __call__(self, retry_state: RetryCallState) -> float:
        if waits_zeroed():
            return 0.0
        wait = self.wait if self._exponential is None else self._exponential(retry_state)
        retry_after = retry_after_of(last_error(retry_state))
        return wait if retry_after is None else max(wait, retry_after)


# --- stop ------------------------------------------------------------------------------------


class stop_before_deadline:
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


class stop_if_retry_after_exceeds:
    """Stop at once when the provider asks to wait longer than ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        retry_after = retry_after_of(last_error(retry_state))
        return retry_after is not None and retry_after > self.limit


class stop_when_budget_denies:
    """Stop when the retry budget refuses the coming retry.

    Asking takes a retry from the budget, so this strategy must come last in a
    ``stop_any`` (which asks its strategies in order and stops at the first yes): the
    budget is only asked about a retry that will otherwise happen.
    """

    def __init__(self, budget: RetryBudgetLike) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self.budget.try_acquire_retry()
